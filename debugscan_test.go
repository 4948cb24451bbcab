package main

import (
	"strings"
	"testing"
)

// TestDebugLogsScannedForSecrets: every exporter a test starts at debug is
// scanned for the secrets of the fakes the test started, the simulated
// Informatica of --demo included; the scan finds a password, a session ID
// and the callback token wherever they appear in a line.
func TestDebugLogsScannedForSecrets(t *testing.T) {
	p := startExporter(t, nil, "--demo", "--log.level=debug")
	waitFor(t, patience, "the demo's data", func() bool {
		return p.scrape()[key("informatica_up", "account", "demo")] == 1
	})
	fakes := trackedFakes(t)
	if len(fakes) != 1 || fakes[0].Password() == "" || len(fakes[0].SessionIDs()) == 0 {
		t.Fatalf("the demo's simulated Informatica is not tracked with a password and session IDs: %d fakes", len(fakes))
	}
	if !strings.Contains(p.logs.String(), `msg="Informatica call"`) {
		t.Fatalf("no debug line of a call to Informatica to scan:\n%s", p.logs)
	}
	f := fakes[0]
	for _, leak := range []string{
		`level=debug msg="Informatica call" password=` + f.Password(),
		`level=debug msg="Informatica call" header=INFA-SESSION-ID:` + f.SessionIDs()[0],
		`level=warn err="post https://exporter.example.com/-/callback/` + callbackToken + `: refused"`,
	} {
		if got := secretsIn(p.logs.String()+"\n"+leak, fakes); len(got) != 1 {
			t.Errorf("the scan of a log with %q found %q, want one secret", leak, got)
		}
	}
}
