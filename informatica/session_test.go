package informatica_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

func TestLoginV3(t *testing.T) {
	t.Parallel()
	for _, suffix := range []string{"", "/", "/saas", "/saas/"} {
		t.Run("login_url"+strings.ReplaceAll(suffix, "/", "_"), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.LoginURL += suffix })

			// Capture what the client posts to the login endpoint, then let
			// the fake answer it.
			var loginBody map[string]any
			var contentType, path string
			e.srv.Inject(fake.Fault{Endpoint: fake.EndpointLogin, Pass: true, Handler: func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				json.Unmarshal(b, &loginBody)
				contentType, path = r.Header.Get("Content-Type"), r.URL.Path
				r.Body = io.NopCloser(bytes.NewReader(b))
			}})

			if _, _, err := e.exportDays(); err != nil {
				t.Fatal(err)
			}
			if path != "/saas/public/core/v3/login" {
				t.Errorf("login path %q", path)
			}
			if !strings.HasPrefix(contentType, "application/json") {
				t.Errorf("login Content-Type %q", contentType)
			}
			if loginBody["username"] != testUser || loginBody["password"] != testPassword || len(loginBody) != 2 {
				t.Errorf("login body %v", loginBody)
			}
			if got := e.client.OrgID(); got != e.srv.LoginOrg().ID {
				t.Errorf("OrgID() = %q, want %q", got, e.srv.LoginOrg().ID)
			}

			ids := e.srv.SessionIDs()
			if len(ids) != 1 {
				t.Fatalf("fake issued %d sessions, want 1", len(ids))
			}
			reqs := e.srv.Requests()
			if len(reqs) < 4 || reqs[0].Endpoint != fake.EndpointLogin {
				t.Fatalf("requests %+v", reqs)
			}
			for _, r := range reqs[1:] {
				// The fake routes only <baseApiUrl>/public/..., so a path
				// built from anything but baseApiUrl would not get here.
				if !strings.HasPrefix(r.Path, "/saas/public/core/v3/license/metering/") {
					t.Errorf("%s request to %q", r.Endpoint, r.Path)
				}
				if r.Session != ids[0] {
					t.Errorf("%s request has INFA-SESSION-ID %q, want %q", r.Endpoint, r.Session, ids[0])
				}
			}
		})
	}
}

func TestLoginResponseIncomplete(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"no sessionId", `{"products":[{"name":"Integration Cloud","baseApiUrl":"BASE"}],"userInfo":{"orgId":"o1"}}`, "sessionId"},
		{"empty sessionId", `{"products":[{"baseApiUrl":"BASE"}],"userInfo":{"sessionId":" "}}`, "sessionId"},
		{"no products", `{"userInfo":{"sessionId":"abcdefghijklmnopqrstuv"}}`, "baseApiUrl"},
		{"no baseApiUrl", `{"products":[{"name":"Integration Cloud"}],"userInfo":{"sessionId":"abcdefghijklmnopqrstuv"}}`, "baseApiUrl"},
		{"baseApiUrl not a URL", `{"products":[{"baseApiUrl":"ftp:/nowhere"}],"userInfo":{"sessionId":"abcdefghijklmnopqrstuv"}}`, "baseApiUrl"},
		{"not JSON", `<html>Welcome</html>`, "JSON"},
		{"bad credentials", "", "HTTP 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, nil)
			if tc.body != "" {
				e.srv.Inject(fake.Fault{Endpoint: fake.EndpointLogin, Body: strings.ReplaceAll(tc.body, "BASE", e.srv.URL()+"/saas")})
			} else {
				e.cfg.Password = "wrong-password"
				c, err := informatica.NewClient(e.cfg)
				if err != nil {
					t.Fatal(err)
				}
				e.client = c
			}
			_, _, err := e.exportDays()
			if err == nil {
				t.Fatal("export succeeded")
			}
			if st := informatica.StageOf(err); st != informatica.StageLogin {
				t.Errorf("stage %q, want login: %v", st, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if n := e.srv.Calls(fake.EndpointLogin); n != 1 {
				t.Errorf("%d login calls, want 1", n)
			}
			if n := e.srv.Calls(fake.EndpointExport); n != 0 {
				t.Errorf("%d export calls after a failed login", n)
			}
		})
	}
}

func TestSessionReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{}, nil)
	for i := range 2 {
		if _, _, err := e.exportDays(); err != nil {
			t.Fatalf("export %d: %v", i, err)
		}
	}
	if n := e.srv.Calls(fake.EndpointLogin); n != 1 {
		t.Errorf("%d logins for two exports, want 1", n)
	}
	if n := e.srv.Calls(fake.EndpointExport); n != 2 {
		t.Errorf("%d export calls, want 2", n)
	}
}

