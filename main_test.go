package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

type syncBuffer = testkit.SyncBuffer

var writeFile = testkit.WriteFile

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exporterProcess is the exporter's run function serving on a free port.
type exporterProcess struct {
	t    testing.TB
	url  string
	logs *syncBuffer
	stop chan struct{}
	code chan int
	// adjust, when set, changes the settings the exporter loads.
	adjust func(*collector.Settings)
}

var listenAddr = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// startExporter runs the exporter with args on a free loopback port and
// stops it when the test ends. adjust, when not nil, changes the settings
// it loads.
func startExporter(t *testing.T, adjust func(*collector.Settings), args ...string) *exporterProcess {
	t.Helper()
	return startExporterWith(t, hooks{adjust: adjust}, args...)
}

// startExporterAt is startExporter with the exporter's clock set to now.
func startExporterAt(t *testing.T, now func() time.Time, adjust func(*collector.Settings), args ...string) *exporterProcess {
	t.Helper()
	return startExporterWith(t, hooks{adjust: adjust, now: now}, args...)
}

// startExporterWith is startExporter with test hooks; its stop is the
// process'.
func startExporterWith(t *testing.T, h hooks, args ...string) *exporterProcess {
	t.Helper()
	p := &exporterProcess{t: t, logs: &syncBuffer{}, stop: make(chan struct{}), code: make(chan int, 1), adjust: h.adjust}
	h.stop = p.stop
	args = append([]string{"--web.listen-address=127.0.0.1:0"}, args...)
	if slices.Contains(args, "--log.level=debug") {
		// Registered before the shutdown below, so it runs after it and
		// scans every line the exporter logged.
		t.Cleanup(func() {
			p.shutdown()
			for _, leak := range secretsIn(p.logs.String(), trackedFakes(t)) {
				t.Errorf("the debug log holds a secret: %s", leak)
			}
		})
		h.demo = func(f *fake.Server) { trackFake(t, f) }
	}
	go func() { p.code <- run(args, p.logs, h) }()
	waitFor(t, 10*time.Second, "the exporter to listen", func() bool {
		select {
		case code := <-p.code:
			t.Fatalf("exporter exited with %d:\n%s", code, p.logs)
		default:
		}
		m := listenAddr.FindStringSubmatch(p.logs.String())
		if m != nil {
			p.url = "http://" + m[1]
		}
		return m != nil
	})
	t.Cleanup(func() { p.shutdown() })
	return p
}

// shutdown stops the exporter as SIGTERM would and returns its exit code.
func (p *exporterProcess) shutdown() int {
	select {
	case <-p.stop:
		return 0
	default:
	}
	close(p.stop)
	select {
	case code := <-p.code:
		return code
	case <-time.After(15 * time.Second):
		p.t.Fatalf("exporter did not stop within 15s")
		return -1
	}
}

func (p *exporterProcess) get(path string) (int, string) {
	p.t.Helper()
	return httpDo(p.t, http.MethodGet, p.url+path)
}

func httpDo(t testing.TB, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// scrape parses /metrics into sample values keyed by name and sorted labels,
// e.g. `informatica_up{account="a"}`.
func (p *exporterProcess) scrape() map[string]float64 {
	p.t.Helper()
	code, body := p.get("/metrics")
	if code != http.StatusOK {
		p.t.Fatalf("/metrics answered %d: %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		p.t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.Metric {
			if m.TimestampMs != nil {
				p.t.Errorf("%s carries a timestamp", name)
			}
			out[seriesKey(name, m.Label)] = value(f.GetType(), m)
		}
	}
	return out
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.Counter.GetValue()
	case dto.MetricType_GAUGE:
		return m.Gauge.GetValue()
	default:
		return m.Untyped.GetValue()
	}
}

func seriesKey(name string, labels []*dto.LabelPair) string {
	ls := model.LabelSet{}
	for _, l := range labels {
		ls[model.LabelName(l.GetName())] = model.LabelValue(l.GetValue())
	}
	return name + ls.String()
}

