package usage

import (
	"testing"
	"time"
)

// Monthly periods as Informatica writes them: first and last day, as dates.
const (
	jan, janEnd = "2025-01-01", "2025-01-31"
	feb, febEnd = "2025-02-01", "2025-02-28"
	mar, marEnd = "2025-03-01", "2025-03-31"
	apr, aprEnd = "2025-04-01", "2025-04-30"
)

// view is ComputeView's result for one org, with series by meter ID.
type view struct {
	OrgView
	series map[string]SeriesView
}

func viewsAt(t *testing.T, tab *Table, now string) (map[string]view, time.Time) {
	t.Helper()
	views, until := ComputeView(tab, date(now))
	out := map[string]view{}
	for _, v := range views {
		vv := view{OrgView: v, series: map[string]SeriesView{}}
		for _, s := range v.Series {
			vv.series[tab.Meters[s.Meter].ID] = s
		}
		out[tab.Orgs[v.Org].ID] = vv
	}
	return out, until
}

func (v view) wantPeriod(t *testing.T, start, end string) {
	t.Helper()
	if !v.HasPeriod {
		t.Fatalf("no current period, want %s to %s", start, end)
	}
	if got := (BillingPeriod{date(start).Unix(), date(end).Unix()}); v.Period != got {
		t.Errorf("current period = %s to %s, want %s to %s",
			time.Unix(v.Period.Start, 0).UTC(), time.Unix(v.Period.End, 0).UTC(), start, end)
	}
}

func (v view) wantLastDay(t *testing.T, day string) {
	t.Helper()
	switch {
	case day == "" && v.HasLastDay:
		t.Errorf("last day = %s, want none", DayTime(v.LastDay))
	case day != "" && !v.HasLastDay:
		t.Errorf("no last day, want %s", day)
	case day != "" && DayTime(v.LastDay) != date(day):
		t.Errorf("last day = %s, want %s", DayTime(v.LastDay), day)
	}
}

func (v view) wantSeries(t *testing.T, meter string, periodIPU, periodUsage, lastDayIPU float64) {
	t.Helper()
	s, ok := v.series[meter]
	if !ok {
		t.Fatalf("meter %s not shown", meter)
	}
	if !approx(s.PeriodIPU, periodIPU) || !approx(s.PeriodUsage, periodUsage) || !approx(s.LastDayIPU, lastDayIPU) {
		t.Errorf("meter %s: period IPU %v, period usage %v, last day IPU %v; want %v, %v, %v",
			meter, s.PeriodIPU, s.PeriodUsage, s.LastDayIPU, periodIPU, periodUsage, lastDayIPU)
	}
}

