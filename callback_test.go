package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// callbackToken is the unguessable part of the callback URLs of the tests;
// it must never reach a log line or a page.
const callbackToken = "q8Vt3ZcN0pLr6WbY2mXe"

// callbackPoll is the poll interval of the callback tests: minutes, as
// docs/callbacks.md recommends with callbacks.
const callbackPoll = 10 * time.Minute

// eventLog records what happened, in order, across the fake, the relay
// and the test.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// relay is the public face of the exporter for Informatica: a reverse
// proxy that passes on /-/callback and the paths below it, and nothing else,
// to the exporter, optionally adding the basic-auth credentials that
// Informatica cannot send. It is started before the exporter, whose
// configuration needs its URL; requests wait until the exporter is known.
type relay struct {
	*httptest.Server
	events *eventLog
	ready  chan struct{}
	target *url.URL
	// user and password, when set, are added as basic auth.
	user, password string
	transport      http.RoundTripper
}

func newRelay(t *testing.T, events *eventLog) *relay {
	r := &relay{events: events, ready: make(chan struct{})}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(r.target)
			pr.Out.Header.Del("Authorization")
			if r.user != "" {
				pr.Out.SetBasicAuth(r.user, r.password)
			}
		},
		Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if r.transport != nil {
				return r.transport.RoundTrip(req)
			}
			return http.DefaultTransport.RoundTrip(req)
		}),
	}
	mux := http.NewServeMux()
	forward := func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-r.ready:
		case <-req.Context().Done():
			return
		}
		events.add("callback")
		proxy.ServeHTTP(w, req)
	}
	// Only the callback endpoint is public; /metrics and the rest are not.
	mux.HandleFunc(callbackPath, forward)
	mux.HandleFunc(callbackPath+"/", forward)
	r.Server = httptest.NewServer(mux)
	t.Cleanup(r.Close)
	return r
}

// forwardTo sets the exporter's URL and lets requests through.
func (r *relay) forwardTo(t *testing.T, exporterURL string) {
	u, err := url.Parse(exporterURL)
	if err != nil {
		t.Fatal(err)
	}
	r.target = u
	close(r.ready)
}

// callbackURL is what the account's callback_url is set to.
func (r *relay) callbackURL() string { return r.URL + callbackPath + "/" + callbackToken }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// callbackSetup is an exporter whose account's poller sleeps on a clock
// that only the test moves (so that nothing but a callback or the test can
// make it poll), against a fake whose jobs age on a second clock of the
// test's, with every status poll and download logged as an event.
type callbackSetup struct {
	f         *fake.Server
	p         *exporterProcess
	relay     *relay
	events    *eventLog
	pollClock *testkit.StepClock
	jobClock  *testkit.StepClock
	start     time.Time
}

// startCallbackSetup starts the fake, the relay and the exporter; with
// callback, the account's callback_url points at the relay. args are more
// exporter flags.
func startCallbackSetup(t *testing.T, callback bool, args ...string) *callbackSetup {
	t.Helper()
	s := &callbackSetup{events: &eventLog{}, start: time.Now().UTC().Truncate(time.Second)}
	s.pollClock, s.jobClock = testkit.NewStepClock(s.start), testkit.NewStepClock(s.start)
	// A job that ends after 2 s, on the job clock.
	s.f = startFake(t, fake.Options{CreatedFor: 500 * time.Millisecond, ProcessingFor: 1500 * time.Millisecond, JobClock: s.jobClock.Now})
	for _, ep := range []string{fake.EndpointStatus, fake.EndpointDownload} {
		s.f.Inject(fake.Fault{Endpoint: ep, Times: persistent, Pass: true, Handler: func(http.ResponseWriter, *http.Request) { s.events.add(ep) }})
	}
	s.relay = newRelay(t, s.events)
	extra := ""
	if callback {
		extra = "    callback_url: " + s.relay.callbackURL() + "\n"
	}
	dir := t.TempDir()
	path := writeFile(t, dir, "config.yml", "accounts:\n"+accountYAML("acme", s.f, extra)+fmt.Sprintf(`refresh:
  interval: 1h
  lookback: 45d
  poll_interval: %s
  job_timeout: 30m
  max_age: 26h
`, callbackPoll))
	adjust := func(set *collector.Settings) {
		for i := range set.Accounts {
			set.Accounts[i].Client.Clock = s.pollClock
		}
	}
	s.p = startExporter(t, adjust, append([]string{"--config.file=" + path, "--log.level=debug"}, args...)...)
	return s
}

