package usage

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// OrgView is what the gauges show for one org at one instant.
type OrgView struct {
	Org int32 // index into Table.Orgs
	// Period is the org's current billing period; HasPeriod is false when
	// no row named one.
	Period    BillingPeriod
	HasPeriod bool
	// LastDay is the org's most recent complete UTC day with rows, in
	// days since 1970-01-01 UTC.
	LastDay    int32
	HasLastDay bool
	Series     []SeriesView
}

// SeriesView is one org and meter: its sums over the org's current billing
// period and its last complete day, and its newest IPU rate.
type SeriesView struct {
	Meter       int32 // index into Table.Meters
	PeriodIPU   float64
	PeriodUsage float64
	LastDayIPU  float64
	Rate        float64
	HasRate     bool
}

// BillingPeriod is a billing period: Start and End are 00:00 UTC of its
// first and last day, in Unix seconds.
type BillingPeriod struct{ Start, End int64 }

// endExclusive is the first instant after the period: the period runs
// through the whole of its last day.
func (p BillingPeriod) endExclusive() int64 {
	return p.End + secondsPerDay
}

// Contains reports whether the instant t, in Unix seconds, falls in the
// period.
func (p BillingPeriod) Contains(t int64) bool {
	return p.Start <= t && t < p.endExclusive()
}

// ComputeView derives every org's current billing period, last complete day
// and per-meter sums as of now. It also returns the instant the result stops
// being true without new data: the next UTC midnight or period boundary.
func ComputeView(t *Table, now time.Time) ([]OrgView, time.Time) {
	nowUnix := now.Unix()
	today := DayNumber(now)
	validUntil := DayTime(today + 1).Unix()
	var views []OrgView
	orgRanges(t.Days, func(days []DayUsage) {
		v := OrgView{Org: days[0].Org}
		v.Period, v.HasPeriod = t.currentPeriod(days, nowUnix)
		meterRanges(days, func(days []DayUsage) {
			// A series' days are sorted: its last complete day is the last
			// one before today.
			if i, _ := slices.BinarySearchFunc(days, today, func(d DayUsage, day int32) int { return cmp.Compare(d.Day, day) }); i > 0 {
				if d := days[i-1].Day; !v.HasLastDay || d > v.LastDay {
					v.LastDay, v.HasLastDay = d, true
				}
			}
		})
		t.eachAttr(days, func(a dayAttr) {
			if p, ok := a.period(); ok {
				for _, boundary := range [2]int64{p.Start, p.endExclusive()} {
					if boundary > nowUnix && boundary < validUntil {
						validUntil = boundary
					}
				}
			}
		})
		v.Series = t.seriesOf(days, v)
		views = append(views, v)
	})
	return views, time.Unix(validUntil, 0)
}

// eachAttr calls fn with the attributes of days, once for each run of days
// that share them: they change rarely from one day to the next.
func (t *Table) eachAttr(days []DayUsage, fn func(dayAttr)) {
	last := uint32(math.MaxUint32)
	for _, d := range days {
		if d.attr != last {
			last = d.attr
			fn(t.attrs[d.attr])
		}
	}
}

// currentPeriod picks the billing period that holds now; when several do
// (one period's end date is the next one's start), the later one; when none
// does, the latest period in the rows.
func (t *Table) currentPeriod(days []DayUsage, now int64) (BillingPeriod, bool) {
	var best BillingPeriod
	found, bestContains := false, false
	t.eachAttr(days, func(a dayAttr) {
		p, ok := a.period()
		if !ok {
			return
		}
		c := p.Contains(now)
		better := !found ||
			(c && !bestContains) ||
			(c == bestContains && (p.Start > best.Start || (p.Start == best.Start && p.End > best.End)))
		if better {
			best, found, bestContains = p, true, c
		}
	})
	return best, found
}

// seriesOf sums an org's days per meter. A meter is shown when it has rows
// in the current billing period or on the last complete day.
func (t *Table) seriesOf(days []DayUsage, v OrgView) []SeriesView {
	var out []SeriesView
	meterRanges(days, func(days []DayUsage) {
		sv := SeriesView{Meter: days[0].Meter}
		shown := false
		inPeriod, lastAttr := false, uint32(math.MaxUint32)
		for _, d := range days {
			if d.attr != lastAttr {
				lastAttr = d.attr
				a := t.attrs[d.attr]
				p, ok := a.period()
				inPeriod = v.HasPeriod && ok && p == v.Period
				// Days are sorted, so the last one with a rate is the
				// newest.
				if a.hasRate {
					sv.Rate, sv.HasRate = a.rateValue(), true
				}
			}
			if inPeriod {
				sv.PeriodIPU += d.IPU
				sv.PeriodUsage += d.Usage
				shown = true
			}
			if v.HasLastDay && d.Day == v.LastDay {
				sv.LastDayIPU += d.IPU
				shown = true
			}
		}
		if shown {
			out = append(out, sv)
		}
	})
	return out
}