func TestBuilderSumsRowsOfTheSameDay(t *testing.T) {
	b := NewBuilder()
	rows := []row{
		{org: "a", meter: "m", date: "2025-03-09", start: mar, end: marEnd, usage: 4, ipu: 1, rate: 0.25, hasRate: true},
		{org: "b", meter: "m", date: "2025-03-09", start: mar, end: marEnd, usage: 1, ipu: 3},
		{org: "a", meter: "m", date: "2025-03-08", start: mar, end: marEnd, usage: 8, ipu: 2},
		{org: "a", meter: "m", date: "2025-03-09", start: mar, end: marEnd, usage: 2, ipu: 0.5},
		{org: "a", meter: "n", date: "2025-03-09", start: mar, end: marEnd, usage: 7, ipu: 7},
	}
	for _, r := range rows {
		if err := b.Add(r.usageRow()); err != nil {
			t.Fatal(err)
		}
	}
	if b.Rows() != 4 {
		t.Errorf("Rows() = %d, want 4 distinct org, meter and day entries", b.Rows())
	}
	tab := b.Table()
	if len(tab.Orgs) != 2 || len(tab.Meters) != 2 || len(tab.Days) != 4 {
		t.Fatalf("table has %d orgs, %d meters, %d days; want 2, 2, 4", len(tab.Orgs), len(tab.Meters), len(tab.Days))
	}
	type cell struct{ org, meter, day string }
	got := map[cell]Entry{}
	for i := range tab.Days {
		d := tab.Entry(i)
		if i > 0 {
			p := tab.Days[i-1]
			if p.Org > d.Org || (p.Org == d.Org && (p.Meter > d.Meter || (p.Meter == d.Meter && p.Day >= d.Day))) {
				t.Errorf("Days not sorted by org, meter, day at %d", i)
			}
		}
		got[cell{tab.Orgs[d.Org].ID, tab.Meters[d.Meter].ID, DayTime(d.Day).Format("2006-01-02")}] = d
	}
	a9 := got[cell{"a", "m", "2025-03-09"}]
	if a9.IPU != 1.5 || a9.Usage != 6 || !a9.HasRate || a9.Rate != 0.25 {
		t.Errorf("org a, meter m, 2025-03-09 = %+v; want IPU 1.5, usage 6, rate 0.25", a9)
	}
	if a9.PeriodStart != date(mar).Unix() || a9.PeriodEnd != date(marEnd).Unix() {
		t.Errorf("period of the summed day = %d to %d", a9.PeriodStart, a9.PeriodEnd)
	}
	if d := got[cell{"b", "m", "2025-03-09"}]; d.IPU != 3 || d.HasRate {
		t.Errorf("org b is not summed with org a: got %+v", d)
	}
	if d := got[cell{"a", "n", "2025-03-09"}]; d.IPU != 7 {
		t.Errorf("meter n is not summed with meter m: got %+v", d)
	}

	// The returned table does not change when the builder goes on.
	b.Add(row{org: "a", meter: "m", date: "2025-03-09", usage: 100, ipu: 100}.usageRow())
	for _, d := range tab.Days {
		if d.IPU >= 100 {
			t.Errorf("a row added after Table() changed the returned table: %+v", d)
		}
	}
}

func TestBillingPeriodContains(t *testing.T) {
	p := BillingPeriod{date(mar).Unix(), date(marEnd).Unix()}
	for at, want := range map[string]bool{
		"2025-02-28T23:59:59Z": false,
		"2025-03-01T00:00:00Z": true,
		"2025-03-31T00:00:00Z": true,
		"2025-03-31T18:00:00Z": true,
		"2025-03-31T23:59:59Z": true,
		"2025-04-01T00:00:00Z": false,
	} {
		if got := p.Contains(date(at).Unix()); got != want {
			t.Errorf("March contains %s = %v, want %v", at, got, want)
		}
	}
}

// TestOnePeriodOneSpelling: an end written as the last day, as its last
// second, or as the first instant after it, is the same period; so is a
// start written as an instant.
func TestOnePeriodOneSpelling(t *testing.T) {
	for _, c := range []struct{ start, end string }{
		{mar, marEnd},
		{mar, "2025-03-31T23:59:59Z"},
		{mar, "2025-04-01T00:00:00Z"},
		{"2025-03-01T00:00:00Z", "2025-03-31T00:00:00Z"},
		{"2025-03-01T06:00:00Z", "2025-03-31T23:59:59Z"},
	} {
		start, end := canonicalPeriod(date(c.start), date(c.end))
		if start != date(mar).Unix() || end != date(marEnd).Unix() {
			t.Errorf("period %s to %s = %s to %s, want %s to %s", c.start, c.end,
				time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC(), mar, marEnd)
		}
	}
	// Annual periods, and a period whose last day is not its start's day
	// of the month.
	for _, c := range []struct{ start, end, wantEnd string }{
		{"2024-10-20", "2025-10-19", "2025-10-19"},
		{"2024-10-20", "2025-10-20T00:00:00Z", "2025-10-19"},
		{"2024-10-20", "2025-10-19T23:59:59Z", "2025-10-19"},
		{"2025-02-01", "2025-02-28", "2025-02-28"},
		{"2025-02-01", "2025-03-01T00:00:00Z", "2025-02-28"},
	} {
		if _, end := canonicalPeriod(date(c.start), date(c.end)); end != date(c.wantEnd).Unix() {
			t.Errorf("period %s to %s ends %s, want %s", c.start, c.end, time.Unix(end, 0).UTC(), c.wantEnd)
		}
	}

	// Three files of one export, each spelling March its own way: one
	// period, whose sums hold every row.
	tab := buildTable(t,
		row{org: "a", meter: "m", date: "2025-03-02", start: mar, end: marEnd, usage: 2, ipu: 1},
		row{org: "a", meter: "n", date: "2025-03-02", start: mar, end: "2025-03-31T23:59:59Z", usage: 4, ipu: 2},
		row{org: "a", meter: "m", date: "2025-03-03", start: "2025-03-01T00:00:00Z", end: "2025-04-01T00:00:00Z", usage: 8, ipu: 4},
	)
	views, _ := viewsAt(t, tab, "2025-03-31T23:59:59Z")
	views["a"].wantPeriod(t, mar, marEnd)
	views["a"].wantSeries(t, "m", 5, 10, 4)
	views["a"].wantSeries(t, "n", 2, 4, 0)
}

