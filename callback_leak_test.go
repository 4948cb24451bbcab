package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// TestCallbackURLNotLeaked: Informatica refuses the export job with a 400
// whose message quotes the callbackUrl, raw and URL-encoded. The failure
// reaches the log and the landing page as the account's last error, with
// the URL's path, and so its token, redacted.
func TestCallbackURLNotLeaked(t *testing.T) {
	t.Parallel()
	const callbackURL = "https://exporter.example.com/-/callback/" + callbackToken
	f := startFake(t, fake.Options{})
	var sentURL atomic.Value
	f.Inject(fake.Fault{Endpoint: fake.EndpointExport, Times: persistent, Handler: func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		sent, _ := body["callbackUrl"].(string)
		sentURL.Store(sent)
		msg, _ := json.Marshal(map[string]any{"error": map[string]any{
			"code":    "MTR_010",
			"message": "Invalid callbackUrl " + sent + " (" + url.QueryEscape(sent) + ")",
		}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write(msg)
	}})
	path := writeConfig(t, t.TempDir(), "1h", accountYAML("acme", f, "    callback_url: "+callbackURL+"\n"))
	p := startExporter(t, nil, "--config.file="+path, "--log.level=debug")
	failures := key("informatica_exporter_refresh_failures_total", "account", "acme", "stage", "export")
	waitFor(t, 20*time.Second, "the export to fail", func() bool { return p.scrape()[failures] >= 1 })

	if sent := sentURL.Load(); sent != callbackURL {
		t.Fatalf("callbackUrl sent %v, want %q", sent, callbackURL)
	}
	_, page := p.get("/")
	if !strings.Contains(page, "Invalid callbackUrl") || !strings.Contains(page, "[REDACTED]") {
		t.Errorf("the landing page does not show the last error with the URL redacted:\n%s", page)
	}
	warnings := testkit.LinesWith(p.logs.String(), "level=warn", "stage=export")
	if len(warnings) == 0 || !strings.Contains(warnings[0], "Invalid callbackUrl") {
		t.Errorf("no warning quotes Informatica's answer:\n%s", p.logs)
	}
	_, metrics := p.get("/metrics")
	for what, text := range map[string]string{"log": p.logs.String(), "landing page": page, "/metrics": metrics} {
		if strings.Contains(text, callbackToken) {
			t.Errorf("the %s holds the callback URL's token", what)
		}
	}
	p.assertNoSecrets(t, f)
}
