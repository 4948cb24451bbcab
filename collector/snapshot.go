package collector

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// snapshot is the finished result of one successful refresh. It is built
// whole, then swapped in atomically, so a scrape sees either the previous
// refresh or this one, never a mix.
type snapshot struct {
	account string
	table   *Table
	taken   time.Time // when the refresh that produced it finished

	// rendered caches the metrics for the current UTC day; they only change
	// at midnight or at a billing period boundary.
	rendered atomic.Pointer[rendered]
}

// rendered holds ready-made metrics, valid for instants in [from, until).
type rendered struct {
	from, until time.Time
	orgs        []renderedOrg
	meters      []renderedMeter
}

// renderedOrg groups one org's series so that an org two accounts both
// export is published once.
type renderedOrg struct {
	id      string
	metrics []prometheus.Metric
}

type renderedMeter struct {
	info   MeterInfo
	metric prometheus.Metric
}

func newSnapshot(account string, t *Table, taken time.Time) *snapshot {
	return &snapshot{account: account, table: t, taken: taken}
}

// metrics returns the usage metrics as of now, rendering them again only when
// the cached ones have expired.
func (s *snapshot) metrics(now time.Time) *rendered {
	if r := s.rendered.Load(); r != nil && !now.Before(r.from) && now.Before(r.until) {
		return r
	}
	r := s.render(now)
	s.rendered.Store(r)
	return r
}

func (s *snapshot) render(now time.Time) *rendered {
	views, until := computeView(s.table, now)
	r := &rendered{from: now, until: until}
	t := s.table
	for _, v := range views {
		org := t.Orgs[v.org]
		ro := renderedOrg{id: org.ID}
		add := func(desc *prometheus.Desc, value float64, labels ...string) {
			ro.metrics = append(ro.metrics, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, value, labels...))
		}
		add(orgInfoDesc, 1, s.account, org.ID, org.Name, org.Type)
		if v.hasPeriod {
			add(periodStartDesc, float64(v.period.start), org.ID)
			add(periodEndDesc, float64(v.period.end), org.ID)
		}
		if v.hasLastDay {
			add(lastDayTimestampDesc, float64(dayTime(v.lastDay).Unix()), org.ID)
		}
		for _, sv := range v.series {
			meter := t.Meters[sv.meter]
			labels := []string{org.ID, org.Name, meter.ID, meter.Name}
			if v.hasPeriod {
				add(billingPeriodConsumedDesc, sv.periodIPU, labels...)
				add(meterUsageDesc, sv.periodUsage, labels...)
			}
			if v.hasLastDay {
				add(lastDayConsumedDesc, sv.lastDayIPU, labels...)
			}
			if sv.hasRate {
				add(meterRateDesc, sv.rate, labels...)
			}
		}
		r.orgs = append(r.orgs, ro)
	}
	for _, m := range t.Meters {
		r.meters = append(r.meters, renderedMeter{
			info:   m,
			metric: prometheus.MustNewConstMetric(meterInfoDesc, prometheus.GaugeValue, 1, m.ID, m.Name, m.Scalar, m.Category),
		})
	}
	return r
}
