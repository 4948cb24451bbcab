package collector

import (
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// TestCallbacksCounted: every result of informatica_exporter_callbacks_total
// is published from the start, at 0, and counts one per callback.
func TestCallbacksCounted(t *testing.T) {
	t.Parallel()
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, time.Now)
	counts := func() samples { return gatherSamples(t, reg).with("informatica_exporter_callbacks_total") }
	want := func(matched, unmatched, invalid float64) samples {
		return samples{
			key("informatica_exporter_callbacks_total", "result", "matched"):   matched,
			key("informatica_exporter_callbacks_total", "result", "unmatched"): unmatched,
			key("informatica_exporter_callbacks_total", "result", "invalid"):   invalid,
		}
	}
	assertSamples(t, counts(), want(0, 0, 0))
	if e.Callback("4l1eKlA9ngChmu6gdv3FKs", "another") {
		t.Errorf("a callback matched without any account")
	}
	e.Callback()
	e.InvalidCallback()
	assertSamples(t, counts(), want(0, 2, 1))
}

// TestCallbackWakesJobAcrossReload: a callback wakes the poller of a job in
// flight, also when a reload has replaced the account and the old instance
// is finishing its job. The poller sleeps on a clock that the test never
// moves past its next poll, so only the callback can make it poll.
func TestCallbackWakesJobAcrossReload(t *testing.T) {
	t.Parallel()
	now := movingClock()
	clock := testkit.NewStepClock(fakeBase)
	f := startFake(t, fake.Options{CreatedFor: time.Minute, ProcessingFor: time.Minute, JobClock: clock.Now}, now)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	refresh := refreshSettings(time.Hour)
	refresh.PollInterval, refresh.JobTimeout = 10*time.Minute, 30*time.Minute
	account := func(entitlement float64) AccountSettings {
		a := accountFor("prod", f, nil)
		a.Client.Clock = clock
		a.Entitlement = &entitlement
		return a
	}
	if err := e.Apply(Settings{Accounts: []AccountSettings{account(1)}, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the poller to wait for its first poll", func() bool { return len(clock.Sleeping()) == 1 })
	jobs := f.JobIDs()
	if len(jobs) != 1 {
		t.Fatalf("jobs %v, want one", jobs)
	}
	state := accountNamed(e, "prod").state
	if err := e.Apply(Settings{Accounts: []AccountSettings{account(2)}, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	// The job ends at Informatica two minutes in; the poller would look
	// eight minutes later.
	clock.Advance(2 * time.Minute)
	if len(clock.Sleeping()) != 1 || f.Calls(fake.EndpointStatus) != 0 {
		t.Fatalf("the poller did not wait for its poll: sleeping %v, %d status calls", clock.Sleeping(), f.Calls(fake.EndpointStatus))
	}
	if e.Callback("not-a-job-in-flight") {
		t.Errorf("a callback for an unknown job matched")
	}
	if !e.Callback(" " + jobs[0] + "\n") {
		t.Fatalf("the callback for the job in flight did not match")
	}
	waitFor(t, "the woken run to finish", func() bool { return refreshesOf(state) == 1 })
	if n := f.Calls(fake.EndpointStatus); n != 1 {
		t.Errorf("%d status calls, want 1: the woken poll", n)
	}
	if n := f.Calls(fake.EndpointDownload); n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}
	state.mu.Lock()
	up := state.up
	state.mu.Unlock()
	if !up {
		t.Errorf("the woken run did not succeed")
	}
	got := gatherSamples(t, reg).with("informatica_exporter_callbacks_total")
	if got[key("informatica_exporter_callbacks_total", "result", "matched")] != 1 ||
		got[key("informatica_exporter_callbacks_total", "result", "unmatched")] != 1 {
		t.Errorf("callbacks counted %v, want 1 matched and 1 unmatched", got)
	}
}
