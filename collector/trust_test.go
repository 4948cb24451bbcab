package collector

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/usage"
)

// gatedRefresher is one account "prod" against a fake, on a calendar that
// stands still at fakeBase, whose runs go ahead only as the test allows.
type gatedRefresher struct {
	fake *fake.Server
	exp  *Exporter
	reg  *prometheus.Registry
	gate *gate
	logs *syncBuffer
}

func newGatedRefresher(t *testing.T, opts fake.Options, refresh RefreshSettings) *gatedRefresher {
	t.Helper()
	now := newFixedClock(fakeBase).Now
	r := &gatedRefresher{fake: startFake(t, opts, now), gate: newGate(t)}
	logger, logs := newTestLogger()
	r.logs = logs
	r.exp, r.reg = newTestExporter(t, logger, now)
	if err := r.exp.Apply(Settings{Accounts: []AccountSettings{accountFor("prod", r.fake, r.gate)}, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	r.gate.bind(t, r.exp, "prod")
	return r
}

// seriesDay names one entry of a table: org, meter and day.
type seriesDay struct {
	org, meter string
	day        int32
}

// entries is the account's table as org, meter and day -> IPU.
func (r *gatedRefresher) entries() map[seriesDay]float64 {
	out := map[seriesDay]float64{}
	accountNamed(r.exp, "prod").snap.Load().table.Each(func(u *informatica.UsageRow) {
		out[seriesDay{u.OrgID, u.MeterID, usage.DayNumber(u.Date)}] = u.IPU
	})
	return out
}

// incrementalRefresh is a schedule of one full run, then incremental runs
// of a 3-day window.
func incrementalRefresh() RefreshSettings {
	refresh := refreshSettings(time.Millisecond)
	refresh.Window = 3 * 24 * time.Hour
	refresh.FullInterval = 24 * time.Hour
	return refresh
}

// correction is a row Informatica may attach to an export for a day outside
// its range.
func correction(day time.Time, ipu float64) fake.Row {
	start, end := fake.BillingPeriod(day, time.Time{})
	return fake.Row{
		Org: fake.DemoOrgs[0], Meter: fake.DemoMeters[0], Date: day,
		BillingPeriodStart: start, BillingPeriodEnd: end, MeterUsage: ipu, IPU: ipu,
	}
}

// TestStrayRowReplacesOnlyItsOwnDay: an incremental export that carries one
// row for an older day replaces that org, meter and day, and nothing else
// of the day.
func TestStrayRowReplacesOnlyItsOwnDay(t *testing.T) {
	t.Parallel()
	today := usage.StartOfDay(fakeBase)
	stray := today.AddDate(0, 0, -6)
	var addStray atomic.Bool
	r := newGatedRefresher(t, fake.Options{EditRows: func(from, to time.Time, rows []fake.Row) []fake.Row {
		if addStray.Load() {
			rows = append(rows, correction(stray, 1000))
		}
		return rows
	}}, incrementalRefresh())

	r.gate.allow(t, 1)
	before := r.entries()
	addStray.Store(true)
	r.gate.allow(t, 2)
	starts := exportStarts(r.fake)
	if want := today.AddDate(0, 0, -3).Format("2006-01-02T15:04:05Z"); starts[len(starts)-1] != want {
		t.Fatalf("run 2 exported from %s, want the incremental window from %s", starts[len(starts)-1], want)
	}
	after := r.entries()
	strayKey := seriesDay{fake.DemoOrgs[0].ID, fake.DemoMeters[0].ID, usage.DayNumber(stray)}
	if after[strayKey] != 1000 {
		t.Errorf("the stray row's entry = %v, want its 1000", after[strayKey])
	}
	kept := 0
	for k, v := range before {
		if k.day != usage.DayNumber(stray) || k == strayKey {
			continue
		}
		kept++
		if got, ok := after[k]; !ok || got != v {
			t.Errorf("%s %s on the stray row's day = %v (present %v), want %v as before", k.org, k.meter, got, ok, v)
		}
	}
	if kept == 0 {
		t.Fatal("the table had no other entries on the stray row's day: the test proves nothing")
	}
}

// TestFutureRowsAreIgnoredOrRetracted: a row dated after tomorrow is never
// usage and is counted; a row dated tomorrow is kept until a full export no
// longer holds it.
func TestFutureRowsAreIgnoredOrRetracted(t *testing.T) {
	t.Parallel()
	today := usage.StartOfDay(fakeBase)
	var runs atomic.Int32
	r := newGatedRefresher(t, fake.Options{EditRows: func(from, to time.Time, rows []fake.Row) []fake.Row {
		if runs.Add(1) == 1 {
			rows = append(rows, correction(today.AddDate(0, 0, 1), 7), correction(today.AddDate(0, 0, 5), 9))
		}
		return rows
	}}, refreshSettings(time.Millisecond))

	tomorrow := seriesDay{fake.DemoOrgs[0].ID, fake.DemoMeters[0].ID, usage.DayNumber(today) + 1}
	later := seriesDay{fake.DemoOrgs[0].ID, fake.DemoMeters[0].ID, usage.DayNumber(today) + 5}
	r.gate.allow(t, 1)
	if got := r.entries(); got[tomorrow] != 7 || got[later] != 0 {
		t.Errorf("after the first export tomorrow = %v, in 5 days = %v; want 7 and nothing", got[tomorrow], got[later])
	}
	ignored := key("informatica_exporter_rows_ignored_total", "account", "prod", "reason", "future_date")
	if got := gatherSamples(t, r.reg)[ignored]; got != 1 {
		t.Errorf("%s = %v, want 1", ignored, got)
	}
	r.gate.allow(t, 2)
	if got, ok := r.entries()[tomorrow]; ok {
		t.Errorf("a full export without tomorrow's row still serves it (%v)", got)
	}
}

// TestEmptyIncrementalExportIsNothingNew: Informatica has not published the
// window yet. That is no failure, and the data stays; a full export without
// rows is still suspicious.
func TestEmptyIncrementalExportIsNothingNew(t *testing.T) {
	t.Parallel()
	var empty atomic.Bool
	r := newGatedRefresher(t, fake.Options{EditRows: func(from, to time.Time, rows []fake.Row) []fake.Row {
		if empty.Load() {
			return nil
		}
		return rows
	}}, incrementalRefresh())
	r.gate.allow(t, 1)
	before := r.entries()
	empty.Store(true)
	r.gate.allow(t, 2)
	s := gatherSamples(t, r.reg)
	if got := s[key("informatica_up", "account", "prod")]; got != 1 {
		t.Errorf("informatica_up = %v after an empty incremental export, want 1:\n%s", got, r.logs)
	}
	for _, st := range informatica.Stages {
		if got := s[key("informatica_exporter_refresh_failures_total", "account", "prod", "stage", string(st))]; got != 0 {
			t.Errorf("failures{stage=%s} = %v", st, got)
		}
	}
	if after := r.entries(); len(after) != len(before) {
		t.Errorf("the table has %d entries after an empty incremental export, %d before", len(after), len(before))
	}
}

// recordingTimer is the refresher's timer in a test: it records every wait
// and ends it at once, until the test has seen as many as it wants.
type recordingTimer struct {
	mu    sync.Mutex
	waits []time.Duration
	limit int
}

func (r *recordingTimer) after(d time.Duration) <-chan time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, d)
	ch := make(chan time.Time, 1)
	if len(r.waits) <= r.limit {
		ch <- time.Time{}
	}
	return ch
}

