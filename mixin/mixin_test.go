package mixin_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// requiredAlerts are the alerts the issue asks for, with the severities
// each must have.
var requiredAlerts = map[string][]string{
	"InformaticaExporterRefreshFailing":        {"warning"},
	"InformaticaIPUDataStale":                  {"warning", "critical"},
	"InformaticaIPUEntitlementNearlyExhausted": {"warning", "critical"},
	"InformaticaIPUProjectedOverrun":           {"warning"},
	"InformaticaIPUDailyUsageSpike":            {"warning"},
	"InformaticaExporterDown":                  {"warning"},
	"InformaticaTaskCostSpike":                 {"warning"},
	"InformaticaNewExpensiveAsset":             {"warning"},
	"InformaticaIPUThresholdCrossed":           {"warning"},
	"InformaticaLicenseExpiresSoon":            {"warning", "critical"},
}

// recordNameRE is level:metric:operations.
var recordNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z0-9_]+$`)

// rangeRE finds range selectors and subqueries: [10m], [7d], [1h:5m].
var rangeRE = regexp.MustCompile(`\[([0-9a-z]+)(?::[0-9a-z]*)?\]`)

func TestAlertsAndRulesStatic(t *testing.T) {
	records := readRules(t, "rules.yml")
	alerts := readRules(t, "alerts.yml")

	defined := map[string]bool{}
	for _, r := range records {
		if r.Record == "" || r.Alert != "" {
			t.Errorf("rules.yml holds a rule that is not a recording rule: %+v", r)
			continue
		}
		if !recordNameRE.MatchString(r.Record) {
			t.Errorf("recording rule %s is not named level:metric:operations", r.Record)
		}
		if defined[r.Record] {
			t.Errorf("recording rule %s is defined twice", r.Record)
		}
		defined[r.Record] = true
	}

	severities := map[string][]string{}
	for _, r := range alerts {
		if r.Alert == "" {
			t.Errorf("alerts.yml holds a rule that is not an alert: %+v", r)
			continue
		}
		severities[r.Alert] = append(severities[r.Alert], r.Labels["severity"])
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, s)
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("alert %s has no %s", r.Alert, a)
			}
		}
		// Robust to scrape intervals up to 5m: a `for:` of at least 5m.
		d, err := parseDuration(r.For)
		if err != nil || d < 5*time.Minute {
			t.Errorf("alert %s: for: %q, want at least 5m so that scrapes up to 5m apart cannot make it flap", r.Alert, r.For)
		}
	}
	for name, want := range requiredAlerts {
		got := strings.Join(severities[name], ",")
		if got != strings.Join(want, ",") {
			t.Errorf("alert %s: severities %q, want %q", name, got, strings.Join(want, ","))
		}
	}

	// Every range in a rule spans at least two 5m scrapes, and every
	// recording rule an expression uses is defined.
	for _, r := range append(records, alerts...) {
		name := r.Record + r.Alert
		for _, m := range rangeRE.FindAllStringSubmatch(r.Expr, -1) {
			d, err := parseDuration(m[1])
			if err != nil || d < 10*time.Minute {
				t.Errorf("%s: range [%s] is shorter than 10m: with 5m scrapes it may hold one sample or none", name, m[1])
			}
		}
		for _, n := range referencedNames(r.Expr) {
			if strings.Contains(n, ":") && !defined[n] {
				t.Errorf("%s uses %s, which rules.yml does not define", name, n)
			}
		}
	}
}

// costRE is the one way a cost rule is computed from its IPU twin.
var costRE = regexp.MustCompile(`^\s*(\S+)\s+\*\s+on \(account\) group_left \(currency\) account:informatica_ipu_price:max\s*$`)

// TestCostRules: every recording rule in IPUs (*_ipus:<op>) has a twin in
// money named *_cost:<op>, which is that rule times the account's price of
// one IPU, carrying the currency; and every *_cost rule has its IPU twin.
func TestCostRules(t *testing.T) {
	exprs := map[string]string{}
	for _, r := range readRules(t, "rules.yml") {
		exprs[r.Record] = r.Expr
	}
	n := 0
	for name := range exprs {
		if strings.Contains(name, "_ipus:") {
			n++
			costName := strings.Replace(name, "_ipus:", "_cost:", 1)
			costExpr, ok := exprs[costName]
			if !ok {
				t.Errorf("%s has no cost twin %s", name, costName)
				continue
			}
			if m := costRE.FindStringSubmatch(costExpr); m == nil || m[1] != name {
				t.Errorf("%s is %q, want %s * on (account) group_left (currency) account:informatica_ipu_price:max", costName, costExpr, name)
			}
		}
		if strings.Contains(name, "_cost:") {
			if _, ok := exprs[strings.Replace(name, "_cost:", "_ipus:", 1)]; !ok {
				t.Errorf("%s has no IPU twin", name)
			}
		}
	}
	if n < 14 {
		t.Errorf("%d rules in IPUs, want at least the 14 of usage, entitlement, assets and tasks", n)
	}
}

func TestDashboardStatic(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title != "Informatica IPU consumption" {
		t.Errorf("uid %q, title %q", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want a current one", d.SchemaVersion)
	}

	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v, ok := vars["datasource"]; !ok || v.Type != "datasource" || v.queryText() != "prometheus" {
		t.Errorf("no datasource variable of type datasource for prometheus: %+v", v)
	}
	for _, name := range []string{"account", "org", "meter"} {
		v, ok := vars[name]
		if !ok {
			t.Errorf("no variable %s", name)
			continue
		}
		if q := v.queryText(); v.Type != "query" || !labelValuesRE.MatchString(q) && !queryResultRE.MatchString(q) {
			t.Errorf("variable %s: type %s query %q, want a label_values or query_result query", name, v.Type, q)
		}
		if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s does not use ${datasource}", name)
		}
		if !v.Multi || !v.IncludeAll || v.AllValue != ".*" {
			t.Errorf("variable %s: multi %v, includeAll %v, allValue %q; the queries match it with =~", name, v.Multi, v.IncludeAll, v.AllValue)
		}
	}

	records := map[string]bool{}
	for _, r := range readRules(t, "rules.yml") {
		records[r.Record] = true
	}
	ids := map[int]string{}
	var exprs []string
	for _, p := range allPanels(d.Panels) {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q target %s does not use the datasource variable", p.Title, tg.RefID)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	values := map[string]string{"account": ".*", "org": ".*", "meter": ".*"}
	for k, v := range builtinVariables {
		values[k] = v
	}
	for _, q := range dashboardQueries(t, d) {
		if _, err := substitute(q.expr, values); err != nil {
			t.Errorf("%s: %v", q.where, err)
		}
		for _, n := range referencedNames(q.expr) {
			if strings.Contains(n, ":") && !records[n] {
				t.Errorf("%s uses %s, which rules.yml does not define", q.where, n)
			}
		}
	}

	// The views the issue asks for.
	all := strings.Join(exprs, "\n")
	for _, want := range []string{
		"account:informatica_ipu_billing_period_consumed_ipus:linear_projection", // projected end-of-period consumption
		"account:informatica_ipu_entitlement_days_until_exhausted:linear_projection",
		"account:informatica_ipu_entitlement_used:ratio",
		"account:informatica_ipu_entitlement_ipus:max",
		"account_org_meter:informatica_ipu_last_day_consumed_ipus:max", // last complete day by meter
		"topk(10, sum by (org_id, org_name)",
		"topk(10, sum by (meter_name)",
		"informatica_up",
		"informatica_exporter_last_refresh_success_timestamp_seconds",
		"informatica_exporter_last_refresh_duration_seconds",
		"account_stage:informatica_exporter_refresh_failures:increase1h",
		// Top assets and tasks, spike candidates, and money.
		"account_org_meter_asset:informatica_asset_billing_period_consumed_ipus:max",
		"account_org_meter_asset:informatica_asset_last_day_consumed_ipus:max",
		"account_org_meter_task:informatica_task_billing_period_consumed_ipus:max",
		"account_org_meter_task:informatica_task_billing_period_runs:max",
		"account_org_meter_task:informatica_task_billing_period_max_run_ipus:max",
		"account_org_meter_task:informatica_task_last_day_consumed_ipus:median_7d",
		"account_org_meter:informatica_ipu_billing_period_consumed_cost:max",
		"account:informatica_ipu_entitlement_cost:max",
		"account_org_meter:informatica_ipu_last_day_consumed_cost:max",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel queries %s", want)
		}
	}
}

// TestPromtool runs promtool's own checks: the rule files are valid and
// lint-clean, and every unit test in tests/ passes (each alert fires there
// at least once, and each has cases where it must not).
func TestPromtool(t *testing.T) {
	t.Parallel()
	promtool := requireProgram(t, "promtool", "prometheus")

	out, err := exec.Command(promtool, "check", "rules", "rules.yml", "alerts.yml").CombinedOutput()
	if err != nil || strings.Count(string(out), "SUCCESS") != 2 {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}

	tests, err := filepath.Glob("tests/*.yml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no unit tests in tests/: %v", err)
	}
	out, err = exec.Command(promtool, append([]string{"test", "rules"}, tests...)...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "FAILED") {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}

	// Every alert (with each of its severities) fires in some unit test,
	// and every alert has a test where it must not.
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ut unitTestFile
		if err := yaml.Unmarshal(b, &ut); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range ut.Tests {
			for _, a := range g.AlertRuleTest {
				if len(a.ExpAlerts) == 0 {
					quiet[a.Alertname] = true
				}
				for _, e := range a.ExpAlerts {
					fires[a.Alertname+"/"+e.ExpLabels["severity"]] = true
				}
			}
		}
	}
	for _, r := range readRules(t, "alerts.yml") {
		if !fires[r.Alert+"/"+r.Labels["severity"]] {
			t.Errorf("no unit test expects %s (severity %s) to fire", r.Alert, r.Labels["severity"])
		}
		if !quiet[r.Alert] {
			t.Errorf("no unit test shows a case where %s must not fire", r.Alert)
		}
	}
}

// unitTestFile is the part of a promtool unit test file the test reads.
type unitTestFile struct {
	Tests []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `yaml:"exp_labels"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestReadme keeps the docs in step with the files: the top-level README
