package informatica_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestCallReports: every request of an export (login, a start turned away
// and retried, polls, download) is reported once through OnCall, with its
// method, path, job ID, status, Informatica's request ID, duration on the
// client's clock and bytes, and no report holds the password or a session
// ID.
func TestCallReports(t *testing.T) {
	t.Parallel()
	var jobs jobLog
	e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.OnJob = jobs.add })
	const busy = `{"error":{"code":"SERVICE_BUSY","message":"Try again later.","requestId":"7hq2MvKSMbYc8bF3xKxrWd","details":null}}`
	e.srv.Inject(
		fake.Fault{Endpoint: fake.EndpointExport, Status: http.StatusServiceUnavailable, Body: busy},
		// The first poll takes 3 seconds of the client's clock.
		fake.Fault{Endpoint: fake.EndpointStatus, Pass: true, Handler: func(http.ResponseWriter, *http.Request) { e.clock.Advance(3 * time.Second) }},
	)
	if _, _, err := e.exportDays(); err != nil {
		t.Fatal(err)
	}
	calls := e.Calls()
	total := 0
	for _, ep := range []string{fake.EndpointLogin, fake.EndpointExport, fake.EndpointStatus, fake.EndpointDownload, fake.EndpointLogout} {
		total += e.srv.Calls(ep)
	}
	if len(calls) != total {
		t.Fatalf("%d calls reported, the fake answered %d:\n%+v", len(calls), total, calls)
	}

	// The turned-away start, answered by the fault, is the only one the
	// fake does not record.
	busyCall := calls[1]
	if busyCall.Endpoint != informatica.EndpointExport || busyCall.Code != "503" || busyCall.Attempt != 1 ||
		busyCall.RequestID != "7hq2MvKSMbYc8bF3xKxrWd" || busyCall.Bytes != int64(len(busy)) {
		t.Errorf("the turned-away start is reported as %+v", busyCall)
	}
	answered := append(calls[:1:1], calls[2:]...)
	reqs := e.srv.Requests()
	if len(answered) != len(reqs) {
		t.Fatalf("%d calls reported besides the fault, the fake recorded %d", len(answered), len(reqs))
	}
	var jobID string
	for i, c := range answered {
		r := reqs[i]
		if c.Endpoint != r.Endpoint || c.Method != r.Method || c.Path != r.Path || c.Code != "200" || c.Err != "" || c.Bytes <= 0 {
			t.Errorf("call %d reported as %+v, the fake saw %s %s %s", i, c, r.Endpoint, r.Method, r.Path)
		}
		switch c.Endpoint {
		case informatica.EndpointExport:
			if c.Attempt != 2 {
				t.Errorf("the retried start is reported as attempt %d", c.Attempt)
			}
		case informatica.EndpointStatus, informatica.EndpointDownload:
			if jobID == "" {
				jobID = c.JobID
			}
			if c.JobID == "" || c.JobID != jobID || !strings.Contains(c.Path, c.JobID) {
				t.Errorf("call %+v does not name the job in its path and JobID", c)
			}
		}
	}
	if answered[2].Endpoint != informatica.EndpointStatus || answered[2].Duration != 3*time.Second {
		t.Errorf("the first poll took 3s of the client's clock; reported as %+v", answered[2])
	}
	last := calls[len(calls)-1]
	read := jobs.steps(informatica.JobRead)
	if last.Endpoint != informatica.EndpointDownload || len(read) != 1 || last.Bytes != read[0].Bytes {
		t.Errorf("the download is reported as %+v; the ZIP read: %+v", last, read)
	}

	secrets := append([]string{testPassword}, e.srv.SessionIDs()...)
	for _, c := range calls {
		text := fmt.Sprintf("%#v", c)
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("call report %s holds the secret %q", text, s)
			}
		}
	}
}

// TestJobEvents: an export of two jobs reports, for each, its start with
// the range and job n of m, each change of its status, and the rows and
// bytes of its ZIP.
func TestJobEvents(t *testing.T) {
	t.Parallel()
	var jobs jobLog
	e := newEnv(t, fake.Options{CreatedFor: 20 * time.Second, ProcessingFor: time.Minute},
		func(c *informatica.Config) { c.OnJob = jobs.add })
	to := day(t0).Add(-time.Second)
	from := to.AddDate(0, 0, -200).Add(time.Second)
	_, res, err := e.export(from, to)
	if err != nil {
		t.Fatal(err)
	}
	ranges := informatica.SplitRange(from, to, informatica.MaxSummaryDays)
	if len(ranges) != 2 || res.Jobs != 2 {
		t.Fatalf("%d ranges, %d jobs: want an export of 2 jobs", len(ranges), res.Jobs)
	}
	got := jobs.all()
	if len(got) != 8 {
		t.Fatalf("%d job events, want 4 per job:\n%+v", len(got), got)
	}
	rows := 0
	for i, ev := range got {
		n := i/4 + 1
		want := []struct {
			step   informatica.JobStep
			status string
		}{
			{informatica.JobStarted, informatica.StatusCreated},
			{informatica.JobStatusChanged, informatica.StatusProcessing},
			{informatica.JobStatusChanged, informatica.StatusSuccess},
			{informatica.JobRead, informatica.StatusSuccess},
		}[i%4]
		if ev.Step != want.step || ev.Status != want.status || ev.Job != n || ev.Jobs != 2 || ev.Range != ranges[n-1] ||
			ev.JobID == "" || ev.JobID != got[(n-1)*4].JobID || ev.Resource != "ExportMeteringDataAllLinkedOrgsAcrossRegion" {
			t.Errorf("event %d is %+v, want %s %s of job %d of 2 over %v", i, ev, want.step, want.status, n, ranges[n-1])
		}
		if ev.Step == informatica.JobRead {
			if ev.Bytes <= 0 {
				t.Errorf("job %d read with %d bytes", n, ev.Bytes)
			}
			rows += ev.Rows
		}
	}
	if got[0].JobID == got[4].JobID {
		t.Errorf("both jobs reported as %s", got[0].JobID)
	}
	if rows != res.Rows || rows == 0 {
		t.Errorf("the read events count %d rows, the export %d", rows, res.Rows)
	}
}

// jobLog records what OnJob reports.
type jobLog struct {
	mu     sync.Mutex
	events []informatica.JobEvent
}

func (l *jobLog) add(ev informatica.JobEvent) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *jobLog) all() []informatica.JobEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]informatica.JobEvent(nil), l.events...)
}

func (l *jobLog) steps(step informatica.JobStep) []informatica.JobEvent {
	var out []informatica.JobEvent
	for _, ev := range l.all() {
		if ev.Step == step {
			out = append(out, ev)
		}
	}
	return out
}
