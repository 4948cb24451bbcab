package collector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// gatherBoth gathers one set of accounts twice: through a registry alone,
// with the data metrics collected on every scrape, and through Gatherer,
// which reuses them between changes.
func gatherBoth(t *testing.T, clock *fixedClock, accounts ...*account) (direct, cached func() []*dto.MetricFamily) {
	t.Helper()
	plain := prometheus.NewPedanticRegistry()
	plain.MustRegister(staticExporter(clock, 26*time.Hour, accounts...))
	e := staticExporter(clock, 26*time.Hour, accounts...)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	g := e.Gatherer(reg)
	gather := func(g prometheus.Gatherer) func() []*dto.MetricFamily {
		return func() []*dto.MetricFamily {
			t.Helper()
			mfs, err := g.Gather()
			if err != nil {
				t.Fatal(err)
			}
			return mfs
		}
	}
	return gather(plain), gather(g)
}

func assertSameFamilies(t *testing.T, got, want []*dto.MetricFamily) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d families, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("family %s differs:\n got %v\nwant %v", want[i].GetName(), got[i], want[i])
		}
	}
}

// TestGathererServesWhatCollectServes: the cached data metrics are the same
// as collected ones, before and after every kind of change: a new snapshot,
// a new UTC day, max_age passing.
func TestGathererServesWhatCollectServes(t *testing.T) {
	clock := newFixedClock(goldenNow)
	entitlement := 120000.0
	prod := staticAccount("prod", &entitlement, goldenState(), newSnapshot("prod", goldenTable(t), date("2025-03-10T11:58:00Z")))
	shared := staticAccount("shared", nil, newAccountState(), newSnapshot("shared", sharedTable(t, 2, "org-a", "c"), goldenNow))
	direct, cached := gatherBoth(t, clock, prod, shared)

	assertSameFamilies(t, cached(), direct())
	assertSameFamilies(t, cached(), direct()) // from the cache

	prod.snap.Store(newSnapshot("prod", sharedTable(t, 7, "org-a", "b"), goldenNow))
	assertSameFamilies(t, cached(), direct())

	clock.Set(goldenNow.Add(24 * time.Hour)) // another last complete day
	assertSameFamilies(t, cached(), direct())

	clock.Set(goldenNow.Add(27 * time.Hour)) // past max_age: no data left
	got := cached()
	assertSameFamilies(t, got, direct())
	for _, mf := range got {
		if mf.GetName() == "informatica_ipu_billing_period_consumed_ipus" {
			t.Errorf("data past max_age is served: %v", mf)
		}
	}
}

// TestGathererReusesData: between changes a scrape does not gather the data
// metrics again.
func TestGathererReusesData(t *testing.T) {
	clock := newFixedClock(goldenNow)
	prod := staticAccount("prod", nil, goldenState(), newSnapshot("prod", goldenTable(t), goldenNow))
	e := staticExporter(clock, 26*time.Hour, prod)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	g := e.Gatherer(reg).(*dataGatherer)
	first, _ := g.data()
	second, _ := g.data()
	if len(first) == 0 || &first[0] != &second[0] {
		t.Error("the data metrics were gathered again without a change")
	}
	prod.snap.Store(newSnapshot("prod", goldenTable(t), goldenNow))
	if third, _ := g.data(); &third[0] == &first[0] {
		t.Error("a new snapshot did not renew the data metrics")
	}
}
