package collector

import (
	"cmp"
	"errors"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Gatherer returns what to serve on /metrics: everything reg gathers, with
// the exporter registered in it, plus the exporter's data metrics. Those
// change only with a refresh or at a UTC midnight, so they are gathered
// once per change and the result is reused by every scrape in between;
// gathering thousands of series afresh would cost each scrape more than
// encoding them. From the first call on, Collect leaves the data metrics to
// the returned Gatherer.
func (e *Exporter) Gatherer(reg prometheus.Gatherer) prometheus.Gatherer {
	e.dataGathered.Store(true)
	return &dataGatherer{e: e, reg: reg}
}

type dataGatherer struct {
	e   *Exporter
	reg prometheus.Gatherer

	mu     sync.Mutex
	key    []any // what the cached families were gathered from
	cached []*dto.MetricFamily
}

func (g *dataGatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := g.reg.Gather()
	data, dataErr := g.data()
	// The data families have names of their own, so merging is appending
	// and keeping the registry's order by name.
	out := make([]*dto.MetricFamily, 0, len(mfs)+len(data))
	out = append(append(out, mfs...), data...)
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out, errors.Join(err, dataErr)
}

// data returns the data metrics, gathered again only when an account's
// snapshot, rendering or breakdown has changed since the last time. The
// families are shared by concurrent scrapes, which only read them.
func (g *dataGatherer) data() ([]*dto.MetricFamily, error) {
	accounts, maxAge := g.e.current()
	now := g.e.now()
	key := dataKey(accounts, maxAge, now)
	g.mu.Lock()
	defer g.mu.Unlock()
	if slices.Equal(key, g.key) {
		return g.cached, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectFunc(func(ch chan<- prometheus.Metric) { g.e.collectData(ch, accounts, maxAge, now) }))
	mfs, err := reg.Gather()
	if err != nil {
		return mfs, err
	}
	g.key, g.cached = key, mfs
	return mfs, nil
}

// collectFunc is an unchecked collector of whatever its function sends.
type collectFunc func(chan<- prometheus.Metric)

func (collectFunc) Describe(chan<- *prometheus.Desc)      {}
func (f collectFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }
