package informatica_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

var testRange = informatica.Range{
	Start: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC),
	End:   time.Date(2024, 6, 10, 23, 59, 59, 0, time.UTC),
}

func TestAPIErrorObjects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body               string
		status                   int
		code, message, requestID string
	}{
		{
			"v3", `{"error":{"code":"MTR_003","message":"The date range can be a maximum of 180 days.","requestId":"9hr8e2ObIcChbwYftgDui7","details":null}}`,
			400, "MTR_003", "The date range can be a maximum of 180 days.", "9hr8e2ObIcChbwYftgDui7",
		},
		{
			"v2", `{"code":"UI_10000","description":"User name or password is not valid.","statusCode":403,"@type":"error"}`,
			403, "UI_10000", "User name or password is not valid.", "",
		},
		{
			"v2 numeric code", `{"code":500,"description":"Internal error","statusCode":400}`,
			400, "500", "Internal error", "",
		},
		{"plain text", "Not Found", 404, "", "Not Found", ""},
		{
			"HTML", "<html><head><title>Bad Request</title></head><body><h1>400</h1>\n\n<p>bad   request</p></body></html>",
			400, "", "Bad Request 400 bad request", "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, nil)
			e.srv.Inject(fake.Fault{Endpoint: fake.EndpointExport, Status: tc.status, Body: tc.body})
			_, err := e.client.StartExport(context.Background(), testRange)
			var apiErr *informatica.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v (%T), want an *APIError", err, err)
			}
			if apiErr.StatusCode != tc.status || apiErr.Code != tc.code || apiErr.Message != tc.message || apiErr.RequestID != tc.requestID {
				t.Errorf("APIError %+v, want status %d, code %q, message %q, request ID %q", apiErr, tc.status, tc.code, tc.message, tc.requestID)
			}
			if st := informatica.StageOf(err); st != informatica.StageExport {
				t.Errorf("stage %q, want export", st)
			}
			for _, part := range []string{fmt.Sprint(tc.status), tc.code, tc.message} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not contain %q", err, part)
				}
			}
		})
	}
}

// TestRetries: a request that fails in a way that may pass is sent again,
// with exponential backoff. Starting a job is retried only after failures
// that show no job was started (TestCreateNotRetried has the others), so
// the other failures are tried on the login.
func TestRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		endpoint string
		stage    informatica.Stage
		fault    fake.Fault
		code     string
	}{
		{"429", fake.EndpointExport, informatica.StageExport, fake.Fault{Status: http.StatusTooManyRequests}, "429"},
		{"503", fake.EndpointExport, informatica.StageExport, fake.Fault{Status: http.StatusServiceUnavailable}, "503"},
		{"500", fake.EndpointLogin, informatica.StageLogin, fake.Fault{Status: http.StatusInternalServerError}, "500"},
		{"502", fake.EndpointLogin, informatica.StageLogin, fake.Fault{Status: http.StatusBadGateway, Body: "<html>Bad Gateway</html>"}, "502"},
		{"connection reset", fake.EndpointLogin, informatica.StageLogin, fake.Fault{Reset: true}, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			// Two failures, then the real answer.
			e := newEnv(t, fake.Options{}, nil)
			f := tc.fault
			f.Endpoint, f.Times = tc.endpoint, 2
			e.srv.Inject(f)
			if _, err := e.client.StartExport(context.Background(), testRange); err != nil {
				t.Fatalf("no success after two failures: %v", err)
			}
			if got, want := e.codes(tc.endpoint), []string{tc.code, tc.code, "200"}; !slices.Equal(got, want) {
				t.Errorf("%s answers %v, want %v", tc.endpoint, got, want)
			}
			// Backoff: 2s then 4s, each with at most 20% jitter.
			sleeps := e.clock.Sleeps()
			if len(sleeps) != 2 || sleeps[0] < 1600*time.Millisecond || sleeps[0] > 2400*time.Millisecond ||
				sleeps[1] < 3200*time.Millisecond || sleeps[1] > 4800*time.Millisecond {
				t.Errorf("retry delays %v, want about [2s 4s]", sleeps)
			}

			// Failures beyond MaxAttempts give up.
			e = newEnv(t, fake.Options{}, func(c *informatica.Config) { c.MaxAttempts = 3 })
			f.Times = 10
			e.srv.Inject(f)
			_, err := e.client.StartExport(context.Background(), testRange)
			if err == nil {
				t.Fatal("export succeeded")
			}
			if st := informatica.StageOf(err); st != tc.stage {
				t.Errorf("stage %q, want %q: %v", st, tc.stage, err)
			}
			if errors.Is(err, informatica.ErrJobMayBeRunning) {
				t.Errorf("error %q says a job may be running", err)
			}
			if n := e.srv.Calls(tc.endpoint); n != 3 {
				t.Errorf("%d %s requests, want MaxAttempts = 3", n, tc.endpoint)
			}
			if n := len(e.clock.Sleeps()); n != 2 {
				t.Errorf("%d retry delays, want 2", n)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		value  func(now time.Time) string
		want   time.Duration // 0: give up
	}{
		{"seconds on 429", 429, func(time.Time) string { return "7" }, 7 * time.Second},
		{"seconds on 503", 503, func(time.Time) string { return "120" }, 2 * time.Minute},
		{"HTTP date on 429", 429, func(now time.Time) string { return now.Add(90 * time.Second).Format(http.TimeFormat) }, 90 * time.Second},
		{"HTTP date on 503", 503, func(now time.Time) string { return now.Add(5 * time.Minute).Format(http.TimeFormat) }, 5 * time.Minute},
		{"HTTP date in the past", 503, func(now time.Time) string { return now.Add(-time.Hour).Format(http.TimeFormat) }, -1},
		{"seconds too long", 429, func(time.Time) string { return "301" }, 0},
		{"HTTP date too far", 503, func(now time.Time) string { return now.Add(time.Hour).Format(http.TimeFormat) }, 0},
		// Too large for a time.Duration: it wrapped to a 290 ms wait.
		{"seconds past int64 nanoseconds", 503, func(time.Time) string { return "18446744074" }, 0},
		{"seconds past int64", 429, func(time.Time) string { return "99999999999999999999" }, 0},
		{"HTTP date in year 9999", 503, func(time.Time) string { return "Fri, 31 Dec 9999 23:59:59 GMT" }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, nil)
			e.srv.Inject(fake.Fault{Endpoint: fake.EndpointExport, Handler: func(w http.ResponseWriter, r *http.Request) {
				// The fake's clock is the client's; net/http would stamp
				// the real time.
				w.Header().Set("Date", e.clock.Now().Format(http.TimeFormat))
				w.Header().Set("Retry-After", tc.value(e.clock.Now()))
				w.WriteHeader(tc.status)
			}})
			_, err := e.client.StartExport(context.Background(), testRange)
			sleeps := e.clock.Sleeps()
			if tc.want == 0 {
				if err == nil || !strings.Contains(err.Error(), "Retry-After") {
					t.Errorf("error %v, want one about Retry-After", err)
				}
				if n := e.srv.Calls(fake.EndpointExport); n != 1 || len(sleeps) != 0 {
					t.Errorf("%d requests and delays %v, want 1 request and no delay", n, sleeps)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want < 0 {
				if len(sleeps) != 1 || sleeps[0] != 0 {
					t.Errorf("delays %v, want [0s]", sleeps)
				}
				return
			}
			if !slices.Equal(sleeps, []time.Duration{tc.want}) {
				t.Errorf("delays %v, want [%v]", sleeps, tc.want)
			}
		})
	}
}

func TestNoRetryOn4xx(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 403, 404, 409, 422} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, nil)
			e.srv.Inject(fake.Fault{
				Endpoint: fake.EndpointExport, Status: status, Times: 5,
				Header: http.Header{"Retry-After": {"1"}}, Body: `{"error":{"code":"X","message":"no"}}`,
			})
			_, err := e.client.StartExport(context.Background(), testRange)
			var apiErr *informatica.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != status {
				t.Fatalf("error %v, want an APIError with status %d", err, status)
			}
			if n := e.srv.Calls(fake.EndpointExport); n != 1 {
				t.Errorf("%d export requests, want exactly 1", n)
			}
			if n := e.srv.Calls(fake.EndpointLogin); n != 1 {
				t.Errorf("%d logins, want 1", n)
			}
			if s := e.clock.Sleeps(); len(s) != 0 {
				t.Errorf("slept %v", s)
			}
		})
	}
}

