package collector

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/usage"
)

// snapshot is the finished result of one successful refresh. It is built
// whole, then swapped in atomically, so a scrape sees either the previous
// refresh or this one, never a mix.
type snapshot struct {
	account string
	table   *usage.Table
	taken   time.Time // when the refresh that produced it finished

	// rendered caches the metrics for the current UTC day; they only change
	// at midnight or at a billing period boundary.
	rendered atomic.Pointer[rendered]
	// renderFailed is set once a failed rendering has been logged.
	renderFailed atomic.Bool
}

// rendered holds ready-made metrics, valid for instants in [from, until).
type rendered struct {
	from, until time.Time
	orgs        []renderedOrg // sorted by org ID
	meters      []renderedMeter
	// families holds the same usage metrics as orgs, family by family,
	// each in the order the registry sorts it in: sent in that order, a
	// scrape's sort finds them sorted, which costs a fraction of sorting
	// them.
	families [numFamilies][]familyMetric
}

// The families of the usage metrics that render makes.
const (
	famOrgInfo = iota
	famPeriodStart
	famPeriodEnd
	famLastDayTimestamp
	famConsumed
	famUsage
	famLastDayConsumed
	famRate
	numFamilies
)

// familyMetric is a metric and the index of its org in rendered.orgs.
type familyMetric struct {
	org    int
	metric prometheus.Metric
}

// renderedOrg is an org of the rendering; its metrics are in families.
type renderedOrg struct {
	id string
}

type renderedMeter struct {
	info   usage.MeterInfo
	metric prometheus.Metric
}

// collect sends the usage metrics of the orgs that are not in seen yet,
// family by family, and adds those orgs to seen: an org several accounts
// export is published by the first of them.
func (r *rendered) collect(ch chan<- prometheus.Metric, seen map[string]bool) {
	publish := make([]bool, len(r.orgs))
	for i, o := range r.orgs {
		if !seen[o.id] {
			seen[o.id], publish[i] = true, true
		}
	}
	for _, family := range r.families {
		for _, m := range family {
			if publish[m.org] {
				ch <- m.metric
			}
		}
	}
}

func newSnapshot(account string, t *usage.Table, taken time.Time) *snapshot {
	return &snapshot{account: account, table: t, taken: taken}
}

// metrics returns the usage metrics as of now, rendering them again only when
// the cached ones have expired. The refresher renders a snapshot before it
// publishes it, so a table that cannot become metrics fails its refresh
// rather than a scrape.
func (s *snapshot) metrics(now time.Time) (*rendered, error) {
	if r := s.rendered.Load(); r != nil && !now.Before(r.from) && now.Before(r.until) {
		return r, nil
	}
	r, err := s.render(now)
	if err != nil {
		return nil, fmt.Errorf("render the metrics of account %q: %w", s.account, err)
	}
	s.rendered.Store(r)
	return r, nil
}

func (s *snapshot) render(now time.Time) (*rendered, error) {
	views, until := usage.ComputeView(s.table, now)
	r := &rendered{from: now, until: until}
	t := s.table
	// Orgs in ID order, so that the families of one label, org_id, come
	// out sorted.
	slices.SortFunc(views, func(a, b usage.OrgView) int { return strings.Compare(t.Orgs[a.Org].ID, t.Orgs[b.Org].ID) })

	// First what each family holds, then the metrics, made family by family
	// in the order they are sent: a scrape then reads them from memory in
	// the order they lie in.
	type value struct {
		org   int   // index into views and r.orgs
		meter int32 // index into t.Meters; -1 for an org's own metrics
		v     float64
	}
	var values [numFamilies][]value
	for i, v := range views {
		add := func(family int, meter int32, x float64) {
			values[family] = append(values[family], value{org: i, meter: meter, v: x})
		}
		add(famOrgInfo, -1, 1)
		if v.HasPeriod {
			add(famPeriodStart, -1, float64(v.Period.Start))
			add(famPeriodEnd, -1, float64(v.Period.End))
		}
		if v.HasLastDay {
			add(famLastDayTimestamp, -1, float64(usage.DayTime(v.LastDay).Unix()))
		}
		for _, sv := range v.Series {
			if v.HasPeriod {
				add(famConsumed, sv.Meter, sv.PeriodIPU)
				add(famUsage, sv.Meter, sv.PeriodUsage)
			}
			if v.HasLastDay {
				add(famLastDayConsumed, sv.Meter, sv.LastDayIPU)
			}
			if sv.HasRate {
				add(famRate, sv.Meter, sv.Rate)
			}
		}
	}
	descs := [numFamilies]*prometheus.Desc{
		famOrgInfo: orgInfoDesc, famPeriodStart: periodStartDesc, famPeriodEnd: periodEndDesc,
		famLastDayTimestamp: lastDayTimestampDesc, famConsumed: billingPeriodConsumedDesc, famUsage: meterUsageDesc,
		famLastDayConsumed: lastDayConsumedDesc, famRate: meterRateDesc,
	}
	r.orgs = make([]renderedOrg, len(views))
	for i, v := range views {
		r.orgs[i].id = t.Orgs[v.Org].ID
	}
	for f, vals := range values {
		// The registry sorts a family by its label values in the order of
		// the label names: meter_id, meter_name, org_id, org_name for the
		// usage series. They are in org ID order already; a stable sort by
		// meter does the rest.
		if len(vals) > 0 && vals[0].meter >= 0 {
			slices.SortStableFunc(vals, func(a, b value) int {
				ma, mb := &t.Meters[a.meter], &t.Meters[b.meter]
				return cmp.Or(strings.Compare(ma.ID, mb.ID), strings.Compare(ma.Name, mb.Name))
			})
		}
		r.families[f] = make([]familyMetric, len(vals))
		for k, x := range vals {
			org := t.Orgs[views[x.org].Org]
			var labels []string
			switch {
			case f == famOrgInfo:
				labels = []string{s.account, org.ID, org.Name, org.Type}
			case x.meter < 0:
				labels = []string{org.ID}
			default:
				meter := &t.Meters[x.meter]
				labels = []string{org.ID, org.Name, meter.ID, meter.Name}
			}
			m, err := prometheus.NewConstMetric(descs[f], prometheus.GaugeValue, x.v, labels...)
			if err != nil {
				return nil, err
			}
			r.families[f][k] = familyMetric{org: x.org, metric: m}
		}
	}
	for _, m := range t.Meters {
		metric, err := prometheus.NewConstMetric(meterInfoDesc, prometheus.GaugeValue, 1, m.ID, m.Name, m.Scalar, m.Category)
		if err != nil {
			return nil, err
		}
		r.meters = append(r.meters, renderedMeter{info: m, metric: metric})
	}
	// meter_id, meter_name, metric_category, scalar.
	slices.SortFunc(r.meters, func(a, b renderedMeter) int {
		return cmp.Or(strings.Compare(a.info.ID, b.info.ID), strings.Compare(a.info.Name, b.info.Name),
			strings.Compare(a.info.Category, b.info.Category), strings.Compare(a.info.Scalar, b.info.Scalar))
	})
	return r, nil
}
