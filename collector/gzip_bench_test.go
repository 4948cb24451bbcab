package collector

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// gzipExporter is an exporter and its registry as main.go sets them up
// (Go and process collectors): "small" is the golden table (a few orgs
// and meters), "OxM" a scale size of scale_bench_test.go.
func gzipExporter(tb testing.TB, size string) (*Exporter, *prometheus.Registry) {
	var acct *account
	clock := newFixedClock(goldenNow)
	if size == "small" {
		entitlement := 120000.0
		acct = staticAccount("prod", &entitlement, goldenState(), newSnapshot("prod", goldenTable(tb), date("2025-03-10T11:58:00Z")))
	} else {
		var orgs, meters int
		fmt.Sscanf(size, "%dx%d", &orgs, &meters)
		spec := scaleSpec(orgs, meters)
		f, fsize := openExport(tb, benchExport(tb, spec))
		tbl, _ := parse(tb, f, fsize, nil)
		now := spec.Last().Add(36 * time.Hour)
		clock = newFixedClock(now)
		acct = staticAccount("bench", nil, newAccountState(), newSnapshot("bench", tbl, now))
	}
	e := staticExporter(clock, 26*time.Hour, acct)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return e, reg
}

// gzipBodySize serves one OpenMetrics scrape with gzip and returns the
// size of the body.
func gzipBodySize(h http.Handler) int {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Body.Len()
}

// TestGzipBodyNearPromhttp: a small scrape's gzip body is not much larger
// than promhttp's for the same registry (it was 2.9x with the health
// families Huffman-coded alone).
func TestGzipBodyNearPromhttp(t *testing.T) {
	e, reg := gzipExporter(t, "small")
	opts := promhttp.HandlerOpts{EnableOpenMetrics: true}
	fast, ref := e.Handler(reg, opts), promhttp.HandlerFor(e.Gatherer(reg), opts)
	got, want := gzipBodySize(fast), gzipBodySize(ref)
	if float64(got) > 2*float64(want) {
		t.Errorf("gzip body %d bytes, promhttp's %d: %.2fx", got, want, float64(got)/float64(want))
	}
}

// BenchmarkGzipBody serves gzip scrapes (OpenMetrics) from the handler in
// process, no HTTP: ns/op and cpu-ns/op are one scrape; gzip-bytes and
// promhttp-gzip-bytes the body's size from it and from promhttp for the
// same registry, x-promhttp their ratio; encode-cpu-ms the CPU of
// encoding the data families once (as a refresher does after a publish).
func BenchmarkGzipBody(b *testing.B) {
	for _, size := range []string{"small", "50x40", "500x40"} {
		b.Run("size="+size, func(b *testing.B) {
			e, reg := gzipExporter(b, size)
			opts := promhttp.HandlerOpts{EnableOpenMetrics: true}
			fast := e.Handler(reg, opts)
			x := fast.(*exposition)
			cpu := processCPU()
			if _, err := x.encode(e.accounts, e.refresh.MaxAge, byRefresher); err != nil {
				b.Fatal(err)
			}
			encodeCPU := processCPU() - cpu
			got, want := gzipBodySize(fast), gzipBodySize(promhttp.HandlerFor(e.Gatherer(reg), opts))
			b.ResetTimer()
			cpu = processCPU()
			for range b.N {
				gzipBodySize(fast)
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(got), "gzip-bytes")
			b.ReportMetric(float64(want), "promhttp-gzip-bytes")
			b.ReportMetric(float64(got)/float64(want), "x-promhttp")
			b.ReportMetric(float64(encodeCPU)/1e6, "encode-cpu-ms")
		})
	}
}
