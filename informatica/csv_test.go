package informatica_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// readCSV runs ReadUsageCSV over text and returns copies of the rows.
func readCSV(file, text string) ([]row, error) {
	var rows []row
	n, err := informatica.ReadUsageCSV(file, strings.NewReader(text), func(u *informatica.UsageRow) error {
		rows = append(rows, fromUsage(u))
		return nil
	})
	if err == nil && n != len(rows) {
		return rows, fmt.Errorf("ReadUsageCSV returned %d, callback saw %d rows", n, len(rows))
	}
	return rows, err
}

func TestReadUsageCSVFile(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/summary.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []row
	if _, err := informatica.ReadUsageCSV("summary.csv", f, func(u *informatica.UsageRow) error {
		rows = append(rows, fromUsage(u))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []row{
		{
			OrgID: "0cuQSDTq5sikvN7x8r1xm1", OrgName: "Acme, Inc. Production", OrgType: "Production",
			MeterID: "a2nB20h1o0lc7k3P9xtWS8", MeterName: "Data Integration", Scalar: "Compute Units", MetricCategory: "Data Integration",
			Date: "2024-08-12T00:00:00Z", PeriodStart: "2024-08-01T00:00:00Z", PeriodEnd: "2024-08-31T00:00:00Z",
			MeterUsage: 1834.25, IPU: 110.055, IPURate: 0.06, HasIPURate: true,
		},
		// null cells are empty.
		{
			OrgID: "0cuQSDTq5sikvN7x8r1xm1", OrgName: "Acme, Inc. Production", OrgType: "Production",
			MeterID: "kR7vQe1ZsXn4YbWc2TmLp9", MeterName: "Sub-organizations", Scalar: "Organizations",
			Date: "2024-08-12T00:00:00Z", PeriodStart: "2024-08-01T00:00:00Z", PeriodEnd: "2024-08-31T00:00:00Z",
			MeterUsage: 1, IPU: 0.2,
		},
		// Empty cells are zero.
		{
			OrgID: "6fRxkT2bqYc9WvLm0PzQ3e", OrgName: "Acme Analytics", OrgType: "Sub-Organization",
			MeterID: "3uIRkIV5Rt9lBbAPzeR5Kj", MeterName: "Application Integration", Scalar: "Compute Units",
			Date: "2024-08-13T00:00:00Z",
		},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, rows[i], want[i])
		}
	}
}

// TestReadUsageCSVShapes reads the same two rows written in different ways.
func TestReadUsageCSVShapes(t *testing.T) {
	t.Parallel()
	want := []row{
		{
			OrgID: "o1", OrgName: "Acme, Inc.", OrgType: "Production", MeterID: "m1", MeterName: "Data Integration",
			Scalar: "Compute Units", MetricCategory: "DI", Date: "2024-06-01T00:00:00Z",
			PeriodStart: "2024-06-01T00:00:00Z", PeriodEnd: "2024-06-30T00:00:00Z",
			MeterUsage: 12.5, IPU: 0.75, IPURate: 0.06, HasIPURate: true,
		},
		{
			OrgID: "o2", OrgName: `Beta "B" Ltd`, OrgType: "Sandbox", MeterID: "m2", MeterName: "Mass Ingestion, Files",
			Scalar: "Data Volume", MetricCategory: "DIR", Date: "2024-06-02T00:00:00Z",
			PeriodStart: "2024-06-01T00:00:00Z", PeriodEnd: "2024-06-30T00:00:00Z",
			MeterUsage: 1e3, IPU: 11, IPURate: 0.011, HasIPURate: true,
		},
	}
	documented := header +
		`o1,m1,Data Integration,2024-06-01,2024-06-01,2024-06-30,12.5,0.75,Compute Units,DI,"Acme, Inc.",Production,0.06` + "\n" +
		`o2,m2,"Mass Ingestion, Files",2024-06-02,2024-06-01,2024-06-30,1000,11,Data Volume,DIR,"Beta ""B"" Ltd",Sandbox,0.011` + "\n"
	for _, tc := range []struct{ name, text string }{
		{"documented", documented},
		{"no final newline", strings.TrimSuffix(documented, "\n")},
		{
			"shuffled with extra columns",
			"IPURate,Environment,OrgName,IPU,Date,MeterId,Comment,BillingPeriodEndDate,OrgType,Scalar,MeterName,BillingPeriodStartDate,MetricCategory,MeterUsage,OrgId\n" +
				`0.06,"Serverless, us-west","Acme, Inc.",0.75,2024-06-01,m1,,2024-06-30,Production,Compute Units,Data Integration,2024-06-01,DI,12.5,o1` + "\n" +
				`0.011,x,"Beta ""B"" Ltd",11,2024-06-02,m2,note,2024-06-30,Sandbox,Data Volume,"Mass Ingestion, Files",2024-06-01,DIR,1e3,o2` + "\n",
		},
		{"BOM and CRLF", "\ufeff" + strings.ReplaceAll(documented, "\n", "\r\n")},
		{"spaces around cells", strings.ReplaceAll(documented, ",0.06\n", ", 0.06 \n")},
		{"trailing empty field", strings.ReplaceAll(documented, "\n", ",\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rows, err := readCSV("x.csv", tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(want) {
				t.Fatalf("%d rows, want %d", len(rows), len(want))
			}
			for i := range want {
				if rows[i] != want[i] {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, rows[i], want[i])
				}
			}
		})
	}
}

