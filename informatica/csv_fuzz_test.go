package informatica

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// csvRecord is one record and the line it starts on.
type csvRecord struct {
	line   int
	fields []string
}

// stdRecords reads text as ReadUsageCSV used to: with encoding/csv,
// LazyQuotes and any number of fields per record.
func stdRecords(text []byte) ([]csvRecord, error) {
	cr := csv.NewReader(bytes.NewReader(text))
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	var out []csvRecord
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		line, _ := cr.FieldPos(0)
		out = append(out, csvRecord{line, rec})
	}
}

// ownRecords reads text with recordReader, its buffer starting at bufSize
// bytes and r delivering the input as wrap makes it.
func ownRecords(text []byte, bufSize int, wrap func(io.Reader) io.Reader) ([]csvRecord, error) {
	var rr recordReader
	rr.own = make([]byte, bufSize)
	rr.reset(wrap(bytes.NewReader(text)))
	var out []csvRecord
	for {
		line, err := rr.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		rec := make([]string, len(rr.fields))
		for i := range rec {
			rec[i] = string(rr.field(i))
		}
		out = append(out, csvRecord{line, rec})
	}
}

func sameRecords(t *testing.T, text []byte, want, got []csvRecord, how string) {
	t.Helper()
	for i := range max(len(want), len(got)) {
		if i >= len(want) || i >= len(got) || want[i].line != got[i].line || !slices.Equal(want[i].fields, got[i].fields) {
			var w, g any = "none", "none"
			if i < len(want) {
				w = want[i]
			}
			if i < len(got) {
				g = got[i]
			}
			t.Fatalf("%s: input %q: record %d:\n got %q\nwant %q", how, text, i, g, w)
		}
	}
}

var recordSeeds = []string{
	"",
	"\n",
	"\r\n\r\n",
	"a,b,c\n1,2,3\n",
	"a,b,c\r\n1,2,3\r\n",
	"a,b,c\n1,2,3",
	"a,b,c\n1,2,3\r",
	"a,b\r",
	"\r",
	"a\r\rb\r\n",
	"\"a\",\"b,c\",\"d\"\"e\"\n",
	"\"multi\nline\",x\n\ny\n",
	"\"multi\r\nline\r\n\",x\r\n",
	"\"unterminated,x\ny\n",
	"\"a\"b,c\"d\",e\n",
	"a\"b,\"c\n",
	"\"a\"\"\"b\",c\n",
	"\"\"\n\"\",\"\"\n",
	"\"",
	"\"\"\"",
	"x,\"",
	"a,\n,b\n,\n",
	"\"a\"\r",
	"\"a\"\rb\",c\n",
	"\"a\r\n\"\r\n",
	" \"a\" ,b\n",
	"\ufeffOrgId,MeterId\no1,m1\n",
	"a,b\n\n\n\"c\nd\",e\n\nf",
	header + "o1,m1,Meter,2024-06-01,2024-06-01,2024-06-30,10,1.5,CU,DI,\"Acme, Inc.\",Production,0.15\n",
}

// TestRecordReaderMatchesEncodingCSV reads the seeds as encoding/csv does,
// whatever the buffer size and however the input arrives.
func TestRecordReaderMatchesEncodingCSV(t *testing.T) {
	for _, seed := range recordSeeds {
		checkRecordReader(t, []byte(seed))
	}
}

func FuzzRecordReader(f *testing.F) {
	for _, seed := range recordSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		checkRecordReader(t, text)
	})
}

func checkRecordReader(t *testing.T, text []byte) {
	t.Helper()
	want, err := stdRecords(text)
	if err != nil {
		t.Fatalf("encoding/csv: %v", err)
	}
	for _, c := range []struct {
		name string
		size int
		wrap func(io.Reader) io.Reader
	}{
		{"one read", 64 << 10, func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", 64 << 10, iotest.OneByteReader},
		{"half reads, tiny buffer", 1, iotest.HalfReader},
		{"data with EOF, small buffer", 3, iotest.DataErrReader},
	} {
		got, err := ownRecords(text, c.size, c.wrap)
		if err != nil {
			t.Fatalf("%s: input %q: %v", c.name, text, err)
		}
		sameRecords(t, text, want, got, c.name)
	}
}

// TestRecordReaderErrors: a failing reader's error comes back as it is, and
// a record past maxRecordBytes is an error naming its line.
func TestRecordReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := ownRecords([]byte("a,b\nc,d\n"), 4, func(r io.Reader) io.Reader {
		return io.MultiReader(io.LimitReader(r, 5), iotest.ErrReader(boom))
	})
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want %v", err, boom)
	}

	long := "\"" + strings.Repeat("z", maxRecordBytes)
	_, err = ReadUsageCSV("long.csv", strings.NewReader(header+long), func(*UsageRow) error { return nil })
	var ce *CSVError
	if !errors.As(err, &ce) || ce.Line != 2 || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("error %v, want a CSVError on line 2", err)
	}
}

const header = "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,Scalar,MetricCategory,OrgName,OrgType,IPURate\n"

// FuzzParseDecimal: the fast path gives what strconv.ParseFloat gives,
// bit for bit, or stands aside.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{
		"0", "-0", "1834.25", "110.055", "0.06", "+.5", "5.", ".", "-", "9007199254740993", "9007199254740992",
		"0.1234567890123456789012", "123456789012345678901", "1e3", "0x1p-2", "1_0", "00012.50", "4503599627370497.5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return
		}
		got, ok := parseDecimal([]byte(s))
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("parseDecimal(%q) = %v, ParseFloat fails: %v", s, got, err)
		}
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("parseDecimal(%q) = %v (%#x), ParseFloat %v (%#x)", s, got, math.Float64bits(got), want, math.Float64bits(want))
		}
	})
}

// FuzzParseDate: the fast path gives what time.Parse gives for 2006-01-02,
// or stands aside.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2024-06-01", "2024-02-29", "2023-02-29", "2024-13-01", "2024-00-10", "0000-01-01", "2024-6-01", "2024-06-1x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseDate([]byte(s))
		want, err := time.Parse("2006-01-02", s)
		if ok != (err == nil) || ok && !got.Equal(want) {
			t.Fatalf("parseDate(%q) = %v, %v; time.Parse %v, %v", s, got, ok, want, err)
		}
	})
}

// TestParseNumbersLikeStrconv spot-checks numbers the fast path takes.
func TestParseNumbersLikeStrconv(t *testing.T) {
	for i := range 100000 {
		s := fmt.Sprintf("%d.%0*d", i*7919%100000, i%9, i)
		got, ok := parseDecimal([]byte(s))
		want, _ := strconv.ParseFloat(s, 64)
		if ok && got != want {
			t.Fatalf("parseDecimal(%q) = %v, want %v", s, got, want)
		}
	}
}