func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	const attempts = 3
	for _, tc := range []struct {
		endpoint string
		stage    informatica.Stage
	}{
		{fake.EndpointLogin, informatica.StageLogin},
		{fake.EndpointExport, informatica.StageExport},
		{fake.EndpointStatus, informatica.StagePoll},
		{fake.EndpointDownload, informatica.StageDownload},
	} {
		t.Run(tc.endpoint, func(t *testing.T) {
			t.Parallel()
			// HTTP timeouts run in real time, so they are short here.
			e := newEnv(t, fake.Options{}, func(c *informatica.Config) {
				if tc.endpoint == fake.EndpointDownload {
					c.DownloadTimeout = 200 * time.Millisecond
				} else {
					c.RequestTimeout = 200 * time.Millisecond
				}
				c.MaxAttempts = attempts
			})
			// The fake would answer 504 after 90s; the client must give up
			// long before, on its own.
			e.srv.Inject(fake.Fault{Endpoint: tc.endpoint, Hang: 90 * time.Second, Times: attempts})
			start := time.Now()
			_, _, err := e.exportDays()
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("export succeeded")
			}
			if st := informatica.StageOf(err); st != tc.stage {
				t.Errorf("stage %q, want %q: %v", st, tc.stage, err)
			}
			// "error", not 504: every attempt ended by the client's timeout.
			// Starting a job is not repeated: the first attempt may have
			// started one.
			want := []string{"error", "error", "error"}
			if tc.endpoint == fake.EndpointExport {
				want = want[:1]
			}
			if got := e.codes(tc.endpoint); !slices.Equal(got, want) {
				t.Errorf("%s answers %v, want %v", tc.endpoint, got, want)
			}
			if elapsed > time.Minute {
				t.Errorf("took %v to give up", elapsed)
			}
		})
	}
}

// TestOnRequest checks that the hook sees every HTTP request once.
func TestOnRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{CreatedFor: 20 * time.Second}, nil)
	e.srv.Inject(
		fake.Fault{Endpoint: fake.EndpointExport, Status: http.StatusServiceUnavailable},
		fake.Fault{Endpoint: fake.EndpointStatus, Status: http.StatusBadGateway},
		fake.Fault{Endpoint: fake.EndpointStatus, Pass: true, Handler: func(http.ResponseWriter, *http.Request) { e.srv.ExpireSessions() }},
	)
	if _, _, err := e.exportDays(); err != nil {
		t.Fatal(err)
	}
	want := []hookCall{
		{"login", "200"},
		{"export", "503"},
		{"export", "200"},
		{"status", "502"},
		{"status", "401"},
		{"login", "200"},
		{"status", "200"}, // CREATED
		{"status", "200"}, // SUCCESS
		{"download", "200"},
	}
	if got := e.Hooks(); !slices.Equal(got, want) {
		t.Errorf("hook calls\n got %v\nwant %v", got, want)
	}
	total := 0
	for _, ep := range []string{"login", "export", "status", "download", "logout"} {
		total += e.srv.Calls(ep)
	}
	if total != len(want) {
		t.Errorf("the fake answered %d requests, the hook saw %d", total, len(want))
	}
	if err := e.client.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.Hooks(); got[len(got)-1] != (hookCall{"logout", "200"}) {
		t.Errorf("last hook call %v, want logout 200", got[len(got)-1])
	}
}