func key(name string, labels ...string) string {
	ls := model.LabelSet{}
	for i := 0; i+1 < len(labels); i += 2 {
		ls[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return name + ls.String()
}

// startFake starts a fake Informatica with quick jobs, whose secrets the
// debug logs of the test's exporters are scanned for.
func startFake(t testing.TB, opts fake.Options) *fake.Server {
	t.Helper()
	f := testkit.StartFake(t, opts)
	trackFake(t, f)
	return f
}

// fakesOf holds the fake Informatica servers each test started: every
// exporter a test runs at debug is scanned for their secrets.
var fakesOf sync.Map // testing.TB -> *[]*fake.Server

var fakesMu sync.Mutex

func trackFake(t testing.TB, f *fake.Server) {
	fakesMu.Lock()
	defer fakesMu.Unlock()
	list, loaded := fakesOf.LoadOrStore(t, &[]*fake.Server{f})
	if loaded {
		*list.(*[]*fake.Server) = append(*list.(*[]*fake.Server), f)
		return
	}
	t.Cleanup(func() { fakesOf.Delete(t) })
}

func trackedFakes(t testing.TB) []*fake.Server {
	fakesMu.Lock()
	defer fakesMu.Unlock()
	if list, ok := fakesOf.Load(t); ok {
		return slices.Clone(*list.(*[]*fake.Server))
	}
	return nil
}

// secretsIn names each secret of the fakes (their password and every
// session ID they issued) and the tests' callback token found in text.
func secretsIn(text string, fakes []*fake.Server) []string {
	var leaks []string
	check := func(what, secret string) {
		if secret != "" && strings.Contains(text, secret) {
			leaks = append(leaks, fmt.Sprintf("%s %q", what, secret))
		}
	}
	check("the callback token", callbackToken)
	for _, f := range fakes {
		check("the password", f.Password())
		for _, id := range f.SessionIDs() {
			check("the session ID", id)
		}
	}
	return leaks
}

// expectedUsage computes, from the rows the fake served and independently
// of the exporter's code, the usage gauges that docs/data-rules.md
// define at the instant now:
//   - rows dated after tomorrow (UTC) are not usage;
//   - an org's current billing period is the period of its rows that holds
//     now (a period runs through the whole of its last day); if none does,
//     the latest one;
//   - its last complete day is the latest day before today with rows;
//   - a meter is shown for an org when it has rows in the current period or
//     on the last complete day; a shown meter has every usage gauge, 0 where
//     it has no rows, and the rate of its newest row.
func expectedUsage(rows []fake.Row, now time.Time) map[string]float64 {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	tomorrow := today.AddDate(0, 0, 1)
	type period struct{ start, last time.Time }
	holdsNow := func(p period) bool { return !now.Before(p.start) && now.Before(p.last.AddDate(0, 0, 1)) }
	usable := rows[:0:0]
	for _, r := range rows {
		if !r.Date.After(tomorrow) {
			usable = append(usable, r)
		}
	}
	current := map[string]period{}
	lastDay := map[string]time.Time{}
	for _, r := range usable {
		org := r.Org.ID
		p := period{r.BillingPeriodStart, r.BillingPeriodEnd}
		c, seen := current[org]
		switch {
		case !seen, holdsNow(p) && !holdsNow(c),
			holdsNow(p) == holdsNow(c) && (p.start.After(c.start) || p.start.Equal(c.start) && p.last.After(c.last)):
			current[org] = p
		}
		if r.Date.Before(today) && r.Date.After(lastDay[org]) {
			lastDay[org] = r.Date
		}
	}
	type series struct{ org, meter string }
	inPeriod := func(r fake.Row) bool {
		return r.BillingPeriodStart.Equal(current[r.Org.ID].start) && r.BillingPeriodEnd.Equal(current[r.Org.ID].last)
	}
	onLastDay := func(r fake.Row) bool { d, ok := lastDay[r.Org.ID]; return ok && r.Date.Equal(d) }
	shown := map[series]bool{}
	for _, r := range usable {
		if inPeriod(r) || onLastDay(r) {
			shown[series{r.Org.ID, r.Meter.ID}] = true
		}
	}
	want := map[string]float64{}
	for _, r := range usable {
		if !shown[series{r.Org.ID, r.Meter.ID}] {
			continue
		}
		labels := []string{"org_id", r.Org.ID, "org_name", r.Org.Name, "meter_id", r.Meter.ID, "meter_name", r.Meter.Name}
		consumed, usage := key("informatica_ipu_billing_period_consumed_ipus", labels...), key("informatica_meter_billing_period_usage", labels...)
		want[consumed] += 0
		want[usage] += 0
		want[key("informatica_meter_ipu_rate", labels...)] = r.Meter.Rate
		if inPeriod(r) {
			want[consumed] += r.IPU
			want[usage] += r.MeterUsage
		}
		if _, ok := lastDay[r.Org.ID]; ok {
			lastConsumed := key("informatica_ipu_last_day_consumed_ipus", labels...)
			want[lastConsumed] += 0
			if onLastDay(r) {
				want[lastConsumed] += r.IPU
			}
		}
	}
	for org, d := range lastDay {
		want[key("informatica_ipu_last_day_timestamp_seconds", "org_id", org)] = float64(d.Unix())
	}
	for org, p := range current {
		want[key("informatica_ipu_billing_period_start_timestamp_seconds", "org_id", org)] = float64(p.start.Unix())
		want[key("informatica_ipu_billing_period_end_timestamp_seconds", "org_id", org)] = float64(p.last.Unix())
	}
	return want
}

// usageFamilies are the families computed from export data, which
// expectedUsage predicts in full.
var usageFamilies = []string{
	"informatica_ipu_billing_period_consumed_ipus", "informatica_ipu_last_day_consumed_ipus",
	"informatica_meter_billing_period_usage", "informatica_meter_ipu_rate",
	"informatica_ipu_billing_period_start_timestamp_seconds", "informatica_ipu_billing_period_end_timestamp_seconds",
	"informatica_ipu_last_day_timestamp_seconds",
}

// compareUsage checks every expected usage sample against the scrape, and
// that the scrape has no usage sample the rows do not explain.
func compareUsage(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("missing %s (want %v)", k, w)
			continue
		}
		if math.Abs(g-w) > 1e-9*math.Max(math.Abs(w), 1e-12) && g != w {
			t.Errorf("%s = %v, want %v (relative error %g)", k, g, w, math.Abs(g-w)/math.Abs(w))
		}
	}
	for k := range got {
		for _, family := range usageFamilies {
			if strings.HasPrefix(k, family+"{") {
				if _, ok := want[k]; !ok {
					t.Errorf("unexpected series %s", k)
				}
			}
		}
	}
}

