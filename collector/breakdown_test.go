package collector

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

const projectMetric = "informatica_ipu_project_billing_period_consumed_ipus"

type projectKey struct{ org, project, folder string }

// projectSums computes, without the exporter's code, the IPU of each org,
// project and folder in the current (calendar-month) billing period.
func projectSums(rows []fake.ProjectRow, now time.Time) map[projectKey]float64 {
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	out := map[projectKey]float64{}
	for _, r := range rows {
		if r.Date.Before(monthStart) {
			continue
		}
		// A blank label is "(none)" (docs/breakdowns.md).
		project, folder := r.Project, r.Folder
		if project == "" {
			project = "(none)"
		}
		if folder == "" {
			folder = "(none)"
		}
		out[projectKey{r.Org.ID, project, folder}] += r.IPU
	}
	return out
}

func breakdownAccount(f *fake.Server, maxSeries int) AccountSettings {
	a := accountFor("prod", f, nil)
	a.Breakdown = BreakdownSettings{Kinds: []string{"project_folder"}, Interval: 24 * time.Hour, MaxSeries: maxSeries}
	return a
}

func TestProjectBreakdown(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{}, now)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	if err := e.Apply(Settings{Accounts: []AccountSettings{breakdownAccount(f, 500)}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the breakdown", func() bool {
		return gatherSamples(t, reg)[key("informatica_exporter_last_breakdown_success_timestamp_seconds", "account", "prod", "breakdown", "project_folder")] > 0
	})
	want := samples{}
	for k, v := range projectSums(f.ServedProjects(), now()) {
		want[key(projectMetric, "folder", k.folder, "org_id", k.org, "project", k.project)] = v
	}
	got := gatherSamples(t, reg).with(projectMetric)
	assertSamples(t, got, want)
	if len(got.withLabel("project", "(none)")) == 0 {
		t.Error("usage of deleted assets is not published under project (none)")
	}
	// One summary job and one PROJECT_FOLDER job for the half month so far.
	var types []string
	for _, r := range f.Requests() {
		if r.Endpoint == fake.EndpointExport {
			jt, _ := r.Body["jobType"].(string)
			types = append(types, jt)
		}
	}
	if strings.Join(types, ",") != ",PROJECT_FOLDER" {
		t.Errorf("export job types = %q, want the summary then one PROJECT_FOLDER job", types)
	}
}

// TestProjectBreakdownCardinalityCap: beyond breakdown_max_series, the
// smallest series are summed per org into project "other", and the totals
// stay the same.
func TestProjectBreakdownCardinalityCap(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{Projects: 40}, now)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	const maxSeries = 50
	if err := e.Apply(Settings{Accounts: []AccountSettings{breakdownAccount(f, maxSeries)}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the breakdown", func() bool { return len(gatherSamples(t, reg).with(projectMetric)) > 0 })
	got := gatherSamples(t, reg).with(projectMetric)
	sums := projectSums(f.ServedProjects(), now())
	if len(sums) <= maxSeries {
		t.Fatalf("the fake served only %d series; the test needs more than %d", len(sums), maxSeries)
	}
	other := got.withLabel("project", "other")
	if len(got)-len(other) != maxSeries || len(other) != len(fake.DemoOrgs) {
		t.Errorf("%d series, %d of them other; want %d plus one other per org", len(got), len(other), maxSeries)
	}
	// The kept series are the largest.
	values := make([]float64, 0, len(sums))
	for _, v := range sums {
		values = append(values, v)
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(values)))
	for k, v := range got {
		if !strings.Contains(k, `project="other"`) && v < values[maxSeries-1] {
			t.Errorf("%s = %v is kept, but the %dth largest is %v", k, v, maxSeries, values[maxSeries-1])
		}
	}
	// Per org, what is published adds up to what was served.
	for _, o := range fake.DemoOrgs {
		var served, published float64
		for k, v := range sums {
			if k.org == o.ID {
				served += v
			}
		}
		for _, v := range got.withLabel("org_id", o.ID) {
			published += v
		}
		if !approx(served, published) {
			t.Errorf("org %s: published %v, served %v", o.ID, published, served)
		}
	}
}

// TestProjectBreakdownFailure: a failed breakdown is counted and logged, and
// leaves the summary data and informatica_up alone.
func TestProjectBreakdownFailure(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{}, now)
	f.SetOutcomes(fake.Outcome{}, fake.Outcome{Status: "FAILED", ErrorMessage: "project data unavailable"})
	logger, logs := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	if err := e.Apply(Settings{Accounts: []AccountSettings{breakdownAccount(f, 500)}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	failures := key("informatica_exporter_refresh_failures_total", "account", "prod", "stage", "poll")
	waitFor(t, "the failed breakdown", func() bool { return gatherSamples(t, reg)[failures] == 1 })
	s := gatherSamples(t, reg)
	if len(s.with(projectMetric)) != 0 {
		t.Error("project series after a failed breakdown")
	}
	if len(s.with(usageNames...)) == 0 {
		t.Error("the summary data is gone")
	}
	if s[key("informatica_up", "account", "prod")] != 1 {
		t.Error("informatica_up is 0 after a failed breakdown; the summary refresh succeeded")
	}
	if got := logs.Lines("level=warn", "breakdown failed", "stage=poll"); len(got) != 1 {
		t.Errorf("want one warning about the breakdown:\n%s", logs)
	}
}
