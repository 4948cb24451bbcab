package informatica_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// testCallbackURL carries a token in its path, as users are told to do.
const testCallbackURL = "https://exporter.example.com/-/callback/Zm9vYmFyLXRva2Vu"

// TestCallbackURLSent: every kind of export job carries callbackUrl with
// exactly the configured value, and none does without one.
func TestCallbackURLSent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		callback string
		api      informatica.SummaryAPI
	}{
		{"all_linked_orgs_across_region with callback", testCallbackURL, informatica.AllLinkedOrgsAcrossRegion},
		{"export_metering_data with callback", testCallbackURL, informatica.ExportMeteringData},
		{"without callback", "", informatica.AllLinkedOrgsAcrossRegion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, func(c *informatica.Config) {
				c.CallbackURL, c.SummaryAPI = tc.callback, tc.api
			})
			if _, _, err := e.exportDays(); err != nil {
				t.Fatal(err)
			}
			to := e.clock.Now()
			if _, err := e.client.ExportProjectUsage(context.Background(), day(to).AddDate(0, 0, -5), to,
				func(*informatica.ProjectRow) error { return nil }); err != nil {
				t.Fatal(err)
			}
			reqs := e.requests(fake.EndpointExport)
			if len(reqs) != 2 {
				t.Fatalf("%d export requests, want a summary and a project job", len(reqs))
			}
			for _, r := range reqs {
				got, sent := r.Body["callbackUrl"]
				switch {
				case tc.callback == "" && sent:
					t.Errorf("%s: callbackUrl %q sent without a callback URL configured", r.Path, got)
				case tc.callback != "" && got != tc.callback:
					t.Errorf("%s: callbackUrl = %v (sent %v), want %q", r.Path, got, sent, tc.callback)
				}
			}
		})
	}
}

// TestCallbackURLChecked: a callback URL must be http(s) with a host and no
// credentials, and the error never quotes it: its path may hold a token.
func TestCallbackURLChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"ftp://exporter.example.com/-/callback/s3cr3t-t0ken", `not an http(s) URL: scheme "ftp"`},
		{"exporter.example.com/-/callback/s3cr3t-t0ken", `not an http(s) URL: scheme ""`},
		{"https:///-/callback/s3cr3t-t0ken", "no host"},
		{"https://user:pw@exporter.example.com/-/callback/s3cr3t-t0ken", "must not hold credentials"},
		{"https://exporter.example.com/%zz/s3cr3t-t0ken", "not a URL"},
	} {
		_, err := informatica.NewClient(informatica.Config{LoginURL: "https://dm-us.informaticacloud.com", CallbackURL: tc.url})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "callback URL: ") {
			t.Errorf("callback URL %s: error %v, want one starting \"callback URL: \" saying %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t-t0ken") {
			t.Errorf("the error quotes the callback URL: %v", err)
		}
	}
	if _, err := informatica.NewClient(informatica.Config{LoginURL: "https://dm-us.informaticacloud.com", CallbackURL: testCallbackURL}); err != nil {
		t.Errorf("a good callback URL is refused: %v", err)
	}
}

// TestPollIntervalLongerThanTwoMinutes: a poll interval over the default
// maximum of 2 minutes is kept for every poll, not cut back to 2 minutes.
func TestPollIntervalLongerThanTwoMinutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{CreatedFor: 5 * time.Minute, ProcessingFor: 20 * time.Minute}, func(c *informatica.Config) {
		c.PollInterval, c.JobTimeout = 10*time.Minute, time.Hour
	})
	if _, _, err := e.exportDays(); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{10 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	if got := e.clock.Sleeps(); !slices.Equal(got, want) {
		t.Errorf("poll delays %v, want %v", got, want)
	}
}

// callbackReceiver is the test's stand-in for the exporter's callback
// endpoint: it wakes the client's poller of the job a post names.
type callbackReceiver struct {
	*httptest.Server
	client atomic.Pointer[informatica.Client]
	posts  atomic.Int64
	woken  atomic.Int64
}

