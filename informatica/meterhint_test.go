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
