package collector

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/usage"
)

func testRows() *breakdownRows {
	// o1's days before June 2 fold into one row of its June period; o2
	// has no last day and keeps every day.
	june := usage.BillingPeriod{Start: date("2025-06-01").Unix(), End: date("2025-06-30").Unix()}
	b := newRowsBuilder(&taskKind, &summaryScope{
		periods:  map[string]usage.BillingPeriod{"o1": june},
		lastDays: map[string]int32{"o1": usage.DayNumber(date("2025-06-02"))},
	})
	b.add(seriesKey{"o1", "m1", "t1", "Task \u00e9", "MTT", "P", "F"}, date("2025-06-01"), rowValues{1.5, 2, 1})
	b.add(seriesKey{"o1", "m1", "t1", "Task \u00e9", "MTT", "P", "F"}, date("2025-06-02"), rowValues{0.25, 1, 0.25})
	b.add(seriesKey{"o1", "m2", "t2", "Other, task", "MTT", "(none)", ""}, date("2025-05-31"), rowValues{3, 3, 1})
	b.add(seriesKey{"o2", "m2", "t3", "Task 3", "MTT", "P", "F"}, date("2025-06-14"), rowValues{3, 3, 1})
	return b.finish(date("2025-06-15T12:00:00Z"))
}

func TestBreakdownStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rows := testRows()
	h := breakdownStateHeader{Account: "prod/eu", LoginURL: "https://x.example", Username: "u"}
	if err := saveBreakdown(dir, h, rows); err != nil {
		t.Fatal(err)
	}
	got, loaded, err := loadBreakdown(dir, "prod/eu", &taskKind)
	if err != nil {
		t.Fatal(err)
	}
	if got.Account != "prod/eu" || got.LoginURL != h.LoginURL || got.Username != "u" || !got.Taken.Equal(rows.taken) {
		t.Errorf("header = %+v", got)
	}
	if len(rows.rows) != 3 || rows.rows[0].day != periodSum || rows.rows[0].v != (rowValues{1.5, 2, 1}) {
		t.Fatalf("rows before June 2 not folded into the period's: %+v", rows.rows)
	}
	if !reflect.DeepEqual(loaded.keys, rows.keys) || !reflect.DeepEqual(loaded.rows, rows.rows) || !loaded.taken.Equal(rows.taken) ||
		!reflect.DeepEqual(loaded.periods, rows.periods) {
		t.Errorf("rows after a round trip:\n got %+v\nwant %+v", loaded, rows)
	}
	if _, _, err := loadBreakdown(dir, "prod/eu", &assetKind); !errors.Is(err, errNoState) {
		t.Errorf("loading a kind never stored: %v, want errNoState", err)
	}
	if _, err := os.Stat(statePath(dir, "prod/eu")); !os.IsNotExist(err) {
		t.Errorf("a breakdown's file is the summary's: %v", err)
	}
}

// TestBreakdownStateDamageIsAnError: a file cut short, or with series that
// do not fit the kind, is an error naming the file.
func TestBreakdownStateDamageIsAnError(t *testing.T) {
	header := `{"version":1,"account":"prod","breakdown":"task","taken":"2025-06-15T12:00:00Z","series":1}` + "\n"
	for name, body := range map[string]string{
		"truncated":      `{"version":1,"account":"prod","breakdown":"task","taken":"2025-06-15T12:00:00Z","series":2}` + "\n" + `{"labels":["o1","m1","t1","n","t","p","f"],"days":["2025-06-01"],"values":[[1,1,1]]}`,
		"labels":         header + `{"labels":["o1","m1"],"days":["2025-06-01"],"values":[[1,1,1]]}`,
		"values":         header + `{"labels":["o1","m1","t1","n","t","p","f"],"days":["2025-06-01"],"values":[[1]]}`,
		"day":            header + `{"labels":["o1","m1","t1","n","t","p","f"],"days":["June 1"],"values":[[1,1,1]]}`,
		"utf-8":          header + `{"labels":["o1","m1","t1","\xff","t","p","f"],"days":["2025-06-01"],"values":[[1,1,1]]}`,
		"other version":  `{"version":2,"account":"prod","breakdown":"task"}` + "\n",
		"other kind":     `{"version":1,"account":"prod","breakdown":"asset"}` + "\n",
		"not json":       "not json",
		"days and rows":  header + `{"labels":["o1","m1","t1","n","t","p","f"],"days":["2025-06-01","2025-06-02"],"values":[[1,1,1]]}`,
		"empty org":      header + `{"labels":["","m1","t1","n","t","p","f"],"days":["2025-06-01"],"values":[[1,1,1]]}`,
		"not an object":  header + `[1,2,3]`,
		"second is junk": header + `{"labels":["o1","m1","t1","n","t","p","f"],"days":["2025-06-01"],"values":[[1,1,1]]}` + "\n{",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := breakdownStatePath(dir, "prod", &taskKind)
			if err := os.WriteFile(path, gzipped(t, body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := loadBreakdown(dir, "prod", &taskKind)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("loading a damaged breakdown: %v, want an error naming %s", err, path)
			}
		})
	}
}

