package informatica_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// warning is one call of Config.OnWarning.
type warning struct {
	msg     string
	keyvals []any
}

type warnings struct {
	mu   sync.Mutex
	list []warning
}

func (w *warnings) hook(msg string, keyvals ...any) {
	w.mu.Lock()
	w.list = append(w.list, warning{msg, keyvals})
	w.mu.Unlock()
}

func (w *warnings) all() []warning {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.list)
}

// value returns the value of key in a warning's key-value pairs.
func (w warning) value(key string) any {
	for i := 0; i+1 < len(w.keyvals); i += 2 {
		if w.keyvals[i] == key {
			return w.keyvals[i+1]
		}
	}
	return nil
}

// statusAnswers answers the next polls with the given statuses, for the job
// the poll asks about, then lets the fake answer.
func statusAnswers(e *env, statuses ...string) {
	for _, s := range statuses {
		e.srv.Inject(fake.Fault{Endpoint: fake.EndpointStatus, Handler: func(w http.ResponseWriter, r *http.Request) {
			body := fmt.Sprintf(`{"jobId":%q,"status":%q,"errorMessage":"the job's own words"}`, path.Base(r.URL.Path), s)
			serve(http.StatusOK, "application/json", []byte(body))(w, r)
		}})
	}
}

// TestJobStatusValues: statuses that plainly mean success or failure end
// the wait like the documented ones; running ones keep it going.
func TestJobStatusValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status string
		fail   bool
	}{
		{"COMPLETED", false},
		{"succeeded", false},
		{" Complete ", false},
		{"done", false},
		{"ERROR", true},
		{"cancelled", true},
		{"Canceled", true},
		{" ABORTED\n", true},
	} {
		t.Run(strings.TrimSpace(tc.status), func(t *testing.T) {
			t.Parallel()
			var w warnings
			e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.OnWarning = w.hook })
			statusAnswers(e, tc.status)
			rows, _, err := e.exportDays()
			if n := e.srv.Calls(fake.EndpointStatus); n != 1 {
				t.Errorf("%d polls, want 1: %q ends the job", n, tc.status)
			}
			if tc.fail {
				if st := informatica.StageOf(err); st != informatica.StagePoll || !strings.Contains(err.Error(), "the job's own words") {
					t.Errorf("error %v (stage %q), want a poll error with the errorMessage", err, st)
				}
				if n := e.srv.Calls(fake.EndpointDownload); n != 0 {
					t.Errorf("%d downloads of a failed job", n)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				checkRows(t, rows, e.servedRows())
			}
			if got := w.all(); len(got) != 0 {
				t.Errorf("warnings %v for a status with a plain meaning", got)
			}
		})
	}

	t.Run("running", func(t *testing.T) {
		t.Parallel()
		var w warnings
		e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.OnWarning = w.hook })
		statusAnswers(e, "QUEUED", "in_progress", "Running", "PENDING", "CREATED", "PROCESSING")
		if _, _, err := e.exportDays(); err != nil {
			t.Fatal(err)
		}
		if n := e.srv.Calls(fake.EndpointStatus); n != 7 {
			t.Errorf("%d polls, want 7", n)
		}
		if got := w.all(); len(got) != 0 {
			t.Errorf("warnings %v for running statuses", got)
		}
	})
}

