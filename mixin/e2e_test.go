package mixin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// demoEntitlement is far below what the demo account consumes in any
// billing period (hundreds of IPUs a day), so that the entitlement alert
// fires whatever the date.
const demoEntitlement = "100"

// demoExpiryRE matches the licence alert's description of the demo's
// edition that expires 20 days after the start.
var demoExpiryRE = regexp.MustCompile(`^Edition \S+ .*expires in (19|20)d `)

// forRE matches the `for:` of an alert.
var forRE = regexp.MustCompile(`(?m)^(\s+for:[ \t]*)\S+[ \t]*$`)

// TestMonitoringStack runs the exporter in demo mode, a real Prometheus that
// scrapes it every second with rules.yml and alerts.yml loaded, and a real
// Alertmanager that sends to a webhook served here. It checks that the demo
// output passes promtool's lint, that every recording rule produces series
// (the demo runs with asset and task breakdowns and an IPU price, so the
// asset, task and cost rules too), that every query of dashboard.json
// returns data with its variables filled in, and that the entitlement, IPU
// threshold and licence alerts reach the webhook.
func TestMonitoringStack(t *testing.T) {
	t.Parallel()
	goTool := requireProgram(t, "go", "golang")
	promtool := requireProgram(t, "promtool", "prometheus")
	prometheus := requireProgram(t, "prometheus", "prometheus")
	alertmanager := requireProgram(t, "prometheus-alertmanager", "prometheus-alertmanager")
	start := time.Now()
	dir := t.TempDir()

	// The exporter, built from this module.
	exporterBin := filepath.Join(dir, "informatica_exporter")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goTool, "build", "-o", exporterBin, "github.com/ipumon/informatica_exporter")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("exporter built in %.1fs", time.Since(start).Seconds())

	exporterAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// Asset and task breakdowns and a price, so that the dashboard's top
	// assets, top tasks and money panels, and the cost rules, have data.
	exporter := startProcess(t, "informatica_exporter", exporterBin,
		"--demo", "--demo.ipu-entitlement="+demoEntitlement,
		"--demo.breakdowns=asset,task", "--demo.ipu-price=0.5", "--demo.currency=USD",
		"--web.listen-address="+exporterAddr)
	var metrics string
	waitFor(t, 30*time.Second, "the demo's usage, entitlement, thresholds and licences on /metrics", func() (bool, string) {
		if exporter.exited() {
			t.Fatalf("the exporter exited")
		}
		code, body, err := get("http://" + exporterAddr + "/metrics")
		if err != nil || code != http.StatusOK {
			return false, fmt.Sprintf("HTTP %d %v", code, err)
		}
		metrics = body
		for _, name := range []string{
			"informatica_ipu_billing_period_consumed_ipus", "informatica_ipu_entitlement_ipus",
			"informatica_asset_last_day_consumed_ipus", "informatica_task_last_day_consumed_ipus",
			"informatica_ipu_price",
			"informatica_ipu_alert_threshold", "informatica_license_expiry_timestamp_seconds",
		} {
			if !strings.Contains(body, "\n"+name+"{") {
				return false, "no " + name + " yet"
			}
		}
		return true, ""
	})

	t.Run("promtool check metrics", func(t *testing.T) {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(metrics)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("promtool check metrics on the demo output: %v\n%s", err, out)
		}
	})

	t.Run("every metric the mixin uses exists", func(t *testing.T) {
		served := map[string]bool{}
		for _, line := range strings.Split(metrics, "\n") {
			if name, _, ok := strings.Cut(line, "{"); ok && !strings.HasPrefix(line, "#") {
				served[name] = true
			} else if name, _, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
				served[name] = true
			}
		}
		var exprs []string
		for _, r := range append(readRules(t, "rules.yml"), readRules(t, "alerts.yml")...) {
			exprs = append(exprs, r.Expr)
		}
		for _, q := range dashboardQueries(t, readDashboard(t)) {
			exprs = append(exprs, q.expr)
		}
		for _, n := range referencedNames(strings.Join(exprs, "\n")) {
			if !strings.Contains(n, ":") && strings.HasPrefix(n, "informatica_") && !served[n] {
				t.Errorf("the mixin uses %s, which the exporter does not serve", n)
			}
		}
	})

	// The webhook Alertmanager notifies.
	var (
		mu       sync.Mutex
		received []webhookAlert
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Alerts []webhookAlert `json:"alerts"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := json.Unmarshal(body, &msg); err != nil {
			t.Errorf("webhook: bad payload: %v: %.300s", err, body)
		}
		mu.Lock()
		received = append(received, msg.Alerts...)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)

	amAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	amConfig := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, amConfig, fmt.Sprintf(`route:
  receiver: webhook
  group_by: [alertname, account]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: %s/hook
        send_resolved: false
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, account, org_id, kind, id]
`, hook.URL))
	am := startProcess(t, "prometheus-alertmanager", alertmanager,
		"--config.file="+amConfig,
		"--storage.path="+filepath.Join(dir, "alertmanager"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=")

	// The rules as shipped, with only the `for:` durations shortened.
	for _, f := range []string{"rules.yml", "alerts.yml"} {
		text := readFile(t, f)
		if f == "alerts.yml" {
			n := len(forRE.FindAllString(text, -1))
			if want := len(readRules(t, f)); n != want {
				t.Fatalf("alerts.yml: found %d `for:` lines, want one per alert (%d)", n, want)
			}
			text = forRE.ReplaceAllString(text, "${1}1s")
		}
		writeFile(t, filepath.Join(dir, f), text)
	}
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	promConfig := filepath.Join(dir, "prometheus.yml")
	writeFile(t, promConfig, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
  - %s
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['%s']
scrape_configs:
  - job_name: informatica
    static_configs:
      - targets: ['%s']
`, filepath.Join(dir, "rules.yml"), filepath.Join(dir, "alerts.yml"), amAddr, exporterAddr))
	prom := startProcess(t, "prometheus", prometheus,
		"--config.file="+promConfig,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus"),
		"--web.listen-address="+promAddr)
	promURL := "http://" + promAddr

	for _, p := range []struct {
		proc *process
		url  string
	}{{am, "http://" + amAddr}, {prom, promURL}} {
		waitFor(t, 30*time.Second, p.proc.name+" ready", func() (bool, string) {
			if p.proc.exited() {
				t.Fatalf("%s exited", p.proc.name)
			}
			code, body, err := get(p.url + "/-/ready")
			return code == http.StatusOK, fmt.Sprintf("HTTP %d %v %.100s", code, err, body)
		})
	}
	t.Logf("Prometheus and Alertmanager ready %.1fs after the start", time.Since(start).Seconds())

	// Queries must return data within this time; each is retried until then.
	deadline := 60 * time.Second
	nonEmpty := func(t *testing.T, what, query string) {
		t.Helper()
		waitFor(t, deadline, what+" to return data", func() (bool, string) {
			v, err := promQuery(promURL, query)
			if err != nil {
				return false, fmt.Sprintf("%s: %v", query, err)
			}
			return len(v) > 0, fmt.Sprintf("%s: empty result", query)
		})
	}

	t.Run("every recording rule produces series", func(t *testing.T) {
		for _, r := range readRules(t, "rules.yml") {
			nonEmpty(t, "recording rule "+r.Record, r.Record)
		}
	})

	// What the demo looks like through the rules, for the log.
	for _, q := range []string{
		"account:informatica_ipu_billing_period_consumed_ipus:sum",
		"account:informatica_ipu_entitlement_used:ratio",
		"account:informatica_ipu_billing_period_consumed_ipus:avg_per_day",
		"account:informatica_ipu_billing_period_consumed_ipus:linear_projection",
		"account:informatica_ipu_entitlement_days_until_exhausted:linear_projection",
		"account:informatica_exporter_refresh_interval_seconds:estimate",
		"account:informatica_ipu_price:max",
		"account:informatica_ipu_billing_period_consumed_cost:sum",
		"count(account_org_meter_asset:informatica_asset_billing_period_consumed_ipus:max)",
		"count(account_org_meter_task:informatica_task_billing_period_consumed_ipus:max)",
	} {
		if v, err := promQuery(promURL, q); err == nil && len(v) > 0 {
			t.Logf("%s = %v", q, v[0].Value[1])
		}
	}

	d := readDashboard(t)
	queries := dashboardQueries(t, d)
	t.Run("every dashboard query returns data, all values selected", func(t *testing.T) {
		values := map[string]string{"account": ".*", "org": ".*", "meter": ".*"}
		for k, v := range builtinVariables {
			values[k] = v
		}
		for _, q := range queries {
			expr, err := substitute(q.expr, values)
			if err != nil {
				t.Fatalf("%s: %v", q.where, err)
			}
			nonEmpty(t, q.where, expr)
		}
	})

	t.Run("every dashboard query returns data, one account, several orgs, one meter", func(t *testing.T) {
		// Real label values, picked from the data: the demo account, all its
		// orgs (by ID, the Org variable's value), and one meter used on the
		// last day that also has assets and tasks on it, so that their
		// panels have data. Values go through Grafana's regex escaping.
		v, err := promQuery(promURL, `account_org_meter:informatica_ipu_last_day_consumed_ipus:max > 0
			and on (account, meter_id) account_org_meter_asset:informatica_asset_last_day_consumed_ipus:max > 0
			and on (account, meter_id) account_org_meter_task:informatica_task_last_day_consumed_ipus:max > 0`)
		if err != nil || len(v) == 0 {
			t.Fatalf("no last-day usage to pick variable values from: %v", err)
		}
		account, meter := v[0].Metric["account"], v[0].Metric["meter_name"]
		// All the account's orgs, not only those the picked meter is used in;
		// the Org variable's values are org IDs (its text is the name).
		v, err = promQuery(promURL, `account_org_meter:informatica_ipu_last_day_consumed_ipus:max > 0`)
		if err != nil {
			t.Fatal(err)
		}
		orgSet := map[string]bool{}
		for _, s := range v {
			if s.Metric["account"] == account {
				orgSet[s.Metric["org_id"]] = true
			}
		}
		var orgs []string
		for o := range orgSet {
			orgs = append(orgs, o)
		}
		sort.Strings(orgs)
		values := map[string]string{
			"account": grafanaValue([]string{account}),
			"org":     grafanaValue(orgs),
			"meter":   grafanaValue([]string{meter}),
		}
		for k, v := range builtinVariables {
			values[k] = v
		}
		t.Logf("variables: account=%s org=%s meter=%s", values["account"], values["org"], values["meter"])
		for _, q := range queries {
			expr, err := substitute(q.expr, values)
			if err != nil {
				t.Fatalf("%s: %v", q.where, err)
			}
			nonEmpty(t, q.where, expr)
		}
	})

	t.Run("the entitlement alert reaches the webhook", func(t *testing.T) {
		waitFor(t, deadline, "InformaticaIPUEntitlementNearlyExhausted at the webhook", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			var got []string
			for _, a := range received {
				l := a.Labels
				got = append(got, l["alertname"]+"/"+l["severity"]+"/"+a.Status)
				if l["alertname"] == "InformaticaIPUEntitlementNearlyExhausted" && l["severity"] == "critical" &&
					l["account"] == "demo" && a.Status == "firing" &&
					strings.Contains(a.Annotations["description"], "Account demo has consumed") &&
					a.Annotations["summary"] != "" {
					return true, ""
				}
			}
			return false, fmt.Sprintf("received %v", got)
		})
	})

	// The demo's contract: IPU alert thresholds (absolute, and a percentage
	// of the entitlement) and an edition that expires in 20 days. Which
	// thresholds are crossed is worked out here from the raw series, apart
	// from the rules: the alert must fire for exactly those orgs and types.
	t.Run("the IPU threshold and licence alerts reach the webhook", func(t *testing.T) {
		crossed := crossedThresholds(t, promURL)
		if len(crossed) == 0 {
			t.Fatal("the demo's consumption crosses none of its IPU alert thresholds")
		}
		t.Logf("thresholds crossed: %v", crossed)
		waitFor(t, deadline, "InformaticaIPUThresholdCrossed and InformaticaLicenseExpiresSoon at the webhook", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			var got []string
			fired := map[string]bool{}
			licence := false
			for _, a := range received {
				l := a.Labels
				got = append(got, l["alertname"]+"/"+l["severity"]+"/"+a.Status)
				if a.Status != "firing" || l["account"] != "demo" || a.Annotations["summary"] == "" {
					continue
				}
				switch l["alertname"] {
				case "InformaticaIPUThresholdCrossed":
					if strings.Contains(a.Annotations["description"], "IPU alert threshold its administrators set in Informatica") {
						fired[l["org_id"]+"/"+l["type"]] = true
					}
				case "InformaticaLicenseExpiresSoon":
					// The edition 20 days ahead, by now 19 or 20 days.
					licence = licence || l["severity"] == "warning" && l["kind"] == "edition" && l["id"] != "" &&
						demoExpiryRE.MatchString(a.Annotations["description"])
				}
			}
			for k := range fired {
				if !crossed[k] {
					t.Fatalf("InformaticaIPUThresholdCrossed fired for %s, whose threshold is not crossed", k)
				}
			}
			return len(fired) == len(crossed) && licence,
				fmt.Sprintf("threshold alerts for %v of %v, licence alert %v; received %v", fired, crossed, licence, got)
		})
	})
	t.Logf("done %.1fs after the start", time.Since(start).Seconds())
}

