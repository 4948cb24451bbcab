package informatica_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestJobTimeoutCoversCreate: waiting to retry the job's start counts
// against job_timeout; the client gives up rather than wait past it.
func TestJobTimeoutCoversCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.JobTimeout = 10 * time.Minute })
	// Each answer asks for 4 minutes: tries at 0, 4m and 8m; a fourth at
	// 12m would be past the 10-minute limit.
	e.srv.Inject(fake.Fault{
		Endpoint: fake.EndpointExport, Times: 3, Status: http.StatusServiceUnavailable,
		Header: http.Header{"Retry-After": {"240"}},
	})
	_, _, err := e.exportDays()
	if st := informatica.StageOf(err); st != informatica.StageExport || !errors.Is(err, informatica.ErrJobTimeout) {
		t.Fatalf("error %v (stage %q), want a job timeout at stage export", err, st)
	}
	if n := e.srv.Calls(fake.EndpointExport); n != 3 {
		t.Errorf("%d export requests, want 3", n)
	}
	if elapsed := e.clock.Now().Sub(t0); elapsed > 10*time.Minute {
		t.Errorf("gave up after %v, past the job timeout", elapsed)
	}
}

// TestJobTimeoutCoversPolls: polling stops job_timeout after the job's
// start was first requested, not after it was accepted.
func TestJobTimeoutCoversPolls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.JobTimeout = 10 * time.Minute })
	e.srv.Inject(fake.Fault{
		Endpoint: fake.EndpointExport, Status: http.StatusServiceUnavailable,
		Header: http.Header{"Retry-After": {"240"}},
	})
	e.srv.SetOutcomes(fake.Outcome{Never: true})
	_, _, err := e.exportDays()
	if st := informatica.StageOf(err); st != informatica.StagePoll || !errors.Is(err, informatica.ErrJobTimeout) {
		t.Fatalf("error %v (stage %q), want a job timeout while polling", err, st)
	}
	if elapsed := e.clock.Now().Sub(t0); elapsed < 9*time.Minute || elapsed > 10*time.Minute {
		t.Errorf("gave up after %v, want 9-10 minutes", elapsed)
	}
}

// TestDownloadTrickle: a download that never ends, a few bytes at a time,
// ends at job_timeout.
func TestDownloadTrickle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.JobTimeout = 10 * time.Minute })
	left := make(chan bool, 1)
	e.srv.Inject(fake.Fault{Endpoint: fake.EndpointDownload, Handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zip")
		w.WriteHeader(http.StatusOK)
		// Each byte takes 10 seconds of the client's time; 200 of them
		// take it well past the job's deadline.
		for range 200 {
			w.Write([]byte{'P'})
			w.(http.Flusher).Flush()
			e.clock.Advance(10 * time.Second)
		}
		// The body never ends: only the client can end the download. The
		// timer is a safety net for a client that does not.
		timer := time.NewTimer(30 * time.Second)
		defer timer.Stop()
		select {
		case <-r.Context().Done():
			left <- true
		case <-timer.C:
			left <- false
		}
	}})
	_, _, err := e.exportDays()
	if st := informatica.StageOf(err); st != informatica.StageDownload || !errors.Is(err, informatica.ErrJobTimeout) {
		t.Errorf("error %v (stage %q), want a job timeout at stage download", err, st)
	}
	if !<-left {
		t.Error("the client did not end the download")
	}
}

// TestDownloadStallBoundedByJobTimeout: a download that starts with little
// of job_timeout left gets only that long, not DownloadTimeout.
func TestDownloadStallBoundedByJobTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.JobTimeout = 10 * time.Minute })
	// The poll that sees the job done answers 300 ms before the job's time
	// is up.
	e.srv.Inject(fake.Fault{Endpoint: fake.EndpointStatus, Pass: true, Handler: func(http.ResponseWriter, *http.Request) {
		e.clock.Advance(t0.Add(10*time.Minute - 300*time.Millisecond).Sub(e.clock.Now()))
	}})
	e.srv.Inject(fake.Fault{Endpoint: fake.EndpointDownload, Times: 10, Hang: time.Minute})
	// A safety net only: the client must give up long before.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := e.client.ExportUsage(ctx, day(t0).AddDate(0, 0, -5), t0, func(*informatica.UsageRow) error { return nil })
	if st := informatica.StageOf(err); st != informatica.StageDownload || !errors.Is(err, informatica.ErrJobTimeout) {
		t.Fatalf("error %v (stage %q), want a job timeout at stage download", err, st)
	}
	if elapsed := time.Since(start); elapsed > 15*time.Second {
		t.Errorf("took %v to give up", elapsed)
	}
}