func (r *recordingTimer) recorded() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.waits)
}

// TestFailedRunsRetrySooner: after a failed run the next one follows a
// backoff of 1m, 2m, 4m... capped at refresh.interval; a success returns to
// the interval. The next refresh's time is published.
func TestFailedRunsRetrySooner(t *testing.T) {
	t.Parallel()
	clock := newFixedClock(fakeBase)
	f := startFake(t, fake.Options{}, clock.Now)
	f.Inject(fake.Fault{Endpoint: fake.EndpointLogin, Status: 503, Body: `{"error":{"code":"503","message":"down"}}`, Times: 4})
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, clock.Now)
	timer := &recordingTimer{limit: 5} // the first run and four retries
	e.after = timer.after
	refresh := refreshSettings(3 * time.Minute)
	if err := e.Apply(Settings{Accounts: []AccountSettings{accountFor("prod", f, nil)}, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the wait after the first success", func() bool { return len(timer.recorded()) == 6 })
	waits := timer.recorded()
	want := []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute}
	if !slices.Equal(waits[:5], want) {
		t.Errorf("waits before the runs = %v, want %v", waits[:5], want)
	}
	if w := waits[5]; w < 162*time.Second || w > 198*time.Second {
		t.Errorf("wait after the success = %v, want refresh.interval ±10%%", w)
	}
	s := gatherSamples(t, reg)
	if got := s[key("informatica_up", "account", "prod")]; got != 1 {
		t.Errorf("informatica_up = %v after the fifth run", got)
	}
	next := s[key("informatica_exporter_next_refresh_timestamp_seconds", "account", "prod")]
	if want := float64(fakeBase.Add(waits[5]).UnixNano()) / 1e9; next != want {
		t.Errorf("next refresh = %v, want %v", next, want)
	}
	if st := e.Status()[0]; !st.NextRefresh.Equal(fakeBase.Add(waits[5])) {
		t.Errorf("landing page's next refresh = %s, want %s", st.NextRefresh, fakeBase.Add(waits[5]))
	}
}