// crossedThresholds returns org_id/type of every IPU alert threshold that
// the org's consumption in the billing period exceeds, from the exporter's
// raw series: an absolute threshold in IPUs, a percentage one of the
// entitlement (none without one).
func crossedThresholds(t *testing.T, promURL string) map[string]bool {
	t.Helper()
	values := func(query, key string) map[string]float64 {
		v, err := promQuery(promURL, query)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]float64{}
		for _, s := range v {
			f, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
			if err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			m[s.Metric[key]] = f
		}
		return m
	}
	consumed := values(`sum by (org_id) (informatica_ipu_billing_period_consumed_ipus)`, "org_id")
	entitlement := values(`sum(informatica_ipu_entitlement_ipus{account="demo"})`, "")
	crossed := map[string]bool{}
	for _, typ := range []string{"absolute", "percentage"} {
		for org, threshold := range values(`informatica_ipu_alert_threshold{type="`+typ+`"}`, "org_id") {
			if typ == "percentage" {
				e, ok := entitlement[""]
				if !ok {
					continue
				}
				threshold = threshold / 100 * e
			}
			if threshold > 0 && consumed[org] > threshold {
				crossed[org+"/"+typ] = true
			}
		}
	}
	return crossed
}

// webhookAlert is one alert of Alertmanager's webhook payload.
type webhookAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
