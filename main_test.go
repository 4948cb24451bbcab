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
	"strings"
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

// exporterProcess is the exporter's run function serving on a free port.
type exporterProcess struct {
	t    *testing.T
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
	p := &exporterProcess{t: t, logs: &syncBuffer{}, stop: make(chan struct{}), code: make(chan int, 1), adjust: adjust}
	args = append([]string{"--web.listen-address=127.0.0.1:0"}, args...)
	go func() { p.code <- run(args, p.logs, hooks{stop: p.stop, adjust: p.adjust}) }()
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

func httpDo(t *testing.T, method, url string) (int, string) {
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

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startFake starts a fake Informatica with quick jobs.
func startFake(t *testing.T, opts fake.Options) *fake.Server {
	t.Helper()
	if opts.CreatedFor == 0 {
		opts.CreatedFor = 20 * time.Millisecond
	}
	if opts.ProcessingFor == 0 {
		opts.ProcessingFor = 30 * time.Millisecond
	}
	f := fake.New(opts)
	if err := f.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// writeConfig writes a configuration with one account per fake.
func writeConfig(t *testing.T, dir string, interval string, accounts ...string) string {
	t.Helper()
	cfg := "accounts:\n" + strings.Join(accounts, "") + fmt.Sprintf(`refresh:
  interval: %s
  lookback: 45d
  poll_interval: 10ms
  job_timeout: 10s
  max_age: 26h
`, interval)
	return writeFile(t, dir, "config.yml", cfg)
}

func accountYAML(name string, f *fake.Server, extra string) string {
	return fmt.Sprintf("  - name: %s\n    login_url: %s\n    username: %s\n    password: %s\n%s",
		name, f.URL(), f.Username(), f.Password(), extra)
}

// expectedUsage computes, independently of the exporter's code, the usage
// gauges design.md defines from the rows the fake served: per org and meter,
// the IPU and usage sums in the billing period holding now, and the IPU on
// the latest day before today.
func expectedUsage(rows []fake.Row, now time.Time) map[string]float64 {
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	lastDay := map[string]time.Time{}
	for _, r := range rows {
		if r.Date.Before(today) && r.Date.After(lastDay[r.Org.ID]) {
			lastDay[r.Org.ID] = r.Date
		}
	}
	want := map[string]float64{}
	for _, r := range rows {
		labels := []string{"org_id", r.Org.ID, "org_name", r.Org.Name, "meter_id", r.Meter.ID, "meter_name", r.Meter.Name}
		// The fake's periods end on their last day, which counts in full.
		if !now.Before(r.BillingPeriodStart) && now.Before(r.BillingPeriodEnd.AddDate(0, 0, 1)) {
			want[key("informatica_ipu_billing_period_consumed_ipus", labels...)] += r.IPU
			want[key("informatica_meter_billing_period_usage", labels...)] += r.MeterUsage
			want[key("informatica_meter_ipu_rate", labels...)] = r.Meter.Rate
		}
		if r.Date.Equal(lastDay[r.Org.ID]) {
			want[key("informatica_ipu_last_day_consumed_ipus", labels...)] += r.IPU
		}
	}
	for org, d := range lastDay {
		want[key("informatica_ipu_last_day_timestamp_seconds", "org_id", org)] = float64(d.Unix())
	}
	return want
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
		if strings.HasPrefix(k, "informatica_ipu_billing_period_consumed_ipus") ||
			strings.HasPrefix(k, "informatica_ipu_last_day_consumed_ipus") ||
			strings.HasPrefix(k, "informatica_meter_billing_period_usage") {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected series %s", k)
			}
		}
	}
}

// TestEndToEnd points the exporter at the fake in each documented variant
// and compares every usage gauge with sums computed from the rows served.
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
		{name: "shuffled columns, BOM, null cells, extra columns, CRLF",
			opts: fake.Options{ShuffleColumns: true, BOM: true, NullCells: true, ExtraColumns: true, CRLF: true}},
		{name: "RFC 3339 dates and jobID", opts: fake.Options{DateLayout: time.RFC3339, JobIDKey: "jobID", CreateStatus: http.StatusCreated}},
		{name: "datetime dates", opts: fake.Options{DateLayout: "2006-01-02 15:04:05"}},
		{name: "US dates", opts: fake.Options{DateLayout: "1/2/2006"}},
		{name: "503 before success", faults: []fake.Fault{{Endpoint: fake.EndpointExport, Status: 503, Body: `{"error":{"code":"503","message":"busy"}}`}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, c.opts)
			f.Inject(c.faults...)
			path := writeConfig(t, t.TempDir(), "1h", accountYAML("acme", f, c.account))
			p := startExporter(t, nil, "--config.file="+path)
			var got map[string]float64
			waitFor(t, 20*time.Second, "a successful refresh", func() bool {
				got = p.scrape()
				return got[key("informatica_up", "account", "acme")] == 1
			})
			compareUsage(t, got, expectedUsage(f.Served(), time.Now()))
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
	f := startFake(t, fake.Options{})
	f.SetOutcomes(fake.Outcome{Status: "PARTIAL_SUCCESS", ErrorMessage: "503 Service Unavailable for one org"})
	path := writeConfig(t, t.TempDir(), "1h", accountYAML("acme", f, ""))
	p := startExporter(t, nil, "--config.file="+path)
	var got map[string]float64
	waitFor(t, 20*time.Second, "a refresh", func() bool {
		got = p.scrape()
		return got[key("informatica_exporter_refreshes_total", "account", "acme")] == 1
	})
	if got[key("informatica_exporter_export_partial", "account", "acme")] != 1 {
		t.Errorf("export_partial = %v, want 1", got[key("informatica_exporter_export_partial", "account", "acme")])
	}
	compareUsage(t, got, expectedUsage(f.Served(), time.Now()))
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
}

// TestDemo starts the exporter as the README's first command does and
// checks that every metric of design.md appears within 15 seconds and
// passes promtool's lint.
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
	if _, ok := got[key("informatica_org_info", "account", "two", "org_id", "2NdOrgxxxxxxxxxxxxxxxx", "org_name", "Second", "org_type", "Production")]; !ok {
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
