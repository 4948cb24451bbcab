package informatica_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// awkwardPassword has every character some encoding changes.
const awkwardPassword = `p"a\ss&w<o>rd'é+/ `

// encodings are the forms in which a server may echo a secret.
var encodings = []struct {
	name   string
	encode func(string) string
}{
	{"raw", func(s string) string { return s }},
	{"JSON", func(s string) string { return jsonString(s, true) }},
	{"JSON without HTML escapes", func(s string) string { return jsonString(s, false) }},
	{"JSON with escaped slashes", func(s string) string { return strings.ReplaceAll(jsonString(s, false), "/", `\/`) }},
	{"JSON ASCII only", func(s string) string { return escapeRunes(jsonString(s, false), false, `\u%04x`) }},
	{"JSON all escaped", func(s string) string { return escapeRunes(s, true, `\u%04x`) }},
	{"JSON all escaped, upper hex", func(s string) string { return escapeRunes(s, true, `\u%04X`) }},
	{"JSON in JSON", func(s string) string { return jsonString(jsonString(s, true), true) }},
	{"QueryEscape", url.QueryEscape},
	{"QueryEscape, lower hex", func(s string) string { return lowerHex(url.QueryEscape(s)) }},
	{"PathEscape", url.PathEscape},
	{"PathEscape, lower hex", func(s string) string { return lowerHex(url.PathEscape(s)) }},
	{"all percent-encoded", func(s string) string { return percentAll(s) }},
	{"Windows-1252 percent-encoded", func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "%C3%A9", "%E9") }},
	{"HTML", html.EscapeString},
	{"HTML decimal entities", func(s string) string { return escapeRunes(s, true, "&#%d;") }},
	{"HTML hex entities", func(s string) string { return escapeRunes(s, true, "&#x%x;") }},
	{"HTML named entities", func(s string) string {
		return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
	}},
}

func jsonString(s string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	enc.Encode(s)
	out := strings.TrimSpace(b.String())
	return out[1 : len(out)-1]
}

// escapeRunes writes runes in format: all of them, or only non-ASCII ones.
func escapeRunes(s string, all bool, format string) string {
	var b strings.Builder
	for _, r := range s {
		if all || r >= utf8.RuneSelf {
			fmt.Fprintf(&b, format, r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

var percentHex = regexp.MustCompile(`%[0-9A-F]{2}`)

func lowerHex(s string) string { return percentHex.ReplaceAllStringFunc(s, strings.ToLower) }

// checkNoSecret fails when text holds secret in any of its encodings, or
// holds no redaction marker.
func checkNoSecret(t *testing.T, text, secret string) {
	t.Helper()
	if !strings.Contains(text, "[REDACTED]") {
		t.Errorf("%q has no [REDACTED]", text)
	}
	for _, enc := range encodings {
		form := enc.encode(secret)
		// Shorten collapses spaces and drops what looks like markup, so
		// the form may survive only in that shape.
		for _, f := range []string{form, informatica.Shorten(form, 1000), strings.TrimSpace(form)} {
			if f != "" && strings.Contains(text, f) {
				t.Errorf("%q contains the secret as %s: %q", text, enc.name, f)
			}
		}
	}
}

// TestPasswordRedactedInEveryEncoding: a login server that echoes the
// password, in any encoding, does not get it into an error.
func TestPasswordRedactedInEveryEncoding(t *testing.T) {
	t.Parallel()
	answers := []struct {
		name   string
		status int
		ct     string
		body   func(echo string) []byte
	}{
		{"text 401", 401, "text/plain", func(echo string) []byte { return []byte("login failed for password=" + echo + " (try again)") }},
		{"HTML 400", 400, "text/html", func(echo string) []byte { return []byte("<html><body><p>password " + echo + "</p></body></html>") }},
		{"v3 403", 403, "application/json", func(echo string) []byte {
			b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": "IDS_085", "message": "bad password " + echo + " given", "requestId": echo}})
			return b
		}},
		{"v2 400", 400, "application/json", func(echo string) []byte {
			b, _ := json.Marshal(map[string]any{"@type": "error", "code": echo, "description": "password " + echo, "statusCode": 400})
			return b
		}},
		{"v3 with 200", 200, "application/json", func(echo string) []byte {
			b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": "IDS_085", "message": "bad password " + echo}})
			return b
		}},
		{"500 then giving up", 500, "text/plain", func(echo string) []byte { return []byte("upstream said: " + echo) }},
	}
	for _, enc := range encodings {
		for _, a := range answers {
			t.Run(enc.name+"/"+a.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, fake.Options{Password: awkwardPassword}, nil)
				e.srv.Inject(fake.Fault{
					Endpoint: fake.EndpointLogin, Times: 10,
					Handler: serve(a.status, a.ct, a.body(enc.encode(awkwardPassword))),
				})
				_, _, err := e.exportDays()
				if err == nil {
					t.Fatal("export succeeded")
				}
				checkNoSecret(t, err.Error(), awkwardPassword)
				var apiErr *informatica.APIError
				if errors.As(err, &apiErr) {
					checkNoSecret(t, fmt.Sprintf("%q %q %q", apiErr.Code, apiErr.Message, apiErr.RequestID), awkwardPassword)
				}
			})
		}
	}
}

// TestSessionRedactedInEveryEncoding: a session ID echoed in any encoding
// does not get into an error either.
func TestSessionRedactedInEveryEncoding(t *testing.T) {
	t.Parallel()
	for _, enc := range encodings {
		t.Run(enc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, nil)
			e.srv.Inject(fake.Fault{Endpoint: fake.EndpointExport, Handler: func(w http.ResponseWriter, r *http.Request) {
				serve(400, "text/plain", []byte("session "+enc.encode(r.Header.Get("INFA-SESSION-ID"))+" is not allowed"))(w, r)
			}})
			_, _, err := e.exportDays()
			if err == nil {
				t.Fatal("export succeeded")
			}
			checkNoSecret(t, err.Error(), e.srv.SessionIDs()[0])
		})
	}
}

// TestSecretCutOffAtReadLimit: an answer is read up to a limit; a secret
// that the limit cuts in two is redacted all the same, not quoted in part.
func TestSecretCutOffAtReadLimit(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10 // what the client reads of an error answer
	for _, tc := range []struct {
		endpoint string
		status   int
	}{
		{fake.EndpointExport, http.StatusBadRequest},
		{fake.EndpointDownload, http.StatusOK}, // an error page instead of the ZIP
	} {
		t.Run(tc.endpoint, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, nil)
			e.srv.Inject(fake.Fault{Endpoint: tc.endpoint, Handler: func(w http.ResponseWriter, r *http.Request) {
				// White space, which Shorten collapses, then the session
				// ID across the limit.
				serve(tc.status, "text/html", []byte(strings.Repeat(" ", limit-8)+r.Header.Get("INFA-SESSION-ID")+" and more"))(w, r)
			}})
			_, _, err := e.exportDays()
			if err == nil {
				t.Fatal("export succeeded")
			}
			if id := e.srv.SessionIDs()[0]; strings.Contains(err.Error(), id[:8]) || !strings.Contains(err.Error(), "[REDACTED]") {
				t.Errorf("error %q quotes the start of the session ID %q", err, id[:8])
			}
		})
	}
}
