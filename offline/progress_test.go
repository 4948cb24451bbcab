package offline

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// TestCommandsLogProgress: a backfill, or a FOCUS export, of two export
// jobs logs, at info, each job n of m with its range and job ID, its status
// changes and the rows read; with --log.level=debug, also one line per
// request to Informatica, naming its job, and neither holds a secret.
func TestCommandsLogProgress(t *testing.T) {
	t.Parallel()
	for _, command := range [][]string{{"backfill"}, {"focus", "--ipu-price=0.5", "--currency=EUR"}} {
		t.Run(command[0], func(t *testing.T) {
			t.Parallel()
			testLogsProgress(t, command)
		})
	}
}

func testLogsProgress(t *testing.T, command []string) {
	clock := testkit.NewInstantClock(time.Now())
	f := startFake(t, fake.Options{Days: 400, CreatedFor: 20 * time.Second, ProcessingFor: time.Minute, JobClock: clock.Now})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "1h", accountYAML("acme", f, ""))
	adjust := func(s *collector.Settings) {
		for i := range s.Accounts {
			s.Accounts[i].Client.Clock = clock
		}
		s.Refresh.PollInterval, s.Refresh.JobTimeout = 15*time.Second, 30*time.Minute
	}
	yesterday := day(time.Now().UTC().AddDate(0, 0, -1))
	args := slices.Concat(command, []string{
		"--config.file=" + cfg, "--from=" + yesterday.AddDate(0, 0, -199).Format(time.DateOnly),
		"--output=" + filepath.Join(dir, "out"),
	})

	logs := &syncBuffer{}
	if code := run(args, logs, hooks{adjust: adjust}); code != 0 {
		t.Fatalf("%s exited %d:\n%s", command[0], code, logs)
	}
	for n := 1; n <= 2; n++ {
		job := fmt.Sprintf(`job="%d of 2"`, n)
		started := logs.Lines("level=info", "account=acme", `msg="Export job started"`, job, "from=", "to=", "job_id=", "status=CREATED")
		if len(started) != 1 {
			t.Errorf("want one info line that job %d of 2 started, with its range and ID:\n%s", n, logs)
			continue
		}
		id := strings.Fields(strings.SplitN(started[0], "job_id=", 2)[1])[0]
		for _, want := range [][]string{
			{`msg="Export job status changed"`, "status=PROCESSING"},
			{`msg="Export job status changed"`, "status=SUCCESS"},
			{`msg="Export job read"`, "rows=", "bytes="},
		} {
			if got := logs.Lines(append([]string{"level=info", job, "job_id=" + id}, want...)...); len(got) != 1 {
				t.Errorf("want one info line of job %d with %q:\n%s", n, want, logs)
			}
		}
	}
	if got := logs.Lines("level=debug"); len(got) != 0 {
		t.Errorf("debug lines at the default level:\n%s", strings.Join(got, "\n"))
	}

	requests := 0
	for _, ep := range []string{fake.EndpointLogin, fake.EndpointExport, fake.EndpointStatus, fake.EndpointDownload, fake.EndpointLogout} {
		requests += f.Calls(ep)
	}
	debug := &syncBuffer{}
	if code := run(append(args, "--log.level=debug"), debug, hooks{adjust: adjust}); code != 0 {
		t.Fatalf("%s --log.level=debug exited %d:\n%s", command[0], code, debug)
	}
	requests = -requests
	for _, ep := range []string{fake.EndpointLogin, fake.EndpointExport, fake.EndpointStatus, fake.EndpointDownload, fake.EndpointLogout} {
		requests += f.Calls(ep)
	}
	calls := debug.Lines("level=debug", "account=acme", `msg="Informatica call"`, "method=", "path=", "status=", "duration_seconds=", "bytes=")
	if len(calls) != requests || requests == 0 {
		t.Errorf("%d debug lines of Informatica calls, the fake answered %d requests:\n%s", len(calls), requests, debug)
	}
	for _, ep := range []string{informatica.EndpointStatus, informatica.EndpointDownload} {
		if n := len(debug.Lines(`msg="Informatica call"`, "endpoint="+ep, "job_id=")); n == 0 || n != f.Calls(ep)/2 {
			t.Errorf("%d debug lines of %s calls name the job, want each of the run's %d", n, ep, f.Calls(ep)/2)
		}
	}
	for _, secret := range append([]string{f.Password()}, f.SessionIDs()...) {
		if strings.Contains(logs.String()+debug.String(), secret) {
			t.Errorf("the log holds the secret %q", secret)
		}
	}
}
