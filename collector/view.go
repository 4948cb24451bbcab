package collector

import (
	"math"
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

// endExclusive is the first instant after the period. Informatica may give
// the end as a date (the period's last day) or as an instant; a value at
// 00:00 UTC is read as a date, so the period runs through that whole day.
func (p billingPeriod) endExclusive() int64 {
	if p.end%secondsPerDay == 0 {
		return p.end + secondsPerDay
	}
	return p.end + 1
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
	t.orgRanges(func(org int32, days []DayUsage) {
		v := orgView{org: org}
		v.period, v.hasPeriod = currentPeriod(days, nowUnix)
		for _, d := range days {
			if d.Day < today && (!v.hasLastDay || d.Day > v.lastDay) {
				v.lastDay, v.hasLastDay = d.Day, true
			}
			if d.PeriodStart != 0 || d.PeriodEnd != 0 {
				p := billingPeriod{d.PeriodStart, d.PeriodEnd}
				for _, boundary := range []int64{p.start, p.endExclusive()} {
					if boundary > nowUnix && boundary < validUntil {
						validUntil = boundary
					}
				}
			}
		}
		v.series = seriesOf(days, v)
		views = append(views, v)
	})
	return views, time.Unix(validUntil, 0)
}

// currentPeriod picks the billing period that holds now; when several do
// (one period's end date is the next one's start), the later one; when none
// does, the latest period in the rows.
func currentPeriod(days []DayUsage, now int64) (billingPeriod, bool) {
	var best billingPeriod
	found, bestContains := false, false
	for _, d := range days {
		if d.PeriodStart == 0 && d.PeriodEnd == 0 {
			continue
		}
		p := billingPeriod{d.PeriodStart, d.PeriodEnd}
		c := p.contains(now)
		better := !found ||
			(c && !bestContains) ||
			(c == bestContains && (p.start > best.start || (p.start == best.start && p.end > best.end)))
		if better {
			best, found, bestContains = p, true, c
		}
	}
	return best, found
}

// seriesOf sums an org's days per meter. A meter is shown when it has rows
// in the current billing period or on the last complete day.
func seriesOf(days []DayUsage, v orgView) []seriesView {
	var out []seriesView
	for start := 0; start < len(days); {
		end := start + 1
		for end < len(days) && days[end].Meter == days[start].Meter {
			end++
		}
		s := seriesView{meter: days[start].Meter}
		shown, rateDay := false, int32(math.MinInt32)
		for _, d := range days[start:end] {
			if v.hasPeriod && d.PeriodStart == v.period.start && d.PeriodEnd == v.period.end {
				s.periodIPU += d.IPU
				s.periodUsage += d.Usage
				shown = true
			}
			if v.hasLastDay && d.Day == v.lastDay {
				s.lastDayIPU += d.IPU
				shown = true
			}
			if d.HasRate && d.Day >= rateDay {
				s.rate, s.hasRate, rateDay = d.Rate, true, d.Day
			}
		}
		if shown {
			out = append(out, s)
		}
		start = end
	}
	return out
}