// stepTimer is the refreshers' timer in a test: the n-th wait between runs
// ends once the test has allowed n waits.
type stepTimer struct {
	mu      sync.Mutex
	waits   []chan time.Time
	allowed int
}

func (s *stepTimer) after(time.Duration) <-chan time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan time.Time, 1)
	s.waits = append(s.waits, ch)
	s.flush()
	return ch
}

// allow lets the first n waits end: the n-th run may start.
func (s *stepTimer) allow(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allowed = n
	s.flush()
}

// flush ends the allowed waits not ended yet; s.mu must be held.
func (s *stepTimer) flush() {
	for i := range min(s.allowed, len(s.waits)) {
		select {
		case s.waits[i] <- time.Time{}:
		default:
		}
	}
}

// patience is the shortest wait for an event before a test gives up.
const patience = testkit.Patience

// The shared helpers of testkit, under the names the tests use.
var (
	waitFor     = testkit.WaitFor
	writeConfig = testkit.WriteConfig
	accountYAML = testkit.AccountYAML
	frozen      = testkit.Frozen
	date        = testkit.Date
)

// calendar are the instants where the rules of time bite: month, year and
// billing-period boundaries, a leap day, and today.
var calendar = []struct {
	name string
	at   time.Time
	// annualFrom, when set, makes the fake's billing periods annual.
	annualFrom time.Time
}{
	{name: "00:00:30 on the 1st of a month", at: date(2026, 12, 1, 0, 0, 30)},
	{name: "23:59:59 on the last day of a month", at: date(2026, 11, 30, 23, 59, 59)},
	{name: "1 January", at: date(2027, 1, 1, 0, 0, 30)},
	{name: "29 February 2028", at: date(2028, 2, 29, 12, 0, 0)},
	{name: "first day of an annual period", at: date(2027, 4, 1, 0, 0, 30), annualFrom: date(2020, 4, 1, 0, 0, 0)},
	{name: "last day of an annual period", at: date(2027, 3, 31, 23, 59, 59), annualFrom: date(2020, 4, 1, 0, 0, 0)},
	// 45 days before 2027-01-15T10:00 is 2026-12-01T10:00: the lookback
	// starts on the day a period starts.
	{name: "lookback starts on a period start", at: date(2027, 1, 15, 10, 0, 0)},
	{name: "the real now", at: time.Now().UTC()},
}

