package collector

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// orgView is what the gauges show for one org at one instant.
type orgView struct {
	org int32
	// period is the org's current billing period; hasPeriod is false when
	// no row named one.
	period    billingPeriod
	hasPeriod bool
	// lastDay is the org's most recent complete UTC day with rows.
	lastDay    int32
	hasLastDay bool
	series     []seriesView
}

// seriesView is one org and meter.
type seriesView struct {
	meter       int32
	periodIPU   float64
	periodUsage float64
	lastDayIPU  float64
	rate        float64
	hasRate     bool
}

type billingPeriod struct{ start, end int64 }

// endExclusive is the first instant after the period: the period runs
// through the whole of its last day.
func (p billingPeriod) endExclusive() int64 {
	return p.end + secondsPerDay
}

func (p billingPeriod) contains(t int64) bool {
	return p.start <= t && t < p.endExclusive()
}

// computeView derives every org's current billing period, last complete day
// and per-meter sums as of now. It also returns the instant the result stops
// being true without new data: the next UTC midnight or period boundary.
func computeView(t *Table, now time.Time) ([]orgView, time.Time) {
	nowUnix := now.Unix()
	today := dayNumber(now)
	validUntil := dayTime(today + 1).Unix()
	var views []orgView
	orgRanges(t.Days, func(days []DayUsage) {
		v := orgView{org: days[0].Org}
		v.period, v.hasPeriod = t.currentPeriod(days, nowUnix)
		meterRanges(days, func(days []DayUsage) {
			// A series' days are sorted: its last complete day is the last
			// one before today.
			if i, _ := slices.BinarySearchFunc(days, today, func(d DayUsage, day int32) int { return cmp.Compare(d.Day, day) }); i > 0 {
				if d := days[i-1].Day; !v.hasLastDay || d > v.lastDay {
					v.lastDay, v.hasLastDay = d, true
				}
			}
		})
		t.eachAttr(days, func(a dayAttr) {
			if p, ok := a.period(); ok {
				for _, boundary := range [2]int64{p.start, p.endExclusive()} {
					if boundary > nowUnix && boundary < validUntil {
						validUntil = boundary
					}
				}
			}
		})
		v.series = t.seriesOf(days, v)
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
func (t *Table) currentPeriod(days []DayUsage, now int64) (billingPeriod, bool) {
	var best billingPeriod
	found, bestContains := false, false
	t.eachAttr(days, func(a dayAttr) {
		p, ok := a.period()
		if !ok {
			return
		}
		c := p.contains(now)
		better := !found ||
			(c && !bestContains) ||
			(c == bestContains && (p.start > best.start || (p.start == best.start && p.end > best.end)))
		if better {
			best, found, bestContains = p, true, c
		}
	})
	return best, found
}

// seriesOf sums an org's days per meter. A meter is shown when it has rows
// in the current billing period or on the last complete day.
func (t *Table) seriesOf(days []DayUsage, v orgView) []seriesView {
	var out []seriesView
	meterRanges(days, func(days []DayUsage) {
		sv := seriesView{meter: days[0].Meter}
		shown := false
		inPeriod, lastAttr := false, uint32(math.MaxUint32)
		for _, d := range days {
			if d.attr != lastAttr {
				lastAttr = d.attr
				a := t.attrs[d.attr]
				p, ok := a.period()
				inPeriod = v.hasPeriod && ok && p == v.period
				// Days are sorted, so the last one with a rate is the
				// newest.
				if a.hasRate {
					sv.rate, sv.hasRate = a.rateValue(), true
				}
			}
			if inPeriod {
				sv.periodIPU += d.IPU
				sv.periodUsage += d.Usage
				shown = true
			}
			if v.hasLastDay && d.Day == v.lastDay {
				sv.lastDayIPU += d.IPU
				shown = true
			}
		}
		if shown {
			out = append(out, sv)
		}
	})
	return out
}
