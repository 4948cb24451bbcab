package collector

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/usage"
)

// staticAccount is an account without a refresher: its state and snapshot
// are set by the test.
func staticAccount(name string, entitlement *float64, state *accountState, snap *snapshot) *account {
	data := newAccountData()
	a := &account{
		settings:   AccountSettings{Name: name, Entitlement: entitlement},
		state:      state,
		snap:       data.snap,
		breakdowns: data.breakdowns,
	}
	if snap != nil {
		a.snap.Store(snap)
	}
	return a
}

func staticExporter(clock *fixedClock, maxAge time.Duration, accounts ...*account) *Exporter {
	e := New(log.NewNopLogger(), WithClock(clock.Now))
	e.accounts = accounts
	e.refresh = RefreshSettings{Interval: time.Hour, MaxAge: maxAge}
	return e
}

// goldenNow is the instant of the hand-made golden test.
var goldenNow = date("2025-03-10T12:00:00Z")

// goldenTable is the hand-made table whose metrics testdata/static.prom
// lists, worked out by hand:
//   - org-a, m-di: March rows 3 + (1 + 0.5 on the 9th) + 0.5 today = 5 IPUs,
//     12 + 6 + 2 = 20 units; last complete day the 9th: 1.5; the rate of the
//     newest row with one, 0.25 (the row without a rate is skipped).
//   - org-a, m-old: rows only in February, not on the last day: not shown,
//     but its meter_info is.
//   - org-a, m-sub: no rate in any row: no rate series.
//   - org-b: an annual period from 2024-10-20: 2 + 1 IPUs; its own last day,
//     the 5th.
func goldenTable(t testing.TB) *usage.Table {
	orgA := func(r informatica.UsageRow) informatica.UsageRow {
		r.OrgID, r.OrgName, r.OrgType = "org-a", "Acme, Inc. Production", "Production"
		return r
	}
	orgB := func(r informatica.UsageRow) informatica.UsageRow {
		r.OrgID, r.OrgName, r.OrgType = "org-b", "Acme Sandbox", "Sandbox"
		r.BillingPeriodStart, r.BillingPeriodEnd = date("2024-10-20"), date("2025-10-19")
		return r
	}
	di := func(day string, usage, ipu float64, hasRate bool) informatica.UsageRow {
		return informatica.UsageRow{
			MeterID: "m-di", MeterName: "Data Integration", Scalar: "Compute Units", MetricCategory: "Data Integration",
			Date: date(day), BillingPeriodStart: date(mar), BillingPeriodEnd: date(marEnd),
			MeterUsage: usage, IPU: ipu, IPURate: 0.25, HasIPURate: hasRate,
		}
	}
	inFeb := func(r informatica.UsageRow) informatica.UsageRow {
		r.BillingPeriodStart, r.BillingPeriodEnd = date(feb), date(febEnd)
		return r
	}
	rows := []informatica.UsageRow{
		orgA(inFeb(di("2025-02-27", 40, 10, true))),
		orgA(di("2025-03-08", 12, 3, true)),
		orgA(di("2025-03-09", 4, 1, true)),
		orgA(di("2025-03-09", 2, 0.5, false)),
		orgA(di("2025-03-10", 2, 0.5, true)),
		orgA(informatica.UsageRow{
			MeterID: "m-old", MeterName: "Old Meter", Scalar: "Jobs", MetricCategory: "Legacy",
			Date: date("2025-02-20"), BillingPeriodStart: date(feb), BillingPeriodEnd: date(febEnd),
			MeterUsage: 7, IPU: 7, IPURate: 1, HasIPURate: true,
		}),
		orgA(informatica.UsageRow{
			MeterID: "m-sub", MeterName: "Sub-organizations", Scalar: "Organizations", MetricCategory: "Platform",
			Date: date("2025-03-09"), BillingPeriodStart: date(mar), BillingPeriodEnd: date(marEnd),
			MeterUsage: 1, IPU: 0.5,
		}),
		orgB(di("2024-11-01", 8, 2, true)),
		orgB(di("2025-03-05", 4, 1, true)),
	}
	b := usage.NewBuilder()
	for i := range rows {
		if err := b.Add(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b.Table()
}

// goldenState is "prod"'s health as testdata/static.prom lists it.
func goldenState() *accountState {
	s := newAccountState()
	s.attempted, s.up = true, true
	s.lastSuccess = date("2025-03-10T11:58:00Z")
	s.lastAttempt = s.lastSuccess
	s.lastDuration = 95500 * time.Millisecond
	s.nextRefresh = date("2025-03-10T12:58:00Z")
	s.refreshes = 7
	s.failures[informatica.StagePoll] = 2
	s.failures[informatica.StageDownload] = 1
	s.rows = 1234
	s.partial = true
	s.loginOrgID = "org-a"
	for k, n := range map[requestKey]uint64{
		{"login", "200"}: 3, {"export", "200"}: 7, {"export", "error"}: 1,
		{"status", "200"}: 20, {"status", "503"}: 2, {"download", "200"}: 6,
	} {
		s.requests[k] = n
	}
	return s
}

func goldenExporter(t *testing.T, clock *fixedClock) *Exporter {
	entitlement, idleEntitlement := 120000.0, 5000.0
	prod := staticAccount("prod", &entitlement, goldenState(),
		newSnapshot("prod", goldenTable(t), date("2025-03-10T11:58:00Z")))
	// An account that has not finished a refresh: no login org yet, so no
	// entitlement; every failure stage at 0.
	idle := staticAccount("idle", &idleEntitlement, newAccountState(), nil)
	return staticExporter(clock, 26*time.Hour, prod, idle)
}

func TestCollectGolden(t *testing.T) {
	e := goldenExporter(t, newFixedClock(goldenNow))
	f, err := os.Open("testdata/static.prom")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// No metric names: every family the exporter publishes is compared, so
	// an extra or a missing series fails too. The pedantic registry of
	// CollectAndCompare also checks Collect against Describe.
	if err := testutil.CollectAndCompare(e, f); err != nil {
		t.Fatal(err)
	}
	// No sample carries a timestamp (gatherSamples checks).
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	gatherSamples(t, reg)
}

func TestCollectAndLint(t *testing.T) {
	e := goldenExporter(t, newFixedClock(goldenNow))
	problems, err := testutil.CollectAndLint(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(e); n < 40 {
		t.Errorf("linted only %d series", n)
	}
}

func TestDescribeCoversEveryMetric(t *testing.T) {
	e := goldenExporter(t, newFixedClock(goldenNow))
	ch := make(chan *prometheus.Desc, 100)
	e.Describe(ch)
	close(ch)
	described := map[string]bool{}
	for d := range ch {
		described[d.String()] = true
	}
	metrics := make(chan prometheus.Metric, 1000)
	e.Collect(metrics)
	close(metrics)
	for m := range metrics {
		if !described[m.Desc().String()] {
			t.Errorf("collected but not described: %s", m.Desc())
		}
	}
	if len(described) != 36 {
		t.Errorf("%d descriptions, want the 19 metrics of design.md other than build_info, rows_ignored_total, ipu_price, the 7 of the breakdowns, last_breakdown_success, callbacks_total, the 4 of the contract and its 2 health metrics", len(described))
	}
}

func TestMaxAgeWithdrawsUsageKeepsHealth(t *testing.T) {
	clock := newFixedClock(goldenNow)
	e := goldenExporter(t, clock)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	health := []string{
		key("informatica_up", "account", "prod"),
		key("informatica_exporter_last_refresh_success_timestamp_seconds", "account", "prod"),
		key("informatica_exporter_last_refresh_duration_seconds", "account", "prod"),
		key("informatica_exporter_refreshes_total", "account", "prod"),
		key("informatica_exporter_refresh_failures_total", "account", "prod", "stage", "poll"),
		key("informatica_exporter_export_rows", "account", "prod"),
		key("informatica_exporter_api_requests_total", "account", "prod", "code", "200", "endpoint", "login"),
		key("informatica_ipu_entitlement_ipus", "account", "prod", "org_id", "org-a"),
	}

	// Last success 11:58, max_age 26h: served up to and including 13:58
	// the next day.
	clock.Set(date("2025-03-11T13:58:00Z"))
	s := gatherSamples(t, reg)
	if n := len(s.with(usageNames...)); n != 22 {
		t.Errorf("at max_age: %d usage series, want all 22:\n%s", n, s.with(usageNames...))
	}

	clock.Set(date("2025-03-11T13:58:01Z"))
	s = gatherSamples(t, reg)
	if u := s.with(usageNames...); len(u) != 0 {
		t.Errorf("past max_age usage series remain:\n%s", u)
	}
	for _, k := range health {
		if _, ok := s[k]; !ok {
			t.Errorf("past max_age %s is missing", k)
		}
	}
	if got := s[key("informatica_ipu_entitlement_ipus", "account", "prod", "org_id", "org-a")]; got != 120000 {
		t.Errorf("entitlement = %v, want 120000", got)
	}
}

// sharedTable is one account's view of orgs, with a distinct IPU value per
// account so that the test sees who published an org.
func sharedTable(t *testing.T, ipu float64, orgs ...string) *usage.Table {
	var rows []row
	for _, o := range orgs {
		rows = append(rows, row{org: o, meter: "m", date: "2025-03-09", start: mar, end: marEnd, usage: 1, ipu: ipu, rate: 1, hasRate: true})
	}
	return buildTable(t, rows...)
}

func TestSharedOrgPublishedOnceByFirstAccount(t *testing.T) {
	taken := goldenNow.Add(-time.Hour)
	first := func() *account {
		return staticAccount("first", nil, newAccountState(), newSnapshot("first", sharedTable(t, 1, "a", "shared"), taken))
	}
	second := func() *account {
		return staticAccount("second", nil, newAccountState(), newSnapshot("second", sharedTable(t, 2, "shared", "c"), taken))
	}
	consumed := func(org string) string {
		return usageKey("informatica_ipu_billing_period_consumed_ipus", org, "Org "+org, "m", "Meter m")
	}
	info := func(account, org string) string {
		return key("informatica_org_info", "account", account, "dev_org", "", "org_id", org, "org_name", "Org "+org, "org_type", "Production", "parent_org_id", "")
	}
	meterInfo := key("informatica_meter_info", "meter_id", "m", "meter_name", "Meter m",
		"metric_category", "Data Integration", "scalar", "Compute Units")

	for _, tc := range []struct {
		name     string
		accounts []*account
		winner   string
		value    float64
	}{
		{"first in config order", []*account{first(), second()}, "first", 1},
		{"reversed config order", []*account{second(), first()}, "second", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(staticExporter(newFixedClock(goldenNow), 26*time.Hour, tc.accounts...))
			// Gather fails on a duplicate series; gatherSamples fails the test then.
			s := gatherSamples(t, reg)
			want := samples{
				consumed("a"): 1, consumed("c"): 2, consumed("shared"): tc.value,
				info("first", "a"): 1, info("second", "c"): 1, info(tc.winner, "shared"): 1,
				meterInfo: 1,
			}
			got := s.with("informatica_ipu_billing_period_consumed_ipus", "informatica_org_info", "informatica_meter_info")
			assertSamples(t, got, want)
			if n := len(s.with("informatica_ipu_billing_period_start_timestamp_seconds")); n != 3 {
				t.Errorf("%d period start series, want one per org (3)", n)
			}
		})
	}
}

func TestNoTimestampsAndNoDateLabels(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(goldenExporter(t, newFixedClock(goldenNow)))
	for k := range gatherSamples(t, reg) {
		if strings.Contains(k, "2025") || strings.Contains(k, "2024") {
			t.Errorf("a label holds a date: %s", k)
		}
	}
}
