package informatica_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestShortPasswordRedaction: a password shorter than 8 characters is
// redacted where it stands as a token, in every encoding a server may echo
// it in, and nowhere inside a word, which redacting it would mangle.
func TestShortPasswordRedaction(t *testing.T) {
	t.Parallel()
	for _, password := range []string{"p", `q"é`, "ab cd"} {
		t.Run("words/"+password, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{Password: password}, nil)
			const text = "unexpected EOF; please supply a proper password (abcde, qé, abcdé)"
			e.srv.Inject(fake.Fault{Endpoint: fake.EndpointLogin, Status: 400, Body: text})
			_, err := e.client.StartExport(context.Background(), testRange)
			if err == nil || !strings.Contains(err.Error(), text) || strings.Contains(err.Error(), "[REDACTED]") {
				t.Errorf("error %v, want the answer quoted as it is: %q", err, text)
			}
		})
		for _, enc := range encodings {
			t.Run(enc.name+"/"+password, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, fake.Options{Password: password}, nil)
				e.srv.Inject(fake.Fault{
					Endpoint: fake.EndpointLogin, Status: 401,
					Body: "password=" + enc.encode(password) + " rejected",
				})
				_, err := e.client.StartExport(context.Background(), testRange)
				if err == nil {
					t.Fatal("login succeeded")
				}
				if want := "password=[REDACTED] rejected"; !strings.Contains(err.Error(), want) {
					t.Errorf("error %q, want it to hold %q", err, want)
				}
				if informatica.StageOf(err) != informatica.StageLogin {
					t.Errorf("stage %q, want login", informatica.StageOf(err))
				}
			})
		}
	}
}
