package offline

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

type syncBuffer = testkit.SyncBuffer

var writeFile = testkit.WriteFile

// hooks are what the program passes a command besides its flags.
type hooks struct {
	adjust func(*collector.Settings)
	now    func() time.Time
}

// run parses args as the program does, with the flags the commands share
// (--config.file, --log.level), and runs the command it names; its result
// is the exit code. The program's own parsing is tested in package main.
func run(args []string, logs io.Writer, h hooks) int {
	app := kingpin.New("informatica_exporter", "")
	configFile := app.Flag("config.file", "").Default("config.yml").String()
	logLevel := app.Flag("log.level", "").Default("info").Enum("debug", "info", "warn", "error")
	backfill, focus := NewBackfill(app), NewFocus(app)
	command, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(logs, "informatica_exporter: %v\n", err)
		return 2
	}
	logger := level.NewFilter(log.NewLogfmtLogger(log.NewSyncWriter(logs)), level.Allow(level.ParseDefault(*logLevel, level.InfoValue())))
	switch command {
	case backfill.Name():
		return backfill.Run(logger, *configFile, h.adjust, h.now)
	case focus.Name():
		return focus.Run(logger, *configFile, h.adjust, h.now)
	}
	fmt.Fprintf(logs, "no command in %q\n", args)
	return 2
}

// patience is the shortest wait for an event before a test gives up.
const patience = 2 * time.Minute

// waitFor polls cond until it holds. The timeout only bounds how long a
// failing test hangs: it is at least patience, so that a busy machine never
// fails a test that would pass on an idle one.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout = max(timeout, patience)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startFake starts a fake Informatica with quick jobs.
func startFake(t *testing.T, opts fake.Options) *fake.Server {
	t.Helper()
	if opts.CreatedFor == 0 {
		opts.CreatedFor = 20 * time.Millisecond
	}
	if opts.ProcessingFor == 0 {
		opts.ProcessingFor = 30 * time.Millisecond
	}
	f := fake.New(opts)
	if err := f.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// writeConfig writes a configuration with one account per fake.
func writeConfig(t *testing.T, dir string, interval string, accounts ...string) string {
	t.Helper()
	cfg := "accounts:\n" + strings.Join(accounts, "") + fmt.Sprintf(`refresh:
  interval: %s
  lookback: 45d
  poll_interval: 10ms
  job_timeout: 10s
  max_age: 26h
`, interval)
	return writeFile(t, dir, "config.yml", cfg)
}

func accountYAML(name string, f *fake.Server, extra string) string {
	return fmt.Sprintf("  - name: %s\n    login_url: %s\n    username: %s\n    password: %s\n%s",
		name, f.URL(), f.Username(), f.Password(), extra)
}

// frozen is a clock that stands still at t.
func frozen(t time.Time) func() time.Time { return func() time.Time { return t } }

func date(y int, m time.Month, d, hh, mm, ss int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, 0, time.UTC)
}

// requireProgram finds a program of Debian's prometheus package.
func requireProgram(t *testing.T, name string) string {
	t.Helper()
	return testkit.RequireProgram(t, name, "prometheus")
}
