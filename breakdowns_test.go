package main

import (
	"math"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// breakdownMetrics are every family the asset and task breakdowns publish.
var breakdownMetrics = []string{
	"informatica_asset_billing_period_consumed_ipus",
	"informatica_asset_last_day_consumed_ipus",
	"informatica_task_billing_period_consumed_ipus",
	"informatica_task_billing_period_runs",
	"informatica_task_billing_period_max_run_ipus",
	"informatica_task_last_day_consumed_ipus",
}

// TestDemoBreakdowns: --demo with the breakdown and price flags shows every
// asset and task family and the price, and promtool finds nothing wrong.
func TestDemoBreakdowns(t *testing.T) {
	p := startExporter(t, nil, "--demo", "--demo.breakdowns=asset,task", "--demo.ipu-price=0.5")
	var body string
	want := append([]string{
		`informatica_ipu_price{account="demo",currency="USD"} 0.5`,
		`informatica_exporter_last_breakdown_success_timestamp_seconds{account="demo",breakdown="asset"}`,
		`informatica_exporter_last_breakdown_success_timestamp_seconds{account="demo",breakdown="task"}`,
	}, breakdownMetrics...)
	waitFor(t, time.Minute, "the breakdowns and the price on /metrics", func() bool {
		_, body = p.get("/metrics")
		for _, w := range want {
			if !strings.Contains(body, "\n"+w) {
				return false
			}
		}
		return true
	})
	if strings.Contains(body, `breakdown="project_folder"`) {
		t.Error("a project_folder breakdown ran without being asked for")
	}
	promtool := requireProgram(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestDemoBadBreakdown: a --demo.breakdowns value that is not a breakdown
// stops the exporter with the breakdowns named.
func TestDemoBadBreakdown(t *testing.T) {
	logs := &syncBuffer{}
	if code := run([]string{"--demo", "--demo.breakdowns=asset,tasks", "--web.listen-address=127.0.0.1:0"}, logs, hooks{}); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(logs.String(), "project_folder, asset, task") {
		t.Errorf("the error does not list the breakdowns:\n%s", logs)
	}
}

var orgMeterLabels = regexp.MustCompile(`meter_id="([^"]*)".*org_id="([^"]*)"`)

// sumsByOrgMeter sums the series of name in a scrape per org and meter.
func sumsByOrgMeter(t *testing.T, got map[string]float64, name string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range got {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		m := orgMeterLabels.FindStringSubmatch(k)
		if m == nil {
			t.Fatalf("%s has no meter_id or org_id", k)
		}
		out[m[2]+"/"+m[1]] += v
	}
	return out
}

// TestBreakdownsAtMonthBoundary: at 00:00:30 on the 1st, the asset and task
// billing-period series describe the new period, and the last-day series
// the day before, which belongs to the old one.
func TestBreakdownsAtMonthBoundary(t *testing.T) {
	at := calendar[0].at
	if at.Day() != 1 || at.Hour() != 0 {
		t.Fatalf("calendar[0] is %s, not the start of a month", at)
	}
	f := startFake(t, fake.Options{Now: frozen(at)})
	path := writeConfig(t, t.TempDir(), "1h", accountYAML("acme", f, "    breakdowns: [asset, task]\n"))
	p := startExporterAt(t, frozen(at), nil, "--config.file="+path)
	var got map[string]float64
	waitFor(t, time.Minute, "both breakdowns", func() bool {
		got = p.scrape()
		return got[key("informatica_exporter_last_breakdown_success_timestamp_seconds", "account", "acme", "breakdown", "asset")] > 0 &&
			got[key("informatica_exporter_last_breakdown_success_timestamp_seconds", "account", "acme", "breakdown", "task")] > 0
	})
	login := f.LoginOrg().ID
	if start := got[key("informatica_ipu_billing_period_start_timestamp_seconds", "org_id", login)]; start != float64(at.Truncate(24*time.Hour).Unix()) {
		t.Fatalf("the summary's period starts at %v, want today", start)
	}
	runs := map[string]bool{}
	for _, m := range fake.DemoMeters {
		runs[m.ID] = m.JobLevel == fake.JobLevelRuns
	}
	for _, c := range []struct {
		breakdown, summary string
		jobLevelOnly       bool
	}{
		{"informatica_asset_billing_period_consumed_ipus", "informatica_ipu_billing_period_consumed_ipus", false},
		{"informatica_asset_last_day_consumed_ipus", "informatica_ipu_last_day_consumed_ipus", false},
		{"informatica_task_billing_period_consumed_ipus", "informatica_ipu_billing_period_consumed_ipus", true},
		{"informatica_task_last_day_consumed_ipus", "informatica_ipu_last_day_consumed_ipus", true},
	} {
		b := sumsByOrgMeter(t, got, c.breakdown)
		s := sumsByOrgMeter(t, got, c.summary)
		var total float64
		for k, want := range s {
			org, meter, _ := strings.Cut(k, "/")
			if org != login || (c.jobLevelOnly && !runs[meter]) {
				continue
			}
			total += want
			if g := b[k]; math.Abs(g-want) > 1e-9*math.Max(math.Abs(g), math.Abs(want)) {
				t.Errorf("%s for %s: %v, %s %v", c.breakdown, k, g, c.summary, want)
			}
		}
		if strings.Contains(c.breakdown, "last_day") && total == 0 {
			t.Errorf("%s: the last day has no usage to compare", c.summary)
		}
		for k := range b {
			if org, _, _ := strings.Cut(k, "/"); org != login {
				t.Errorf("%s: series of org %s, which the login org's exports do not cover", c.breakdown, org)
			}
		}
	}
}
