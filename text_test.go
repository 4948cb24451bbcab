package main

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestTextFromInformaticaIsUTF8: names in Windows-1252 bytes, as European
// orgs' exports have them, become UTF-8 labels; /metrics, the landing page
// and the process survive, for the summary and the project breakdown.
func TestTextFromInformaticaIsUTF8(t *testing.T) {
	for name, extra := range map[string]string{"per-meter CSVs": "", "combined CSV": "    combined_meter_usage: true\n"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testTextIsUTF8(t, extra)
		})
	}
}

func testTextIsUTF8(t *testing.T, accountExtra string) {
	at := calendar[0].at
	orgs := []fake.Org{
		{ID: "0cuQSDTq5sikvN7x8r1xm1", Name: "Soci\xe9t\xe9 G\xe9n\xe9rale", Type: "Production", Scale: 1},
		{ID: "6fRxkT2bqYc9WvLm0PzQ3e", Name: "M\xfcller \x80 Partner \x81", Type: "Sub-Organization", Scale: 0.3},
	}
	f := startFake(t, fake.Options{Now: frozen(at), Orgs: orgs, Projects: 2, ProjectNames: []string{"Proj\xe8t \x93Q4\x94", "Caf\xc3\xa9 \xe9t\xe9"}})
	path := writeConfig(t, t.TempDir(), "1h", accountYAML("acme", f, "    breakdowns: [project_folder]\n"+accountExtra))
	p := startExporterAt(t, frozen(at), nil, "--config.file="+path)
	var got map[string]float64
	waitFor(t, 30*time.Second, "the breakdown", func() bool {
		got = p.scrape()
		return got[key("informatica_exporter_last_breakdown_success_timestamp_seconds", "account", "acme", "breakdown", "project_folder")] > 0
	})
	for _, want := range []string{
		key("informatica_org_info", "account", "acme", "org_id", orgs[0].ID, "org_name", "Société Générale", "org_type", "Production"),
		key("informatica_org_info", "account", "acme", "org_id", orgs[1].ID, "org_name", "Müller € Partner \uFFFD", "org_type", "Sub-Organization"),
	} {
		if withoutTreeLabels(got)[want] != 1 {
			t.Errorf("missing %s", want)
		}
	}
	projects := map[string]bool{}
	for k := range got {
		if strings.HasPrefix(k, "informatica_ipu_project_billing_period_consumed_ipus{") {
			for _, name := range []string{"Projèt “Q4”", "Café été"} {
				if strings.Contains(k, `project="`+name+`"`) {
					projects[name] = true
				}
			}
		}
	}
	if len(projects) != 2 {
		t.Errorf("project labels transcoded: %v, want both", projects)
	}
	code, page := p.get("/")
	if code != 200 || !utf8.ValidString(page) {
		t.Errorf("landing page: %d, valid UTF-8 %v", code, utf8.ValidString(page))
	}
	if !utf8.ValidString(p.logs.String()) {
		t.Error("the log is not valid UTF-8")
	}
	if got[key("informatica_up", "account", "acme")] != 1 {
		t.Errorf("informatica_up = %v:\n%s", got[key("informatica_up", "account", "acme")], p.logs)
	}
}
