package collector

// Benchmarks behind BENCHMARKS.md; scripts/bench.sh runs them all. Inputs
// come from internal/exportgen and are written once into $EXPORTGEN_DIR (by
// default a folder under the system's temporary folder), outside the timed
// regions.

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	kflate "github.com/klauspost/compress/flate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/internal/exportgen"
	"github.com/ipumon/informatica_exporter/usage"
)

// benchSizes are the row counts of the parse benchmarks.
var benchSizes = []int{10_000, 100_000, 1_000_000}

// benchExport returns the path of the generated export of rows rows.
func benchExport(b testing.TB, spec exportgen.Spec) string {
	b.Helper()
	dir := os.Getenv("EXPORTGEN_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "informatica-exportgen")
	}
	path, err := exportgen.Cached(dir, spec)
	if err != nil {
		b.Fatal(err)
	}
	return path
}

// openExport opens an export as the client does after a download: a file
// read through io.ReaderAt.
func openExport(b testing.TB, path string) (*os.File, int64) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	return f, st.Size()
}

// inflate reads every CSV entry of a ZIP to io.Discard: the floor under any
// parser, since the rows must be inflated before they can be read.
func inflate(b testing.TB, r io.ReaderAt, size int64) int64 {
	return inflateWith(b, r, size, nil)
}

// inflateWith inflates every entry of the ZIP to io.Discard, with the given
// decompressor, or the standard library's when nil.
func inflateWith(b testing.TB, r io.ReaderAt, size int64, decompressor zip.Decompressor) int64 {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		b.Fatal(err)
	}
	if decompressor != nil {
		zr.RegisterDecompressor(zip.Deflate, decompressor)
	}
	var n int64
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			b.Fatal(err)
		}
		m, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			b.Fatal(err)
		}
		n += m
	}
	return n
}

// inflateKlauspost is inflate with github.com/klauspost/compress, the
// inflater the exporter uses.
func inflateKlauspost(b testing.TB, r io.ReaderAt, size int64) int64 {
	return inflateWith(b, r, size, func(r io.Reader) io.ReadCloser { return kflate.NewReader(r) })
}

// parse reads an export into a per-day table, as a refresh does: its parts
// on every core, each into a builder of its own, joined in file order.
func parse(b testing.TB, r io.ReaderAt, size int64, sample func()) (*usage.Table, int) {
	bld := usage.NewBuilder()
	filter := func(add func(*informatica.UsageRow) error) func(*informatica.UsageRow) error { return add }
	if sample != nil {
		var mu sync.Mutex
		n := 0
		filter = func(add func(*informatica.UsageRow) error) func(*informatica.UsageRow) error {
			return func(u *informatica.UsageRow) error {
				mu.Lock()
				if n++; n%1024 == 0 {
					sample()
				}
				mu.Unlock()
				return add(u)
			}
		}
	}
	rows, err := informatica.ReadUsageZIPParts(r, size, informatica.DefaultLimits, usage.NewPartsBuilder(bld, filter))
	if err != nil {
		b.Fatal(err)
	}
	t := bld.Table()
	if sample != nil {
		sample()
	}
	runtime.KeepAlive(bld)
	return t, rows
}

// heapFigures are what one parse costs in memory, in bytes above the heap
// before it started.
type heapFigures struct {
	peak   uint64 // the most the heap held at any sample
	table  uint64 // what stays live afterwards: the table alone
	parser uint64 // the most the heap held reading the rows without keeping them
}

var heapCache sync.Map // variant name -> heapFigures

// measureHeap parses once, sampling the heap every 1024 rows and at the end,
// then reads the rows again into nothing, to tell the parser's own memory
// from the table's.
func measureHeap(b testing.TB, r io.ReaderAt, size int64, name string) heapFigures {
	if v, ok := heapCache.Load(name); ok {
		return v.(heapFigures)
	}
	var ms runtime.MemStats
	settle := func() uint64 {
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := settle()
	peak := base
	sample := func() {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}
	t, _ := parse(b, r, size, sample)
	h := heapFigures{peak: peak - base, table: settle() - base}
	runtime.KeepAlive(t)

	base = settle()
	peak = base
	var mu sync.Mutex
	n := 0
	if _, err := informatica.ReadUsageZIPParts(r, size, informatica.DefaultLimits, discardParts(func() {
		mu.Lock()
		if n++; n%1024 == 0 {
			sample()
		}
		mu.Unlock()
	})); err != nil {
		b.Fatal(err)
	}
	sample()
	h.parser = peak - base
	heapCache.Store(name, h)
	return h
}

// discardParts reads the parts of an export into nothing, calling each for
// every row.
type discardParts func()

func (d discardParts) Part(int, int) func(*informatica.UsageRow) error {
	return func(*informatica.UsageRow) error { d(); return nil }
}
func (discardParts) Join() {}

const mib = 1 << 20

// peakHeapDuring runs fn once and returns the most the heap held above
// where it started, sampled every half millisecond.
func peakHeapDuring(fn func()) uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-done:
				return
			case <-time.After(500 * time.Microsecond):
			}
		}
	}()
	fn()
	close(done)
	<-sampled
	return peak - base
}

