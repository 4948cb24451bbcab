package collector

import (
	"archive/zip"
	"bytes"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// fakeBase is "now" of the tests against the fake: mid-month and mid-day,
// so that a test never straddles a UTC midnight or a period boundary.
var fakeBase = date("2025-06-15T12:00:00Z")

// movingClock runs at real speed from fakeBase. The fake and the exporter
// share it: the fake's jobs age in real time, and both agree on "today".
func movingClock() func() time.Time {
	start := time.Now()
	return func() time.Time { return fakeBase.Add(time.Since(start)) }
}

// startFake starts a fake Informatica on loopback with fast jobs.
func startFake(t *testing.T, opts fake.Options, now func() time.Time) *fake.Server {
	t.Helper()
	if opts.CreatedFor == 0 {
		opts.CreatedFor = 10 * time.Millisecond
	}
	if opts.ProcessingFor == 0 {
		opts.ProcessingFor = 20 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = now
	}
	f := fake.New(opts)
	if err := f.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// accountFor configures an account that logs in to f. Requests are not
// retried, so an injected fault fails the run at once.
func accountFor(name string, f *fake.Server, g *gate) AccountSettings {
	cfg := informatica.Config{
		LoginURL: f.URL(), Username: f.Username(), Password: f.Password(),
		MaxAttempts: 1, RetryBackoff: 10 * time.Millisecond,
	}
	if g != nil {
		cfg.HTTPClient = &http.Client{Transport: g}
	}
	return AccountSettings{Name: name, Client: cfg}
}

func refreshSettings(interval time.Duration) RefreshSettings {
	return RefreshSettings{
		Interval:     interval,
		Lookback:     45 * 24 * time.Hour,
		PollInterval: 5 * time.Millisecond,
		JobTimeout:   time.Minute,
		MaxAge:       26 * time.Hour,
	}
}

// newTestExporter returns an exporter that the test stops at its end, before
// the fakes it talks to close, and a registry that holds it.
func newTestExporter(t *testing.T, logger log.Logger, now func() time.Time) (*Exporter, *prometheus.Registry) {
	e := New(logger, WithClock(now))
	t.Cleanup(e.Stop)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	return e, reg
}

func accountNamed(e *Exporter, name string) *account {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, a := range e.accounts {
		if a.settings.Name == name {
			return a
		}
	}
	return nil
}

func refreshesOf(s *accountState) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// gate holds every request of an account's refresh number n until the test
// allows n runs, so that a test decides when each run goes ahead and can
// look at the state between runs while the next one waits. Logouts pass.
type gate struct {
	allowed atomic.Uint64
	waiting atomic.Int64
	state   atomic.Pointer[accountState]
	next    http.RoundTripper
}

func newGate(t *testing.T) *gate {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &gate{next: tr}
}

// bind attaches the gate to the account's state, which outlives restarts.
func (g *gate) bind(t *testing.T, e *Exporter, name string) {
	a := accountNamed(e, name)
	if a == nil {
		t.Fatalf("no account %q", name)
	}
	g.state.Store(a.state)
}

func (g *gate) open() bool {
	s := g.state.Load()
	return s != nil && refreshesOf(s) < g.allowed.Load()
}

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Path, "/logout") {
		g.waiting.Add(1)
		for !g.open() {
			select {
			case <-req.Context().Done():
				g.waiting.Add(-1)
				if req.Body != nil {
					req.Body.Close()
				}
				return nil, req.Context().Err()
			case <-time.After(time.Millisecond):
			}
		}
		g.waiting.Add(-1)
	}
	return g.next.RoundTrip(req)
}

// allow lets run n go ahead and waits until it has finished.
func (g *gate) allow(t *testing.T, n uint64) {
	t.Helper()
	g.allowed.Store(n)
	waitFor(t, "refresh to finish", func() bool { return refreshesOf(g.state.Load()) >= n })
	if got := refreshesOf(g.state.Load()); got != n {
		t.Fatalf("%d refreshes finished, want %d", got, n)
	}
}

// harness is one account refreshing from one fake.
type harness struct {
	t    *testing.T
	now  func() time.Time
	fake *fake.Server
	gate *gate // nil when runs are not gated
	exp  *Exporter
	reg  *prometheus.Registry
	logs *syncBuffer
	acct AccountSettings
}

const testEntitlement = 250000.0

// newHarness starts a fake and an exporter with one account "prod". With a
// gate, runs follow each other closely but only as the test allows them.
func newHarness(t *testing.T, opts fake.Options, gated bool) *harness {
	h := &harness{t: t, now: movingClock()}
	h.fake = startFake(t, opts, h.now)
	interval := time.Hour
	if gated {
		h.gate = newGate(t)
		interval = 10 * time.Millisecond
	}
	var logger log.Logger
	logger, h.logs = newTestLogger()
	h.exp, h.reg = newTestExporter(t, logger, h.now)
	h.acct = accountFor("prod", h.fake, h.gate)
	ent := testEntitlement
	h.acct.Entitlement = &ent
	if err := h.exp.Apply(Settings{Accounts: []AccountSettings{h.acct}, Refresh: refreshSettings(interval)}); err != nil {
		t.Fatal(err)
	}
	if gated {
		h.gate.bind(t, h.exp, "prod")
	}
	return h
}