// TestSecretsNeverInErrors runs failing scenarios in which Informatica
// echoes the password and the session ID, and checks that no error (nor the
// partial-export message, which is logged) contains them.
func TestSecretsNeverInErrors(t *testing.T) {
	t.Parallel()

	// echo answers with status and a body made by format from the session
	// ID the request carried and the password.
	echo := func(status int, contentType, format string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body := strings.NewReplacer("SESSION", r.Header.Get("INFA-SESSION-ID"), "PASSWORD", testPassword).Replace(format)
			serve(status, contentType, []byte(body))(w, r)
		}
	}
	// echoLogin echoes what the client posted to the login endpoint.
	echoLogin := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			msg, _ := json.Marshal(map[string]any{"error": map[string]any{
				"code": "IDS_085", "message": "Login failed for request " + string(b), "requestId": testPassword,
			}})
			serve(status, "application/json", msg)(w, r)
		}
	}
	const v3 = `{"error":{"code":"SESSION","message":"session SESSION or password PASSWORD rejected","requestId":"SESSION"}}`
	const v2 = `{"code":"PASSWORD","description":"icSessionId SESSION is not valid (password PASSWORD)","statusCode":400}`
	const html = "<html><body><p>SESSION</p><pre>password=PASSWORD</pre></body></html>"

	for _, tc := range []struct {
		name    string
		faults  []fake.Fault
		outcome *fake.Outcome
		partial bool // the export succeeds, partially
	}{
		{"login rejected, body echoes the request", []fake.Fault{{Endpoint: fake.EndpointLogin, Handler: echoLogin(401)}}, nil, false},
		{"login 500 echoes the request", []fake.Fault{{Endpoint: fake.EndpointLogin, Times: 10, Handler: echoLogin(500)}}, nil, false},
		{"login HTML", []fake.Fault{{Endpoint: fake.EndpointLogin, Handler: echo(403, "text/html", html)}}, nil, false},
		{"login 200 not JSON", []fake.Fault{{Endpoint: fake.EndpointLogin, Handler: echo(200, "text/html", html)}}, nil, false},
		{"export v3", []fake.Fault{{Endpoint: fake.EndpointExport, Handler: echo(400, "application/json", v3)}}, nil, false},
		{"export v2", []fake.Fault{{Endpoint: fake.EndpointExport, Handler: echo(400, "application/json", v2)}}, nil, false},
		{"export 403 about the session", []fake.Fault{{Endpoint: fake.EndpointExport, Times: 2, Handler: echo(403, "application/json", v3)}}, nil, false},
		{"export HTML 502 until giving up", []fake.Fault{{Endpoint: fake.EndpointExport, Times: 10, Handler: echo(502, "text/html", html)}}, nil, false},
		{"export Retry-After too long", []fake.Fault{{Endpoint: fake.EndpointExport, Handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			echo(429, "application/json", v3)(w, r)
		}}}, nil, false},
		{"export 200 broken JSON", []fake.Fault{{Endpoint: fake.EndpointExport, Handler: echo(200, "application/json", `{"jobId":"SESSION","status":PASSWORD`)}}, nil, false},
		{"export FAILED at once", []fake.Fault{{Endpoint: fake.EndpointExport, Handler: echo(200, "application/json", `{"jobId":"j1","status":"FAILED","errorMessage":"SESSION PASSWORD"}`)}}, nil, false},
		{"status 401 twice", []fake.Fault{{Endpoint: fake.EndpointStatus, Times: 2, Handler: echo(401, "application/json", v3)}}, nil, false},
		{"status FAILED", []fake.Fault{{Endpoint: fake.EndpointStatus, Handler: echo(200, "application/json", `{"jobId":"j1","status":"FAILED","errorMessage":"<b>SESSION</b> PASSWORD"}`)}}, nil, false},
		{"status unknown", []fake.Fault{{Endpoint: fake.EndpointStatus, Times: 100, Handler: echo(200, "application/json", `{"jobId":"j1","status":"SESSION"}`)}}, nil, false},
		{"job FAILED", nil, &fake.Outcome{Status: "FAILED", ErrorMessage: "PASSWORD"}, false},
		{"job PARTIAL_SUCCESS", nil, &fake.Outcome{Status: "PARTIAL_SUCCESS", ErrorMessage: "org PASSWORD failed"}, true},
		{"download HTML with 200", []fake.Fault{{Endpoint: fake.EndpointDownload, Handler: echo(200, "text/html", "SESSION "+html)}}, nil, false},
		{"download 404", []fake.Fault{{Endpoint: fake.EndpointDownload, Handler: echo(404, "application/json", v2)}}, nil, false},
		{"download 500 until giving up", []fake.Fault{{Endpoint: fake.EndpointDownload, Times: 10, Handler: echo(500, "application/json", v3)}}, nil, false},
		{"network errors", []fake.Fault{{Endpoint: fake.EndpointExport, Times: 10, Reset: true}}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, nil)
			// The fake echoes the session ID, so a test that logs in must
			// see it issued; fill in the password in outcomes.
			e.srv.Inject(tc.faults...)
			if tc.outcome != nil {
				o := *tc.outcome
				o.ErrorMessage = strings.ReplaceAll(o.ErrorMessage, "PASSWORD", testPassword)
				e.srv.SetOutcomes(o)
			}
			_, res, err := e.exportDays()
			var texts []string
			if tc.partial {
				if err != nil || !res.Partial {
					t.Fatalf("error %v, partial %v; want a partial export", err, res.Partial)
				}
				texts = append(texts, res.Message)
			} else {
				if err == nil {
					t.Fatal("export succeeded")
				}
				texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", unwrapAll(err)))
			}
			secrets := append([]string{testPassword}, e.srv.SessionIDs()...)
			if tc.name != "network errors" && tc.name[:5] != "login" && len(secrets) < 2 {
				t.Fatal("test bug: no session was issued")
			}
			for _, text := range texts {
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Errorf("%q contains the secret %q", text, s)
					}
				}
			}
		})
	}
}