func TestRetryDelay(t *testing.T) {
	for _, c := range []struct {
		failures int
		interval time.Duration
		want     time.Duration
	}{
		{1, time.Hour, time.Minute},
		{2, time.Hour, 2 * time.Minute},
		{6, time.Hour, 32 * time.Minute},
		{7, time.Hour, time.Hour},
		{1000, time.Hour, time.Hour},
		{1, 30 * time.Second, 30 * time.Second},
	} {
		if got := retryDelay(c.failures, c.interval); got != c.want {
			t.Errorf("retryDelay(%d, %s) = %s, want %s", c.failures, c.interval, got, c.want)
		}
	}
}

// TestStoredStateFromTheFuture: state stored while the clock was ahead is
// taken now, so it ages from now, and is refreshed at once.
func TestStoredStateFromTheFuture(t *testing.T) {
	t.Parallel()
	clock := newFixedClock(fakeBase)
	f := startFake(t, fake.Options{}, clock.Now)
	dir := t.TempDir()
	acct := accountFor("prod", f, nil)
	h := stateHeader{
		Account: "prod", LoginURL: acct.Client.LoginURL, Username: acct.Client.Username,
		Taken: fakeBase.Add(72 * time.Hour), LastFull: fakeBase.Add(72 * time.Hour),
	}
	if err := saveState(dir, h, stateTable(t)); err != nil {
		t.Fatal(err)
	}
	logger, logs := newTestLogger()
	e := New(logger, WithClock(clock.Now), WithStorage(dir))
	t.Cleanup(e.Stop)
	timer := &recordingTimer{limit: 0}
	e.after = timer.after
	if err := e.Apply(Settings{Accounts: []AccountSettings{acct}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s := samplesOf(t, e)
	if got := s[key("informatica_exporter_last_refresh_success_timestamp_seconds", "account", "prod")]; got != float64(fakeBase.Unix()) {
		t.Errorf("last success = %v, want now (%v), not the future", got, fakeBase.Unix())
	}
	waitFor(t, "the refresher to wait", func() bool { return len(timer.recorded()) > 0 })
	if w := timer.recorded()[0]; w != 0 {
		t.Errorf("first wait = %s, want an export at once", w)
	}
	// Served for max_age from now, not from three days ahead.
	clock.Set(fakeBase.Add(27 * time.Hour))
	if got := samplesOf(t, e).withLabel("org_id", "o1"); len(got) != 0 {
		t.Errorf("stored state served 27h after it counts as taken:\n%s", got)
	}
	if len(logs.Lines("dated in the future")) != 1 {
		t.Errorf("no log line says the stored state is dated in the future:\n%s", logs)
	}
}

// TestStaleStoredStateIsNotCurrent: stored state older than max_age is not
// served as usage, only as health.
func TestStaleStoredStateIsNotCurrent(t *testing.T) {
	t.Parallel()
	clock := newFixedClock(fakeBase)
	f := startFake(t, fake.Options{}, clock.Now)
	dir := t.TempDir()
	acct := accountFor("prod", f, nil)
	h := stateHeader{Account: "prod", LoginURL: acct.Client.LoginURL, Username: acct.Client.Username, Taken: fakeBase.Add(-30 * time.Hour)}
	if err := saveState(dir, h, stateTable(t)); err != nil {
		t.Fatal(err)
	}
	logger, _ := newTestLogger()
	e := New(logger, WithClock(clock.Now), WithStorage(dir))
	t.Cleanup(e.Stop)
	e.after = (&recordingTimer{limit: 0}).after
	if err := e.Apply(Settings{Accounts: []AccountSettings{acct}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s := samplesOf(t, e)
	if got := s.withLabel("org_id", "o1"); len(got) != 0 {
		t.Errorf("stored state older than max_age is served:\n%s", got)
	}
	if _, ok := s[key("informatica_exporter_last_refresh_success_timestamp_seconds", "account", "prod")]; !ok {
		t.Error("the health series of restored state are missing")
	}
}

// TestUnrenderableTableFailsOnlyItsAccount: a table whose text cannot be a
// label fails its account's refresh; the other accounts are served, and a
// scrape never fails or panics.
func TestUnrenderableTableFailsOnlyItsAccount(t *testing.T) {
	bad := buildTable(t, row{org: "o\xe9", meter: "m", date: "2025-06-14", start: "2025-06-01", end: "2025-06-30", ipu: 1})
	good := buildTable(t, row{org: "o1", meter: "m", date: "2025-06-14", start: "2025-06-01", end: "2025-06-30", ipu: 2})
	if _, err := newSnapshot("bad", bad, fakeBase).metrics(fakeBase); err == nil || !strings.Contains(err.Error(), `account "bad"`) {
		t.Errorf("rendering a label of invalid UTF-8: err = %v, want an error naming the account", err)
	}

	logger, logs := newTestLogger()
	e, reg := newTestExporter(t, logger, newFixedClock(fakeBase).Now)
	refresh := refreshSettings(time.Hour)
	if err := e.Apply(Settings{Accounts: []AccountSettings{
		{Name: "bad", Client: informatica.Config{LoginURL: "http://127.0.0.1:1"}},
		{Name: "good", Client: informatica.Config{LoginURL: "http://127.0.0.1:1"}},
	}, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	badAcct, goodAcct := accountNamed(e, "bad"), accountNamed(e, "good")
	badAcct.stop()
	goodAcct.stop()
	if err := badAcct.publish(newSnapshot("bad", bad, fakeBase)); err == nil || informatica.StageOf(err) != informatica.StageParse {
		t.Errorf("publishing an unrenderable table: %v, want a parse-stage error", err)
	}
	if err := goodAcct.publish(newSnapshot("good", good, fakeBase)); err != nil {
		t.Fatal(err)
	}
	// Even a snapshot that bypassed publish cannot take the scrape down.
	badAcct.snap.Store(newSnapshot("bad", bad, fakeBase))
	if s := gatherSamples(t, reg); len(s.withLabel("org_id", "o1")) == 0 {
		t.Errorf("Collect: the good account's usage is missing:\n%s", s)
	}
	if s := gatherSamples(t, e.Gatherer(reg)); len(s.withLabel("org_id", "o1")) == 0 {
		t.Errorf("Gatherer: the good account's usage is missing:\n%s", s)
	}
	if len(logs.Lines("Cannot serve the account's usage metrics")) != 1 {
		t.Errorf("want one log line for the unrenderable snapshot:\n%s", logs)
	}
}