// waitForPoller waits until the account's job is in flight and its poller
// sleeps until its first poll, and returns the job's ID.
func (s *callbackSetup) waitForPoller(t *testing.T) string {
	t.Helper()
	waitFor(t, patience, "the poller to wait for its first poll", func() bool { return len(s.pollClock.Sleeping()) == 1 })
	if got, want := s.pollClock.Sleeping()[0], s.start.Add(callbackPoll); !got.Equal(want) {
		t.Fatalf("the first poll is due at %s, want %s (poll_interval)", got.Sub(s.start), callbackPoll)
	}
	jobs := s.f.JobIDs()
	if len(jobs) != 1 {
		t.Fatalf("jobs %v, want one", jobs)
	}
	return jobs[0]
}

// endJob ends the job at Informatica, 2 s after it started.
func (s *callbackSetup) endJob() { s.jobClock.Advance(2 * time.Second) }

func (s *callbackSetup) status() int    { return s.f.Calls(fake.EndpointStatus) }
func (s *callbackSetup) downloads() int { return s.f.Calls(fake.EndpointDownload) }

// assertNoToken checks that the callback URL's token is nowhere in the log.
func (s *callbackSetup) assertNoToken(t *testing.T) {
	t.Helper()
	if strings.Contains(s.p.logs.String(), callbackToken) {
		t.Errorf("the log holds the callback URL's token")
	}
}

func callbacks(got map[string]float64, result string) float64 {
	return got[key("informatica_exporter_callbacks_total", "result", result)]
}

// TestCallbackWakesPoller measures what a callback changes, with a
// poll_interval of 10 minutes and a job that ends after 2 s. With a
// callback_url, Informatica's post wakes the poller and the usage is
// served at once: the test asserts that the one status poll and the
// download come after the callback, and logs how long after the job's end
// the usage was served. Without one (the control), the job's end changes
// nothing: no poll and no download happen until the first poll is due,
// 10 minutes after the job started. The poller's clock is the test's, so no
// outcome depends on the machine's speed.
func TestCallbackWakesPoller(t *testing.T) {
	up := key("informatica_up", "account", "acme")
	t.Run("with callback", func(t *testing.T) {
		t.Parallel()
		s := startCallbackSetup(t, true)
		s.relay.forwardTo(t, s.p.url)
		s.waitForPoller(t)
		before := s.p.scrape()
		for _, result := range []string{"matched", "unmatched", "invalid"} {
			if v, ok := before[key("informatica_exporter_callbacks_total", "result", result)]; !ok || v != 0 {
				t.Errorf("callbacks_total{result=%q} = %v (present %v) before any callback, want 0", result, v, ok)
			}
		}

		s.endJob()
		ended := time.Now()
		if n := s.f.DeliverCallbacks(); n != 1 {
			t.Fatalf("the fake posted %d callbacks at the job's end, want 1", n)
		}
		var got map[string]float64
		waitFor(t, patience, "the usage to be served", func() bool {
			got = s.p.scrape()
			return got[up] == 1
		})
		latency := time.Since(ended)

		if ev := s.events.list(); !slices.Equal(ev, []string{"callback", fake.EndpointStatus, fake.EndpointDownload}) {
			t.Errorf("events %v, want the callback, then one status poll, then the download", ev)
		}
		if cb := s.f.Callbacks(); len(cb) != 1 || cb[0].Code != http.StatusAccepted || cb[0].Status != "SUCCESS" ||
			!strings.HasSuffix(cb[0].URL, "/-/callback/"+callbackToken) {
			t.Errorf("callbacks posted %+v, want one SUCCESS accepted with 202 at the callback URL", cb)
		}
		if callbacks(got, "matched") != 1 || callbacks(got, "unmatched") != 0 || callbacks(got, "invalid") != 0 {
			t.Errorf("callbacks_total matched=%v unmatched=%v invalid=%v, want 1, 0, 0",
				callbacks(got, "matched"), callbacks(got, "unmatched"), callbacks(got, "invalid"))
		}
		if s.status() != 1 || s.downloads() != 1 {
			t.Errorf("%d status polls and %d downloads, want 1 and 1", s.status(), s.downloads())
		}
		if len(s.p.logs.Lines("level=debug", "Callback for an export job in flight")) != 1 {
			t.Errorf("no debug line says the callback woke the poller:\n%s", s.p.logs)
		}
		t.Logf("CALLBACK poll_interval=%s job=2s: usage served %s after the job's end (from the fake's post to a scrape showing informatica_up 1)",
			callbackPoll, latency.Round(time.Millisecond))
		s.p.assertNoSecrets(t, s.f)
		s.assertNoToken(t)
	})
	t.Run("without callback", func(t *testing.T) {
		t.Parallel()
		s := startCallbackSetup(t, false)
		s.waitForPoller(t)
		s.endJob()
		if n := s.f.DeliverCallbacks(); n != 0 {
			t.Errorf("the fake posted %d callbacks for a job without callbackUrl", n)
		}
		for _, r := range s.f.Requests() {
			if _, ok := r.Body["callbackUrl"]; ok && r.Endpoint == fake.EndpointExport {
				t.Errorf("callbackUrl sent without callback_url: %v", r.Body)
			}
		}
		// The job has ended at Informatica; the poller still sleeps, so
		// nothing is polled or downloaded before its first poll.
		if s.status() != 0 || s.downloads() != 0 || len(s.pollClock.Sleeping()) != 1 {
			t.Fatalf("after the job's end: %d status polls, %d downloads, poller sleeping %v; want none, none, until its poll",
				s.status(), s.downloads(), s.pollClock.Sleeping())
		}
		if got := s.p.scrape(); got[up] != 0 {
			t.Errorf("informatica_up = %v before the first poll, want 0", got[up])
		}
		s.pollClock.Advance(callbackPoll)
		waitFor(t, patience, "the usage to be served", func() bool { return s.p.scrape()[up] == 1 })
		if ev := s.events.list(); !slices.Equal(ev, []string{fake.EndpointStatus, fake.EndpointDownload}) {
			t.Errorf("events %v, want the first poll, then the download", ev)
		}
		t.Logf("CONTROL poll_interval=%s job=2s without callback: usage served only after the first poll, %s after the job started (%s after its end)",
			callbackPoll, callbackPoll, callbackPoll-2*time.Second)
		s.p.assertNoSecrets(t, s.f)
	})
}

