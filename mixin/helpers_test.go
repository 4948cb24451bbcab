package mixin_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ipumon/informatica_exporter/internal/testkit"
)

func requireProgram(t *testing.T, name, pkg string) string {
	t.Helper()
	return testkit.RequireProgram(t, name, pkg)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type syncBuffer = testkit.SyncBuffer

// process is a program started by a test, killed when the test ends.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has ended
}

// startProcess starts a program; t.Cleanup kills it and, if the test
// failed, logs the end of its output.
func startProcess(t *testing.T, name, path string, args ...string) *process {
	t.Helper()
	p := &process{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			out := p.out.String()
			if len(out) > 6000 {
				out = "...\n" + out[len(out)-6000:]
			}
			t.Logf("output of %s %s:\n%s", name, strings.Join(args, " "), out)
		}
	})
	return p
}

// exited reports whether the process has ended, without waiting.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor polls check until it returns true or timeout passes; then the
// test fails with what check last said.
func waitFor(t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	// The timeout only bounds how long a failing test hangs; a busy machine
	// must not fail a test that passes on an idle one.
	timeout = max(timeout, 2*time.Minute)
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, msg := check()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// get returns the status and body of a GET.
func get(u string) (int, string, error) {
	resp, err := httpClient.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, string(body), err
}

// queryResult is the answer of Prometheus' /api/v1/query.
type queryResult struct {
	Status    string `json:"status"`
	Error     string `json:"error"`
	ErrorType string `json:"errorType"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// sample is one element of a vector result.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// promQuery runs an instant query and returns the vector's samples (a
// scalar or string result counts as one sample). A query Prometheus rejects
// is an error.
func promQuery(base, query string) ([]sample, error) {
	code, body, err := get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil, err
	}
	var r queryResult
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, fmt.Errorf("HTTP %d, not JSON: %.200s", code, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	switch r.Data.ResultType {
	case "vector":
		var v []sample
		err := json.Unmarshal(r.Data.Result, &v)
		return v, err
	case "scalar", "string":
		return []sample{{}}, nil
	default:
		return nil, fmt.Errorf("unexpected result type %q", r.Data.ResultType)
	}
}

// ruleFile is the part of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readRules(t *testing.T, path string) []rule {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// dashboard is the part of the Grafana JSON model the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID          int                `json:"id"`
	Type        string             `json:"type"`
	Title       string             `json:"title"`
	Datasource  *datasourceRef     `json:"datasource"`
	Targets     []target           `json:"targets"`
	Panels      []panel            `json:"panels"`
	GridPos     map[string]float64 `json:"gridPos"`
	Collapsed   bool               `json:"collapsed"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options string `json:"options"`
			} `json:"matcher"`
			Properties []struct {
				ID    string `json:"id"`
				Value any    `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
}

type target struct {
	RefID        string         `json:"refId"`
	Expr         string         `json:"expr"`
	LegendFormat string         `json:"legendFormat"`
	Datasource   *datasourceRef `json:"datasource"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasourceRef  `json:"datasource"`
	Regex      string          `json:"regex"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// queryText is a variable's query, whether Grafana stored it as a string or
// as an object with a "query" field.
func (v variable) queryText() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &o)
	return o.Query
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// dashboardQuery is one PromQL expression of the dashboard, with where it
// comes from.
type dashboardQuery struct {
	where, expr string
}

var (
	labelValuesRE = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)
	queryResultRE = regexp.MustCompile(`^query_result\((.*)\)$`)
)

// dashboardQueries returns every panel target's expression and every query
// variable's query, the latter as the PromQL Grafana runs for it.
func dashboardQueries(t *testing.T, d dashboard) []dashboardQuery {
	t.Helper()
	var qs []dashboardQuery
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			qs = append(qs, dashboardQuery{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := v.queryText()
		if m := queryResultRE.FindStringSubmatch(q); m != nil {
			qs = append(qs, dashboardQuery{"variable " + v.Name, m[1]})
			continue
		}
		m := labelValuesRE.FindStringSubmatch(q)
		if m == nil {
			t.Fatalf("variable %s: query %q is neither label_values(selector, label) nor query_result(expr)", v.Name, q)
		}
		qs = append(qs, dashboardQuery{"variable " + v.Name, fmt.Sprintf("count by (%s) (%s)", m[2], m[1])})
	}
	return qs
}

// grafanaRegexEscape escapes a value of a multi-value or include-all
// variable as Grafana's Prometheus data source does before putting it in a
// query (prometheusSpecialRegexEscape).
func grafanaRegexEscape(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\\\`)
	var b strings.Builder
	for _, r := range v {
		if strings.ContainsRune(`$^*{}[]'+?.()|`, r) {
			b.WriteString(`\\`)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// grafanaValue renders the selected values of a multi-value variable the
// way Grafana does: one escaped value, or an alternation.
func grafanaValue(values []string) string {
	esc := make([]string, len(values))
	for i, v := range values {
		esc[i] = grafanaRegexEscape(v)
	}
	if len(esc) == 1 {
		return esc[0]
	}
	return "(" + strings.Join(esc, "|") + ")"
}

var varRE = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)`)

// substitute fills in the variables of an expression; a variable without a
// value is an error.
func substitute(expr string, values map[string]string) (string, error) {
	var missing []string
	out := varRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := varRE.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for $%s", strings.Join(missing, ", $"))
	}
	return out, nil
}

// builtinVariables are Grafana's own variables, with values a 30-day
// dashboard would give them.
var builtinVariables = map[string]string{
	"__interval":      "1m",
	"__rate_interval": "4m",
	"__range":         "30d",
}

var metricNameRE = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// referencedNames returns the names in an expression that look like
// informatica metrics or recording rules, sorted and unique.
func referencedNames(expr string) []string {
	// Strip string literals (label values, regexes).
	expr = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`).ReplaceAllString(expr, `""`)
	seen := map[string]bool{}
	for _, n := range metricNameRE.FindAllString(expr, -1) {
		if strings.Contains(n, "informatica_") {
			seen[n] = true
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// parseDuration reads a Prometheus duration such as 90s, 15m, 1h30m, 7d.
func parseDuration(s string) (time.Duration, error) {
	re := regexp.MustCompile(`(\d+)(ms|s|m|h|d|w|y)`)
	if s == "" || re.ReplaceAllString(s, "") != "" {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	units := map[string]time.Duration{
		"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
		"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour,
	}
	var d time.Duration
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		n, _ := strconv.Atoi(m[1])
		d += time.Duration(n) * units[m[2]]
	}
	return d, nil
}
