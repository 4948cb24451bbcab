package informatica

import "testing"

func TestMeterResolver(t *testing.T) {
	r := NewMeterResolver()
	r.Add("a1", "Data Integration")
	r.Add("a2", "Data Integration Elastic")
	r.Add("a3", "Application Integration")
	r.Add("a4", "") // no name: matches nothing
	for hint, want := range map[string]string{
		"data_integration":                  "a1", // exact, after folding
		"Data-Integration-Elastic":          "a2", // exact beats contained
		"IPU_Data Integration Elastic_2027": "a2", // longest contained
		"Job level Data Integration report": "a1",
		"APPLICATION INTEGRATION":           "a3",
		"Mass Ingestion":                    "",
		"":                                  "",
	} {
		id, ok := r.Resolve(hint)
		if id != want || ok != (want != "") {
			t.Errorf("Resolve(%q) = %q, %v; want %q", hint, id, ok, want)
		}
	}
	r.Resolve("Mass Ingestion") // again: still one entry
	if got := r.Unresolved(); len(got) != 2 || got[0] != "Mass Ingestion" && got[1] != "Mass Ingestion" {
		t.Errorf("Unresolved() = %q, want the two unmatched hints once each", got)
	}
}

// TestMeterResolverOrder: hints as job-level files may be named, in the
// order rows meet them; each unmatched hint is listed once, in that order.
func TestMeterResolverOrder(t *testing.T) {
	r := NewMeterResolver()
	r.Add("di", "Data Integration")
	r.Add("die", "Data Integration Elastic")
	r.Add("ai", "Application Integration")
	r.Add("aias", "Application Integration with Advanced Serverless")
	r.Add("blank", " - ") // nothing left after folding: matches nothing
	for _, c := range []struct{ hint, want string }{
		{"Data Integration", "di"},
		{"data_integration", "di"},
		{"DATA-INTEGRATION-ELASTIC", "die"},
		{"Data_Integration_Elastic_2025-06-01_2025-06-15", "die"},
		{"JobLevel_Application Integration with Advanced Serverless", "aias"},
		{"Application Integration", "ai"},
		{"Mass Ingestion Files", ""},
		{"", ""},
		{"Mass Ingestion Files", ""},
	} {
		got, ok := r.Resolve(c.hint)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("Resolve(%q) = %q, %v; want %q", c.hint, got, ok, c.want)
		}
	}
	if u := r.Unresolved(); len(u) != 2 || u[0] != "Mass Ingestion Files" || u[1] != "" {
		t.Errorf("Unresolved() = %q, want each unmatched hint once, in order", u)
	}
}