func TestSessionRejected(t *testing.T) {
	t.Parallel()

	t.Run("expired while polling", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		e.srv.Inject(fake.Fault{Endpoint: fake.EndpointStatus, Pass: true, Handler: func(http.ResponseWriter, *http.Request) {
			e.srv.ExpireSessions()
		}})
		rows, _, err := e.exportDays()
		if err != nil {
			t.Fatal(err)
		}
		checkRows(t, rows, e.servedRows())
		if n := e.srv.Calls(fake.EndpointLogin); n != 2 {
			t.Errorf("%d logins, want 2", n)
		}
		if n := e.srv.Calls(fake.EndpointExport); n != 1 {
			t.Errorf("%d export calls, want 1: the job must continue", n)
		}
		ids := e.srv.SessionIDs()
		status := e.requests(fake.EndpointStatus)
		if len(ids) != 2 || len(status) != 2 || status[0].Session != ids[0] || status[1].Session != ids[1] {
			t.Errorf("sessions %v, status requests %+v", ids, status)
		}
		if got := e.codes(fake.EndpointStatus); !slices.Equal(got, []string{"401", "200"}) {
			t.Errorf("status codes %v", got)
		}
		for _, r := range e.requests(fake.EndpointDownload) {
			if r.Session != ids[1] {
				t.Errorf("download with session %q, want the new one", r.Session)
			}
		}
	})

	t.Run("expired between exports", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		if _, _, err := e.exportDays(); err != nil {
			t.Fatal(err)
		}
		e.srv.ExpireSessions()
		if _, _, err := e.exportDays(); err != nil {
			t.Fatal(err)
		}
		if n := e.srv.Calls(fake.EndpointLogin); n != 2 {
			t.Errorf("%d logins, want 2", n)
		}
		if got := e.codes(fake.EndpointExport); !slices.Equal(got, []string{"200", "401", "200"}) {
			t.Errorf("export codes %v", got)
		}
	})

	t.Run("401 twice", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		e.srv.Inject(fake.Fault{
			Endpoint: fake.EndpointStatus, Times: 5, Status: http.StatusUnauthorized,
			Body: `{"error":{"code":"AUTH_01","message":"Invalid session ID or the session has expired.","requestId":"r1"}}`,
		})
		_, _, err := e.exportDays()
		var apiErr *informatica.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
			t.Fatalf("error %v, want an APIError with status 401", err)
		}
		if st := informatica.StageOf(err); st != informatica.StagePoll {
			t.Errorf("stage %q, want poll", st)
		}
		if n := e.srv.Calls(fake.EndpointStatus); n != 2 {
			t.Errorf("%d status calls, want 2 (one repeat after logging in again)", n)
		}
		if n := e.srv.Calls(fake.EndpointLogin); n != 2 {
			t.Errorf("%d logins, want 2", n)
		}
	})
}

func TestSessionRejectedMore(t *testing.T) {
	t.Parallel()

	t.Run("403 about the session", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		e.srv.Inject(fake.Fault{
			Endpoint: fake.EndpointExport, Status: http.StatusForbidden,
			Body: `{"error":{"code":"AUTH_02","message":"Session is not valid.","requestId":"r1"}}`,
		})
		if _, _, err := e.exportDays(); err != nil {
			t.Fatal(err)
		}
		if n := e.srv.Calls(fake.EndpointLogin); n != 2 {
			t.Errorf("%d logins, want 2", n)
		}
		if got := e.codes(fake.EndpointExport); !slices.Equal(got, []string{"403", "200"}) {
			t.Errorf("export codes %v", got)
		}
	})

	t.Run("logging in again fails", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		e.srv.Inject(fake.Fault{Endpoint: fake.EndpointStatus, Pass: true, Handler: func(http.ResponseWriter, *http.Request) {
			e.srv.ExpireSessions()
			e.srv.Inject(fake.Fault{Endpoint: fake.EndpointLogin, Times: 10, Status: http.StatusServiceUnavailable})
		}})
		_, _, err := e.exportDays()
		if st := informatica.StageOf(err); st != informatica.StageLogin {
			t.Errorf("error %v at stage %q, want stage login", err, st)
		}
		if n := e.srv.Calls(fake.EndpointLogin); n != 1+4 {
			t.Errorf("%d logins, want 1 and 4 attempts", n)
		}
		if n := e.srv.Calls(fake.EndpointStatus); n != 1 {
			t.Errorf("%d status calls, want 1", n)
		}
	})
}

func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		idle   time.Duration
		logins int
	}{
		{25*time.Minute - time.Second, 1},
		{25 * time.Minute, 2},
		{29 * time.Minute, 2},
	} {
		t.Run(tc.idle.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, nil)
			if _, _, err := e.exportDays(); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(tc.idle)
			if _, _, err := e.exportDays(); err != nil {
				t.Fatal(err)
			}
			if n := e.srv.Calls(fake.EndpointLogin); n != tc.logins {
				t.Errorf("%d logins, want %d", n, tc.logins)
			}
			// The fake keeps sessions for 30 idle minutes: logging in again
			// must happen before a call, not in answer to a 401.
			for _, h := range e.Hooks() {
				if h.Code != "200" {
					t.Errorf("%s answered %s", h.Endpoint, h.Code)
				}
			}
		})
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{}, nil)
	ctx := context.Background()
	if err := e.client.Logout(ctx); err != nil {
		t.Fatalf("logout without a session: %v", err)
	}
	if n := e.srv.Calls(fake.EndpointLogout); n != 0 {
		t.Fatalf("%d logout calls without a session", n)
	}
	if _, _, err := e.exportDays(); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	out := e.requests(fake.EndpointLogout)
	if len(out) != 1 || out[0].Session != e.srv.SessionIDs()[0] || out[0].Path != "/saas/public/core/v3/logout" {
		t.Fatalf("logout requests %+v", out)
	}
	if _, _, err := e.exportDays(); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Calls(fake.EndpointLogin); n != 2 {
		t.Errorf("%d logins, want 2 (log in again after logout)", n)
	}
}
