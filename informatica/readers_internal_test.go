package informatica

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// zipBytes builds a ZIP of the given files, name then content.
func zipBytes(t *testing.T, files ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := 0; i < len(files); i += 2 {
		w, err := zw.Create(files[i])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[i+1])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readers reads one file with each of the four readers, counting rows.
var readers = map[string]func(file, text string) (int, error){
	"summary": func(file, text string) (int, error) {
		return ReadUsageCSV(file, strings.NewReader(text), func(*UsageRow) error { return nil })
	},
	"asset": func(file, text string) (int, error) {
		return ReadAssetCSV(file, strings.NewReader(text), func(*AssetRow) error { return nil })
	},
	"project": func(file, text string) (int, error) {
		return ReadProjectCSV(file, strings.NewReader(text), func(*ProjectRow) error { return nil })
	},
	"task": func(file, text string) (int, error) {
		return ReadTaskCSV(file, strings.NewReader(text), func(*TaskRow) error { return nil }, nil)
	},
}

// TestEmptyFilesHaveNoRows: one policy for every reader. A file without a
// header (no bytes, a BOM, blank lines) and a header without rows are both
// an export file without rows, not an error.
func TestEmptyFilesHaveNoRows(t *testing.T) {
	headers := map[string]string{
		"summary": "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,Scalar,MetricCategory,OrgName,OrgType,IPURate\n",
		"asset":   "Meter ID,Meter Name,Date,Asset Name,Asset Type,Project,Folder,Org ID,Org Type,Environment Name,Environment Type,Tier,IPU Per Unit,Usage,Consumption (IPUs)\n",
		"project": "Date,Project,Folder,Org ID,Org Type,Consumption (IPUs)\n",
		"task":    "Task ID,Task Name,Org ID,Start Time,Metered Value\n",
	}
	for name, read := range readers {
		for _, text := range []string{"", "\ufeff", "\n\r\n\n", headers[name], "\ufeff" + headers[name] + "\n"} {
			n, err := read("f.csv", text)
			if n != 0 || err != nil {
				t.Errorf("%s reader, %q: %d rows, error %v; want no rows and no error", name, text, n, err)
			}
		}
	}
}

// TestSummaryOptionalColumns: a SUMMARY file needs only the columns a
// value depends on; without the others it is read, their values empty,
// with one warning for the export however many files lack them.
func TestSummaryOptionalColumns(t *testing.T) {
	const file = "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,IPU\n" +
		"o1,m1,Data Integration,2024-06-01,2024-06-01,2024-06-30,1.5\n"
	z := zipBytes(t, "a.csv", file, "b.csv", file)
	var warnings []string
	warn := func(msg string, kv ...any) { warnings = append(warnings, fmt.Sprint(msg, kv)) }
	var rows []UsageRow
	n, err := readUsageZIP(bytes.NewReader(z), int64(len(z)), DefaultLimits, func(r *UsageRow) error {
		rows = append(rows, *r)
		return nil
	}, warn)
	if err != nil || n != 2 {
		t.Fatalf("read %d rows, error %v; want 2 rows", n, err)
	}
	r := rows[0]
	if r.OrgID != "o1" || r.MeterID != "m1" || r.MeterName != "Data Integration" || r.IPU != 1.5 ||
		r.OrgName != "" || r.OrgType != "" || r.Scalar != "" || r.MetricCategory != "" || r.MeterUsage != 0 || r.HasIPURate {
		t.Errorf("row %+v, want the values of the columns present and the others empty", r)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "OrgName, OrgType, MeterUsage, IPURate, Scalar, MetricCategory") {
		t.Errorf("warnings %q, want one naming the missing columns", warnings)
	}

	// The parts reader warns once too.
	warnings = nil
	if _, err := readUsageZIPParts(bytes.NewReader(z), int64(len(z)), DefaultLimits, discard{}, warn); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 {
		t.Errorf("parts reader warnings %q, want one", warnings)
	}

	// Meters by name alone: the name stands in for the ID.
	n, err = ReadUsageCSV("c.csv", strings.NewReader("OrgId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,IPU\no1,Data Integration,2024-06-01,,,2\n"),
		func(r *UsageRow) error {
			if r.MeterID != "Data Integration" || r.MeterName != "Data Integration" {
				t.Errorf("meter %q named %q, want the name as both", r.MeterID, r.MeterName)
			}
			return nil
		})
	if n != 1 || err != nil {
		t.Errorf("meters by name: %d rows, error %v", n, err)
	}

	// What a value depends on stays required.
	for _, c := range []struct{ header, column string }{
		{"MeterId,Date,BillingPeriodStartDate,BillingPeriodEndDate,IPU", "OrgId"},
		{"OrgId,Date,BillingPeriodStartDate,BillingPeriodEndDate,IPU", "MeterId"},
		{"OrgId,MeterId,BillingPeriodStartDate,BillingPeriodEndDate,IPU", "Date"},
		{"OrgId,MeterId,Date,BillingPeriodEndDate,IPU", "BillingPeriodStartDate"},
		{"OrgId,MeterId,Date,BillingPeriodStartDate,IPU", "BillingPeriodEndDate"},
		{"OrgId,MeterId,Date,BillingPeriodStartDate,BillingPeriodEndDate", "IPU"},
	} {
		_, err := ReadUsageCSV("d.csv", strings.NewReader(c.header+"\n"), func(*UsageRow) error { return nil })
		var ce *CSVError
		if !errors.As(err, &ce) || ce.Column != c.column || !errors.Is(err, errMissingColumn) {
			t.Errorf("header %s: error %v, want %q missing", c.header, err, c.column)
		}
	}
}

type discard struct{}

func (discard) Part(int, int) func(*UsageRow) error { return func(*UsageRow) error { return nil } }
func (discard) Join()                               {}