// post sends a callback to the exporter and returns the status code and
// the Allow header.
func post(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Allow")
}

// TestCallbackEndpoint sends /-/callback what anyone on the network could:
// other methods, garbage, oversized bodies, JSON without a job ID, unknown
// job IDs. None of it reaches Informatica; only a well-formed callback that
// names the job in flight wakes its poller, wherever the ID sits.
func TestCallbackEndpoint(t *testing.T) {
	s := startCallbackSetup(t, true)
	s.relay.forwardTo(t, s.p.url)
	job := s.waitForPoller(t)
	base := s.p.url + callbackPath

	for _, path := range []string{"", "/", "/" + callbackToken} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			if code, allow := post(t, method, base+path, `{"jobId":"`+job+`"}`); code != http.StatusMethodNotAllowed || allow != http.MethodPost {
				t.Errorf("%s %s = %d (Allow %q), want 405 with Allow: POST", method, callbackPath+path, code, allow)
			}
		}
	}
	if code, _ := post(t, http.MethodPost, s.p.url+"/-/callbacks", `{"jobId":"`+job+`"}`); code != http.StatusNotFound {
		t.Errorf("POST /-/callbacks = %d, want 404: only /-/callback and below take callbacks", code)
	}

	status := func(result string, n int) string {
		return fmt.Sprintf(`{"jobId":%q,"status":"SUCCESS","n":%d}`, result, n)
	}
	// 64 KiB exactly is taken, one byte more is not.
	padded := func(size int) string {
		head := `{"jobId":"4l1eKlA9ngChmu6gdv3FKs","pad":"`
		return head + strings.Repeat("x", size-len(head)-2) + `"}`
	}
	for _, c := range []struct {
		name, body string
		want       int
	}{
		{"garbage", "this is not JSON", http.StatusBadRequest},
		{"empty body", "", http.StatusBadRequest},
		{"truncated JSON", `{"jobId":"` + job, http.StatusBadRequest},
		{"JSON and more", `{"jobId":"` + job + `"} {}`, http.StatusBadRequest},
		{"over 64 KiB", padded(64<<10 + 1), http.StatusRequestEntityTooLarge},
		{"64 KiB, unknown job", padded(64 << 10), http.StatusAccepted},
		{"unknown job", status("cYjwJNEF7OckWEmkSC1tSI", 1), http.StatusAccepted},
		{"unknown jobID", `{"jobID":"cYjwJNEF7OckWEmkSC1tSI"}`, http.StatusAccepted},
		{"no job ID", `{"status":"SUCCESS","orgId":"4wMFqGlxAKVlIFTixlTSOY"}`, http.StatusAccepted},
		{"job ID two levels down", `{"a":{"b":{"jobId":"` + job + `"}}}`, http.StatusAccepted},
		{"job ID not a string", `{"jobId":12345}`, http.StatusAccepted},
		{"null", `null`, http.StatusAccepted},
		{"array", `[1,"two",{"id":"x"}]`, http.StatusAccepted},
		{"a session-looking ID", `{"jobId":"` + strings.Repeat("S", 22) + `"}`, http.StatusAccepted},
	} {
		if code, _ := post(t, http.MethodPost, base+"/"+callbackToken, c.body); code != c.want {
			t.Errorf("%s: %d, want %d", c.name, code, c.want)
		}
	}
	got := s.p.scrape()
	if callbacks(got, "invalid") != 5 || callbacks(got, "unmatched") != 9 || callbacks(got, "matched") != 0 {
		t.Errorf("callbacks_total invalid=%v unmatched=%v matched=%v, want 5, 9, 0",
			callbacks(got, "invalid"), callbacks(got, "unmatched"), callbacks(got, "matched"))
	}
	// The poller sleeps on the test's clock: nothing but a wake could have
	// made it poll.
	if s.status() != 0 {
		t.Fatalf("%d status polls after callbacks that name no job in flight, want 0", s.status())
	}

	// The job's ID, spelled and placed as the body may have it, wakes the
	// poller each time (the job still runs, and the rate limit allows two).
	for i, body := range []string{
		`{"job":{"JOBID":" ` + job + "\\n\"}}",
		`[{"id":"` + job + `"}]`,
	} {
		if code, _ := post(t, http.MethodPost, base, body); code != http.StatusAccepted {
			t.Errorf("callback %s: %d, want 202", body, code)
		}
		waitFor(t, patience, "the woken poll", func() bool { return s.status() == i+1 })
	}
	if got := s.p.scrape(); callbacks(got, "matched") != 2 {
		t.Errorf("callbacks_total matched=%v, want 2", callbacks(got, "matched"))
	}
	s.p.assertNoSecrets(t, s.f)
	s.assertNoToken(t)
}