// BenchmarkParse reads a generated export into the per-day table, and in
// the same loop inflates the same ZIP to io.Discard. ns/op, allocs/op and
// B/op are the parse's own; x-inflate is parse time over inflate time.
func BenchmarkParse(b *testing.B) {
	type variant struct {
		name string
		spec exportgen.Spec
	}
	var variants []variant
	for _, rows := range benchSizes {
		variants = append(variants, variant{fmt.Sprintf("rows=%d", rows), exportgen.Spec{Rows: rows}})
	}
	variants = append(variants, variant{"rows=1000000/combined", exportgen.Spec{Rows: 1_000_000, Combined: true}})
	for _, v := range variants {
		rows := v.spec.Rows
		b.Run(v.name, func(b *testing.B) {
			f, size := openExport(b, benchExport(b, v.spec))
			heap := measureHeap(b, f, size, v.name)
			inflate(b, f, size) // warm the page cache
			var parseNs, inflateNs, kNs, parseCPU, inflateCPU, kCPU time.Duration
			var mallocs, bytes uint64
			var ms runtime.MemStats
			b.ResetTimer()
			for range b.N {
				start, cpu := time.Now(), processCPU()
				inflate(b, f, size)
				inflateNs += time.Since(start)
				inflateCPU += processCPU() - cpu

				start, cpu = time.Now(), processCPU()
				inflateKlauspost(b, f, size)
				kNs += time.Since(start)
				kCPU += processCPU() - cpu

				runtime.ReadMemStats(&ms)
				m0, b0 := ms.Mallocs, ms.TotalAlloc
				start, cpu = time.Now(), processCPU()
				t, n := parse(b, f, size, nil)
				parseNs += time.Since(start)
				parseCPU += processCPU() - cpu
				runtime.ReadMemStats(&ms)
				mallocs += ms.Mallocs - m0
				bytes += ms.TotalAlloc - b0
				if n != rows || len(t.Orgs) == 0 {
					b.Fatalf("read %d rows, want %d", n, rows)
				}
			}
			b.StopTimer()
			perOp := func(v float64) float64 { return v / float64(b.N) }
			b.ReportMetric(perOp(float64(parseNs)), "ns/op")
			b.ReportMetric(perOp(float64(inflateNs)), "inflate-ns/op")
			b.ReportMetric(perOp(float64(kNs)), "klauspost-ns/op")
			b.ReportMetric(float64(parseNs)/float64(inflateNs), "x-inflate")
			b.ReportMetric(float64(inflateNs)/float64(kNs), "klauspost-speedup")
			if inflateCPU > 0 {
				// The CPU the parse uses, every goroutine and the GC
				// included, against the standard library inflating alone
				// (on one core).
				b.ReportMetric(float64(parseCPU)/float64(inflateCPU), "cpu-x-inflate")
				b.ReportMetric(perOp(float64(parseCPU))/1e6, "parse-cpu-ms")
				b.ReportMetric(perOp(float64(inflateCPU))/1e6, "inflate-cpu-ms")
				b.ReportMetric(perOp(float64(kCPU))/1e6, "klauspost-cpu-ms")
			}
			b.ReportMetric(perOp(float64(parseNs))/float64(rows), "ns/row")
			b.ReportMetric(perOp(float64(mallocs))/float64(rows), "allocs/row")
			b.ReportMetric(perOp(float64(bytes))/float64(rows), "B/row")
			// peak-heap: the most the heap held above where it started, while
			// parsing into the table; table: what it keeps; parser-heap: the
			// most the CSV reading alone held.
			b.ReportMetric(float64(heap.peak)/mib, "peak-heap-MiB")
			b.ReportMetric(float64(heap.table)/mib, "table-MiB")
			b.ReportMetric(float64(heap.parser)/mib, "parser-heap-MiB")
		})
	}
}