func newCallbackReceiver(t *testing.T) *callbackReceiver {
	r := &callbackReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var st informatica.JobStatus
		body, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(body, &st); err != nil {
			t.Errorf("the fake posted a body that is not a job status: %v: %q", err, body)
		}
		r.posts.Add(1)
		if c := r.client.Load(); c != nil && c.Wake(st.JobID) {
			r.woken.Add(1)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(r.Close)
	return r
}

// TestCallbackEconomy runs a 10-minute job with callbacks, in virtual time
// that only the test moves, for several poll intervals of minutes. The
// test plays Informatica: it moves the clock to the next poll while the
// job runs, and when the job ends before the next poll, it has the fake post
// the job's status. The data must arrive at the job's end, with at most
// two status calls: the safety polls before the end, and the woken one.
func TestCallbackEconomy(t *testing.T) {
	t.Parallel()
	for _, poll := range []time.Duration{5 * time.Minute, 10 * time.Minute, 15 * time.Minute} {
		t.Run(poll.String(), func(t *testing.T) {
			t.Parallel()
			clock := testkit.NewStepClock(t0)
			recv := newCallbackReceiver(t)
			e := newEnv(t, fake.Options{CreatedFor: time.Minute, ProcessingFor: 9 * time.Minute, Now: clock.Now, JobClock: clock.Now},
				func(c *informatica.Config) {
					c.Clock, c.PollInterval, c.CallbackURL = clock, poll, recv.URL+"/-/callback/token"
				})
			recv.client.Store(e.client)
			jobEnd := t0.Add(10 * time.Minute)

			done := make(chan error, 1)
			go func() { _, _, err := e.exportDays(); done <- err }()
			var err error
			for finished, posted := false, false; !finished; {
				var sleeping []time.Time
				waitForEvent(t, "the poller to sleep or the export to end", func() bool {
					select {
					case err = <-done:
						finished = true
						return true
					default:
					}
					// Once the callback is posted, only the end counts.
					sleeping = clock.Sleeping()
					return !posted && len(sleeping) > 0
				})
				switch {
				case finished:
				case sleeping[0].Before(jobEnd):
					clock.AdvanceTo(sleeping[0]) // a safety poll while the job runs
				default:
					// The job ends before or at the next poll: Informatica
					// posts its status.
					clock.AdvanceTo(jobEnd)
					if n := e.srv.DeliverCallbacks(); n != 1 {
						t.Fatalf("the fake posted %d callbacks at the job's end, want 1", n)
					}
					posted = true
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			status := e.srv.Calls(fake.EndpointStatus)
			if status > 2 || e.srv.Calls(fake.EndpointDownload) != 1 {
				t.Errorf("%d status calls and %d downloads, want at most 2 and 1", status, e.srv.Calls(fake.EndpointDownload))
			}
			if !clock.Now().Equal(jobEnd) {
				t.Errorf("the data arrived at %s, want at the job's end, 10m", clock.Now().Sub(t0))
			}
			cb := e.srv.Callbacks()
			if len(cb) != 1 || cb[0].Status != "SUCCESS" || cb[0].Code != http.StatusAccepted || recv.posts.Load() != 1 {
				t.Errorf("callbacks posted %+v, received %d, want one SUCCESS", cb, recv.posts.Load())
			}
			t.Logf("ECONOMY callback job=10m poll_interval=%s status=%d woken=%d download=%d",
				poll, status, recv.woken.Load(), e.srv.Calls(fake.EndpointDownload))
		})
	}
}

// TestWakeUnknownJob: a wake for a job that is not in flight, or for none,
// is not taken, and no request goes to Informatica for it.
func TestWakeUnknownJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{}, nil)
	for _, id := range []string{"", "   ", "4l1eKlA9ngChmu6gdv3FKs", "../../download"} {
		if e.client.Wake(id) {
			t.Errorf("Wake(%q) = true with no job in flight", id)
		}
	}
	if hooks := e.Hooks(); len(hooks) != 0 {
		t.Errorf("wakes sent requests: %v", hooks)
	}
	// A job that has ended is no longer in flight.
	if _, _, err := e.exportDays(); err != nil {
		t.Fatal(err)
	}
	ids := e.srv.JobIDs()
	if len(ids) != 1 || e.client.Wake(ids[0]) {
		t.Errorf("jobs %v: a finished job can be woken", ids)
	}
}

// waitForEvent polls cond until it holds; the bound only ends a test that
// fails.
func waitForEvent(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