func TestCurrentBillingPeriod(t *testing.T) {
	t.Run("end given as a date covers the whole last day", func(t *testing.T) {
		tab := buildTable(t,
			row{org: "a", meter: "m", date: "2025-03-30", start: mar, end: marEnd, usage: 2, ipu: 1},
			row{org: "a", meter: "m", date: "2025-03-31", start: mar, end: marEnd, usage: 4, ipu: 2},
			// A later period that does not hold now: not current while March
			// does. (Rows of one day are summed, so it is on another meter.)
			row{org: "a", meter: "x", date: "2025-03-31", start: apr, end: aprEnd, usage: 64, ipu: 32},
		)
		views, _ := viewsAt(t, tab, "2025-03-31T23:30:00Z")
		views["a"].wantPeriod(t, mar, marEnd)
		views["a"].wantSeries(t, "m", 3, 6, 1)
		if _, ok := views["a"].series["x"]; ok {
			t.Error("a meter with rows only in a period that is not current is shown")
		}
	})
	t.Run("end given as 23:59:59", func(t *testing.T) {
		tab := buildTable(t,
			row{org: "a", meter: "m", date: "2025-03-31", start: mar, end: "2025-03-31T23:59:59Z", usage: 4, ipu: 2},
			row{org: "a", meter: "x", date: "2025-03-31", start: apr, end: "2025-04-30T23:59:59Z", usage: 64, ipu: 32},
		)
		views, _ := viewsAt(t, tab, "2025-03-31T23:59:59Z")
		views["a"].wantPeriod(t, mar, marEnd)
		views, _ = viewsAt(t, tab, "2025-04-01T00:00:00Z")
		views["a"].wantPeriod(t, apr, aprEnd)
	})
	t.Run("two periods hold now: the later one", func(t *testing.T) {
		// March's end date is April's start date, so April 1 is in both.
		tab := buildTable(t,
			row{org: "a", meter: "m", date: "2025-03-31", start: mar, end: apr, usage: 2, ipu: 1},
			row{org: "a", meter: "m", date: "2025-04-01", start: apr, end: aprEnd, usage: 8, ipu: 4},
		)
		views, _ := viewsAt(t, tab, "2025-04-01T10:00:00Z")
		views["a"].wantPeriod(t, apr, aprEnd)
		views["a"].wantSeries(t, "m", 4, 8, 1)
	})
	t.Run("no period holds now: the latest one", func(t *testing.T) {
		tab := buildTable(t,
			row{org: "a", meter: "m", date: "2025-02-27", start: feb, end: febEnd, usage: 2, ipu: 1},
			row{org: "a", meter: "m", date: "2025-02-28", start: feb, end: febEnd, usage: 4, ipu: 2},
			row{org: "a", meter: "m", date: "2025-01-15", start: jan, end: janEnd, usage: 64, ipu: 32},
		)
		views, _ := viewsAt(t, tab, "2025-03-10T12:00:00Z")
		views["a"].wantPeriod(t, feb, febEnd)
		views["a"].wantSeries(t, "m", 3, 6, 2)
	})
	t.Run("rows without a period", func(t *testing.T) {
		tab := buildTable(t, row{org: "a", meter: "m", date: "2025-03-09", usage: 2, ipu: 1})
		views, _ := viewsAt(t, tab, "2025-03-10T12:00:00Z")
		if views["a"].HasPeriod {
			t.Errorf("a period was made up: %+v", views["a"].Period)
		}
		views["a"].wantLastDay(t, "2025-03-09")
		if s := views["a"].series["m"]; s.LastDayIPU != 1 {
			t.Errorf("last day IPU = %v, want 1", s.LastDayIPU)
		}
	})
}

