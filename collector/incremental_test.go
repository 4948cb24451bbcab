package collector

import (
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/usage"
)

// jumpClock runs at real speed from fakeBase and can be moved forward, for
// tests of schedules measured in hours.
type jumpClock struct {
	start  time.Time
	offset atomic.Int64
}

func newJumpClock() *jumpClock { return &jumpClock{start: time.Now()} }

func (c *jumpClock) Now() time.Time {
	return fakeBase.Add(time.Since(c.start) + time.Duration(c.offset.Load()))
}

func (c *jumpClock) Jump(d time.Duration) { c.offset.Add(int64(d)) }

// TestIncrementalRefresh: after the first full run, runs export only the
// window and merge it; a full run comes back after full_interval.
func TestIncrementalRefresh(t *testing.T) {
	t.Parallel()
	clock := newJumpClock()
	f := startFake(t, fake.Options{}, clock.Now)
	g := newGate(t)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, clock.Now)
	refresh := refreshSettings(10 * time.Millisecond)
	refresh.Window = 3 * 24 * time.Hour
	refresh.FullInterval = 24 * time.Hour
	if err := e.Apply(Settings{Accounts: []AccountSettings{accountFor("prod", f, g)}, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	g.bind(t, e, "prod")
	rows := func() int { return len(f.Served()) }
	rowsMetric := func() float64 {
		return gatherSamples(t, reg)[key("informatica_exporter_export_rows", "account", "prod")]
	}

	g.allow(t, 1)
	full := rows()
	// Billing-period sums: the last complete day moves with the clock.
	periodNames := []string{"informatica_ipu_billing_period_consumed_ipus", "informatica_meter_billing_period_usage"}
	afterFull := gatherSamples(t, reg).with(periodNames...)
	// Run 2 has planned its range once its first request waits at the gate;
	// moving the clock then makes run 3, not run 2, the one after
	// full_interval.
	waitFor(t, "run 2 to start", func() bool { return g.waiting.Load() > 0 })
	wantStart := usage.StartOfDay(clock.Now().Add(-refresh.Window)).Format("2006-01-02T15:04:05Z")
	clock.Jump(25 * time.Hour)
	g.allow(t, 2)
	incremental := rows() - full
	t.Logf("rows downloaded: full run %d, incremental run %d", full, incremental)
	if incremental == 0 || incremental*5 > full {
		t.Errorf("the incremental run downloaded %d rows against %d for the full run", incremental, full)
	}
	if got := rowsMetric(); got != float64(incremental) {
		t.Errorf("export_rows = %v, want the incremental run's %d", got, incremental)
	}
	starts := exportStarts(f)
	if starts[len(starts)-1] != wantStart {
		t.Errorf("incremental export starts %s, want %s (window of 3 days)", starts[len(starts)-1], wantStart)
	}
	// The merged table serves what the full run served.
	assertSamples(t, gatherSamples(t, reg).with(periodNames...), afterFull)

	before := rows()
	g.allow(t, 3)
	if got := rows() - before; got*2 < full {
		t.Errorf("after full_interval the run downloaded %d rows, want a full run (%d)", got, full)
	}
}

// TestHistoryLoadsAndResumes loads a year of history in jobs of at most 180
// days, going back from the lookback; a failure stops the loading, and a
// restart on the same storage resumes it where it stopped.
func TestHistoryLoadsAndResumes(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{Days: 500}, now)
	dir := t.TempDir()
	refresh := refreshSettings(time.Hour)
	refresh.Window = 3 * 24 * time.Hour
	refresh.FullInterval = 24 * time.Hour
	refresh.HistoryStart = usage.StartOfDay(now().AddDate(-1, 0, 0))
	settings := Settings{Accounts: []AccountSettings{accountFor("prod", f, nil)}, Refresh: refresh}
	historyFrom := func(e *Exporter) time.Time {
		s := accountNamed(e, "prod").state
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.historyFrom
	}

	// The main export and the first history job succeed; the second fails.
	f.SetOutcomes(fake.Outcome{}, fake.Outcome{}, fake.Outcome{Status: "FAILED", ErrorMessage: "history unavailable"})
	logger, logs := newTestLogger()
	first := New(logger, WithClock(now), WithStorage(dir))
	if err := first.Apply(settings); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed history job", func() bool { return len(logs.Lines("Loading history failed")) == 1 })
	stoppedAt := historyFrom(first)
	first.Stop()
	starts := exportStarts(f)
	if len(starts) != 3 {
		t.Fatalf("exports = %v, want the main one and two history jobs", starts)
	}
	mainStart := date(starts[0])
	if want := mainStart.AddDate(0, 0, -informatica.MaxSummaryDays); !date(starts[1]).Equal(want) || !stoppedAt.Equal(want) {
		t.Errorf("first history job starts %s, loaded from %s; want %s", starts[1], stoppedAt, want)
	}

	// A restart resumes at the failed job and loads the rest.
	second := New(logger, WithClock(now), WithStorage(dir))
	t.Cleanup(second.Stop)
	refresh.Interval = 20 * time.Millisecond
	refresh.FullInterval = time.Hour
	settings.Refresh = refresh
	if err := second.Apply(settings); err != nil {
		t.Fatal(err)
	}
	if got := historyFrom(second); !got.Equal(stoppedAt) {
		t.Errorf("restored history start %s, want %s", got, stoppedAt)
	}
	waitFor(t, "history to load", func() bool { return !historyFrom(second).After(refresh.HistoryStart) })
	resumed := exportStarts(f)[3:]
	var history []string
	for _, s := range resumed {
		if date(s).Before(stoppedAt) {
			history = append(history, s)
		}
		if !date(s).Before(stoppedAt.AddDate(0, 0, -1)) && date(s).Before(mainStart) {
			t.Errorf("after the restart an export starts at %s, inside the history already loaded", s)
		}
	}
	if len(history) != 1 || !date(history[0]).Equal(refresh.HistoryStart) {
		t.Errorf("history exports after the restart = %v, want one from %s", history, refresh.HistoryStart.Format(time.DateOnly))
	}

	// Every day since history.start is in the table, once.
	days := map[int32]bool{}
	snap := accountNamed(second, "prod").snap.Load()
	for _, d := range snap.table.Days {
		days[d.Day] = true
	}
	var sorted []int
	for d := range days {
		sorted = append(sorted, int(d))
	}
	sort.Ints(sorted)
	first0, last := usage.DayTime(int32(sorted[0])), usage.DayTime(int32(sorted[len(sorted)-1]))
	if !first0.Equal(refresh.HistoryStart) || len(sorted) != int(last.Sub(first0).Hours()/24)+1 {
		t.Errorf("table days %s to %s, %d distinct; want every day from %s", first0.Format(time.DateOnly), last.Format(time.DateOnly),
			len(sorted), refresh.HistoryStart.Format(time.DateOnly))
	}
	// The Sub-organizations meter has one row per org and day: a day
	// loaded twice would show as 2.
	for _, d := range snap.table.Days {
		if snap.table.Meters[d.Meter].Name == "Sub-organizations" && d.Usage != 1 {
			t.Fatalf("day %s has usage %v for a meter that reports 1 a day: loaded twice?", usage.DayTime(d.Day).Format(time.DateOnly), d.Usage)
		}
	}
}

