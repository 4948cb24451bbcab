package collector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func renderedSamples(t *testing.T, r *rendered) samples {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectFunc(func(ch chan<- prometheus.Metric) {
		r.collect(ch, map[string]bool{}, nil)
		for _, m := range r.meters {
			ch <- meterMetric(m)
		}
	}))
	return gatherSamples(t, reg)
}

func TestSnapshotRendersUntilTheViewChanges(t *testing.T) {
	tab := buildTable(t,
		row{org: "a", meter: "m", date: "2025-03-09", start: mar, end: marEnd, ipu: 1},
		row{org: "a", meter: "m", date: "2025-03-10", start: mar, end: marEnd, ipu: 2},
	)
	s := newSnapshot("acct", tab, date("2025-03-10T11:00:00Z"))
	lastDay := key("informatica_ipu_last_day_timestamp_seconds", "org_id", "a")

	r1 := mustRender(t, s, date("2025-03-10T12:00:00Z"))
	if got := renderedSamples(t, r1)[lastDay]; got != float64(date("2025-03-09").Unix()) {
		t.Errorf("last day timestamp = %v, want 2025-03-09", got)
	}
	if r2 := mustRender(t, s, date("2025-03-10T23:59:59Z")); r2 != r1 {
		t.Error("rendered again before the view changed")
	}
	r3 := mustRender(t, s, date("2025-03-11T00:00:00Z"))
	if r3 == r1 {
		t.Fatal("not rendered again at midnight")
	}
	if got := renderedSamples(t, r3)[lastDay]; got != float64(date("2025-03-10").Unix()) {
		t.Errorf("after midnight last day timestamp = %v, want 2025-03-10", got)
	}
	// A clock that goes back gets a rendering for its own instant.
	if r4 := mustRender(t, s, date("2025-03-10T12:00:00Z")); r4 == r3 {
		t.Error("a rendering for a later instant was served for an earlier one")
	} else if got := renderedSamples(t, r4)[lastDay]; got != float64(date("2025-03-09").Unix()) {
		t.Errorf("back before midnight last day timestamp = %v, want 2025-03-09", got)
	}
}

// mustRender renders s as of now, failing the test on an error.
func mustRender(t *testing.T, s *snapshot, now time.Time) *rendered {
	t.Helper()
	r, err := s.metrics(now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// BenchmarkRender renders a 500 orgs x 40 meters table (30 days each)
// into the usage series of a day, as a refresher does before it
// publishes, and as the first scrape after a UTC midnight does.
func BenchmarkRender(b *testing.B) {
	spec := scaleSpec(500, 40)
	f, size := openExport(b, benchExport(b, spec))
	tbl, _ := parse(b, f, size, nil)
	now := spec.Last().Add(36 * time.Hour)
	b.ResetTimer()
	for range b.N {
		if _, err := newSnapshot("bench", tbl, now).render(now); err != nil {
			b.Fatal(err)
		}
	}
}