// TestOldStateFileLoads: a state file written by the exporter before
// breakdowns were stored (testdata/state-v1, written by commit a325402)
// loads and is served, with no breakdown.
func TestOldStateFileLoads(t *testing.T) {
	dir := t.TempDir()
	old, err := os.ReadFile("testdata/state-v1/prod.state.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(statePath(dir, "prod"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	h, table, err := loadState(dir, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if want, have := rowsOf(stateTable(t)), rowsOf(table); !reflect.DeepEqual(want, have) || h.LoginOrgID != "o1" {
		t.Fatalf("rows of the old file:\n got %+v\nwant %+v", have, want)
	}

	logger, _ := newTestLogger()
	clock := newFixedClock(date("2025-06-15T12:30:00Z"))
	e := New(logger, WithClock(clock.Now), WithStorage(dir))
	t.Cleanup(e.Stop)
	acct := AccountSettings{
		Name: "prod", Client: informatica.Config{LoginURL: "https://fake.invalid", Username: "u", Password: "p"},
		Breakdown: BreakdownSettings{Kinds: BreakdownNames(), Interval: 24 * time.Hour, MaxSeries: 500},
	}
	if err := e.Apply(Settings{Accounts: []AccountSettings{acct}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	got := gatherSamples(t, httpGatherer{t: t, h: e.Handler(reg, promhttp.HandlerOpts{})})
	if v := got[usageKey("informatica_ipu_billing_period_consumed_ipus", "o1", "Org o1", "m1", "Meter m1")]; v != 1.25 {
		t.Errorf("billing period IPUs of o1, m1 from the old file = %v, want 1.25", v)
	}
	for k := range got {
		if strings.Contains(k, "breakdown") || strings.HasPrefix(k, "informatica_asset_") || strings.HasPrefix(k, "informatica_task_") {
			t.Errorf("no breakdown was stored, yet %s is served", k)
		}
	}
}

// TestRestartServesStoredBreakdowns: a restart on the same storage serves
// the summary and every breakdown at once, with the same values, before
// any export; a stored breakdown older than max_age is not served, and its
// schedule runs it at the first refresh.
func TestRestartServesStoredBreakdowns(t *testing.T) {
	t.Parallel()
	clock := newFixedClock(fakeBase)
	f := startFake(t, fake.Options{}, clock.Now)
	dir := t.TempDir()
	acct := assetTaskAccount(f, 10000, true, true)
	refresh := refreshSettings(time.Hour)
	start := func() (*Exporter, httpGatherer) {
		logger, _ := newTestLogger()
		e := New(logger, WithClock(clock.Now), WithStorage(dir))
		t.Cleanup(e.Stop)
		if err := e.Apply(Settings{Accounts: []AccountSettings{acct}, Refresh: refresh}); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(e)
		return e, httpGatherer{t: t, h: e.Handler(reg, promhttp.HandlerOpts{})}
	}
	first, g := start()
	waitFor(t, "the breakdowns", func() bool { return breakdownDone(t, g, "asset", "task") })
	for _, k := range []*breakdownKind{&assetKind, &taskKind} {
		waitFor(t, "the stored "+k.name+" breakdown", func() bool {
			_, err := os.Stat(breakdownStatePath(dir, "prod", k))
			return err == nil
		})
	}
	data := func(s samples) samples {
		return s.with(slices.Concat(usageNames, taskFamilies, []string{
			"informatica_asset_billing_period_consumed_ipus",
			"informatica_asset_last_day_consumed_ipus", "informatica_exporter_last_breakdown_success_timestamp_seconds",
		})...)
	}
	want := data(gatherSamples(t, g))
	first.Stop()
	if len(want.with(taskFamilies...)) == 0 || len(want.with("informatica_asset_billing_period_consumed_ipus")) == 0 {
		t.Fatalf("no breakdown before the restart:\n%s", want)
	}

	exports := f.Calls(fake.EndpointExport)
	clock.Set(fakeBase.Add(10 * time.Minute))
	second, g := start()
	assertSamples(t, data(gatherSamples(t, g)), want)
	if got := f.Calls(fake.EndpointExport); got != exports {
		t.Errorf("%d export jobs at the restart, want none", got-exports)
	}
	second.Stop()

	// The asset breakdown is made older than max_age; the summary and the
	// task breakdown are fresh.
	_, rows, err := loadBreakdown(dir, "prod", &assetKind)
	if err != nil {
		t.Fatal(err)
	}
	rows.taken = clock.Now().Add(-refresh.MaxAge - time.Minute)
	if err := saveBreakdown(dir, breakdownStateHeader{Account: "prod", LoginURL: acct.Client.LoginURL, Username: acct.Client.Username}, rows); err != nil {
		t.Fatal(err)
	}
	third, g := start()
	got := data(gatherSamples(t, g))
	if old := got.with("informatica_asset_billing_period_consumed_ipus", "informatica_asset_last_day_consumed_ipus"); len(old) != 0 {
		t.Errorf("a stored breakdown older than max_age is served:\n%s", old)
	}
	fresh := slices.Concat(usageNames, taskFamilies)
	assertSamples(t, got.with(fresh...), want.with(fresh...))
	if due := accountNamed(third, "prod").dueBreakdowns(clock.Now()); !reflect.DeepEqual(due, []int{1}) {
		t.Errorf("breakdowns due after the restart: %v, want only the asset one (1)", due)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(files) != 0 {
		t.Errorf("temporary files left: %v", files)
	}
}