// TestConcurrencyAndSlowAccount runs 20 accounts with refresh.concurrency 4.
// One account's job never finishes: it holds one slot, and the 19 others
// refresh through the remaining three.
func TestConcurrencyAndSlowAccount(t *testing.T) {
	t.Parallel()
	now := movingClock()
	shared := startFake(t, fake.Options{MaxActiveJobs: 100, ProcessingFor: time.Second}, now)
	slow := startFake(t, fake.Options{}, now)
	slow.SetOutcomes(fake.Outcome{Never: true})
	logger, _ := newTestLogger()
	e, _ := newTestExporter(t, logger, now)
	refresh := refreshSettings(time.Hour)
	refresh.JobTimeout = time.Minute
	refresh.Concurrency = 4
	accounts := []AccountSettings{accountFor("slow", slow, nil)}
	for i := 0; i < 19; i++ {
		accounts = append(accounts, accountFor("fast"+string(rune('a'+i)), shared, nil))
	}

	var maxActive atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if n := int64(shared.ActiveJobs()); n > maxActive.Load() {
				maxActive.Store(n)
			}
		}
	}()
	if err := e.Apply(Settings{Accounts: accounts, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	upCount := func() int {
		n := 0
		for _, st := range e.Status() {
			if st.Up {
				n++
			}
		}
		return n
	}
	waitFor(t, "the 19 fast accounts", func() bool { return upCount() == 19 })
	close(stop)
	<-sampled
	if st := e.Status()[0]; st.Attempted {
		t.Errorf("the slow account finished; the test did not hold its slot")
	}
	if m := maxActive.Load(); m > 3 || m < 2 {
		t.Errorf("at most %d jobs of the fast accounts were active at once, want 2 or 3 (4 slots, one held by the slow account)", m)
	}
}