// TestUnknownJobStatus: a status the client does not know is taken as still
// running, and named in one warning per job and value.
func TestUnknownJobStatus(t *testing.T) {
	t.Parallel()

	t.Run("then success", func(t *testing.T) {
		t.Parallel()
		var w warnings
		e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.OnWarning = w.hook })
		statusAnswers(e, " Warming_Up ", "WARMING_UP", "RECALIBRATING", "warming_up")
		rows, _, err := e.exportDays()
		if err != nil {
			t.Fatal(err)
		}
		checkRows(t, rows, e.servedRows())
		if n := e.srv.Calls(fake.EndpointStatus); n != 5 {
			t.Errorf("%d polls, want 5", n)
		}
		got := w.all()
		if len(got) != 2 {
			t.Fatalf("warnings %v, want one for WARMING_UP and one for RECALIBRATING", got)
		}
		jobID := e.requests(fake.EndpointStatus)[0].Path
		for i, status := range []string{"WARMING_UP", "RECALIBRATING"} {
			if got[i].value("status") != status || !strings.HasSuffix(jobID, fmt.Sprint(got[i].value("job_id"))) || got[i].msg == "" {
				t.Errorf("warning %d = %+v, want one naming status %s and the job", i, got[i], status)
			}
		}
	})

	t.Run("until job_timeout", func(t *testing.T) {
		t.Parallel()
		var w warnings
		e := newEnv(t, fake.Options{}, func(c *informatica.Config) {
			c.OnWarning = w.hook
			c.JobTimeout = 10 * time.Minute
		})
		e.srv.SetOutcomes(fake.Outcome{Status: "ON_HOLD"}, fake.Outcome{Status: "ON_HOLD"})
		for range 2 {
			_, _, err := e.exportDays()
			if st := informatica.StageOf(err); st != informatica.StagePoll || !errors.Is(err, informatica.ErrJobTimeout) {
				t.Fatalf("error %v (stage %q), want a job timeout while polling", err, st)
			}
			if !strings.Contains(err.Error(), "ON_HOLD") || !strings.Contains(err.Error(), "10m0s") {
				t.Errorf("error %q does not name the status and the timeout", err)
			}
		}
		// Two jobs: one warning each.
		if got := w.all(); len(got) != 2 || got[0].value("status") != "ON_HOLD" || got[0].value("job_id") == got[1].value("job_id") {
			t.Errorf("warnings %+v, want one per job", got)
		}
		if n := e.srv.Calls(fake.EndpointStatus); n < 10 {
			t.Errorf("%d polls, want polling to go on", n)
		}
	})
}

// TestErrorObjectIn2xx: Informatica's error object is an error whatever the
// HTTP status that carries it.
func TestErrorObjectIn2xx(t *testing.T) {
	t.Parallel()
	const (
		v3 = `{"error":{"code":"MTR_005","message":"You can have a maximum of 5 active export jobs.","requestId":"9hr8e2ObIcChbwYftgDui7","details":null}}`
		v2 = `{"@type":"error","code":"UI_10000","description":"You can have a maximum of 5 active export jobs.","statusCode":403}`
	)
	for _, tc := range []struct {
		endpoint string
		stage    informatica.Stage
	}{
		{fake.EndpointLogin, informatica.StageLogin},
		{fake.EndpointExport, informatica.StageExport},
		{fake.EndpointStatus, informatica.StagePoll},
	} {
		for _, body := range []string{v3, v2} {
			code, requestID := "MTR_005", "9hr8e2ObIcChbwYftgDui7"
			if body == v2 {
				code, requestID = "UI_10000", ""
			}
			t.Run(tc.endpoint+"/"+code, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, fake.Options{}, nil)
				e.srv.Inject(fake.Fault{Endpoint: tc.endpoint, Status: http.StatusOK, Body: body})
				_, _, err := e.exportDays()
				var apiErr *informatica.APIError
				if !errors.As(err, &apiErr) {
					t.Fatalf("error %v (%T), want an APIError", err, err)
				}
				if apiErr.Code != code || apiErr.Message != "You can have a maximum of 5 active export jobs." || apiErr.RequestID != requestID {
					t.Errorf("APIError %+v", apiErr)
				}
				if st := informatica.StageOf(err); st != tc.stage {
					t.Errorf("stage %q, want %q", st, tc.stage)
				}
				if strings.Contains(err.Error(), "jobId") || strings.Contains(err.Error(), "sessionId") {
					t.Errorf("error %q is about a missing field, not Informatica's error", err)
				}
				if n := e.srv.Calls(tc.endpoint); n != 1 {
					t.Errorf("%d %s requests, want 1", n, tc.endpoint)
				}
				if errors.Is(err, informatica.ErrJobMayBeRunning) {
					t.Errorf("error %q says a job may be running: Informatica said it failed", err)
				}
			})
		}
	}
}

// TestWaitForJobWarns: WaitForJob called on its own warns too.
func TestWaitForJobWarns(t *testing.T) {
	t.Parallel()
	var w warnings
	e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.OnWarning = w.hook })
	id, err := e.client.StartExport(context.Background(), testRange)
	if err != nil {
		t.Fatal(err)
	}
	statusAnswers(e, "STAGING")
	if _, err := e.client.WaitForJob(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if got := w.all(); len(got) != 1 || got[0].value("job_id") != id || got[0].value("status") != "STAGING" {
		t.Errorf("warnings %+v", got)
	}
}
