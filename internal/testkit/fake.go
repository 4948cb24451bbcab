package testkit

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// Patience bounds how long a failing test waits for what it polls: long
// enough that a busy machine never fails a test an idle one passes.
const Patience = 2 * time.Minute

// WaitFor polls cond until it holds, for at least Patience.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout = max(timeout, Patience)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartFake starts a fake Informatica on loopback with quick jobs; the
// test's end closes it.
func StartFake(t testing.TB, opts fake.Options) *fake.Server {
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

// WriteConfig writes dir/config.yml with the accounts (AccountYAML) and a
// refresh of the interval with quick polls.
func WriteConfig(t testing.TB, dir string, interval string, accounts ...string) string {
	t.Helper()
	cfg := "accounts:\n" + strings.Join(accounts, "") + fmt.Sprintf(`refresh:
  interval: %s
  lookback: 45d
  poll_interval: 10ms
  job_timeout: 10s
  max_age: 26h
`, interval)
	return WriteFile(t, dir, "config.yml", cfg)
}

// AccountYAML is an account of the configuration against the fake, with
// extra keys (indented by four spaces) appended.
func AccountYAML(name string, f *fake.Server, extra string) string {
	return fmt.Sprintf("  - name: %s\n    login_url: %s\n    username: %s\n    password: %s\n%s",
		name, f.URL(), f.Username(), f.Password(), extra)
}

// Frozen is a clock that stands still at t.
func Frozen(t time.Time) func() time.Time { return func() time.Time { return t } }

// Date is an instant in UTC.
func Date(y int, m time.Month, d, hh, mm, ss int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, 0, time.UTC)
}
