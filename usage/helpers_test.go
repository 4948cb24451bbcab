package usage

import (
	"math"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
)

// date parses "2006-01-02" or RFC 3339 as UTC; test input is always valid.
func date(s string) time.Time {
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	panic("bad test date " + s)
}

func approx(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// row is a compact way to write a usage row in a test.
type row struct {
	org, meter string
	date       string
	start, end string // billing period, RFC 3339 or date; empty for none
	usage, ipu float64
	rate       float64
	hasRate    bool
}

func (r row) usageRow() *informatica.UsageRow {
	u := &informatica.UsageRow{
		OrgID: r.org, OrgName: "Org " + r.org, OrgType: "Production",
		MeterID: r.meter, MeterName: "Meter " + r.meter, Scalar: "Compute Units", MetricCategory: "Data Integration",
		Date:       date(r.date),
		MeterUsage: r.usage, IPU: r.ipu, IPURate: r.rate, HasIPURate: r.hasRate,
	}
	if r.start != "" {
		u.BillingPeriodStart, u.BillingPeriodEnd = date(r.start), date(r.end)
	}
	return u
}

func buildTable(t testing.TB, rows ...row) *Table {
	t.Helper()
	b := NewBuilder()
	for _, r := range rows {
		if err := b.Add(r.usageRow()); err != nil {
			t.Fatalf("Add(%+v): %v", r, err)
		}
	}
	return b.Table()
}