// BenchmarkDownloadToSnapshot is the time from a finished download to the
// new data being served, as a refresh does it (refresh.go): parse the ZIP
// into a table, work out how far back the billing periods reach, merge the
// table with the one served so far, and render the first scrape's metrics.
//   - first: the first refresh, 1M rows, nothing served before;
//   - full: a full refresh, 1M rows, replacing a table of 1M entries;
//   - incremental: a 3-day window (6,000 rows) merged into 1M entries.
func BenchmarkDownloadToSnapshot(b *testing.B) {
	const rows = 1_000_000
	spec := exportgen.Spec{Rows: rows}
	last := spec.Last()
	window := exportgen.Spec{Rows: 3 * 50 * 40, First: last.AddDate(0, 0, -2)}
	now := last.Add(36 * time.Hour)
	refresh := func(b *testing.B, path string, from time.Time, old *usage.Table) *usage.Table {
		f, size := openExport(b, path)
		bld := usage.NewBuilder()
		pass := func(add func(*informatica.UsageRow) error) func(*informatica.UsageRow) error { return add }
		if _, err := informatica.ReadUsageZIPParts(f, size, informatica.DefaultLimits, usage.NewPartsBuilder(bld, pass)); err != nil {
			b.Fatal(err)
		}
		usage.ComputeView(bld.Table(), now)
		t := usage.Merge(old, bld.Table(), usage.Coverage{From: usage.DayNumber(from), To: usage.DayNumber(now)}, usage.DayNumber(spec.First))
		if r, err := newSnapshot("bench", t, now).metrics(now); err != nil || len(r.orgs) == 0 {
			b.Fatalf("nothing rendered: %v", err)
		}
		return t
	}
	full := benchExport(b, spec)
	for _, c := range []struct {
		name string
		path string
		from time.Time
		old  bool
	}{
		{"first", full, spec.First, false},
		{"full", full, spec.First, true},
		{"incremental", benchExport(b, window), window.First, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			var old *usage.Table
			if c.old {
				old = refresh(b, full, spec.First, nil)
			}
			f, size := openExport(b, c.path)
			inflate(b, f, size) // warm the page cache
			peak := peakHeapDuring(func() { refresh(b, c.path, c.from, old) })
			b.ResetTimer()
			for range b.N {
				refresh(b, c.path, c.from, old)
			}
			b.StopTimer()
			b.ReportMetric(float64(peak)/mib, "peak-heap-MiB")
			runtime.KeepAlive(old)
		})
	}
}

// scrapeExporter is an exporter with one account whose snapshot holds 50
// orgs and 40 meters, 45 days each: what a scrape of a large hierarchy sees.
func scrapeExporter(b testing.TB) *Exporter {
	spec := exportgen.Spec{Rows: 50 * 40 * 45}
	f, size := openExport(b, benchExport(b, spec))
	t, _ := parse(b, f, size, nil)
	now := spec.Last().Add(36 * time.Hour)
	clock := newFixedClock(now)
	acct := staticAccount("bench", nil, newAccountState(), newSnapshot("bench", t, now))
	return staticExporter(clock, 26*time.Hour, acct)
}

// BenchmarkScrape gathers the exporter as main.go serves /metrics (a
// registry through Exporter.Gatherer) and encodes the result in the text
// format, and in the same loop encodes the same,
// already gathered, metric families alone. ns/op is the whole scrape;
// x-encode is it over the encoding alone.
func BenchmarkScrape(b *testing.B) {
	reg := prometheus.NewRegistry()
	e := scrapeExporter(b)
	reg.MustRegister(e)
	g := e.Gatherer(reg) // as main.go serves /metrics
	mfs, err := g.Gather()
	if err != nil {
		b.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		series += len(mf.Metric)
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	var buf bytes.Buffer
	encode := func(mfs []*dto.MetricFamily) {
		buf.Reset()
		enc := expfmt.NewEncoder(&buf, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
	var scrapeNs, encodeNs time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		encode(mfs)
		encodeNs += time.Since(start)

		start = time.Now()
		got, err := g.Gather()
		if err != nil {
			b.Fatal(err)
		}
		encode(got)
		scrapeNs += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(scrapeNs)/float64(b.N), "ns/op")
	b.ReportMetric(float64(encodeNs)/float64(b.N), "encode-ns/op")
	b.ReportMetric(float64(scrapeNs)/float64(encodeNs), "x-encode")
	b.ReportMetric(float64(series), "series")
	b.ReportMetric(float64(buf.Len()), "body-bytes")
}

// BenchmarkScrapeHTTP scrapes /metrics over HTTP with 8 concurrent
// scrapers, the handler and registry set up as main.go does (the exporter,
// Go and process collectors, Exporter.Handler), and reports the latency
// percentiles of b.N scrapes. The client asks for gzip, as Prometheus does.
func BenchmarkScrapeHTTP(b *testing.B) {
	const scrapers = 8
	reg := prometheus.NewRegistry()
	e := scrapeExporter(b)
	reg.MustRegister(e, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := httptest.NewServer(e.Handler(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: scrapers}}
	defer client.CloseIdleConnections()
	scrape := func() {
		resp, err := client.Get(srv.URL)
		if err != nil {
			b.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %d", resp.StatusCode)
		}
	}
	for range scrapers {
		scrape() // open the connections
	}
	latencies := make([]time.Duration, b.N)
	var next sync.Mutex
	i := 0
	b.ResetTimer()
	var wg sync.WaitGroup
	for range scrapers {
		wg.Go(func() {
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= len(latencies) {
					return
				}
				start := time.Now()
				scrape()
				latencies[k] = time.Since(start)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(latencies)
	q := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]) / 1e6
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}
