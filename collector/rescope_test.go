package collector

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// httpGatherer gathers what the exporter's /metrics handler serves, so
// that a test judges the exporter from outside.
type httpGatherer struct {
	t testing.TB
	h http.Handler
}

func (g httpGatherer) Gather() ([]*dto.MetricFamily, error) {
	rec := httptest.NewRecorder()
	g.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		g.t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		return nil, err
	}
	var out []*dto.MetricFamily
	for _, mf := range byName {
		out = append(out, mf)
	}
	return out, nil
}

// breakdownHarness is an exporter with the asset and task breakdowns of
// one account against f, on a clock the test sets, whose runs after the
// first start when the test feeds timer.
type breakdownHarness struct {
	clock *fixedClock
	fake  *fake.Server
	exp   *Exporter
	timer *gateTimer
	http  httpGatherer
	acct  AccountSettings
}

func newBreakdownHarness(t *testing.T, clock *fixedClock, f *fake.Server) *breakdownHarness {
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, clock.Now)
	h := &breakdownHarness{clock: clock, fake: f, exp: e, timer: &gateTimer{ch: make(chan time.Time, 1)}}
	e.after = h.timer.after
	h.http = httpGatherer{t: t, h: e.Handler(reg, promhttp.HandlerOpts{})}
	h.timer.ch <- time.Time{}
	h.acct = assetTaskAccount(f, 10000, true, true)
	if err := e.Apply(Settings{Accounts: []AccountSettings{h.acct}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the breakdowns", func() bool { return breakdownDone(t, h.http, "asset", "task") })
	return h
}

// breakdownFamilies pairs each breakdown family with the summary family
// it breaks down, over the meters it covers.
var breakdownFamilies = []struct {
	breakdown, summary string
	meters             func(string) bool
}{
	{"informatica_asset_billing_period_consumed_ipus", "informatica_ipu_billing_period_consumed_ipus", allMeters},
	{"informatica_asset_last_day_consumed_ipus", "informatica_ipu_last_day_consumed_ipus", allMeters},
	{"informatica_task_billing_period_consumed_ipus", "informatica_ipu_billing_period_consumed_ipus", runsMeters},
	{"informatica_task_last_day_consumed_ipus", "informatica_ipu_last_day_consumed_ipus", runsMeters},
}

// assertSameDays: every breakdown family sums, per org and meter, to the
// summary family it breaks down: they describe the same days.
func (h *breakdownHarness) assertSameDays(t *testing.T, when string) {
	t.Helper()
	for _, c := range breakdownFamilies {
		assertSums(t, when+": "+c.breakdown, sumByOrgMeter(gatherSeries(t, h.http, c.breakdown)),
			loginOrgSummary(t, h.http, h.fake, c.summary, c.meters))
	}
}

func (h *breakdownHarness) lastDay(t *testing.T) time.Time {
	t.Helper()
	v := gatherSamples(t, h.http)[key("informatica_ipu_last_day_timestamp_seconds", "org_id", h.fake.LoginOrg().ID)]
	return time.Unix(int64(v), 0).UTC()
}

// TestBreakdownsFollowMidnight: at UTC midnight the last-day breakdown
// series move to the day informatica_ipu_last_day_timestamp_seconds moves
// to, from the rows the breakdowns hold, without an export.
func TestBreakdownsFollowMidnight(t *testing.T) {
	t.Parallel()
	clock := newFixedClock(date("2025-06-15T23:00:00Z"))
	f := startFake(t, fake.Options{}, clock.Now)
	h := newBreakdownHarness(t, clock, f)
	if got := h.lastDay(t); !got.Equal(date("2025-06-14")) {
		t.Fatalf("last day %s before midnight, want 2025-06-14", got)
	}
	h.assertSameDays(t, "before midnight")
	exports := f.Calls(fake.EndpointExport)

	clock.Set(date("2025-06-16T00:00:30Z"))
	if got := h.lastDay(t); !got.Equal(date("2025-06-15")) {
		t.Fatalf("last day %s after midnight, want 2025-06-15", got)
	}
	h.assertSameDays(t, "after midnight")
	if got := f.Calls(fake.EndpointExport); got != exports {
		t.Errorf("%d export jobs at midnight, want none", got-exports)
	}
}

// TestBreakdownsFollowBillingPeriod: once the summary describes a new
// billing period, the billing-period breakdown series describe it too,
// from the rows the breakdowns hold (none yet: every value 0), and the
// last-day series still the day before; no breakdown export is due.
func TestBreakdownsFollowBillingPeriod(t *testing.T) {
	t.Parallel()
	// The fake's last day of usage is July 1; the first run, on June 30,
	// sees up to June 30.
	clock := newFixedClock(date("2025-07-01T00:30:00Z"))
	f := startFake(t, fake.Options{}, clock.Now)
	clock.Set(date("2025-06-30T23:00:00Z"))
	h := newBreakdownHarness(t, clock, f)
	h.assertSameDays(t, "in June")
	login := f.LoginOrg().ID
	periodStart := key("informatica_ipu_billing_period_start_timestamp_seconds", "org_id", login)

	clock.Set(date("2025-07-01T00:30:00Z"))
	h.timer.ch <- time.Time{}
	waitFor(t, "the July refresh", func() bool {
		return gatherSamples(t, h.http)[periodStart] == float64(date("2025-07-01").Unix())
	})
	exports := f.Calls(fake.EndpointExport)
	for _, c := range breakdownFamilies {
		got := sumByOrgMeter(gatherSeries(t, h.http, c.breakdown))
		if len(got) == 0 {
			t.Errorf("%s: no series", c.breakdown)
		}
		if c.summary == "informatica_ipu_last_day_consumed_ipus" {
			assertSums(t, "in July: "+c.breakdown, got, loginOrgSummary(t, h.http, f, c.summary, c.meters))
			continue
		}
		for k, v := range got {
			if v != 0 {
				t.Errorf("in July: %s of org %s meter %s is %v, the June sum; the breakdown holds no July rows", c.breakdown, k.org, k.meter, v)
			}
		}
	}
	if got := f.Calls(fake.EndpointExport); got != exports {
		t.Errorf("%d export jobs after the refresh, want none", got-exports)
	}
}

var _ prometheus.Gatherer = httpGatherer{}

// TestReloadAppliesBreakdownSettings: a reload that turns a breakdown off
// withdraws its series at once, and one that lowers breakdown_max_series
// caps the series at once, from the rows held, without an export.
func TestReloadAppliesBreakdownSettings(t *testing.T) {
	t.Parallel()
	clock := newFixedClock(fakeBase)
	f := startFake(t, fake.Options{}, clock.Now)
	h := newBreakdownHarness(t, clock, f)
	const assetFamily = "informatica_asset_billing_period_consumed_ipus"
	before := gatherSeries(t, h.http, assetFamily)
	const maxSeries = 3
	if len(before) <= maxSeries+2 {
		t.Fatalf("%d asset series: too few to cap", len(before))
	}
	exports := f.Calls(fake.EndpointExport)

	acct := h.acct
	acct.Breakdown.Kinds = []string{"asset"}
	acct.Breakdown.MaxSeries = maxSeries
	if err := h.exp.Apply(Settings{Accounts: []AccountSettings{acct}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got := gatherSamples(t, h.http)
	if task := got.with(append(taskFamilies, "informatica_exporter_last_breakdown_success_timestamp_seconds")...).withLabel("breakdown", "task"); len(task) != 0 {
		t.Errorf("task breakdown turned off, still served:\n%s", task)
	}
	for _, name := range taskFamilies {
		if len(got.with(name)) != 0 {
			t.Errorf("task breakdown turned off, %s still served", name)
		}
	}
	after := gatherSeries(t, h.http, assetFamily)
	kept := 0
	for _, s := range after {
		if s.labels["asset_name"] != "other" {
			kept++
		}
	}
	if kept != maxSeries {
		t.Errorf("%d asset series besides other after the reload, want breakdown_max_series %d", kept, maxSeries)
	}
	assertSums(t, "capped at the reload", sumByOrgMeter(after), sumByOrgMeter(before))
	if got := f.Calls(fake.EndpointExport); got != exports {
		t.Errorf("%d export jobs after the reload, want none", got-exports)
	}
}

var taskFamilies = []string{
	"informatica_task_billing_period_consumed_ipus",
	"informatica_task_billing_period_runs",
	"informatica_task_billing_period_max_run_ipus",
	"informatica_task_last_day_consumed_ipus",
}
