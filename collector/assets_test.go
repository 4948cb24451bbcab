package collector

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// series is one gathered sample with its labels.
type series struct {
	labels map[string]string
	value  float64
}

// gatherSeries returns the samples of the family name.
func gatherSeries(t testing.TB, g prometheus.Gatherer, name string) []series {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []series
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			s := series{labels: map[string]string{}, value: m.GetGauge().GetValue()}
			for _, lp := range m.Label {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

type orgMeter struct{ org, meter string }

// sumByOrgMeter sums samples per org_id and meter_id.
func sumByOrgMeter(ss []series) map[orgMeter]float64 {
	out := map[orgMeter]float64{}
	for _, s := range ss {
		out[orgMeter{s.labels["org_id"], s.labels["meter_id"]}] += s.value
	}
	return out
}

// relClose compares within 1e-9 relative: the breakdowns add the same
// micro-IPUs as the summary in another order.
func relClose(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

func assetTaskAccount(f *fake.Server, maxSeries int, asset, task bool) AccountSettings {
	a := accountFor("prod", f, nil)
	a.Breakdown = BreakdownSettings{Interval: 24 * time.Hour, MaxSeries: maxSeries}
	if asset {
		a.Breakdown.Kinds = append(a.Breakdown.Kinds, "asset")
	}
	if task {
		a.Breakdown.Kinds = append(a.Breakdown.Kinds, "task")
	}
	return a
}

func breakdownDone(t testing.TB, reg prometheus.Gatherer, kinds ...string) bool {
	s := gatherSamples(t, reg)
	for _, k := range kinds {
		if s[key("informatica_exporter_last_breakdown_success_timestamp_seconds", "account", "prod", "breakdown", k)] == 0 {
			return false
		}
	}
	return true
}

// loginOrgSummary returns the summary family name of the login org, per
// meter, leaving out zeros (meters without usage have no breakdown rows).
func loginOrgSummary(t testing.TB, reg prometheus.Gatherer, f *fake.Server, name string, meters func(string) bool) map[orgMeter]float64 {
	out := map[orgMeter]float64{}
	for k, v := range sumByOrgMeter(gatherSeries(t, reg, name)) {
		if k.org == f.LoginOrg().ID && v != 0 && meters(k.meter) {
			out[k] = v
		}
	}
	return out
}

func allMeters(string) bool { return true }

// runsMeters is whether a meter's job-level file lists runs with IPUs.
func runsMeters(id string) bool {
	for _, m := range fake.DemoMeters {
		if m.ID == id {
			return m.JobLevel == fake.JobLevelRuns
		}
	}
	return false
}

func assertSums(t *testing.T, what string, got, want map[orgMeter]float64) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: nothing to compare", what)
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || !relClose(g, w) {
			t.Errorf("%s, org %s meter %s: breakdown sums to %v, summary %v", what, k.org, k.meter, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && g != 0 {
			t.Errorf("%s, org %s meter %s: breakdown sums to %v, summary has none", what, k.org, k.meter, g)
		}
	}
}

// TestAssetAndTaskBreakdowns: the asset sums per org and meter are the
// summary's figures for the login org (ASSET covers it alone), for the
// billing period and the last complete day; the task sums are the
// summary's for the meters whose job-level files carry IPUs per run, with
// the runs and the largest run the fake served; files of other layouts are
// skipped with one warning each.
func TestAssetAndTaskBreakdowns(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{}, now)
	logger, logs := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	if err := e.Apply(Settings{Accounts: []AccountSettings{assetTaskAccount(f, 10000, true, true)}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the breakdowns", func() bool { return breakdownDone(t, reg, "asset", "task") })

	assets := gatherSeries(t, reg, "informatica_asset_billing_period_consumed_ipus")
	assertSums(t, "asset billing period", sumByOrgMeter(assets),
		loginOrgSummary(t, reg, f, "informatica_ipu_billing_period_consumed_ipus", allMeters))
	assertSums(t, "asset last day", sumByOrgMeter(gatherSeries(t, reg, "informatica_asset_last_day_consumed_ipus")),
		loginOrgSummary(t, reg, f, "informatica_ipu_last_day_consumed_ipus", allMeters))
	deleted := 0
	for _, s := range assets {
		if len(s.labels) != len(assetLabels) || s.labels["environment"] == "" {
			t.Errorf("asset series without every label: %v", s.labels)
		}
		if s.labels["project"] == noProject {
			deleted++
		}
	}
	if deleted == 0 {
		t.Error("no asset series of project (none): the fake's deleted assets are missing")
	}

	tasks := gatherSeries(t, reg, "informatica_task_billing_period_consumed_ipus")
	assertSums(t, "task billing period", sumByOrgMeter(tasks),
		loginOrgSummary(t, reg, f, "informatica_ipu_billing_period_consumed_ipus", runsMeters))
	assertSums(t, "task last day", sumByOrgMeter(gatherSeries(t, reg, "informatica_task_last_day_consumed_ipus")),
		loginOrgSummary(t, reg, f, "informatica_ipu_last_day_consumed_ipus", runsMeters))

	// Runs and the largest run, per task, from what the fake served.
	monthStart := time.Date(fakeBase.Year(), fakeBase.Month(), 1, 0, 0, 0, 0, time.UTC)
	type stats struct {
		runs   float64
		maxRun float64
		name   string
	}
	want := map[string]*stats{}
	for _, r := range f.ServedTaskRuns() {
		if r.Date.Before(monthStart) {
			continue
		}
		k := r.Org.ID + "/" + r.Meter.ID + "/" + r.TaskID
		if want[k] == nil {
			want[k] = &stats{name: r.TaskName}
		}
		want[k].runs++
		want[k].maxRun = max(want[k].maxRun, r.IPU)
	}
	got := map[string]*stats{}
	for _, name := range []string{"informatica_task_billing_period_runs", "informatica_task_billing_period_max_run_ipus"} {
		for _, s := range gatherSeries(t, reg, name) {
			k := s.labels["org_id"] + "/" + s.labels["meter_id"] + "/" + s.labels["task_id"]
			if got[k] == nil {
				got[k] = &stats{name: s.labels["task_name"]}
			}
			if strings.HasSuffix(name, "_runs") {
				got[k].runs = s.value
			} else {
				got[k].maxRun = s.value
			}
		}
	}
	if len(want) == 0 || len(got) != len(want) {
		t.Errorf("%d tasks published, the fake ran %d", len(got), len(want))
	}
	for k, w := range want {
		g := got[k]
		if g == nil || g.runs != w.runs || !relClose(g.maxRun, w.maxRun) || g.name != w.name {
			t.Errorf("task %s: got %+v, want %+v", k, g, w)
		}
	}

	// One line for each file the client cannot read, none for the meters.
	for _, m := range []string{"Application Integration", "Mass Ingestion Files"} {
		if got := logs.Lines("level=warn", "layout is not known", m); len(got) != 1 {
			t.Errorf("%d warnings about the file of %s, want 1:\n%s", len(got), m, logs)
		}
	}
	if got := logs.Lines("names no meter"); len(got) != 0 {
		t.Errorf("job-level files not matched to their meters:\n%s", strings.Join(got, "\n"))
	}
}

// TestAssetAndTaskBreakdownCap: beyond breakdown_max_series, the smallest
// series are combined per org and meter into "other", which keeps the sums
// whole and adds at most one series per org and meter.
func TestAssetAndTaskBreakdownCap(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{}, now)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	const maxSeries = 4
	if err := e.Apply(Settings{Accounts: []AccountSettings{assetTaskAccount(f, maxSeries, true, true)}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the breakdowns", func() bool { return breakdownDone(t, reg, "asset", "task") })
	for _, c := range []struct {
		metric, summary, other string
		meters                 func(string) bool
	}{
		{"informatica_asset_billing_period_consumed_ipus", "informatica_ipu_billing_period_consumed_ipus", "asset_name", allMeters},
		{"informatica_asset_last_day_consumed_ipus", "informatica_ipu_last_day_consumed_ipus", "asset_name", allMeters},
		{"informatica_task_billing_period_consumed_ipus", "informatica_ipu_billing_period_consumed_ipus", "task_id", runsMeters},
		{"informatica_task_last_day_consumed_ipus", "informatica_ipu_last_day_consumed_ipus", "task_id", runsMeters},
	} {
		got := gatherSeries(t, reg, c.metric)
		want := loginOrgSummary(t, reg, f, c.summary, c.meters)
		assertSums(t, c.metric, sumByOrgMeter(got), want)
		others := 0
		for _, s := range got {
			if s.labels[c.other] == "other" {
				others++
				for name, v := range s.labels {
					if name != "org_id" && name != "meter_id" && v != "other" {
						t.Errorf("%s: other series with %s=%q", c.metric, name, v)
					}
				}
			}
		}
		if others == 0 || len(got)-others != maxSeries || others > len(want) {
			t.Errorf("%s: %d series, %d of them other; want %d plus at most one other per org and meter (%d)", c.metric, len(got), others, maxSeries, len(want))
		}
	}
	// The other series' runs are the sum of the runs folded in, and its
	// largest run the largest of theirs.
	var runs float64
	for _, s := range gatherSeries(t, reg, "informatica_task_billing_period_runs") {
		runs += s.value
	}
	monthStart := time.Date(fakeBase.Year(), fakeBase.Month(), 1, 0, 0, 0, 0, time.UTC)
	var served, largest float64
	for _, r := range f.ServedTaskRuns() {
		if !r.Date.Before(monthStart) {
			served++
			largest = max(largest, r.IPU)
		}
	}
	if runs != served {
		t.Errorf("the runs series add up to %v, the fake served %v runs", runs, served)
	}
	var maxRun float64
	for _, s := range gatherSeries(t, reg, "informatica_task_billing_period_max_run_ipus") {
		maxRun = max(maxRun, s.value)
	}
	if maxRun != largest {
		t.Errorf("largest max_run series %v, the fake's largest run %v", maxRun, largest)
	}
}

// gateTimer lets the refresher's waits end one at a time, when the test
// says so.
type gateTimer struct{ ch chan time.Time }

func (g *gateTimer) after(time.Duration) <-chan time.Time { return g.ch }

// TestAssetBreakdownFailure: a failed asset export is counted and logged
// once, keeps the last good asset series, and leaves the summary and
// informatica_up alone.
func TestAssetBreakdownFailure(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{}, now)
	// The first run's summary and asset jobs succeed; the second run's
	// asset job fails.
	f.SetOutcomes(fake.Outcome{}, fake.Outcome{}, fake.Outcome{}, fake.Outcome{Status: "FAILED", ErrorMessage: "asset data unavailable"})
	logger, logs := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	timer := &gateTimer{ch: make(chan time.Time, 2)}
	e.after = timer.after
	timer.ch <- time.Time{}
	a := assetTaskAccount(f, 500, true, false)
	a.Breakdown.Interval = time.Nanosecond // due on every run
	if err := e.Apply(Settings{Accounts: []AccountSettings{a}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first asset breakdown", func() bool { return breakdownDone(t, reg, "asset") })
	before := gatherSamples(t, reg)
	assetNames := []string{"informatica_asset_billing_period_consumed_ipus", "informatica_asset_last_day_consumed_ipus"}
	if len(before.with(assetNames...)) == 0 {
		t.Fatal("no asset series after the first breakdown")
	}
	timer.ch <- time.Time{}
	failures := key("informatica_exporter_refresh_failures_total", "account", "prod", "stage", "poll")
	waitFor(t, "the failed breakdown", func() bool { return gatherSamples(t, reg)[failures] == 1 })
	after := gatherSamples(t, reg)
	assertSamples(t, after.with(assetNames...), before.with(assetNames...))
	if len(after.with(usageNames...)) == 0 {
		t.Error("the summary data is gone")
	}
	if after[key("informatica_up", "account", "prod")] != 1 {
		t.Error("informatica_up is 0 after a failed breakdown; the summary refresh succeeded")
	}
	success := key("informatica_exporter_last_breakdown_success_timestamp_seconds", "account", "prod", "breakdown", "asset")
	if after[success] != before[success] {
		t.Errorf("last asset breakdown success moved from %v to %v on a failure", before[success], after[success])
	}
	if got := logs.Lines("level=warn", "Asset breakdown failed", "breakdown=asset", "stage=poll"); len(got) != 1 {
		t.Errorf("want one warning about the asset breakdown:\n%s", logs)
	}
}

// TestAssetBreakdownNonUTF8: names in Windows-1252 or with invalid bytes
// come out as valid UTF-8 labels.
func TestAssetBreakdownNonUTF8(t *testing.T) {
	t.Parallel()
	now := movingClock()
	meters := []fake.Meter{
		fake.DemoMeters[0],
		// A meter billed per org has one asset row named after the meter.
		{ID: "kR7vQe1ZsXn4YbWc2TmLp9", Name: "Sous-organisations \xe9t\xe9 \x81", Scalar: "Organizations", Category: "Platform", Rate: 0.2},
	}
	f := startFake(t, fake.Options{Meters: meters, Projects: 2, ProjectNames: []string{"Proj\xe8t \x93Q4\x94", "Caf\xc3\xa9"}}, now)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	if err := e.Apply(Settings{Accounts: []AccountSettings{assetTaskAccount(f, 500, true, false)}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the breakdown", func() bool { return breakdownDone(t, reg, "asset") })
	got := gatherSeries(t, reg, "informatica_asset_billing_period_consumed_ipus")
	seen := map[string]bool{}
	for _, s := range got {
		for name, v := range s.labels {
			if !utf8.ValidString(v) {
				t.Errorf("%s=%q is not valid UTF-8", name, v)
			}
		}
		seen[s.labels["asset_name"]], seen[s.labels["project"]] = true, true
	}
	for _, want := range []string{"Sous-organisations été \uFFFD", "Projèt “Q4”", "Café"} {
		if !seen[want] {
			t.Errorf("no asset series with %q; labels seen: %v", want, seen)
		}
	}
}

// TestIPUPrice: informatica_ipu_price is published when a price is
// configured, and only then.
func TestIPUPrice(t *testing.T) {
	clock := newFixedClock(goldenNow)
	priced := staticAccount("priced", nil, newAccountState(), nil)
	priced.settings.IPUPrice, priced.settings.Currency = 0.85, "EUR"
	plain := staticAccount("plain", nil, newAccountState(), nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(staticExporter(clock, time.Hour, priced, plain))
	got := gatherSamples(t, reg).with("informatica_ipu_price")
	assertSamples(t, got, samples{key("informatica_ipu_price", "account", "priced", "currency", "EUR"): 0.85})
}

// TestAssetBlankNamesAreNone: a row with a blank asset name, project and
// environment (how Informatica may sum up deleted assets) is one series
// with "(none)" in those labels, so that no label goes missing.
func TestAssetBlankNamesAreNone(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{}, now)
	day := now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	meter := fake.DemoMeters[0]
	// The summary's download goes through; the asset job's is this file.
	f.Inject(
		fake.Fault{Endpoint: fake.EndpointDownload, Handler: func(http.ResponseWriter, *http.Request) {}, Pass: true},
		fake.Fault{Endpoint: fake.EndpointDownload, Handler: zipAnswer(
			"Meter ID,Meter Name,Date,Asset Name,Asset Type,Project,Folder,Org ID,Org Type,Environment Name,Environment Type,Tier,IPU Per Unit,Usage,Consumption (IPUs)\n" +
				meter.ID + "," + meter.Name + "," + day + ",,,,," + f.LoginOrg().ID + ",Production,,,,0.06,50,3\n")},
	)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	if err := e.Apply(Settings{Accounts: []AccountSettings{assetTaskAccount(f, 500, true, false)}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the breakdown", func() bool { return breakdownDone(t, reg, "asset") })
	got := gatherSeries(t, reg, "informatica_asset_billing_period_consumed_ipus")
	if len(got) != 1 {
		t.Fatalf("want the one series of the file, got %v", got)
	}
	for _, name := range []string{"asset_name", "project", "environment"} {
		if v := got[0].labels[name]; v != "(none)" {
			t.Errorf("%s=%q, want \"(none)\" for a blank cell", name, v)
		}
	}
	if got[0].value != 3 {
		t.Errorf("value %v, want 3", got[0].value)
	}
}