// TestCallbackFlood: a hundred callbacks for the job in flight cost at most
// two polls beyond the one the job needs, and the job is still served.
func TestCallbackFlood(t *testing.T) {
	s := startCallbackSetup(t, true)
	s.relay.forwardTo(t, s.p.url)
	job := s.waitForPoller(t)
	body, _ := json.Marshal(map[string]string{"jobId": job, "status": "PROCESSING"})
	const flood = 100
	var wg sync.WaitGroup
	codes := make(chan int, flood)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range flood / 4 {
				resp, err := http.Post(s.relay.callbackURL(), "application/json", strings.NewReader(string(body)))
				if err != nil {
					t.Errorf("callback: %v", err)
					return
				}
				resp.Body.Close()
				codes <- resp.StatusCode
			}
		}()
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusAccepted {
			t.Errorf("a callback of the flood got %d, want 202", code)
		}
	}

	// The job ends and Informatica posts; then the test plays the poller's
	// clock forward until the usage is served, in case the flood has spent
	// the wakes the rate limit allows.
	s.endJob()
	s.f.DeliverCallbacks()
	up := key("informatica_up", "account", "acme")
	waitFor(t, patience, "the usage to be served", func() bool {
		if s.p.scrape()[up] == 1 {
			return true
		}
		if sleeping := s.pollClock.Sleeping(); len(sleeping) > 0 {
			s.pollClock.AdvanceTo(sleeping[0])
		}
		return false
	})
	got := s.p.scrape()
	if n := callbacks(got, "matched") + callbacks(got, "unmatched"); n != flood+1 || callbacks(got, "matched") < flood {
		t.Errorf("callbacks_total matched=%v unmatched=%v, want %d in all, at least %d matched",
			callbacks(got, "matched"), callbacks(got, "unmatched"), flood+1, flood)
	}
	if s.status() > 3 {
		t.Errorf("%d status polls for %d callbacks, want at most 3: the job's own and 2 the rate limit allows", s.status(), flood+1)
	}
	t.Logf("FLOOD %d callbacks for one job: %d status polls", flood+1, s.status())
	s.p.assertNoSecrets(t, s.f)
	s.assertNoToken(t)
}

