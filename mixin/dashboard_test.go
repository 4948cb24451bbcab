package mixin_test

import (
	"regexp"
	"strings"
	"testing"
)

// The rows whose panels have data only with breakdowns or a price start
// collapsed, so that a dashboard without them shows no "No data" panels.
func TestDashboardOptionalRowsCollapsed(t *testing.T) {
	optional := map[string]bool{"Top assets": true, "Top tasks": true, "Money": true}
	seen := 0
	for _, p := range readDashboard(t).Panels {
		if p.Type != "row" {
			continue
		}
		switch {
		case optional[p.Title]:
			seen++
			if !p.Collapsed || len(p.Panels) == 0 {
				t.Errorf("row %q: collapsed=%v with %d panels inside; want collapsed, holding its panels", p.Title, p.Collapsed, len(p.Panels))
			}
		case p.Collapsed:
			t.Errorf("row %q is collapsed; only the optional rows are", p.Title)
		}
	}
	if seen != len(optional) {
		t.Errorf("found %d of the %d optional rows", seen, len(optional))
	}
}

// ipuUnit is Grafana's custom unit that shows values as "123 IPU".
const ipuUnit = "suffix: IPU"

// inIPUs tells whether an expression's values are IPUs: its value comes from
// its first metric (joins with info metrics and "and" filters keep it), which
// is in IPUs, and nothing divides it.
func inIPUs(expr string) bool {
	names := referencedNames(expr)
	if len(names) == 0 {
		return false
	}
	stripped := regexp.MustCompile(`"(?:[^"\\]|\\.)*"`).ReplaceAllString(expr, `""`)
	first := names[0]
	for _, n := range names {
		if strings.Index(stripped, n) < strings.Index(stripped, first) {
			first = n
		}
	}
	return regexp.MustCompile(`_ipus(:|$)`).MatchString(first) && !strings.Contains(stripped, "/")
}

// Every panel value in IPUs says so, and no other value does: a table column
// by its override, any other panel by its default unit.
func TestDashboardIPUUnits(t *testing.T) {
	ipuPanels := 0
	for _, p := range allPanels(readDashboard(t).Panels) {
		if p.Type == "row" || len(p.Targets) == 0 {
			continue
		}
		if p.Type != "table" {
			all := true
			for _, tg := range p.Targets {
				all = all && inIPUs(tg.Expr)
			}
			if all {
				ipuPanels++
			}
			if got := p.FieldConfig.Defaults.Unit; all != (got == ipuUnit) {
				t.Errorf("panel %q: unit %q, values in IPUs: %v", p.Title, got, all)
			}
			continue
		}
		for _, tg := range p.Targets {
			column := "Value #" + tg.RefID
			if len(p.Targets) == 1 {
				column = "Value"
			}
			unit := p.FieldConfig.Defaults.Unit
			for _, o := range p.FieldConfig.Overrides {
				if o.Matcher.ID != "byName" || o.Matcher.Options != column {
					continue
				}
				for _, prop := range o.Properties {
					if s, ok := prop.Value.(string); ok && prop.ID == "unit" {
						unit = s
					}
				}
			}
			if ipu := inIPUs(tg.Expr); ipu != (unit == ipuUnit) {
				t.Errorf("table %q column %s: unit %q, values in IPUs: %v", p.Title, column, unit, ipu)
			} else if ipu {
				ipuPanels++
			}
		}
	}
	if ipuPanels < 10 {
		t.Errorf("only %d panels or columns in IPUs; the classification is broken", ipuPanels)
	}
}

// The Org variable's value is the org ID, its text the name: two orgs of the
// same name stay apart, and every query filters on org_id.
func TestDashboardOrgVariableByID(t *testing.T) {
	d := readDashboard(t)
	var org *variable
	for i, v := range d.Templating.List {
		if v.Name == "org" {
			org = &d.Templating.List[i]
		}
	}
	if org == nil {
		t.Fatal("no org variable")
	}
	q := org.queryText()
	m := queryResultRE.FindStringSubmatch(q)
	if m == nil || !strings.Contains(m[1], "org_id") || !strings.Contains(m[1], "org_name") {
		t.Fatalf("org variable query %q: want query_result over org_id and org_name", q)
	}
	re, err := regexp.Compile(strings.NewReplacer("?<value>", "?P<value>", "?<text>", "?P<text>").Replace(strings.Trim(org.Regex, "/")))
	if err != nil {
		t.Fatalf("org variable regex %q: %v", org.Regex, err)
	}
	// What Grafana's query_result gives a variable's regex for one series.
	for _, line := range []string{
		`{org_id="0cuQ8wAMqn5k8bGRdkVSbW",org_name="Prod, Inc."} 1 1764979200000`,
		`{org_id="0cuQ8wAMqn5k8bGRdkVSbW", org_name="Prod, Inc."} 1 1764979200000`,
	} {
		sub := re.FindStringSubmatch(line)
		if sub == nil || sub[re.SubexpIndex("value")] != "0cuQ8wAMqn5k8bGRdkVSbW" || sub[re.SubexpIndex("text")] != "Prod, Inc." {
			t.Errorf("org variable regex on %s: got %q; want value = the ID, text = the name", line, sub)
		}
	}
	for _, dq := range dashboardQueries(t, d) {
		if strings.Contains(dq.expr, `org_name=~"$org"`) {
			t.Errorf("%s filters org_name on $org, whose values are IDs: %s", dq.where, dq.expr)
		}
	}
}
