package usage

import (
	"reflect"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
)

func TestMergeTables(t *testing.T) {
	old := buildTable(t,
		row{org: "o1", meter: "m", date: "2025-06-01", ipu: 1},
		row{org: "o1", meter: "m", date: "2025-06-02", ipu: 2},
		row{org: "o1", meter: "m", date: "2025-06-03", ipu: 3},
		row{org: "o2", meter: "m", date: "2025-06-03", ipu: 30},
		row{org: "o1", meter: "m", date: "2025-06-05", ipu: 5},
		row{org: "o1", meter: "n", date: "2025-06-05", ipu: 50},
		row{org: "o2", meter: "m", date: "2025-06-05", ipu: 500},
		// Dated in the future when it was exported.
		row{org: "o1", meter: "m", date: "2025-06-09", ipu: 9},
	)
	fresh := buildTable(t,
		row{org: "o1", meter: "m", date: "2025-06-03", ipu: 3.5},
		row{org: "o1", meter: "m", date: "2025-06-04", ipu: 4},
		// A day outside the range asked for replaces its own org, meter and
		// day, and nothing else.
		row{org: "o1", meter: "m", date: "2025-06-05", ipu: 5.5},
	)
	day := func(s string) int32 { return DayNumber(date(s)) }
	ipus := func(tb *Table) map[string]float64 {
		out := map[string]float64{}
		tb.Each(func(r *informatica.UsageRow) { out[r.OrgID+" "+r.MeterID+" "+r.Date.Format(time.DateOnly)] = r.IPU })
		return out
	}
	cases := []struct {
		name     string
		c        Coverage
		keepFrom string
		want     map[string]float64
	}{
		{
			"covered days of every org replaced, stray row replaces only its own entry",
			Coverage{From: day("2025-06-03"), To: day("2025-06-04"), All: true},
			"2025-01-01",
			map[string]float64{
				"o1 m 2025-06-01": 1, "o1 m 2025-06-02": 2, "o1 m 2025-06-03": 3.5, "o1 m 2025-06-04": 4,
				"o1 m 2025-06-05": 5.5, "o1 n 2025-06-05": 50, "o2 m 2025-06-05": 500, "o1 m 2025-06-09": 9,
			},
		},
		{
			"orgs the export did not return keep their days",
			Coverage{From: day("2025-06-03"), To: day("2025-06-04")},
			"2025-01-01",
			map[string]float64{
				"o1 m 2025-06-01": 1, "o1 m 2025-06-02": 2, "o1 m 2025-06-03": 3.5, "o1 m 2025-06-04": 4,
				"o1 m 2025-06-05": 5.5, "o1 n 2025-06-05": 50, "o2 m 2025-06-03": 30, "o2 m 2025-06-05": 500, "o1 m 2025-06-09": 9,
			},
		},
		{
			"a full run is authoritative from its start Onward: future rows go",
			Coverage{From: day("2025-06-03"), To: Onward, All: true},
			"2025-01-01",
			map[string]float64{"o1 m 2025-06-01": 1, "o1 m 2025-06-02": 2, "o1 m 2025-06-03": 3.5, "o1 m 2025-06-04": 4, "o1 m 2025-06-05": 5.5},
		},
		{
			"an incremental run Onward keeps the orgs it did not return",
			Coverage{From: day("2025-06-03"), To: Onward},
			"2025-01-01",
			map[string]float64{
				"o1 m 2025-06-01": 1, "o1 m 2025-06-02": 2, "o1 m 2025-06-03": 3.5, "o1 m 2025-06-04": 4, "o1 m 2025-06-05": 5.5,
				"o2 m 2025-06-03": 30, "o2 m 2025-06-05": 500,
			},
		},
		{
			"old days dropped",
			Coverage{From: day("2025-06-03"), To: Onward, All: true},
			"2025-06-02",
			map[string]float64{"o1 m 2025-06-02": 2, "o1 m 2025-06-03": 3.5, "o1 m 2025-06-04": 4, "o1 m 2025-06-05": 5.5},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ipus(Merge(old, fresh, c.c, day(c.keepFrom)))
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("merged = %v\nwant %v", got, c.want)
			}
		})
	}
	if got := ipus(Merge(nil, fresh, Coverage{From: day("2025-06-03"), To: day("2025-06-04")}, day("2025-01-01"))); len(got) != 3 {
		t.Errorf("merge into nothing = %v", got)
	}
	// An export without rows changes nothing when it is not authoritative
	// for every org: Informatica has not published the window yet.
	empty := NewBuilder().Table()
	if got, want := ipus(Merge(old, empty, Coverage{From: day("2025-06-03"), To: Onward}, day("2025-01-01"))), ipus(old); !reflect.DeepEqual(got, want) {
		t.Errorf("merging an empty incremental export = %v\nwant %v", got, want)
	}
}
