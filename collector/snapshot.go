package collector

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

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

// rendered holds what the usage metrics are, valid for instants in
// [from, until): values and the indexes of their labels in the table, not
// prometheus.Metrics. The refresher encodes them to bytes once, and only
// the promhttp fallback (protobuf, name[] filters) makes them into
// metrics again, so keeping ready-made metrics (about 400 bytes a series
// at 2000 orgs x 60 meters) would buy nothing but memory.
type rendered struct {
	from, until time.Time
	account     string
	table       *usage.Table
	orgs        []renderedOrg // sorted by org ID
	// families holds the usage series family by family (usageFamilies),
	// each in the order the registry sorts it in: sent in that order, a
	// gathering's sort finds them sorted, which costs a fraction of
	// sorting them.
	families [len(usageFamilies)][]familyValue
	// meters are the table's meters, in the order the registry sorts
	// informatica_meter_info in.
	meters []usage.MeterInfo
}

// familyValue is one series: its value, the index of its org in
// rendered.orgs and of its meter in the table (-1 for an org's own
// metrics).
type familyValue struct {
	org   int32
	meter int32
	v     float64
}

// renderedOrg is an org of the rendering: its ID and its index in the
// table.
type renderedOrg struct {
	id    string
	index int32
}

// collect sends the usage metrics of the orgs that are not in seen yet,
// family by family, and adds those orgs to seen: an org several accounts
// export is published by the first of them.
func (r *rendered) collect(ch chan<- prometheus.Metric, seen map[string]bool, tree *orgTree) {
	publish := make([]bool, len(r.orgs))
	for i, o := range r.orgs {
		if !seen[o.id] {
			seen[o.id], publish[i] = true, true
		}
	}
	for f, family := range r.families {
		for _, x := range family {
			if publish[x.org] {
				ch <- r.metric(f, x, tree)
			}
		}
	}
}

// metric makes the series x of family f, with the labels of the account's
// org tree, if any. render checked every label value
// it can have, so this cannot fail but for a bug, which the gathering
// reports.
func (r *rendered) metric(f int, x familyValue, tree *orgTree) prometheus.Metric {
	fam := &usageFamilies[f]
	org := &r.table.Orgs[r.orgs[x.org].index]
	var meter *usage.MeterInfo
	if x.meter >= 0 {
		meter = &r.table.Meters[x.meter]
	}
	labels := make([]string, len(fam.labels))
	for i, name := range fam.labels {
		labels[i] = usageLabelValue(name, r.account, org, meter, tree)
	}
	m, err := prometheus.NewConstMetric(fam.desc, prometheus.GaugeValue, x.v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(fam.desc, err)
	}
	return m
}

// meterMetric makes the informatica_meter_info series of m.
func meterMetric(m usage.MeterInfo) prometheus.Metric {
	metric, err := prometheus.NewConstMetric(meterInfoDesc, prometheus.GaugeValue, 1, m.ID, m.Name, m.Scalar, m.Category)
	if err != nil {
		return prometheus.NewInvalidMetric(meterInfoDesc, err)
	}
	return metric
}

// checkLabelValues fails as prometheus.NewConstMetric would on values that
// cannot be label values, so that a table that cannot become metrics fails
// its refresh.
func checkLabelValues(values ...string) error {
	for _, v := range values {
		if !utf8.ValidString(v) {
			return fmt.Errorf("label value %q is not valid UTF-8", v)
		}
	}
	return nil
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
	r := &rendered{from: now, until: until, account: s.account, table: s.table}
	t := s.table
	// Orgs in ID order, so that the families of one label, org_id, come
	// out sorted.
	slices.SortFunc(views, func(a, b usage.OrgView) int { return strings.Compare(t.Orgs[a.Org].ID, t.Orgs[b.Org].ID) })

	// What each family holds, in the order it is sent: a gathering then
	// reads the values from memory in the order they lie in.
	var values [len(usageFamilies)][]familyValue
	for f := range usageFamilies {
		fam := &usageFamilies[f]
		for i := range views {
			v := &views[i]
			if fam.orgValue != nil {
				if x, ok := fam.orgValue(v); ok {
					values[f] = append(values[f], familyValue{org: int32(i), meter: -1, v: x})
				}
				continue
			}
			for k := range v.Series {
				if x, ok := fam.seriesValue(v, &v.Series[k]); ok {
					values[f] = append(values[f], familyValue{org: int32(i), meter: v.Series[k].Meter, v: x})
				}
			}
		}
	}
	if err := checkLabelValues(s.account); err != nil {
		return nil, err
	}
	r.orgs = make([]renderedOrg, len(views))
	for i, v := range views {
		org := t.Orgs[v.Org]
		if err := checkLabelValues(org.ID, org.Name, org.Type); err != nil {
			return nil, err
		}
		r.orgs[i] = renderedOrg{id: org.ID, index: v.Org}
	}
	for f, vals := range values {
		// The registry sorts a family by its label values in the order of
		// the label names: meter_id, meter_name, org_id, org_name for an
		// org and meter's series (seriesLabels). They are in org ID order
		// already; a stable sort by meter does the rest.
		if usageFamilies[f].seriesValue != nil {
			slices.SortStableFunc(vals, func(a, b familyValue) int {
				ma, mb := &t.Meters[a.meter], &t.Meters[b.meter]
				return cmp.Or(strings.Compare(ma.ID, mb.ID), strings.Compare(ma.Name, mb.Name))
			})
		}
		r.families[f] = slices.Clip(vals)
	}
	r.meters = slices.Clone(t.Meters)
	for _, m := range r.meters {
		if err := checkLabelValues(m.ID, m.Name, m.Scalar, m.Category); err != nil {
			return nil, err
		}
	}
	// meter_id, meter_name, metric_category, scalar.
	slices.SortFunc(r.meters, func(a, b usage.MeterInfo) int {
		return cmp.Or(strings.Compare(a.ID, b.ID), strings.Compare(a.Name, b.Name),
			strings.Compare(a.Category, b.Category), strings.Compare(a.Scalar, b.Scalar))
	})
	return r, nil
}
