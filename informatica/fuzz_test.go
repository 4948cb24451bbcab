package informatica

import (
	"archive/zip"
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets feed arbitrary bytes to the two readers that take input
// straight from Informatica. Their seed corpus lives in testdata/fuzz and
// runs with every `go test`; `go test -fuzz=FuzzReadUsageCSV ./informatica`
// explores further.

const (
	fuzzHeader = "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,Scalar,MetricCategory,OrgName,OrgType,IPURate"
	fuzzRow    = `0cuQSDTq5sikvN7x8r1xm1,a2nB20h1o0lc7k3P9xtWS8,Data Integration,2025-06-01,2025-06-01,2025-06-30,1800.5,108.03,Compute Units,Data Integration,"Acme, Inc.",Production,0.06`
)

// checkRow holds for every row the readers accept.
func checkRow(t *testing.T, r *UsageRow) {
	t.Helper()
	if r.OrgID == "" || r.MeterID == "" {
		t.Fatalf("row without an org or meter ID: %+v", r)
	}
	if r.Date.IsZero() || r.Date.Location() != time.UTC || r.Date.Hour()+r.Date.Minute()+r.Date.Second()+r.Date.Nanosecond() != 0 {
		t.Fatalf("row date %v is not 00:00 UTC", r.Date)
	}
	for _, v := range []float64{r.IPU, r.MeterUsage, r.IPURate} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("row with a non-finite number: %+v", r)
		}
	}
	if !r.HasIPURate && r.IPURate != 0 {
		t.Fatalf("rate %v without HasIPURate", r.IPURate)
	}
	for _, s := range []string{r.OrgID, r.OrgName, r.OrgType, r.MeterID, r.MeterName, r.Scalar, r.MetricCategory} {
		if !utf8.ValidString(s) {
			t.Fatalf("row with a string that is not valid UTF-8: %+v", r)
		}
	}
}

func FuzzReadUsageCSV(f *testing.F) {
	f.Add([]byte(fuzzHeader + "\n" + fuzzRow + "\n"))
	f.Add([]byte("\ufeff" + fuzzHeader + "\r\n" + fuzzRow + "\r\n"))
	f.Add([]byte(fuzzHeader + "\n" + strings.ReplaceAll(fuzzRow, "2025-06-01", `"6/1/2025"`) + "\n"))
	f.Add([]byte(fuzzHeader + "\nnull,null,null,null,null,null,null,null,null,null,null,null,null\n"))
	f.Add([]byte("IPU,OrgId,Date,MeterId,MeterName,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,Scalar,MetricCategory,OrgName,OrgType,IPURate,Extra\n" +
		`1.5,o1,2025-06-01T00:00:00Z,m1,"Name, with comma",2025-06-01,2025-06-30,3,U,C,"Org ""quoted""",Production,0.5,x` + "\n"))
	f.Add([]byte(fuzzHeader + "\n" + `o1,m1,"unterminated`))
	f.Add([]byte(fuzzHeader + "\n" + strings.ReplaceAll(fuzzRow, "Acme", "Soci\xe9t\xe9 \x93\x81") + "\n"))
	// Dates whose day and month wait for a later row, and zone
	// abbreviations.
	f.Add([]byte(fuzzHeader + "\n" + strings.ReplaceAll(fuzzRow, "2025-06-01", "03/04/2025") + "\n" +
		strings.ReplaceAll(fuzzRow, "2025-06-01", "13/04/2025 10:00 PM") + "\n"))
	f.Add([]byte(fuzzHeader + "\n" + strings.ReplaceAll(fuzzRow, "2025-06-30", "2025-06-30 23:59:59 PDT") + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows := 0
		n, err := ReadUsageCSV("fuzz.csv", bytes.NewReader(data), func(r *UsageRow) error {
			checkRow(t, r)
			rows++
			return nil
		})
		if n != rows {
			t.Fatalf("ReadUsageCSV counted %d rows, called back %d times", n, rows)
		}
		var ce *CSVError
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("error of type %T is not a CSVError: %v", err, err)
		}
		if ce != nil && (ce.File != "fuzz.csv" || ce.Line < 1) {
			t.Fatalf("CSVError does not locate the fault: %+v", ce)
		}
	})
}

// fuzzLimits keep the ZIP fuzzer's inputs from inflating without bound.
var fuzzLimits = Limits{MaxUncompressedBytes: 1 << 20, MaxZIPEntries: 64}

func zipSeed(f *testing.F, files ...string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		w, err := zw.Create(files[i])
		if err != nil {
			f.Fatal(err)
		}
		w.Write([]byte(files[i+1]))
	}
	if err := zw.Close(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

func FuzzReadUsageZIP(f *testing.F) {
	csv := fuzzHeader + "\n" + fuzzRow + "\n"
	f.Add(zipSeed(f, "a.csv", csv))
	f.Add(zipSeed(f, "DI.csv", csv, "AI.csv", csv, "readme.txt", "hello", "__MACOSX/._DI.csv", "junk"))
	f.Add(zipSeed(f))
	f.Add(zipSeed(f, "empty.csv", ""))
	f.Add(zipSeed(f, "zeros.csv", fuzzHeader+"\n"+strings.Repeat(fuzzRow+"\n", 5000)))
	f.Add([]byte("<html><body>Service Unavailable</body></html>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows := 0
		n, err := ReadUsageZIP(bytes.NewReader(data), int64(len(data)), fuzzLimits, func(r *UsageRow) error {
			checkRow(t, r)
			rows++
			return nil
		})
		if n != rows {
			t.Fatalf("ReadUsageZIP counted %d rows, called back %d times", n, rows)
		}
		var ze *ZIPError
		var ce *CSVError
		if err != nil && !errors.As(err, &ze) && !errors.As(err, &ce) {
			t.Fatalf("error of type %T is neither a ZIPError nor a CSVError: %v", err, err)
		}
	})
}