// and docs/*.md or mixin/README.md (assets, tasks and money) names every alert and
// recording rule, their YAML snippets parse, and the Alertmanager
// configuration passes amtool.
func TestReadme(t *testing.T) {
	readme := readDocs(t)
	both := readme + readFile(t, "README.md")
	for _, f := range []string{"rules.yml", "alerts.yml"} {
		for _, r := range readRules(t, f) {
			if name := r.Record + r.Alert; !strings.Contains(both, "`"+name+"`") && !strings.Contains(both, "**"+name+"**") {
				t.Errorf("neither ../README.md nor README.md mentions %s", name)
			}
		}
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(readme, -1)
	var amConfig string
	for _, b := range blocks {
		var v any
		if err := yaml.Unmarshal([]byte(b[1]), &v); err != nil {
			t.Errorf("../README.md: YAML snippet does not parse: %v\n%s", err, b[1])
		}
		if strings.Contains(b[1], "inhibit_rules:") {
			amConfig = b[1]
		}
	}
	if amConfig == "" {
		t.Fatal("../README.md has no Alertmanager configuration")
	}
	amtool := requireProgram(t, "amtool", "prometheus-alertmanager")
	path := filepath.Join(t.TempDir(), "alertmanager.yml")
	writeFile(t, path, amConfig)
	if out, err := exec.Command(amtool, "check-config", path).CombinedOutput(); err != nil {
		t.Errorf("amtool check-config on ../README.md's Alertmanager configuration: %v\n%s", err, out)
	}
}
