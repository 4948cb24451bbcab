package usage

// BenchmarkBuilderShapes: the memory a Builder and its Table take for the
// same number of rows in different shapes. Each shape runs in a process of
// its own (this test binary, run again), so that its peak RSS is its own.

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// shapeRows is the number of rows of every shape.
const shapeRows = 1_000_000

const mib = 1 << 20

// builderShapes generate the same number of rows in different orders and
// groupings.
var builderShapes = []struct {
	name string
	rows func(n int, fn func(org, meter, day int))
}{
	// dense: 50 orgs x 40 meters, day after day, as an export lists them.
	{"dense", func(n int, fn func(org, meter, day int)) {
		for i := range n {
			fn(i%2000/40, i%40, i/2000)
		}
	}},
	// long-then-short: one series of 400 days, then one-row series.
	{"long-then-short", func(n int, fn func(org, meter, day int)) {
		for d := range 400 {
			fn(0, 0, d)
		}
		for i := range n - 400 {
			fn(1+i/40, i%40, 399)
		}
	}},
	// one-row-series: every row a series of its own, 40 meters per org.
	{"one-row-series", func(n int, fn func(org, meter, day int)) {
		for i := range n {
			fn(i/40, i%40, 0)
		}
	}},
	// reverse-dates: the dense rows, newest day first.
	{"reverse-dates", func(n int, fn func(org, meter, day int)) {
		days := (n + 1999) / 2000
		for i := range n {
			fn(i%2000/40, i%40, days-1-i/2000)
		}
	}},
}

// TestBuilderShapeChild builds one shape's table when run by
// BenchmarkBuilderShapes, and prints its peak RSS and heap.
func TestBuilderShapeChild(t *testing.T) {
	name := os.Getenv("BUILDER_SHAPE")
	if name == "" {
		t.Skip("run by BenchmarkBuilderShapes")
	}
	rows, _ := strconv.Atoi(os.Getenv("BUILDER_SHAPE_ROWS"))
	for _, s := range builderShapes {
		if s.name != name {
			continue
		}
		orgIDs := map[int]string{}
		meterIDs := make([]string, 40)
		for m := range meterIDs {
			meterIDs[m] = fmt.Sprintf("meter%06d", m)
		}
		first := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		dates := make([]time.Time, 1000)
		for d := range dates {
			dates[d] = first.AddDate(0, 0, d)
		}
		start, end := first, first.AddDate(1, 0, 0)
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base, peak := ms.HeapAlloc, ms.HeapAlloc
		rssBase := testkit.RSSKiB(t, "VmRSS")
		b := NewBuilder()
		r := informatica.UsageRow{
			OrgType: "Sub-Organization", MeterName: "Data Integration", Scalar: "Compute Units",
			MetricCategory: "Data Integration", BillingPeriodStart: start, BillingPeriodEnd: end,
			IPURate: 0.06, HasIPURate: true,
		}
		n := 0
		s.rows(rows, func(org, meter, day int) {
			id, ok := orgIDs[org]
			if !ok {
				id = fmt.Sprintf("org%06d", org)
				orgIDs[org] = id
			}
			r.OrgID, r.OrgName, r.MeterID, r.Date = id, id, meterIDs[meter], dates[day]
			r.IPU, r.MeterUsage = float64(day%7), float64(day%5)
			b.Add(&r)
			if n++; n%4096 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		})
		clear(orgIDs)
		tb := b.Table()
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		runtime.KeepAlive(b)
		fmt.Printf("SHAPE %s rows=%d entries=%d peak-rss-kib=%d base-rss-kib=%d peak-heap=%d\n",
			name, n, len(tb.Days), testkit.RSSKiB(t, "VmHWM"), rssBase, peak-base)
		return
	}
	t.Fatalf("no shape %q", name)
}

// BenchmarkBuilderShapes reports, per shape of shapeRows rows, the peak RSS
// of a process that builds its table (and the RSS it had before, the Go
// runtime and the test binary), and the peak heap above where it started;
// x-dense is the peak RSS over the dense shape's.
func BenchmarkBuilderShapes(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc")
	}
	var dense float64
	for _, s := range builderShapes {
		b.Run("shape="+s.name, func(b *testing.B) {
			var rss, base, heap float64
			for range b.N {
				cmd := exec.Command(os.Args[0], "-test.run=^TestBuilderShapeChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), "BUILDER_SHAPE="+s.name, fmt.Sprintf("BUILDER_SHAPE_ROWS=%d", shapeRows))
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				var name string
				var rows, entries, r, bs, h int
				i := strings.Index(string(out), "SHAPE ")
				if i < 0 {
					b.Fatalf("no figures: %s", out)
				}
				if _, err := fmt.Sscanf(string(out[i:]), "SHAPE %s rows=%d entries=%d peak-rss-kib=%d base-rss-kib=%d peak-heap=%d",
					&name, &rows, &entries, &r, &bs, &h); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				rss, base, heap = max(rss, float64(r)/1024), float64(bs)/1024, max(heap, float64(h)/mib)
			}
			if s.name == "dense" {
				dense = rss
			}
			b.ReportMetric(rss, "peak-rss-MiB")
			b.ReportMetric(base, "base-rss-MiB")
			b.ReportMetric(heap, "peak-heap-MiB")
			if dense > 0 {
				b.ReportMetric(rss/dense, "x-dense")
			}
		})
	}
}
