package mixin_test

import (
	"regexp"
	"strings"
	"testing"
)

// The rows whose panels have data only with breakdowns or a price, and the
// licence table, start collapsed, so that a dashboard without them shows no "No data" panels.
func TestDashboardOptionalRowsCollapsed(t *testing.T) {
	optional := map[string]bool{"Top assets": true, "Top tasks": true, "Money": true, "Licences": true}
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

// findPanel returns the panel with the title, wherever it is.
func findPanel(t *testing.T, d dashboard, title string) panel {
	t.Helper()
	for _, p := range allPanels(d.Panels) {
		if p.Title == title {
			return p
		}
	}
	t.Fatalf("no panel %q", title)
	return panel{}
}

// thresholdRule is the recording rule of Informatica's IPU alert
// thresholds in IPUs, the line InformaticaIPUThresholdCrossed compares with.
const thresholdRule = "account_org:informatica_ipu_alert_threshold_ipus:max"

// The consumption panel shows each org's IPU alert threshold from
// Informatica, an absolute one and a percentage one times the entitlement,
// dashed, against that org's own consumption: the lines the alert compares.
func TestDashboardIPUAlertThresholds(t *testing.T) {
	p := findPanel(t, readDashboard(t), "Billing-period consumption against entitlement")
	byRef := map[string]target{}
	for _, tg := range p.Targets {
		byRef[tg.RefID] = tg
	}
	var threshold, orgConsumed string
	for ref, tg := range byRef {
		expr := strings.Join(strings.Fields(tg.Expr), " ")
		switch {
		case expr == thresholdRule+`{account=~"$account", org_id=~"$org"}`:
			threshold = ref
			for _, l := range []string{"{{org_name}}", "{{type}}"} {
				if !strings.Contains(tg.LegendFormat, l) {
					t.Errorf("threshold target %s: legend %q lacks %s", ref, tg.LegendFormat, l)
				}
			}
		case strings.Contains(expr, "and on (account, org_id) "+thresholdRule):
			orgConsumed = ref
			// The threshold is for all of the org's meters: no meter filter.
			want := `sum by (account, org_id, org_name) (account_org_meter:informatica_ipu_billing_period_consumed_ipus:max{account=~"$account", org_id=~"$org"}) and on (account, org_id) ` + thresholdRule
			if expr != want {
				t.Errorf("org consumption target %s is %q, want %q", ref, expr, want)
			}
		}
	}
	if threshold == "" || orgConsumed == "" {
		t.Fatalf("panel %q: threshold target %q, org consumption target %q; want both", p.Title, threshold, orgConsumed)
	}
	dashed := false
	for _, o := range p.FieldConfig.Overrides {
		if o.Matcher.ID != "byFrameRefID" || o.Matcher.Options != threshold {
			continue
		}
		for _, prop := range o.Properties {
			if v, ok := prop.Value.(map[string]any); ok && prop.ID == "custom.lineStyle" && v["fill"] == "dash" {
				dashed = true
			}
		}
	}
	if !dashed {
		t.Errorf("panel %q: the threshold (target %s) is not drawn dashed", p.Title, threshold)
	}

	// The series holds both kinds of threshold in IPUs, and the alert
	// compares with the same series.
	var ruleExpr string
	for _, r := range readRules(t, "rules.yml") {
		if r.Record == thresholdRule {
			ruleExpr = strings.Join(strings.Fields(r.Expr), " ")
		}
	}
	for _, want := range []string{
		`account_org:informatica_ipu_alert_threshold:max{type="absolute"} or`,
		`account_org:informatica_ipu_alert_threshold:max{type="percentage"} / 100 * on (account) group_left () account:informatica_ipu_entitlement_ipus:max`,
	} {
		if !strings.Contains(ruleExpr, want) {
			t.Errorf("%s is %q; want it to contain %q", thresholdRule, ruleExpr, want)
		}
	}
	for _, r := range readRules(t, "alerts.yml") {
		if r.Alert == "InformaticaIPUThresholdCrossed" && !strings.Contains(r.Expr, thresholdRule) {
			t.Errorf("InformaticaIPUThresholdCrossed does not compare with %s, which the dashboard shows", thresholdRule)
		}
	}
}

// The licence table lists every edition and licence of the selected
// accounts and orgs with its expiry as a date and the days left.
func TestDashboardLicenceTable(t *testing.T) {
	p := findPanel(t, readDashboard(t), "Licence and edition expiry")
	if p.Type != "table" || len(p.Targets) != 2 {
		t.Fatalf("panel %q: type %s with %d targets, want a table with the expiry and the days left", p.Title, p.Type, len(p.Targets))
	}
	units := map[string]string{}
	for _, o := range p.FieldConfig.Overrides {
		for _, prop := range o.Properties {
			if s, ok := prop.Value.(string); ok && prop.ID == "unit" {
				units[o.Matcher.Options] = s
			}
		}
	}
	sel := `account_org_license:informatica_license_expiry_timestamp_seconds:min{account=~"$account", org_id=~"$org"}`
	for _, tg := range p.Targets {
		expr := strings.Join(strings.Fields(tg.Expr), " ")
		if !strings.Contains(expr, sel) || !strings.Contains(expr, "max by (org_id, org_name, kind, id, name, license_type)") {
			t.Errorf("target %s is %q; want %s, one row per org, kind and id", tg.RefID, expr, sel)
		}
		// Grafana's dates are in milliseconds.
		if strings.HasPrefix(expr, "1000 * ") != (units["Value #"+tg.RefID] == "dateTimeAsIso") {
			t.Errorf("target %s: %q with unit %q; want the expiry in ms as a date, or the days left", tg.RefID, expr, units["Value #"+tg.RefID])
		}
	}
}
