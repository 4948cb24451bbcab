package collector

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// orgsOf gives each fake its own org, so that the test sees which account
// published what.
func orgsOf(prefix string) []fake.Org {
	return []fake.Org{{ID: prefix + "-org", Name: "Org " + prefix, Type: "Production", Scale: 1}}
}

// orgSeries returns the usage series of one org.
func orgSeries(s samples, org string) samples {
	return s.with(usageNames...).withLabel("org_id", org)
}

func TestApply(t *testing.T) {
	t.Parallel()
	now := movingClock()
	fA := startFake(t, fake.Options{Orgs: orgsOf("a")}, now)
	fB := startFake(t, fake.Options{Orgs: orgsOf("b")}, now)
	fC := startFake(t, fake.Options{Orgs: orgsOf("c")}, now)
	fD := startFake(t, fake.Options{Orgs: orgsOf("d")}, now)
	gA, gB, gC := newGate(t), newGate(t), newGate(t)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	refresh := refreshSettings(10 * time.Millisecond)
	apply := func(accounts ...AccountSettings) {
		t.Helper()
		if err := e.Apply(Settings{Accounts: accounts, Refresh: refresh}); err != nil {
			t.Fatal(err)
		}
	}
	withEntitlement := func(a AccountSettings, v float64) AccountSettings {
		a.Entitlement = &v
		return a
	}
	accountA := func() AccountSettings { return accountFor("a", fA, gA) }
	accountB := func(entitlement float64) AccountSettings {
		return withEntitlement(accountFor("b", fB, gB), entitlement)
	}
	logouts := func(f *fake.Server, n int) func() bool {
		return func() bool { return f.Calls(fake.EndpointLogout) >= n }
	}

	apply(accountA(), accountB(100))
	gA.bind(t, e, "a")
	gB.bind(t, e, "b")
	if e.Ready() {
		t.Fatal("ready before any refresh finished")
	}
	gA.allow(t, 1)
	if e.Ready() {
		t.Fatal("ready while account b has not finished a first refresh")
	}
	gB.allow(t, 1)
	if !e.Ready() {
		t.Fatal("not ready after every account refreshed")
	}
	s := gatherSamples(t, reg)
	dataB := orgSeries(s, "b-org")
	if len(orgSeries(s, "a-org")) == 0 || len(dataB) == 0 {
		t.Fatalf("usage missing after the first refreshes:\n%s", s)
	}

	// The second runs of a and b are under way when the configuration is
	// reloaded.
	waitFor(t, "account a's second run to start", func() bool { return gA.waiting.Load() > 0 })
	waitFor(t, "account b's second run to start", func() bool { return gB.waiting.Load() > 0 })
	instanceA, instanceB := accountNamed(e, "a"), accountNamed(e, "b")
	accountC := accountFor("c", fC, gC)
	apply(accountA(), accountB(200), accountC)
	gC.bind(t, e, "c")

	t.Run("unchanged account runs on undisturbed", func(t *testing.T) {
		if accountNamed(e, "a") != instanceA {
			t.Fatal("account a was replaced")
		}
		// The run in flight finishes on the same session.
		gA.allow(t, 2)
		if n := fA.Calls(fake.EndpointLogin); n != 1 {
			t.Errorf("account a logged in %d times, want 1", n)
		}
		if n := fA.Calls(fake.EndpointLogout); n != 0 {
			t.Errorf("account a logged out %d times, want 0", n)
		}
	})

	t.Run("changed account keeps counters and data", func(t *testing.T) {
		if accountNamed(e, "b") == instanceB {
			t.Fatal("account b was not restarted")
		}
		s := gatherSamples(t, reg)
		if got := orgSeries(s, "b-org"); got.String() != dataB.String() {
			t.Errorf("account b's data changed on reload:\n%s\nwas:\n%s", got, dataB)
		}
		if got := s[key("informatica_exporter_refreshes_total", "account", "b")]; got != 1 {
			t.Errorf("refreshes_total{account=b} = %v after restart, want 1", got)
		}
		if got := s[key("informatica_up", "account", "b")]; got != 1 {
			t.Errorf("up{account=b} = %v after restart, want 1", got)
		}
		if got := s[key("informatica_ipu_entitlement_ipus", "account", "b", "org_id", "b-org")]; got != 200 {
			t.Errorf("entitlement{account=b} = %v, want the new 200", got)
		}
		// The old instance finishes its run in flight on its session, then
		// logs out; the new one logs in for its first run.
		if n := fB.Calls(fake.EndpointLogout); n != 0 {
			t.Errorf("account b logged out with a run in flight")
		}
		gB.allow(t, 2)
		waitFor(t, "account b's old session to log out", logouts(fB, 1))
		if n := fB.Calls(fake.EndpointLogin); n != 1 {
			t.Errorf("account b logged in %d times for the run in flight, want 1", n)
		}
		gB.allow(t, 3)
		if n := fB.Calls(fake.EndpointLogin); n != 2 {
			t.Errorf("account b logged in %d times, want 2", n)
		}
		if got := gatherSamples(t, reg)[key("informatica_exporter_refreshes_total", "account", "b")]; got != 3 {
			t.Errorf("refreshes_total{account=b} = %v, want 3", got)
		}
	})

	t.Run("added account starts", func(t *testing.T) {
		if e.Ready() {
			t.Fatal("ready before the added account finished a first refresh")
		}
		gC.allow(t, 1)
		if !e.Ready() {
			t.Fatal("not ready after the added account refreshed")
		}
		if len(orgSeries(gatherSamples(t, reg), "c-org")) == 0 {
			t.Error("the added account's usage is missing")
		}
	})

	t.Run("removed account stops", func(t *testing.T) {
		waitFor(t, "account b's next run to start", func() bool { return gB.waiting.Load() > 0 })
		apply(accountA(), accountC)
		if n := gB.waiting.Load(); n != 0 {
			t.Errorf("account b still has %d requests waiting: its refresher did not stop", n)
		}
		s := gatherSamples(t, reg)
		if got := s.withLabel("account", "b"); len(got) != 0 {
			t.Errorf("series of the removed account remain:\n%s", got)
		}
		if got := orgSeries(s, "b-org"); len(got) != 0 {
			t.Errorf("usage of the removed account remains:\n%s", got)
		}
		waitFor(t, "the removed account to log out", logouts(fB, 2))
		var names []string
		for _, st := range e.Status() {
			names = append(names, st.Name)
		}
		if strings.Join(names, ",") != "a,c" {
			t.Errorf("Status() lists %v, want a, c", names)
		}
	})

	t.Run("changed login is a new account", func(t *testing.T) {
		gD := newGate(t)
		moved := accountFor("a", fD, gD)
		apply(moved, accountC)
		gD.bind(t, e, "a")
		s := gatherSamples(t, reg)
		if got := orgSeries(s, "a-org"); len(got) != 0 {
			t.Errorf("data of the old login is still served:\n%s", got)
		}
		if got := s[key("informatica_exporter_refreshes_total", "account", "a")]; got != 0 {
			t.Errorf("refreshes_total{account=a} = %v, want 0: the old login's counters were kept", got)
		}
		if got, ok := s[key("informatica_up", "account", "a")]; !ok || got != 0 {
			t.Errorf("up{account=a} = %v (present %v) before the new login's first refresh, want 0", got, ok)
		}
		if e.Ready() {
			t.Error("ready before the new login's first refresh")
		}
		gD.allow(t, 1)
		if len(orgSeries(gatherSamples(t, reg), "d-org")) == 0 {
			t.Error("no data from the new login")
		}
		waitFor(t, "the old login to log out", logouts(fA, 1))
	})
}

