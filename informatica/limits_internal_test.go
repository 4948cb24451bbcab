package informatica

import (
	"errors"
	"strings"
	"testing"
)

// TestFieldLengthLimit: a value longer than maxFieldBytes fails the file,
// naming where and the limit, in every reader; a long row of short values
// is read.
func TestFieldLengthLimit(t *testing.T) {
	long := strings.Repeat("x", maxFieldBytes+1)
	for name, c := range map[string]struct{ text, column string }{
		"summary": {"OrgId,MeterId,Date,BillingPeriodStartDate,BillingPeriodEndDate,IPU,OrgName\n" +
			"o,m,2024-06-01,,,1,Org\no,m,2024-06-01,,,1," + long + "\n", "OrgName"},
		"asset":   {"Meter ID,Date,Asset Name,Org ID,Consumption (IPUs)\nm,2024-06-01,A,o,1\nm,2024-06-01," + long + ",o,1\n", "Asset Name"},
		"project": {"Date,Project,Org ID,Consumption (IPUs)\n2024-06-01,P,o,1\n2024-06-01,\"" + long + "\",o,1\n", "Project"},
		"task":    {"Task ID,Task Name,Start Time,Metered Value\nt,T,2024-06-01,1\nt," + long + ",2024-06-01,1\n", "Task Name"},
	} {
		n, err := readers[name]("f.csv", c.text)
		var ce *CSVError
		if !errors.As(err, &ce) || ce.Line != 3 || ce.Column != c.column || !errors.Is(err, errFieldTooLong) || n != 1 {
			t.Errorf("%s: %d rows, error %v; want one row, then the limit on line 3, column %s", name, n, err, c.column)
		}
	}
	many := "OrgId,MeterId,Date,BillingPeriodStartDate,BillingPeriodEndDate,IPU" + strings.Repeat(",x", 2000) + "\n" +
		"o,m,2024-06-01,,,1" + strings.Repeat(",abc", 2000) + "\n"
	if n, err := readers["summary"]("f.csv", many); n != 1 || err != nil {
		t.Errorf("a long row of short values: %d rows, error %v", n, err)
	}
}
