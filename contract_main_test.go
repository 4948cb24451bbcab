package main

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// treeLabels are the labels the org tree adds to informatica_org_info.
var treeLabels = regexp.MustCompile(`(, )?(dev_org|parent_org_id)="[^"]*"`)

// withoutTreeLabels returns the samples with the org tree's labels of
// informatica_org_info left out, so that a test of the usage finds an
// org's series whether or not the account's contract was read yet.
func withoutTreeLabels(s map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		if strings.HasPrefix(k, "informatica_org_info{") {
			k = strings.Replace(treeLabels.ReplaceAllString(k, ""), "{, ", "{", 1)
		}
		out[k] = v
	}
	return out
}

// contractRead reports whether the account's first contract run has
// finished: it read the IPU alert threshold, the last source, of every org
// of its usage.
func contractRead(s map[string]float64, account string) bool {
	orgs, reads := 0, 0.0
	for k, v := range s {
		switch {
		case strings.HasPrefix(k, "informatica_org_info{") && strings.Contains(k, `account="`+account+`"`):
			orgs++
		case strings.HasPrefix(k, "informatica_exporter_api_requests_total{") && strings.Contains(k, `account="`+account+`"`) && strings.Contains(k, `endpoint="ipu_alert"`):
			reads += v
		}
	}
	return orgs > 0 && reads >= float64(orgs)
}

// TestDemoContract: --demo serves every contract series, and the data the
// mixin's contract alerts fire on: an edition that expires in 20 days,
// and an org whose billing-period IPUs are over its absolute threshold.
func TestDemoContract(t *testing.T) {
	p := startExporter(t, nil, "--demo")
	names := []string{
		"informatica_license_expiry_timestamp_seconds", "informatica_license_limit",
		"informatica_org_tree_info", "informatica_ipu_alert_threshold",
		"informatica_exporter_contract_failures_total", "informatica_exporter_last_contract_success_timestamp_seconds",
	}
	var got map[string]float64
	waitFor(t, 30*time.Second, "the contract series", func() bool {
		got = p.scrape()
		for _, name := range names {
			if !slices.ContainsFunc(slices.Collect(maps.Keys(got)), func(k string) bool { return strings.HasPrefix(k, name+"{") }) {
				return false
			}
		}
		return true
	})
	prod, sub := fake.DemoOrgs[0].ID, fake.DemoOrgs[1].ID
	edition := key("informatica_license_expiry_timestamp_seconds", "id", "4sdvnCrYEjfcKjTvAoigEF", "kind", "edition", "license_type", "", "name", "Advanced Integration", "org_id", prod)
	if left := time.Until(time.Unix(int64(got[edition]), 0)); left < 19*24*time.Hour || left > 20*24*time.Hour {
		t.Errorf("%s expires in %s, want 20 days (the day's midnight)", edition, left)
	}
	threshold := got[key("informatica_ipu_alert_threshold", "org_id", sub, "type", "absolute")]
	consumed := 0.0
	for k, v := range got {
		if strings.HasPrefix(k, "informatica_ipu_billing_period_consumed_ipus{") && strings.Contains(k, `org_id="`+sub+`"`) {
			consumed += v
		}
	}
	if threshold == 0 || consumed <= threshold {
		t.Errorf("the sub-org consumed %v IPUs this period, its absolute threshold is %v: want it crossed", consumed, threshold)
	}
	if _, ok := got[key("informatica_org_info", "account", "demo", "dev_org", "false", "org_id", sub, "org_name", fake.DemoOrgs[1].Name, "org_type", "Sub-Organization", "parent_org_id", prod)]; !ok {
		t.Errorf("informatica_org_info of the sub-org lacks its parent")
	}
	for _, src := range []string{"license", "org_tree", "alert_thresholds"} {
		if v := got[key("informatica_exporter_contract_failures_total", "account", "demo", "source", src)]; v != 0 {
			t.Errorf("%s failures %v", src, v)
		}
	}
	if _, page := p.get("/"); !strings.Contains(page, "license: ") || !strings.Contains(page, "(1 linked org(s) refused it)") {
		t.Errorf("the landing page does not show the contract reads:\n%s", page)
	}
}

// TestContractDocPromQL: docs/contract.md holds the PromQL that sums usage
// by parent org; TestREADMEPromQL checks every docs page's PromQL with
// promtool, this page's included.
func TestContractDocPromQL(t *testing.T) {
	exprs := readmePromQL(t, readFile(t, "docs/contract.md"))
	if len(exprs) < 2 || !strings.Contains(strings.Join(exprs, "\n"), "parent_org_id") {
		t.Fatalf("found %d PromQL expressions in docs/contract.md, none by parent_org_id: %q", len(exprs), exprs)
	}
}