// TestEndToEndAnyDay runs the exporter and the fake on one frozen clock at
// each instant of the calendar, and compares every usage gauge with the
// Data rules applied to the rows served.
func TestEndToEndAnyDay(t *testing.T) {
	for _, c := range calendar {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			now := frozen(c.at)
			opts := fake.Options{Now: now, AnnualFrom: c.annualFrom}
			if !c.annualFrom.IsZero() {
				opts.Days = 400
			}
			f := startFake(t, opts)
			path := writeConfig(t, t.TempDir(), "1h", accountYAML("acme", f, ""))
			p := startExporterAt(t, now, nil, "--config.file="+path)
			got := waitForUp(t, p, "acme")
			want := expectedUsage(f.Served(), c.at)
			compareUsage(t, got, want)
			// Sanity of the expectation itself: the org the account logs in
			// to is shown with its current billing period.
			if _, ok := want[key("informatica_ipu_billing_period_start_timestamp_seconds", "org_id", f.LoginOrg().ID)]; !ok {
				t.Errorf("the expected values hold no billing period for the login org")
			}
		})
	}
}

// waitForUp scrapes until the account's refresh has succeeded and returns
// that scrape.
func waitForUp(t *testing.T, p *exporterProcess, account string) map[string]float64 {
	t.Helper()
	var got map[string]float64
	waitFor(t, 30*time.Second, "a successful refresh", func() bool {
		got = p.scrape()
		if got[key("informatica_up", "account", account)] != 1 && got[key("informatica_exporter_refreshes_total", "account", account)] > 0 {
			t.Fatalf("the first refresh failed:\n%s", p.logs)
		}
		return got[key("informatica_up", "account", account)] == 1
	})
	return got
}

// TestEndToEnd points the exporter at the fake in each documented variant
// and compares every usage gauge with sums computed from the rows served.
// Each variant runs on a day of the calendar, in turn.
func TestEndToEnd(t *testing.T) {
	cases := []struct {
		name    string
		opts    fake.Options
		account string
		faults  []fake.Fault
		partial bool
	}{
		{name: "default resource, per-meter CSVs"},
		{name: "export_metering_data resource", account: "    summary_api: export_metering_data\n"},
		{name: "combined CSV", account: "    combined_meter_usage: true\n"},
		{
			name: "shuffled columns, BOM, null cells, extra columns, CRLF",
			opts: fake.Options{ShuffleColumns: true, BOM: true, NullCells: true, ExtraColumns: true, CRLF: true},
		},
		{name: "RFC 3339 dates and jobID", opts: fake.Options{DateLayout: time.RFC3339, JobIDKey: "jobID", CreateStatus: http.StatusCreated}},
		{name: "datetime dates", opts: fake.Options{DateLayout: "2006-01-02 15:04:05"}},
		{name: "US dates", opts: fake.Options{DateLayout: "1/2/2006"}},
		{name: "503 before success", faults: []fake.Fault{{Endpoint: fake.EndpointExport, Status: 503, Body: `{"error":{"code":"503","message":"busy"}}`}}},
	}
	for i, c := range cases {
		day := calendar[i%len(calendar)]
		t.Run(c.name+" on "+day.name, func(t *testing.T) {
			t.Parallel()
			now := frozen(day.at)
			c.opts.Now, c.opts.AnnualFrom = now, day.annualFrom
			f := startFake(t, c.opts)
			f.Inject(c.faults...)
			path := writeConfig(t, t.TempDir(), "1h", accountYAML("acme", f, c.account))
			p := startExporterAt(t, now, nil, "--config.file="+path)
			got := waitForUp(t, p, "acme")
			compareUsage(t, got, expectedUsage(f.Served(), day.at))
			if n := len(f.Served()); got[key("informatica_exporter_export_rows", "account", "acme")] != float64(n) {
				t.Errorf("export_rows = %v, want %d", got[key("informatica_exporter_export_rows", "account", "acme")], n)
			}
			if f.PendingFaults() != 0 {
				t.Errorf("%d injected faults were never hit", f.PendingFaults())
			}
		})
	}
}

func TestPartialSuccessIsUsedAndFlagged(t *testing.T) {
	at := calendar[0].at
	f := startFake(t, fake.Options{Now: frozen(at)})
	f.SetOutcomes(fake.Outcome{Status: "PARTIAL_SUCCESS", ErrorMessage: "503 Service Unavailable for one org"})
	path := writeConfig(t, t.TempDir(), "1h", accountYAML("acme", f, ""))
	p := startExporterAt(t, frozen(at), nil, "--config.file="+path)
	var got map[string]float64
	waitFor(t, 20*time.Second, "a refresh", func() bool {
		got = p.scrape()
		return got[key("informatica_exporter_refreshes_total", "account", "acme")] == 1
	})
	if got[key("informatica_exporter_export_partial", "account", "acme")] != 1 {
		t.Errorf("export_partial = %v, want 1", got[key("informatica_exporter_export_partial", "account", "acme")])
	}
	compareUsage(t, got, expectedUsage(f.Served(), at))
}