func TestBillingPeriodConsumed(t *testing.T) {
	tab := buildTable(t,
		// Org a: the February rows are not part of March's total; today's
		// rows are, since the total runs up to the newest data.
		row{org: "a", meter: "m", date: "2025-02-28", start: feb, end: febEnd, usage: 40, ipu: 10},
		row{org: "a", meter: "m", date: "2025-03-01", start: mar, end: marEnd, usage: 4, ipu: 1},
		row{org: "a", meter: "m", date: "2025-03-09", start: mar, end: marEnd, usage: 8, ipu: 2},
		row{org: "a", meter: "m", date: "2025-03-10", start: mar, end: marEnd, usage: 16, ipu: 4},
		row{org: "a", meter: "n", date: "2025-03-05", start: mar, end: marEnd, usage: 1, ipu: 0.5},
		// Org b has the same meter; its usage is its own.
		row{org: "b", meter: "m", date: "2025-03-02", start: mar, end: marEnd, usage: 2, ipu: 0.25},
	)
	views, _ := viewsAt(t, tab, "2025-03-10T12:00:00Z")
	views["a"].wantPeriod(t, mar, marEnd)
	views["a"].wantSeries(t, "m", 7, 28, 2)
	views["a"].wantSeries(t, "n", 0.5, 1, 0)
	views["b"].wantLastDay(t, "2025-03-02")
	views["b"].wantSeries(t, "m", 0.25, 2, 0.25)
}

func TestLastCompleteDay(t *testing.T) {
	tab := buildTable(t,
		row{org: "a", meter: "m", date: "2025-03-08", start: mar, end: marEnd, ipu: 1},
		row{org: "a", meter: "m", date: "2025-03-09", start: mar, end: marEnd, ipu: 2},
		row{org: "a", meter: "m", date: "2025-03-10", start: mar, end: marEnd, ipu: 4}, // today: partial
		row{org: "a", meter: "n", date: "2025-03-08", start: mar, end: marEnd, ipu: 8},
		// Org b's newest complete day is older; it is b's own.
		row{org: "b", meter: "m", date: "2025-03-05", start: mar, end: marEnd, ipu: 16},
		row{org: "b", meter: "m", date: "2025-03-10", start: mar, end: marEnd, ipu: 32},
		// Org c has only today's rows.
		row{org: "c", meter: "m", date: "2025-03-10", start: mar, end: marEnd, ipu: 64},
	)
	views, _ := viewsAt(t, tab, "2025-03-10T12:00:00Z")
	views["a"].wantLastDay(t, "2025-03-09")
	views["a"].wantSeries(t, "m", 7, 0, 2)
	views["a"].wantSeries(t, "n", 8, 0, 0)
	views["b"].wantLastDay(t, "2025-03-05")
	views["b"].wantSeries(t, "m", 48, 0, 16)
	views["c"].wantLastDay(t, "")

	// After midnight, today's rows make a complete day.
	views, _ = viewsAt(t, tab, "2025-03-11T00:00:00Z")
	views["a"].wantLastDay(t, "2025-03-10")
	views["a"].wantSeries(t, "m", 7, 0, 4)
	views["c"].wantLastDay(t, "2025-03-10")
}