// unwrapAll lists an error and everything it wraps, so that fields of
// wrapped errors (an APIError's Message) are checked too.
func unwrapAll(err error) []any {
	var out []any
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		out = append(out, err)
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		walk(errors.Unwrap(err))
	}
	walk(err)
	return out
}

// TestMalformedLoginAnswerNotQuoted: a broken login answer may hold a
// session ID the client has not learned yet, so the error must not quote it.
func TestMalformedLoginAnswerNotQuoted(t *testing.T) {
	t.Parallel()
	const session = "S3cr3tSess10nIdXyZ0123"
	e := newEnv(t, fake.Options{}, nil)
	e.srv.Inject(fake.Fault{Endpoint: fake.EndpointLogin, Handler: serve(200, "application/json",
		[]byte(`{"products":[{"baseApiUrl":"http://x"}],"userInfo":{"sessionId":"`+session+`"`))})
	_, _, err := e.exportDays()
	if err == nil {
		t.Fatal("export succeeded")
	}
	if informatica.StageOf(err) != informatica.StageLogin {
		t.Errorf("stage = %q, want login", informatica.StageOf(err))
	}
	if strings.Contains(err.Error(), session) {
		t.Errorf("error quotes the session ID: %v", err)
	}
}

// TestRedactionIsVisible: where a secret is removed from a message, the
// message says so rather than silently dropping words.
func TestRedactionIsVisible(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{}, nil)
	e.srv.Inject(fake.Fault{Endpoint: fake.EndpointExport, Handler: serve(400, "application/json",
		[]byte(`{"error":{"code":"X","message":"bad password `+testPassword+`"}}`))})
	_, _, err := e.exportDays()
	if err == nil || !strings.Contains(err.Error(), "bad password [REDACTED]") {
		t.Errorf("error = %v, want the password replaced by [REDACTED]", err)
	}
}