// designMetrics are every metric name design.md lists.
var designMetrics = []string{
	"informatica_ipu_billing_period_consumed_ipus",
	"informatica_ipu_last_day_consumed_ipus",
	"informatica_meter_billing_period_usage",
	"informatica_meter_ipu_rate",
	"informatica_ipu_billing_period_start_timestamp_seconds",
	"informatica_ipu_billing_period_end_timestamp_seconds",
	"informatica_ipu_last_day_timestamp_seconds",
	"informatica_ipu_entitlement_ipus",
	"informatica_org_info",
	"informatica_meter_info",
	"informatica_up",
	"informatica_exporter_last_refresh_success_timestamp_seconds",
	"informatica_exporter_last_refresh_duration_seconds",
	"informatica_exporter_next_refresh_timestamp_seconds",
	"informatica_exporter_refreshes_total",
	"informatica_exporter_refresh_failures_total",
	"informatica_exporter_export_rows",
	"informatica_exporter_export_partial",
	"informatica_exporter_api_requests_total",
	"informatica_exporter_build_info",
	// Of the second round.
	"informatica_exporter_callbacks_total",
}

// TestDemo starts the exporter as the README's first command does and
// checks that every metric of design.md appears and passes promtool's lint.
// How long they took is logged: a figure, not a pass mark, as it depends on
// the machine.
func TestDemo(t *testing.T) {
	start := time.Now()
	p := startExporter(t, nil, "--demo")
	var body string
	waitFor(t, 15*time.Second, "every design.md metric on /metrics", func() bool {
		_, body = p.get("/metrics")
		for _, name := range designMetrics {
			if !strings.Contains(body, "\n"+name+"{") {
				return false
			}
		}
		return true
	})
	t.Logf("every metric present %.1fs after start", time.Since(start).Seconds())
	promtool := requireProgram(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// requireProgram finds a program of Debian's prometheus package.
func requireProgram(t *testing.T, name string) string {
	t.Helper()
	return testkit.RequireProgram(t, name, "prometheus")
}

func TestEndpoints(t *testing.T) {
	f := startFake(t, fake.Options{CreatedFor: 500 * time.Millisecond})
	path := writeConfig(t, t.TempDir(), "1h", accountYAML("acme <prod>", f, ""))
	p := startExporter(t, nil, "--config.file="+path)

	if code, _ := p.get("/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/-/ready before the first refresh = %d, want 503", code)
	}
	if code, body := p.get("/-/healthy"); code != http.StatusOK {
		t.Errorf("/-/healthy = %d %s", code, body)
	}
	waitFor(t, 20*time.Second, "readiness", func() bool {
		code, _ := p.get("/-/ready")
		return code == http.StatusOK
	})
	code, page := p.get("/")
	if code != http.StatusOK {
		t.Errorf("/ = %d", code)
	}
	for _, want := range []string{"Informatica Exporter", `href="/metrics"`, "acme &lt;prod&gt;", "<td>up</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("landing page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "acme <prod>") {
		t.Errorf("landing page does not escape the account name")
	}
	if code, _ := p.get("/nothing-here"); code != http.StatusNotFound {
		t.Errorf("/nothing-here = %d, want 404", code)
	}
	if code, _ := p.get("/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload = %d, want 405", code)
	}
	if code, body := httpDo(t, http.MethodPost, p.url+"/-/reload"); code != http.StatusOK {
		t.Errorf("POST /-/reload = %d %s", code, body)
	}
}

