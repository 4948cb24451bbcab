package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/collector"
)

const contractAccount = "accounts:\n  - name: a\n    login_url: https://dm-us.informaticacloud.com\n    username: u\n    password: p\n"

func TestContractConfig(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       collector.ContractSettings
	}{
		{"defaults: every source, daily, 10 orgs", "", collector.ContractSettings{
			Sources: []string{"license", "org_tree", "alert_thresholds"}, Interval: 24 * time.Hour, MaxOrgs: 10,
		}},
		{"some, in any order", "    contract: [alert_thresholds, license]\n    contract_interval: 12h\n    contract_max_orgs: 3\n    license_names: {4sdvnCrYEjfcKjTvAoigEF: Advanced Integration}\n", collector.ContractSettings{
			Sources: []string{"license", "alert_thresholds"}, Interval: 12 * time.Hour, MaxOrgs: 3,
			Names: map[string]string{"4sdvnCrYEjfcKjTvAoigEF": "Advanced Integration"},
		}},
		{"none", "    contract: []\n", collector.ContractSettings{Sources: nil, Interval: 24 * time.Hour, MaxOrgs: 10}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse([]byte(contractAccount+c.yaml), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			got := s.Accounts[0].Contract
			if !slices.Equal(got.Sources, c.want.Sources) || got.Interval != c.want.Interval || got.MaxOrgs != c.want.MaxOrgs || len(got.Names) != len(c.want.Names) {
				t.Errorf("contract settings %+v, want %+v", got, c.want)
			}
			for id, name := range c.want.Names {
				if got.Names[id] != name {
					t.Errorf("name of %s = %q, want %q", id, got.Names[id], name)
				}
			}
		})
	}
}

func TestContractConfigErrors(t *testing.T) {
	for yaml, want := range map[string]string{
		"    contract: [licence]\n":            `contract: "licence" is not a contract source; the sources are: license, org_tree, alert_thresholds`,
		"    contract: license\n":              "contract: expected a list",
		"    contract_interval: soon\n":        `contract_interval: "soon" is not a duration of at least 1m`,
		"    contract_interval: 10s\n":         `contract_interval: "10s" is not a duration of at least 1m`,
		"    contract_max_orgs: 0\n":           "contract_max_orgs: 0, want at least 1",
		"    contract_max_orgs: 2.5\n":         "contract_max_orgs: expected a whole number",
		"    license_names: [a, b]\n":          "license_names: expected a mapping",
		"    license_names: {E1: [x]}\n":       "license_names.E1: expected",
		"    license_names: {E1: \"\"}\n":      `license_names: "E1": "": want an edition, licence or limit ID and a name, neither empty`,
		"    contract_names: {E1: Advanced}\n": `unknown key "contract_names"`,
	} {
		_, err := Parse([]byte(contractAccount+yaml), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", strings.TrimSpace(yaml), err, want)
		}
	}
}