func TestMetersShown(t *testing.T) {
	tab := buildTable(t,
		row{org: "a", meter: "current", date: "2025-03-01", start: mar, end: marEnd, ipu: 1},
		// Only in February, and February 28 is not the last complete day.
		row{org: "a", meter: "old", date: "2025-02-20", start: feb, end: febEnd, ipu: 2, rate: 3, hasRate: true},
		// Only on the last complete day, which is in the previous period.
		row{org: "a", meter: "yesterday", date: "2025-02-28", start: feb, end: febEnd, ipu: 4},
	)
	views, _ := viewsAt(t, tab, "2025-03-01T08:00:00Z")
	v := views["a"]
	v.wantPeriod(t, mar, marEnd)
	v.wantLastDay(t, "2025-02-28")
	if _, ok := v.series["old"]; ok {
		t.Error("a meter with rows only in an older period is shown")
	}
	v.wantSeries(t, "current", 1, 0, 0)
	v.wantSeries(t, "yesterday", 0, 0, 4)
	if len(v.series) != 2 {
		t.Errorf("%d series shown, want 2", len(v.series))
	}
}

func TestRateFromNewestRowWithOne(t *testing.T) {
	tab := buildTable(t,
		row{org: "a", meter: "m", date: "2025-03-07", start: mar, end: marEnd, ipu: 1, rate: 0.1, hasRate: true},
		row{org: "a", meter: "m", date: "2025-03-08", start: mar, end: marEnd, ipu: 1, rate: 0.2, hasRate: true},
		row{org: "a", meter: "m", date: "2025-03-09", start: mar, end: marEnd, ipu: 1}, // null rate
		// On one day a row with a rate and one without: the rate stays.
		row{org: "a", meter: "n", date: "2025-03-09", start: mar, end: marEnd, ipu: 1, rate: 0.3, hasRate: true},
		row{org: "a", meter: "n", date: "2025-03-09", start: mar, end: marEnd, ipu: 1},
		row{org: "a", meter: "never", date: "2025-03-09", start: mar, end: marEnd, ipu: 1},
	)
	views, _ := viewsAt(t, tab, "2025-03-10T12:00:00Z")
	for meter, want := range map[string]float64{"m": 0.2, "n": 0.3} {
		if s := views["a"].series[meter]; !s.HasRate || s.Rate != want {
			t.Errorf("meter %s: rate %v (has %v), want %v", meter, s.Rate, s.HasRate, want)
		}
	}
	if s := views["a"].series["never"]; s.HasRate {
		t.Errorf("meter without rates has rate %v", s.Rate)
	}
}

func TestViewValidUntil(t *testing.T) {
	monthly := buildTable(t, row{org: "a", meter: "m", date: "2025-03-09", start: mar, end: marEnd, ipu: 1})
	for now, want := range map[string]string{
		"2025-03-10T12:00:00Z": "2025-03-11T00:00:00Z",
		"2025-03-10T00:00:00Z": "2025-03-11T00:00:00Z",
		"2025-03-31T23:00:00Z": "2025-04-01T00:00:00Z",
	} {
		if _, until := viewsAt(t, monthly, now); !until.Equal(date(want)) {
			t.Errorf("at %s valid until %s, want %s", now, until.UTC(), want)
		}
	}
}

func TestOrgsWithAnnualAndMonthlyPeriods(t *testing.T) {
	const year, yearEnd = "2024-10-20", "2025-10-19"
	tab := buildTable(t,
		row{org: "monthly", meter: "m", date: "2025-02-10", start: feb, end: febEnd, usage: 2, ipu: 1},
		row{org: "monthly", meter: "m", date: "2025-03-09", start: mar, end: marEnd, usage: 4, ipu: 2},
		row{org: "annual", meter: "m", date: "2024-10-19", start: "2023-10-20", end: "2024-10-19", usage: 64, ipu: 32},
		row{org: "annual", meter: "m", date: "2024-10-20", start: year, end: yearEnd, usage: 8, ipu: 4},
		row{org: "annual", meter: "m", date: "2025-02-10", start: year, end: yearEnd, usage: 16, ipu: 8},
		row{org: "annual", meter: "m", date: "2025-03-09", start: year, end: yearEnd, usage: 32, ipu: 16},
	)
	views, _ := viewsAt(t, tab, "2025-03-10T12:00:00Z")
	views["monthly"].wantPeriod(t, mar, marEnd)
	views["monthly"].wantSeries(t, "m", 2, 4, 2)
	views["annual"].wantPeriod(t, year, yearEnd)
	views["annual"].wantSeries(t, "m", 28, 56, 16)
}