func TestReload(t *testing.T) {
	f1 := startFake(t, fake.Options{})
	f2 := startFake(t, fake.Options{Orgs: []fake.Org{{ID: "2NdOrgxxxxxxxxxxxxxxxx", Name: "Second", Type: "Production", Scale: 1}}})
	dir := t.TempDir()
	path := writeConfig(t, dir, "1h", accountYAML("one", f1, ""))
	p := startExporter(t, nil, "--config.file="+path)
	waitFor(t, 20*time.Second, "account one", func() bool { return p.scrape()[key("informatica_up", "account", "one")] == 1 })

	// A broken file is refused; the running configuration stays.
	writeFile(t, dir, "config.yml", "accounts:\n  - name: one\n    login_url: nope\n")
	if code, body := httpDo(t, http.MethodPost, p.url+"/-/reload"); code != http.StatusInternalServerError || !strings.Contains(body, "login_url") {
		t.Errorf("reload of a bad config = %d %q, want 500 naming login_url", code, body)
	}
	got := p.scrape()
	if v, ok := got[key("informatica_exporter_config_last_reload_successful")]; !ok || v != 0 {
		t.Errorf("config_last_reload_successful = %v (present %v) after a failed reload, want 0", v, ok)
	}
	if got[key("informatica_up", "account", "one")] != 1 {
		t.Errorf("account one stopped after a failed reload")
	}

	// A good file adds an account without disturbing the first.
	logins := f1.Calls(fake.EndpointLogin)
	writeConfig(t, dir, "1h", accountYAML("one", f1, ""), accountYAML("two", f2, ""))
	if code, body := httpDo(t, http.MethodPost, p.url+"/-/reload"); code != http.StatusOK {
		t.Fatalf("reload = %d %s", code, body)
	}
	waitFor(t, 20*time.Second, "account two", func() bool { return p.scrape()[key("informatica_up", "account", "two")] == 1 })
	got = p.scrape()
	if got[key("informatica_exporter_config_last_reload_successful")] != 1 {
		t.Errorf("config_last_reload_successful = 0 after a good reload")
	}
	if n := f1.Calls(fake.EndpointLogin); n != logins {
		t.Errorf("account one logged in again on reload (%d logins, was %d)", n, logins)
	}
	if _, ok := withoutTreeLabels(got)[key("informatica_org_info", "account", "two", "org_id", "2NdOrgxxxxxxxxxxxxxxxx", "org_name", "Second", "org_type", "Production")]; !ok {
		t.Errorf("account two's org is not published")
	}
}

func TestShutdownLogsOut(t *testing.T) {
	f := startFake(t, fake.Options{})
	path := writeConfig(t, t.TempDir(), "1h", accountYAML("acme", f, ""))
	p := startExporter(t, nil, "--config.file="+path)
	waitFor(t, 20*time.Second, "a refresh", func() bool { return p.scrape()[key("informatica_up", "account", "acme")] == 1 })
	if code := p.shutdown(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if n := f.Calls(fake.EndpointLogout); n != 1 {
		t.Errorf("logout calls = %d, want 1", n)
	}
}

func TestBadConfigExits(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "config.yml", "accounts: []\n")
	logs := &syncBuffer{}
	if code := run([]string{"--config.file=" + path, "--web.listen-address=127.0.0.1:0"}, logs, hooks{}); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(logs.String(), "at least one account") {
		t.Errorf("log does not say what is wrong:\n%s", logs)
	}
}

// TestSIGHUPReload: SIGHUP applies a new configuration like POST /-/reload,
// and a bad one keeps the running configuration.
func TestSIGHUPReload(t *testing.T) {
	f1 := startFake(t, fake.Options{})
	f2 := startFake(t, fake.Options{Orgs: []fake.Org{{ID: "2NdOrgxxxxxxxxxxxxxxxx", Name: "Second", Type: "Production", Scale: 1}}})
	dir := t.TempDir()
	path := writeConfig(t, dir, "1h", accountYAML("one", f1, ""))
	p := startExporter(t, nil, "--config.file="+path)
	waitFor(t, 20*time.Second, "account one", func() bool { return p.scrape()[key("informatica_up", "account", "one")] == 1 })
	reloaded := key("informatica_exporter_config_last_reload_successful")

	writeFile(t, dir, "config.yml", "accounts: [")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the failed reload", func() bool { v, ok := p.scrape()[reloaded]; return ok && v == 0 })
	if p.scrape()[key("informatica_up", "account", "one")] != 1 {
		t.Error("account one stopped after a failed reload")
	}

	writeConfig(t, dir, "1h", accountYAML("two", f2, ""))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "account two", func() bool { return p.scrape()[key("informatica_up", "account", "two")] == 1 })
	got := p.scrape()
	if got[reloaded] != 1 {
		t.Errorf("config_last_reload_successful = %v after a good reload", got[reloaded])
	}
	if _, ok := got[key("informatica_up", "account", "one")]; ok {
		t.Errorf("the removed account one is still published")
	}
	waitFor(t, 10*time.Second, "account one to log out", func() bool { return f1.Calls(fake.EndpointLogout) == 1 })
}