func TestReadUsageCSVDateLayouts(t *testing.T) {
	t.Parallel()
	dates := [][3]time.Time{
		{time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC)},
		{time.Date(2024, 11, 23, 0, 0, 0, 0, time.UTC), time.Date(2024, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 11, 30, 0, 0, 0, 0, time.UTC)},
	}
	var first []row
	for _, layout := range []string{"2006-01-02", time.RFC3339, "2006-01-02 15:04:05", "1/2/2006"} {
		var b strings.Builder
		b.WriteString(header)
		for _, d := range dates {
			fmt.Fprintf(&b, "o1,m1,Meter,%s,%s,%s,10,1.5,CU,DI,Org,Production,0.15\n",
				d[0].Format(layout), d[1].Format(layout), d[2].Format(layout))
		}
		rows, err := readCSV("x.csv", b.String())
		if err != nil {
			t.Fatalf("layout %q: %v", layout, err)
		}
		if len(rows) != 2 || rows[1].Date != "2024-11-23T00:00:00Z" || rows[1].PeriodEnd != "2024-11-30T00:00:00Z" {
			t.Fatalf("layout %q: rows %+v", layout, rows)
		}
		if first == nil {
			first = rows
		}
		for i := range rows {
			if rows[i] != first[i] {
				t.Errorf("layout %q row %d:\n got %+v\nwant %+v", layout, i, rows[i], first[i])
			}
		}
	}

	// A timestamp within the day gives that day.
	rows, err := readCSV("x.csv", header+"o1,m1,Meter,2024-06-01T17:45:00Z,,,10,1.5,CU,DI,Org,Production,0.15\n")
	if err != nil || len(rows) != 1 || rows[0].Date != "2024-06-01T00:00:00Z" {
		t.Errorf("rows %+v, %v", rows, err)
	}
}

