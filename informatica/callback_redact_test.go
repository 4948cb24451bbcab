package informatica_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestCallbackURLRedacted: an answer that echoes the job's callbackUrl, in
// any encoding, whole or as its path under another spelling of the host,
// does not get the URL's token into the error.
func TestCallbackURLRedacted(t *testing.T) {
	t.Parallel()
	const token = "Zm9vYmFyLXRva2Vu" // testCallbackURL's
	echoes := map[string]func(sent string) string{
		"whole URL": func(sent string) string { return sent },
		"host in upper case": func(sent string) string {
			return strings.Replace(sent, "exporter.example.com", "EXPORTER.EXAMPLE.COM:443", 1)
		},
		"path alone":             func(sent string) string { return strings.TrimPrefix(sent, "https://exporter.example.com") },
		"path with trailing '/'": func(sent string) string { return strings.TrimPrefix(sent, "https://exporter.example.com") + "/" },
	}
	for _, enc := range encodings {
		for name, echo := range echoes {
			t.Run(enc.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.CallbackURL = testCallbackURL })
				e.srv.Inject(fake.Fault{Endpoint: fake.EndpointExport, Handler: func(w http.ResponseWriter, r *http.Request) {
					var body map[string]any
					json.NewDecoder(r.Body).Decode(&body)
					sent, _ := body["callbackUrl"].(string)
					msg, _ := json.Marshal(map[string]any{"error": map[string]any{
						"code": "MTR_010", "message": "callbackUrl " + enc.encode(echo(sent)) + " is not reachable",
					}})
					serve(http.StatusBadRequest, "application/json", msg)(w, r)
				}})
				_, err := e.client.StartExport(context.Background(), testRange)
				if err == nil {
					t.Fatal("export started")
				}
				// Shorten may cut a long escaped echo before the redaction.
				msg := err.Error()
				if !strings.Contains(msg, "callbackUrl ") || !strings.Contains(msg, "[REDACTED]") && !strings.HasSuffix(msg, "…") {
					t.Errorf("error %q, want Informatica's message with the URL's path redacted", msg)
				}
				for _, form := range encodings {
					if strings.Contains(msg, form.encode(token)) || strings.Contains(msg, form.encode("/-/callback/")) {
						t.Errorf("error %q holds the callback URL's path as %s", msg, form.name)
					}
				}
			})
		}
	}
}