func TestApplyErrorChangesNothing(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{}, now)
	logger, _ := newTestLogger()
	e, _ := newTestExporter(t, logger, now)
	good := accountFor("good", f, nil)
	if err := e.Apply(Settings{Accounts: []AccountSettings{good}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	before := accountNamed(e, "good")
	bad := accountFor("bad", f, nil)
	bad.Client.LoginURL = "ftp://nowhere"
	if err := e.Apply(Settings{Accounts: []AccountSettings{bad}, Refresh: refreshSettings(time.Hour)}); err == nil {
		t.Fatal("Apply accepted a bad login URL")
	}
	if accountNamed(e, "good") != before || accountNamed(e, "bad") != nil {
		t.Error("a failed Apply changed the accounts")
	}
}

func TestReadyAfterFailedFirstRefresh(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{}, now)
	logger, logs := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	acct := accountFor("prod", f, nil)
	acct.Client.Password = "wrong-secret"
	if err := e.Apply(Settings{Accounts: []AccountSettings{acct}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first refresh", e.Ready)
	s := gatherSamples(t, reg)
	if got := s[key("informatica_up", "account", "prod")]; got != 0 {
		t.Errorf("up = %v after a failed login", got)
	}
	if got := s[key("informatica_exporter_refresh_failures_total", "account", "prod", "stage", "login")]; got != 1 {
		t.Errorf("login failures = %v, want 1", got)
	}
	if u := s.with(usageNames...); len(u) != 0 {
		t.Errorf("usage without any successful refresh:\n%s", u)
	}
	if _, ok := s[key("informatica_exporter_last_refresh_success_timestamp_seconds", "account", "prod")]; ok {
		t.Error("a last success time without a success")
	}
	if w := logs.Lines("level=warn"); len(w) != 1 || !strings.Contains(w[0], "no previous data") {
		t.Errorf("want one warning that there is no previous data, got %q", w)
	}
	if strings.Contains(logs.String(), "wrong-secret") {
		t.Error("the password is in the log")
	}
}

func TestStopEndsRefreshersAndLogsOut(t *testing.T) {
	t.Parallel()
	now := movingClock()
	stuck := startFake(t, fake.Options{Orgs: orgsOf("s")}, now)
	stuck.SetOutcomes(fake.Outcome{Never: true}) // the first job never ends
	idle := startFake(t, fake.Options{Orgs: orgsOf("i")}, now)
	logger, _ := newTestLogger()
	e, _ := newTestExporter(t, logger, now)
	refresh := refreshSettings(time.Hour)
	refresh.JobTimeout = time.Minute
	if err := e.Apply(Settings{
		Accounts: []AccountSettings{accountFor("stuck", stuck, nil), accountFor("idle", idle, nil)},
		Refresh:  refresh,
	}); err != nil {
		t.Fatal(err)
	}
	stuckAcct, idleAcct := accountNamed(e, "stuck"), accountNamed(e, "idle")
	waitFor(t, "a job in flight", func() bool { return stuck.ActiveJobs() == 1 })
	waitFor(t, "the idle account's first refresh", func() bool { return refreshesOf(idleAcct.state) == 1 })

	start := time.Now()
	e.Stop()
	// The stuck job would hold the run for JobTimeout (1m).
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Stop took %s", elapsed)
	}
	for _, a := range []*account{stuckAcct, idleAcct} {
		select {
		case <-a.done:
		default:
			t.Errorf("account %s's refresher still runs after Stop", a.settings.Name)
		}
	}
	for name, f := range map[string]*fake.Server{"stuck": stuck, "idle": idle} {
		if n := f.Calls(fake.EndpointLogout); n != 1 {
			t.Errorf("account %s logged out %d times, want 1", name, n)
		}
	}
	if n := refreshesOf(stuckAcct.state); n != 0 {
		t.Errorf("the abandoned run counted as a refresh (%d)", n)
	}
	stuckAcct.state.mu.Lock()
	failures := stuckAcct.state.failures[informatica.StagePoll]
	stuckAcct.state.mu.Unlock()
	if failures != 0 {
		t.Errorf("the abandoned run counted as a failure")
	}
}

// TestReloadDuringRunKeepsOneJobInFlight changes an account's settings while
// its export job runs: the job is not abandoned at Informatica, and the
// restarted account starts no job of its own until that one is done.
func TestReloadDuringRunKeepsOneJobInFlight(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{ProcessingFor: 300 * time.Millisecond}, now)
	logger, _ := newTestLogger()
	e, _ := newTestExporter(t, logger, now)
	refresh := refreshSettings(10 * time.Millisecond)
	account := func(entitlement float64) AccountSettings {
		a := accountFor("prod", f, nil)
		a.Entitlement = &entitlement
		return a
	}

	var maxActive atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			default:
			}
			if n := int64(f.ActiveJobs()); n > maxActive.Load() {
				maxActive.Store(n)
			}
			time.Sleep(time.Millisecond)
		}
	}()

	if err := e.Apply(Settings{Accounts: []AccountSettings{account(1)}, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a job in flight", func() bool { return f.ActiveJobs() == 1 })
	state := accountNamed(e, "prod").state
	if err := e.Apply(Settings{Accounts: []AccountSettings{account(2)}, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the interrupted run and two more to finish", func() bool { return refreshesOf(state) >= 3 })
	close(stopSampling)
	<-sampled

	if m := maxActive.Load(); m > 1 {
		t.Errorf("%d export jobs were active at once, want at most 1", m)
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if failed := state.failures; failed[informatica.StageExport]+failed[informatica.StagePoll] != 0 {
		t.Errorf("runs failed across the reload: %v", failed)
	}
	if !state.up {
		t.Errorf("account is down after the reload")
	}
}
