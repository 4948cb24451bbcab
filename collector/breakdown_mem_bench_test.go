package collector

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/internal/testkit"
	"github.com/ipumon/informatica_exporter/usage"
)

// BenchmarkBreakdownMemory: the heap an account's asset breakdown keeps
// (its per-day rows and the published, capped series) and the process's
// RSS after it is built, for assets x meters series over a 31-day period
// and the last day before it. Run with -benchtime=1x; it prints.
func BenchmarkBreakdownMemory(b *testing.B) {
	for _, size := range [][2]int{{2000, 2}, {10000, 2}, {20000, 4}} {
		b.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(b *testing.B) {
			for range b.N {
				retained, rss := breakdownMemory(size[0], size[1])
				b.ReportMetric(retained, "retained-MiB")
				b.ReportMetric(rss, "rss-MiB")
			}
		})
	}
}

func breakdownMemory(assets, meters int) (retainedMiB, rssMiB float64) {
	const days = 32 // the last day of the previous period, then 31
	first := date("2025-05-31")
	sc := &summaryScope{
		periods:  map[string]usage.BillingPeriod{"org": {Start: date("2025-06-01").Unix(), End: date("2025-07-01").Unix()}},
		lastDays: map[string]int32{"org": usage.DayNumber(date("2025-06-30"))},
	}
	var before runtime.MemStats
	debug.FreeOSMemory()
	runtime.ReadMemStats(&before)
	rb := newRowsBuilder(&assetKind, sc)
	for a := range assets {
		name, project := fmt.Sprintf("mt_asset_%06d", a), fmt.Sprintf("Project %d", a%40)
		for m := range meters {
			meter := fmt.Sprintf("meter%02d", m)
			for d := range days {
				rb.add(seriesKey{"org", meter, name, "Mapping Task", project, "Default", "Prod Agent Group"}, first.AddDate(0, 0, d), rowValues{float64(a%97) + 0.25})
			}
		}
	}
	rows := rb.finish(time.Unix(0, 0))
	rb = nil
	published, err := rows.scope(sc, 500)
	if err != nil {
		panic(err)
	}
	var after runtime.MemStats
	debug.FreeOSMemory()
	runtime.ReadMemStats(&after)
	rss := testkit.RSSKiB(nil, "VmRSS")
	runtime.KeepAlive(rows)
	runtime.KeepAlive(published)
	return float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20), float64(rss) / 1024
}
