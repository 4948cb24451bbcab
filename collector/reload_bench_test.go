package collector

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/internal/exportgen"
)

// reloadScrapes is how many scrapes, 100 ms apart, measure the p50 without
// a reload.
const reloadScrapes = 30

// BenchmarkReloadScrape: scrapes taken every 100 ms while a reload adds an
// account with a 1M-row stored state, against scrapes of the same exporter
// without a reload, in one run: x-p50 is the slowest scrape during the
// reload (until one second after Apply returned, so that the first scrape
// of the new data counts) over the p50 of the scrapes before it. The
// exporter serves an account of 50 orgs x 40 meters, 30 days, as main.go
// serves it (Go and process collectors, Handler, OpenMetrics, gzip).
func BenchmarkReloadScrape(b *testing.B) {
	bigSpec := exportgen.Spec{Rows: 1_000_000}
	smallSpec := scaleSpec(50, 40)
	now := bigSpec.Last().Add(36 * time.Hour)
	dir := b.TempDir()
	account := func(name string) AccountSettings {
		return AccountSettings{Name: name, Client: informatica.Config{LoginURL: "http://127.0.0.1:9", Username: name, Password: "unused"}}
	}
	for _, s := range []struct {
		name string
		spec exportgen.Spec
	}{{"small", smallSpec}, {"big", bigSpec}} {
		f, size := openExport(b, benchExport(b, s.spec))
		t, _ := parse(b, f, size, nil)
		a := account(s.name)
		h := stateHeader{Account: s.name, LoginURL: a.Client.LoginURL, Username: a.Client.Username, Taken: now, LastFull: now}
		if err := saveState(dir, h, t); err != nil {
			b.Fatal(err)
		}
	}
	refresh := RefreshSettings{
		Interval: time.Hour, Lookback: 45 * 24 * time.Hour, PollInterval: time.Second,
		JobTimeout: time.Minute, MaxAge: 26 * time.Hour,
	}
	// No refresher ever runs: every run waits for this timer.
	never := func(time.Duration) <-chan time.Time { return nil }

	var ratio, base, worst, calm, applyMs, during float64
	for range b.N {
		clock := newFixedClock(now)
		e := New(log.NewNopLogger(), WithClock(clock.Now), WithTimer(never), WithStorage(dir))
		reg := prometheus.NewRegistry()
		reg.MustRegister(e, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		srv := httptest.NewServer(e.Handler(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
		client := &http.Client{}
		scrape := func() time.Duration {
			start := time.Now()
			resp, err := client.Get(srv.URL)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
			return time.Since(start)
		}
		if err := e.Apply(Settings{Accounts: []AccountSettings{account("small")}, Refresh: refresh}); err != nil {
			b.Fatal(err)
		}
		scrape() // the first encoding

		tick := time.NewTicker(100 * time.Millisecond)
		var before []time.Duration
		for range reloadScrapes {
			<-tick.C
			before = append(before, scrape())
		}
		applied := make(chan time.Duration, 1)
		go func() {
			start := time.Now()
			if err := e.Apply(Settings{Accounts: []AccountSettings{account("small"), account("big")}, Refresh: refresh}); err != nil {
				b.Error(err)
			}
			applied <- time.Since(start)
		}()
		var reload []time.Duration
		var took time.Duration
		var after <-chan time.Time
	measure:
		for {
			select {
			case took = <-applied:
				after = time.After(time.Second)
			case <-after:
				break measure
			case <-tick.C:
				reload = append(reload, scrape())
			}
		}
		tick.Stop()
		srv.Close()
		e.Stop()

		slices.Sort(before)
		p50 := before[len(before)/2]
		slowest := slices.Max(reload)
		ratio, base, worst = float64(slowest)/float64(p50), float64(p50)/1e6, float64(slowest)/1e6
		calm = float64(before[len(before)-1]) / float64(p50)
		applyMs, during = float64(took)/1e6, float64(len(reload))
	}
	b.ReportMetric(ratio, "x-p50")
	b.ReportMetric(base, "p50-ms")
	b.ReportMetric(worst, "max-reload-ms")
	// The slowest scrape without a reload over their p50: what the
	// machine's own noise does to the ratio above.
	b.ReportMetric(calm, "x-p50-before")
	b.ReportMetric(applyMs, "apply-ms")
	b.ReportMetric(during, "scrapes")
}
