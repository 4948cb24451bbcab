package collector

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

var generationLabel = regexp.MustCompile(`\(generation (\d+)\)$`)

// TestScrapesSeeOneSnapshot runs 32 scrapers over HTTP while the test lets
// refreshes swap in new snapshots one at a time. Every export carries a new
// generation of data, named in its org names, so each scrape can tell which
// snapshot every one of its series came from: all must come from the same
// one, with exactly that generation's values. The test waits for the
// scrapers to see each new snapshot before it lets the next refresh go, so
// it exercises every swap however slow the machine is.
func TestScrapesSeeOneSnapshot(t *testing.T) {
	const refreshes = 6
	now := movingClock()
	f := startFake(t, fake.Options{CreatedFor: time.Millisecond, ProcessingFor: time.Millisecond, GenerationPerJob: true}, now)
	g := newGate(t)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	refresh := refreshSettings(time.Millisecond)
	refresh.PollInterval = time.Millisecond
	if err := e.Apply(Settings{Accounts: []AccountSettings{accountFor("prod", f, g)}, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	g.bind(t, e, "prod")
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	t.Cleanup(srv.Close)

	expected := newGenerationSums(f.Dataset(), now)
	var scrapes, failures atomic.Int64
	var seenMu sync.Mutex
	seen := map[int]bool{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 30 * time.Second}
			for {
				select {
				case <-done:
					return
				default:
				}
				gen, err := scrapeOneSnapshot(client, srv.URL, expected)
				if errors.Is(err, errNoData) {
					continue // before the first refresh
				}
				if err != nil {
					if failures.Add(1) <= 5 {
						t.Error(err)
					}
					continue
				}
				scrapes.Add(1)
				seenMu.Lock()
				seen[gen] = true
				seenMu.Unlock()
			}
		}()
	}
	distinct := func() int {
		seenMu.Lock()
		defer seenMu.Unlock()
		return len(seen)
	}
	for n := 1; n <= refreshes; n++ {
		g.allow(t, uint64(n))
		waitFor(t, fmt.Sprintf("the scrapers to see snapshot %d", n), func() bool { return distinct() >= n || failures.Load() > 0 })
	}
	close(done)
	wg.Wait()
	t.Logf("%d scrapes, %d failed, %d snapshots seen", scrapes.Load(), failures.Load(), distinct())
	if failures.Load() != 0 {
		t.Errorf("%d scrapes failed or mixed snapshots", failures.Load())
	}
	if got := distinct(); got != refreshes {
		t.Errorf("%d snapshots seen, want one per refresh, %d", got, refreshes)
	}
}

// errNoData is a scrape from before the first refresh.
var errNoData = errors.New("scrape lacks usage families")

// scrapeOneSnapshot scrapes once and checks that every usage series is of
// one generation with that generation's values; it returns the generation.
func scrapeOneSnapshot(client *http.Client, url string, expected *generationSums) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("scrape: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scrape: status %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return 0, fmt.Errorf("parse scrape: %w", err)
	}
	gen, series := -1, 0
	for _, name := range []string{"informatica_ipu_billing_period_consumed_ipus", "informatica_meter_billing_period_usage"} {
		fam := families[name]
		if fam == nil {
			return 0, errNoData
		}
		for _, m := range fam.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			match := generationLabel.FindStringSubmatch(labels["org_name"])
			if match == nil {
				return 0, fmt.Errorf("org_name %q names no generation", labels["org_name"])
			}
			g, _ := strconv.Atoi(match[1])
			if gen == -1 {
				gen = g
			} else if g != gen {
				return 0, fmt.Errorf("one scrape mixes generations %d and %d", gen, g)
			}
			want := expected.of(g)[name+"/"+labels["org_id"]+"/"+labels["meter_id"]]
			if !approx(m.GetGauge().GetValue(), want) {
				return 0, fmt.Errorf("%s{org_id=%q,meter_id=%q} = %v, generation %d has %v",
					name, labels["org_id"], labels["meter_id"], m.GetGauge().GetValue(), g, want)
			}
			series++
		}
	}
	if series == 0 {
		return 0, fmt.Errorf("no usage series")
	}
	return gen, nil
}

// generationSums computes, per generation, the billing-period sums the fake's
// data gives, independently of the exporter's code.
type generationSums struct {
	data fake.Dataset
	now  func() time.Time
	mu   sync.Mutex
	sums map[int]map[string]float64
}

func newGenerationSums(d fake.Dataset, now func() time.Time) *generationSums {
	return &generationSums{data: d, now: now, sums: map[int]map[string]float64{}}
}

func (g *generationSums) of(gen int) map[string]float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, ok := g.sums[gen]; ok {
		return s
	}
	d := g.data
	d.Generation = gen
	now := g.now()
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	s := map[string]float64{}
	for _, r := range d.Rows(d.Orgs, monthStart, now) {
		s["informatica_ipu_billing_period_consumed_ipus/"+r.Org.ID+"/"+r.Meter.ID] += r.IPU
		s["informatica_meter_billing_period_usage/"+r.Org.ID+"/"+r.Meter.ID] += r.MeterUsage
	}
	g.sums[gen] = s
	return s
}

var _ prometheus.Collector = (*Exporter)(nil)