func (h *harness) run(n uint64)       { h.t.Helper(); h.gate.allow(h.t, n) }
func (h *harness) samples() samples   { h.t.Helper(); return gatherSamples(h.t, h.reg) }
func (h *harness) snap() *snapshot    { return accountNamed(h.exp, "prod").snap.Load() }
func (h *harness) usage() samples     { h.t.Helper(); return h.samples().with(usageNames...) }
func (h *harness) warnings() []string { return h.logs.Lines("level=warn") }
func (h *harness) health(name string, labels ...string) float64 {
	h.t.Helper()
	k := key(name, append([]string{"account", "prod"}, labels...)...)
	v, ok := h.samples()[k]
	if !ok {
		h.t.Fatalf("%s is missing", k)
	}
	return v
}

// expectedUsage computes the usage series of rows as design.md defines them,
// without the exporter's code: per org the billing period that holds now,
// the newest day before today, and per meter the sums of IPU and usage.
func expectedUsage(t *testing.T, account string, rows []fake.Row, now time.Time) samples {
	t.Helper()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	type period struct{ start, end time.Time }
	type sums struct{ ipu, usage, lastIPU float64 }
	orgs := map[string]fake.Org{}
	current := map[string]period{}
	lastDay := map[string]time.Time{}
	for _, r := range rows {
		orgs[r.Org.ID] = r.Org
		if !now.Before(r.BillingPeriodStart) && now.Before(r.BillingPeriodEnd.AddDate(0, 0, 1)) {
			current[r.Org.ID] = period{r.BillingPeriodStart, r.BillingPeriodEnd}
		}
		if r.Date.Before(today) && r.Date.After(lastDay[r.Org.ID]) {
			lastDay[r.Org.ID] = r.Date
		}
	}
	type series struct{ org, meter string }
	meters := map[string]fake.Meter{}
	total := map[series]*sums{}
	for _, r := range rows {
		meters[r.Meter.ID] = r.Meter
		p, inPeriod := current[r.Org.ID]
		inPeriod = inPeriod && r.BillingPeriodStart.Equal(p.start) && r.BillingPeriodEnd.Equal(p.end)
		onLastDay := r.Date.Equal(lastDay[r.Org.ID])
		if !inPeriod && !onLastDay {
			continue
		}
		k := series{r.Org.ID, r.Meter.ID}
		if total[k] == nil {
			total[k] = &sums{}
		}
		if inPeriod {
			total[k].ipu += r.IPU
			total[k].usage += r.MeterUsage
		}
		if onLastDay {
			total[k].lastIPU += r.IPU
		}
	}
	out := samples{}
	for id, o := range orgs {
		out[key("informatica_org_info", "account", account, "dev_org", "", "org_id", id, "org_name", o.Name, "org_type", o.Type, "parent_org_id", "")] = 1
		p, ok := current[id]
		if !ok {
			t.Fatalf("no row of org %s holds now", id)
		}
		out[key("informatica_ipu_billing_period_start_timestamp_seconds", "org_id", id)] = float64(p.start.Unix())
		out[key("informatica_ipu_billing_period_end_timestamp_seconds", "org_id", id)] = float64(p.end.Unix())
		if d, ok := lastDay[id]; ok {
			out[key("informatica_ipu_last_day_timestamp_seconds", "org_id", id)] = float64(d.Unix())
		}
	}
	for k, s := range total {
		o, m := orgs[k.org], meters[k.meter]
		u := func(name string) string { return usageKey(name, o.ID, o.Name, m.ID, m.Name) }
		out[u("informatica_ipu_billing_period_consumed_ipus")] = s.ipu
		out[u("informatica_meter_billing_period_usage")] = s.usage
		out[u("informatica_ipu_last_day_consumed_ipus")] = s.lastIPU
		out[u("informatica_meter_ipu_rate")] = m.Rate
	}
	for _, m := range meters {
		out[key("informatica_meter_info", "meter_id", m.ID, "meter_name", m.Name, "metric_category", m.Category, "scalar", m.Scalar)] = 1
	}
	return out
}

// csvHeader is the documented SUMMARY header.
const csvHeader = "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,Scalar,MetricCategory,OrgName,OrgType,IPURate\n"

// zipAnswer serves a ZIP holding one CSV file with the given content, in
// place of the fake's download.
func zipAnswer(content string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		f, _ := zw.Create("IPU_Usage_Summary.csv")
		f.Write([]byte(content))
		zw.Close()
		w.Header().Set("Content-Type", "application/zip")
		w.Write(buf.Bytes())
	}
}

// exportStarts returns the startDate of every export request the fake got.
func exportStarts(f *fake.Server) []string {
	var out []string
	for _, r := range f.Requests() {
		if r.Endpoint == fake.EndpointExport {
			s, _ := r.Body["startDate"].(string)
			out = append(out, s)
		}
	}
	return out
}