// TestCallbackBehindBasicAuth: with --web.config.file requiring basic auth
// (and TLS), Informatica cannot authenticate; a reverse proxy that exposes
// only /-/callback and adds the credentials lets its callbacks in, as
// docs/callbacks.md describes.
func TestCallbackBehindBasicAuth(t *testing.T) {
	webConfig, tr := webConfigTLSBasicAuth(t, map[string]string{"prometheus": "scrape-password", "informatica": "callback-password"})
	s := startCallbackSetup(t, true, "--web.config.file="+webConfig)
	s.relay.user, s.relay.password, s.relay.transport = "informatica", "callback-password", tr
	exporterURL := strings.Replace(s.p.url, "http://", "https://", 1)
	s.relay.forwardTo(t, exporterURL)
	s.waitForPoller(t)

	client := &http.Client{Transport: tr, Timeout: time.Minute}
	do := func(method, url, user, password string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(`{"jobId":"cYjwJNEF7OckWEmkSC1tSI"}`))
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// Informatica, on its own, is refused; through the proxy, only the
	// callback endpoint is reachable.
	if code, _ := do(http.MethodPost, exporterURL+callbackPath, "", ""); code != http.StatusUnauthorized {
		t.Errorf("a callback without credentials = %d, want 401", code)
	}
	if code, _ := do(http.MethodGet, s.relay.URL+"/metrics", "", ""); code != http.StatusNotFound {
		t.Errorf("GET /metrics through the proxy = %d, want 404", code)
	}
	if code, _ := do(http.MethodGet, s.relay.callbackURL(), "", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET of the callback URL through the proxy = %d, want 405 from the exporter", code)
	}

	s.endJob()
	if n := s.f.DeliverCallbacks(); n != 1 {
		t.Fatalf("the fake posted %d callbacks, want 1", n)
	}
	if cb := s.f.Callbacks(); cb[0].Code != http.StatusAccepted {
		t.Errorf("the callback through the proxy got %d (%s), want 202", cb[0].Code, cb[0].Err)
	}
	scrape := func() string {
		_, body := do(http.MethodGet, exporterURL+"/metrics", "prometheus", "scrape-password")
		return body
	}
	waitFor(t, patience, "the usage to be served", func() bool {
		return strings.Contains(scrape(), `informatica_up{account="acme"} 1`)
	})
	metrics := scrape()
	if !strings.Contains(metrics, `informatica_exporter_callbacks_total{result="matched"} 1`) {
		t.Errorf("the callback through the proxy did not match:\n%s", testkit.LinesWith(metrics, "callbacks_total"))
	}
	if s.status() != 1 {
		t.Errorf("%d status polls, want 1: the one the callback woke", s.status())
	}
	_, page := do(http.MethodGet, exporterURL+"/", "prometheus", "scrape-password")
	secrets := append([]string{s.f.Password(), callbackToken, "callback-password"}, s.f.SessionIDs()...)
	for what, text := range map[string]string{"log": s.p.logs.String(), "/metrics": metrics, "landing page": page} {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("the %s contains the secret %q", what, secret)
			}
		}
	}
}

// TestDemoCallback runs the demo with a callback URL: the simulated
// Informatica posts each job's status when the job ends, by itself, and the
// usage is served.
func TestDemoCallback(t *testing.T) {
	events := &eventLog{}
	r := newRelay(t, events)
	p := startExporter(t, nil, "--demo", "--demo.callback-url="+r.callbackURL(), "--log.level=debug")
	r.forwardTo(t, p.url)
	var got map[string]float64
	waitFor(t, patience, "usage and a callback", func() bool {
		got = p.scrape()
		return got[key("informatica_up", "account", "demo")] == 1 && callbacks(got, "matched")+callbacks(got, "unmatched") >= 1
	})
	t.Logf("demo with callback: callbacks matched=%v unmatched=%v, status polls=%v", callbacks(got, "matched"), callbacks(got, "unmatched"),
		got[key("informatica_exporter_api_requests_total", "account", "demo", "code", "200", "endpoint", "status")])
	if strings.Contains(p.logs.String(), callbackToken) {
		t.Errorf("the log holds the callback URL's token")
	}
}