func TestReadUsageCSVErrors(t *testing.T) {
	t.Parallel()
	good := "o1,m1,Meter,2024-06-01,2024-06-01,2024-06-30,10,1.5,CU,DI,Org,Production,0.15\n"
	for _, tc := range []struct {
		name   string
		text   string
		line   int
		column string
		value  string
	}{
		{"missing column", strings.Replace(header, ",IPU,", ",IPUs,", 1) + good, 1, "IPU", ""},
		{"missing column with BOM", "\ufeff" + strings.Replace(header, "OrgId,", "", 1) + good, 1, "OrgId", ""},
		{"non-numeric IPU", header + good + strings.Replace(good, ",1.5,", ",1.5 IPU,", 1), 3, "IPU", "1.5 IPU"},
		{"infinite MeterUsage", header + strings.Replace(good, ",10,", ",Inf,", 1), 2, "MeterUsage", "Inf"},
		{"unknown date format", header + good + good + strings.Replace(good, "2024-06-01,2024-06-01", "01.06.2024,2024-06-01", 1), 4, "Date", "01.06.2024"},
		{"bad period date", header + strings.Replace(good, "2024-06-30", "June 30", 1), 2, "BillingPeriodEndDate", "June 30"},
		{"missing date", header + strings.Replace(good, "2024-06-01,2024-06-01", "null,2024-06-01", 1), 2, "Date", "null"},
		{"missing OrgId", header + strings.Replace(good, "o1,", ",", 1), 2, "OrgId", ""},
		{"too few fields", header + good + "o1,m1,Meter,2024-06-01\n", 3, "", ""},
		{"too many fields", header + strings.Replace(good, "Org,", "Org,Inc.,", 1), 2, "", ""},
		{"quoted newline keeps line numbers", header + strings.Replace(good, "Org,", "\"Org\nsecond line\",", 1) + strings.Replace(good, ",1.5,", ",x,", 1), 4, "IPU", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := readCSV("IPU_Usage_Data_Integration.csv", tc.text)
			var ce *informatica.CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want a *CSVError", err, err)
			}
			if ce.File != "IPU_Usage_Data_Integration.csv" || ce.Line != tc.line || ce.Column != tc.column || ce.Value != tc.value {
				t.Errorf("CSVError{File %q, Line %d, Column %q, Value %q}, want line %d, column %q, value %q",
					ce.File, ce.Line, ce.Column, ce.Value, tc.line, tc.column, tc.value)
			}
			msg := err.Error()
			for _, part := range []string{`"IPU_Usage_Data_Integration.csv"`, "line " + strconv.Itoa(tc.line), tc.column, tc.value} {
				if !strings.Contains(msg, part) {
					t.Errorf("error %q does not contain %q", msg, part)
				}
			}
		})
	}

	t.Run("callback error stops reading", func(t *testing.T) {
		t.Parallel()
		stop := errors.New("enough")
		calls := 0
		n, err := informatica.ReadUsageCSV("x.csv", strings.NewReader(header+good+good+good), func(*informatica.UsageRow) error {
			calls++
			if calls == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 1 || calls != 2 || !strings.Contains(err.Error(), "line 3") {
			t.Errorf("n %d, calls %d, error %v", n, calls, err)
		}
	})
}

// TestReadUsageCSVFakeShapes reads ZIPs the fake writes in every CSV shape
// it can produce; the rows must equal what it served.
func TestReadUsageCSVFakeShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts fake.Options
	}{
		{"shuffled columns", fake.Options{ShuffleColumns: true}},
		{"extra columns", fake.Options{ExtraColumns: true, ShuffleColumns: true}},
		{"BOM", fake.Options{BOM: true}},
		{"null cells", fake.Options{NullCells: true}},
		{"CRLF", fake.Options{CRLF: true}},
		{"RFC 3339", fake.Options{DateLayout: time.RFC3339}},
		{"date time", fake.Options{DateLayout: "2006-01-02 15:04:05"}},
		{"US date", fake.Options{DateLayout: "1/2/2006"}},
		{"everything", fake.Options{ShuffleColumns: true, ExtraColumns: true, BOM: true, NullCells: true, CRLF: true, DateLayout: "1/2/2006"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// One combined file, so that the fake's row order is the file's
			// and its null cells (every fifth row from the fourth) are known.
			e := newEnv(t, tc.opts, func(c *informatica.Config) { c.CombinedMeterUsage = true })
			rows, _, err := e.exportDays()
			if err != nil {
				t.Fatal(err)
			}
			want := e.servedRows()
			if len(rows) != len(want) {
				t.Fatalf("%d rows, want %d", len(rows), len(want))
			}
			for i := range want {
				if tc.opts.NullCells && i%5 == 3 {
					want[i].IPURate, want[i].HasIPURate, want[i].MetricCategory = 0, false, ""
				}
				if rows[i] != want[i] {
					t.Fatalf("row %d:\n got %+v\nwant %+v", i, rows[i], want[i])
				}
			}
		})
	}
}

// rowGenerator produces a large CSV on the fly, never holding more than one
// row.
type rowGenerator struct {
	rows, next int
	buf        []byte
	pos        int
	size       int64
}

func (g *rowGenerator) Read(p []byte) (int, error) {
	for g.pos == len(g.buf) {
		if g.next > g.rows {
			return 0, io.EOF
		}
		g.buf, g.pos = g.buf[:0], 0
		if g.next == 0 {
			g.buf = append(g.buf, header...)
		} else {
			d := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, g.next%1500)
			g.buf = append(g.buf, "0cuQSDTq5sikvN7x8r1xm1,a2nB20h1o0lc7k3P9xtWS8,Data Integration,"...)
			g.buf = d.AppendFormat(g.buf, "2006-01-02")
			g.buf = append(g.buf, ",2020-01-01,2024-12-31,"...)
			g.buf = strconv.AppendInt(g.buf, int64(g.next), 10)
			g.buf = append(g.buf, ".25,1.5,Compute Units,Data Integration,\"Acme, Inc. Production\",Production,0.06\n"...)
		}
		g.next++
	}
	n := copy(p, g.buf[g.pos:])
	g.pos += n
	g.size += int64(n)
	return n, nil
}

// TestReadUsageCSVStreams checks that a large file is not held in memory:
// the live heap stays far below the size of the input.
func TestReadUsageCSVStreams(t *testing.T) {
	const rows = 200_000
	gen := &rowGenerator{rows: rows}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	var ipu float64
	n, err := informatica.ReadUsageCSV("big.csv", gen, func(u *informatica.UsageRow) error {
		ipu += u.IPU
		if int(u.MeterUsage)%5000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != rows || ipu != 1.5*rows {
		t.Fatalf("read %d rows with %v IPU, want %d rows", n, ipu, rows)
	}
	if gen.size < 20<<20 {
		t.Fatalf("test bug: input is only %d bytes", gen.size)
	}
	growth := int64(peak) - int64(base)
	t.Logf("input %d bytes, heap growth at most %d bytes", gen.size, growth)
	if growth > gen.size/4 {
		t.Errorf("heap grew by %d bytes reading %d bytes of CSV: rows are not streamed", growth, gen.size)
	}
}
