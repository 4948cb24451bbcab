package collector

// BenchmarkScale: the footprint of the exporter at three sizes of hierarchy,
// each in a process of its own (this test binary, run again): the refresh's
// CPU, RSS after the refresh and after 100 scrapes, and scrape latencies
// over HTTP against net/http serving the same bytes from memory, measured
// in the same process, alternating.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ipumon/informatica_exporter/internal/exportgen"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// scaleSizes are orgs x meters; every series has scaleDays days.
var scaleSizes = [][2]int{{50, 40}, {500, 40}, {2000, 60}}

const scaleDays = 30

func scaleSpec(orgs, meters int) exportgen.Spec {
	return exportgen.Spec{Orgs: orgs, Meters: meters, Rows: orgs * meters * scaleDays}
}

// scaleFigures is what one child process reports.
var scaleFigures = []string{
	"series", "body-bytes", "gzip-bytes", "refresh-cpu-ms", "rss-refresh-MiB", "rss-100-scrapes-MiB",
	"cold-p50-ms", "p50-ms", "p99-ms", "floor-p50-ms", "gzip-cold-p50-ms", "gzip-p50-ms", "gzip-p99-ms", "gzip-floor-p50-ms",
}

// TestScaleChild is one size of BenchmarkScale.
func TestScaleChild(t *testing.T) {
	size := os.Getenv("SCALE_SIZE")
	if size == "" {
		t.Skip("run by BenchmarkScale")
	}
	var orgs, meters int
	fmt.Sscanf(size, "%dx%d", &orgs, &meters)
	spec := scaleSpec(orgs, meters)
	f, fsize := openExport(t, benchExport(t, spec))

	// The refresh: parse, render, encode, as a refresher does before the
	// first scrape.
	now := spec.Last().Add(36 * time.Hour)
	clock := newFixedClock(now)
	acct := staticAccount("bench", nil, newAccountState(), nil)
	e := staticExporter(clock, 26*time.Hour, acct)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	handler := e.Handler(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	acct.published, acct.now = e.published, clock.Now
	cpu := processCPU()
	tbl, _ := parse(t, f, fsize, nil)
	if err := acct.publish(newSnapshot("bench", tbl, now)); err != nil {
		t.Fatal(err)
	}
	refreshCPU := processCPU() - cpu
	rssRefresh := testkit.RSSKiB(t, "VmRSS")

	srv := httptest.NewServer(handler)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	// The client keeps no body but the first two: what it allocates would
	// count in this process's RSS.
	scrape := func(url string, gzip, keep bool) (time.Duration, []byte) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
		if gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		if keep {
			body, err = io.ReadAll(resp.Body)
		} else {
			_, err = io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %v", resp.StatusCode, err)
		}
		return time.Since(start), body
	}
	// 100 scrapes, half with gzip, then the RSS: the client keeps nothing.
	const n = 100
	for k := range n {
		scrape(srv.URL, k%2 == 1, false)
	}
	rss100 := testkit.RSSKiB(t, "VmRSS")

	// Latencies, against the floor: net/http serving the same bytes from
	// memory, alternating in one loop.
	_, body := scrape(srv.URL, false, true)
	_, zbody := scrape(srv.URL, true, true)
	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := body
		if r.Header.Get("Accept-Encoding") == "gzip" {
			b = zbody
			w.Header().Set("Content-Encoding", "gzip")
		}
		w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}))
	defer floor.Close()
	var lat, zlat, flat, zflat []time.Duration
	for range n / 2 {
		d, _ := scrape(srv.URL, false, false)
		lat = append(lat, d)
		d, _ = scrape(floor.URL, false, false)
		flat = append(flat, d)
		d, _ = scrape(srv.URL, true, false)
		zlat = append(zlat, d)
		d, _ = scrape(floor.URL, true, false)
		zflat = append(zflat, d)
	}
	// The first scrape after a refresh, plain and with gzip, five times
	// each: the same table published again is a new snapshot to encode.
	var cold, zcold []time.Duration
	for range 5 {
		for _, gz := range []bool{false, true} {
			if err := acct.publish(newSnapshot("bench", tbl, now)); err != nil {
				t.Fatal(err)
			}
			d, _ := scrape(srv.URL, gz, false)
			if gz {
				zcold = append(zcold, d)
			} else {
				cold = append(cold, d)
			}
		}
	}
	q := func(l []time.Duration, p float64) float64 {
		l = slices.Clone(l)
		slices.Sort(l)
		return float64(l[min(len(l)-1, int(p*float64(len(l))))]) / 1e6
	}
	series := strings.Count(string(body), "\n") - strings.Count(string(body), "\n#")
	vals := []float64{
		float64(series), float64(len(body)), float64(len(zbody)), float64(refreshCPU) / 1e6,
		float64(rssRefresh) / 1024, float64(rss100) / 1024,
		q(cold, 0.5), q(lat, 0.5), q(lat, 0.99), q(flat, 0.5),
		q(zcold, 0.5), q(zlat, 0.5), q(zlat, 0.99), q(zflat, 0.5),
	}
	var out strings.Builder
	out.WriteString("SCALE")
	for i, v := range vals {
		fmt.Fprintf(&out, " %s=%g", scaleFigures[i], v)
	}
	fmt.Println(out.String())
}

// BenchmarkScale reports each size's figures (see TestScaleChild), plus
// x-floor: scrape p50 over net/http's p50 serving the same bytes, and
// rss-growth: RSS after 100 scrapes over RSS after the refresh.
func BenchmarkScale(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc")
	}
	for _, sz := range scaleSizes {
		name := fmt.Sprintf("%dx%d", sz[0], sz[1])
		b.Run("size="+name, func(b *testing.B) {
			benchExport(b, scaleSpec(sz[0], sz[1])) // generated here, not in the measured process
			figs := map[string]float64{}
			for range b.N {
				cmd := exec.Command(os.Args[0], "-test.run=^TestScaleChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), "SCALE_SIZE="+name)
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				i := strings.Index(string(out), "SCALE ")
				if i < 0 {
					b.Fatalf("no figures: %s", out)
				}
				line, _, _ := strings.Cut(string(out[i+len("SCALE "):]), "\n")
				for _, kv := range strings.Fields(line) {
					k, v, _ := strings.Cut(kv, "=")
					x, _ := strconv.ParseFloat(v, 64)
					figs[k] = x // the last run's
				}
			}
			for _, k := range scaleFigures {
				b.ReportMetric(figs[k], k)
			}
			b.ReportMetric(figs["p50-ms"]/figs["floor-p50-ms"], "x-floor")
			b.ReportMetric(figs["gzip-p50-ms"]/figs["gzip-floor-p50-ms"], "gzip-x-floor")
			b.ReportMetric(figs["rss-100-scrapes-MiB"]/figs["rss-refresh-MiB"], "rss-growth")
		})
	}
}
