package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// readmePromQL returns the expressions of the ```promql blocks of the
// README and the docs pages: each run of lines that are neither blank nor
// comments is one expression.
func readmePromQL(t *testing.T, docs string) []string {
	t.Helper()
	var exprs []string
	for _, block := range regexp.MustCompile("(?s)```promql\n(.*?)```").FindAllStringSubmatch(docs, -1) {
		var cur []string
		flush := func() {
			if len(cur) > 0 {
				exprs = append(exprs, strings.Join(cur, "\n"))
				cur = nil
			}
		}
		for _, line := range strings.Split(block[1], "\n") {
			if trimmed := strings.TrimSpace(line); trimmed == "" || strings.HasPrefix(trimmed, "#") {
				flush()
				continue
			}
			cur = append(cur, line)
		}
		flush()
	}
	return exprs
}

// TestREADMEPromQL runs every expression of the README's PromQL blocks
// through Prometheus' parser, as promtool check rules does for the
// expressions of a rule file made of them.
func TestREADMEPromQL(t *testing.T) {
	exprs := readmePromQL(t, readDocs(t))
	if len(exprs) < 8 {
		t.Fatalf("found %d PromQL expressions in README.md and docs/*.md: %q", len(exprs), exprs)
	}
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{Record: fmt.Sprintf("readme:expression_%d", i+1), Expr: e})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []map[string]any{{"name": "readme", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, t.TempDir(), "readme_rules.yml", string(b))
	promtool := requireProgram(t, "promtool")
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the README's PromQL: %v\n%s", err, out)
		// Name the bad ones, each on its own.
		for i, e := range exprs {
			one, _ := yaml.Marshal(map[string]any{"groups": []map[string]any{{"name": "readme", "rules": []rule{{"readme:e", e}}}}})
			f := writeFile(t, t.TempDir(), fmt.Sprintf("expr%d.yml", i), string(one))
			if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
				t.Errorf("not PromQL: %s\n%s", e, out)
			}
		}
	}
}

// TestREADMEPromQLCheckCatches: the check above refuses what the README
// once had, a timestamp written after the query.
func TestREADMEPromQLCheckCatches(t *testing.T) {
	promtool := requireProgram(t, "promtool")
	bad := "groups:\n  - name: bad\n    rules:\n      - record: readme:bad\n        expr: sum by (org_name) (informatica_ipu_day_consumed_ipus) at 2025-03-01T00:00:00Z\n"
	file := writeFile(t, t.TempDir(), "bad.yml", bad)
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err == nil {
		t.Errorf("promtool check rules accepted an expression that is not PromQL:\n%s", out)
	}
}
