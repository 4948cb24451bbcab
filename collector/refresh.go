package collector

import (
	"context"
	"errors"
	"time"

	"github.com/go-kit/log/level"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/usage"
)

// runPlan is what one refresh exports.
type runPlan struct {
	// full runs export the whole lookback (and every org's current billing
	// period); the others only the last refresh.window days, merged into
	// the table.
	full bool
	from time.Time
	// keepFrom is the oldest day the table keeps.
	keepFrom time.Time
}

// plan decides between a full and an incremental run. A full run is due
// without data, and every refresh.full_interval; it also re-reads days that
// Informatica may have restated since. An incremental run reaches back past
// the last success, so that no day is skipped after failed runs.
func (a *account) plan(now time.Time, prev *snapshot) runPlan {
	fullFrom := usage.StartOfDay(now.Add(-a.refresh.Lookback))
	if prev != nil {
		fullFrom = a.reachPeriods(prev.table, now, fullFrom)
	}
	p := runPlan{full: true, from: fullFrom, keepFrom: fullFrom}
	if h := a.refresh.HistoryStart; !h.IsZero() && h.Before(p.keepFrom) {
		p.keepFrom = usage.StartOfDay(h)
	}
	a.state.mu.Lock()
	lastFull, lastSuccess := a.state.lastFull, a.state.lastSuccess
	a.state.mu.Unlock()
	if prev == nil || lastFull.IsZero() || now.Sub(lastFull) >= a.refresh.FullInterval {
		return p
	}
	p.full = false
	p.from = usage.StartOfDay(now.Add(-a.refresh.Window))
	if since := usage.StartOfDay(lastSuccess.Add(-24 * time.Hour)); since.Before(p.from) {
		p.from = since
	}
	if p.from.Before(fullFrom) {
		p.from = fullFrom
	}
	return p
}

// runOnce performs one refresh and records its outcome; then, with
// history.start set, it loads the history still missing.
func (a *account) runOnce(ctx context.Context) {
	started := a.now()
	prev := a.snap.Load()
	p := a.plan(started, prev)
	table, res, err := a.export(ctx, prev, p)
	if ctx.Err() != nil || errors.Is(err, errRetired) {
		return // stopped mid-run: neither a success nor a failure
	}
	finished := a.now()
	duration := finished.Sub(started)
	if err != nil {
		a.fail(finished, duration, prev, "Refresh failed, keeping the last good data", err)
		return
	}
	snap := newSnapshot(a.settings.Name, table, finished)
	if err := a.publish(snap); err != nil {
		a.fail(finished, duration, prev, "Refresh failed, keeping the last good data", err)
		return
	}
	a.record(finished, duration, func(s *accountState) {
		s.up = true
		s.consecutiveFailures = 0
		s.lastSuccess = finished
		s.rows = res.Rows
		s.partial = res.Partial
		s.lastError, s.lastErrorStage = "", ""
		if p.full {
			s.lastFull = started
		}
		if s.historyFrom.IsZero() || p.from.Before(s.historyFrom) {
			s.historyFrom = p.from
		}
	})
	if res.Partial {
		level.Warn(a.logger).Log("msg", "Export ended PARTIAL_SUCCESS: orgs missing from it keep their previous data", "rows", res.Rows, "jobs", res.Jobs, "message", res.Message)
	}
	level.Info(a.logger).Log("msg", "Refresh finished", "full", p.full, "from", p.from.Format(time.DateOnly),
		"rows", res.Rows, "jobs", res.Jobs, "orgs", len(table.Orgs), "meters", len(table.Meters), "duration", duration)
	a.persist(snap)
	if !a.refresh.HistoryStart.IsZero() {
		a.loadHistory(ctx, p.keepFrom)
	}
}

// errRetired ends a run of a retired instance before its next export job:
// the instance that replaced it runs its own.
var errRetired = errors.New("retired by a reload")

// publish makes snap the account's data, once it has been rendered: a table
// that cannot become metrics is a failed refresh of this account, never a
// failed scrape of every account.
func (a *account) publish(snap *snapshot) error {
	if _, err := snap.metrics(a.now()); err != nil {
		return &informatica.StageError{Stage: informatica.StageParse, Err: err}
	}
	a.snap.Store(snap)
	if a.published != nil {
		a.published()
	}
	return nil
}

// fail records a failed run: the last good data stays, the failure is
// counted by stage and said in one log line.
func (a *account) fail(finished time.Time, duration time.Duration, prev *snapshot, msg string, err error) {
	stage := stageOf(err)
	a.record(finished, duration, func(s *accountState) {
		s.up = false
		s.consecutiveFailures++
		s.noteFailure(stage, err)
	})
	kept := "no previous data"
	if prev != nil {
		kept = "serving data from " + prev.taken.UTC().Format(time.RFC3339)
	}
	level.Warn(a.logger).Log("msg", msg, "stage", stage, "kept", kept, "duration", duration, "err", err)
}

// stageOf is the stage an error counts for; an error that names none came
// from the data, after the download.
func stageOf(err error) informatica.Stage {
	if stage := informatica.StageOf(err); stage != "" {
		return stage
	}
	return informatica.StageParse
}

// noteFailure counts a failure; s.mu must be held.
func (s *accountState) noteFailure(stage informatica.Stage, err error) {
	s.failures[stage]++
	s.lastError, s.lastErrorStage = err.Error(), stage
}

// record updates the account's state after a run under its lock, so that a
// scrape sees the outcome of a run whole.
func (a *account) record(finished time.Time, duration time.Duration, outcome func(*accountState)) {
	s := a.state
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempted = true
	s.lastAttempt = finished
	s.lastDuration = duration
	s.refreshes++
	if org := a.client.OrgID(); org != "" {
		s.loginOrgID = org
	}
	outcome(s)
}

// export runs the export jobs of one refresh and merges them into the table.
// A full run reaches back to the start of every org's current billing period
// so that period totals are complete; before the first refresh those periods
// are only known once the lookback is in.
func (a *account) export(ctx context.Context, prev *snapshot, p runPlan) (*usage.Table, informatica.ExportResult, error) {
	now := a.now().UTC()
	b := usage.NewBuilder()
	// The rows of each export are read on every core, each part into a
	// builder of its own, and joined into b in file order.
	parts := usage.NewPartsBuilder(b, func(add func(*informatica.UsageRow) error) func(*informatica.UsageRow) error {
		return a.usable(now, add)
	})
	res, err := a.client.ExportUsageParts(ctx, p.from, now, parts)
	if err != nil {
		return nil, res, err
	}
	from := p.from
	if p.full {
		if reach := a.reachPeriods(b.Table(), now, from); reach.Before(from) {
			if a.retired() {
				return nil, res, errRetired
			}
			more, err := a.client.ExportUsageParts(ctx, reach, from.Add(-time.Second), parts)
			res.Jobs += more.Jobs
			res.Rows += more.Rows
			res.Partial = res.Partial || more.Partial
			if err != nil {
				return nil, res, err
			}
			from = reach
		}
	}
	fresh := b.Table()
	if len(fresh.Days) == 0 && p.full {
		// An incremental export without rows is nothing new: Informatica
		// has not published the window yet. A full one is suspect.
		return nil, res, &informatica.StageError{
			Stage: informatica.StageParse,
			Err:   errors.New("the export holds no usage rows; an empty export would wipe every series, so it is not used"),
		}
	}
	var old *usage.Table
	if prev != nil {
		old = prev.table
	}
	keepFrom := p.keepFrom
	if from.Before(keepFrom) {
		keepFrom = from
	}
	c := usage.Coverage{From: usage.DayNumber(from), To: usage.Onward, All: p.full && !res.Partial}
	return usage.Merge(old, fresh, c, usage.DayNumber(keepFrom)), res, nil
}

// Reasons why export rows are not used, the label reason of
// informatica_exporter_rows_ignored_total.
const ignoredFutureDate = "future_date"

// usable passes on to add the rows that can be usage: a row dated after
// tomorrow (UTC) cannot be, whatever the clocks say, and is counted instead.
// Tomorrow is allowed for an Informatica whose clock or time zone runs ahead.
func (a *account) usable(now time.Time, add func(*informatica.UsageRow) error) func(*informatica.UsageRow) error {
	latest := usage.DayNumber(now) + 1
	return func(r *informatica.UsageRow) error {
		if usage.DayNumber(r.Date) > latest {
			a.state.mu.Lock()
			a.state.ignored[ignoredFutureDate]++
			a.state.mu.Unlock()
			return nil
		}
		return add(r)
	}
}

// loadHistory exports the days between history.start and the oldest day
// loaded so far, going back one job of at most 180 days at a time. Each
// finished job is merged, served and stored at once, so a restart resumes
// where the last one stopped.
func (a *account) loadHistory(ctx context.Context, keepFrom time.Time) {
	start := usage.StartOfDay(a.refresh.HistoryStart)
	defer a.setActivity(activityRunning)
	for ctx.Err() == nil && !a.retired() {
		a.state.mu.Lock()
		loaded := a.state.historyFrom
		a.state.mu.Unlock()
		if loaded.IsZero() || !loaded.After(start) {
			return
		}
		a.setActivity(activityHistory)
		from := loaded.AddDate(0, 0, -informatica.MaxSummaryDays)
		if from.Before(start) {
			from = start
		}
		began := a.now()
		b := usage.NewBuilder()
		parts := usage.NewPartsBuilder(b, func(add func(*informatica.UsageRow) error) func(*informatica.UsageRow) error {
			return a.usable(began, add)
		})
		res, err := a.client.ExportUsageParts(ctx, from, loaded.Add(-time.Second), parts)
		if ctx.Err() != nil {
			return
		}
		prev := a.snap.Load()
		if err != nil {
			a.fail(a.now(), a.now().Sub(began), prev, "Loading history failed; the next refresh resumes it", err)
			return
		}
		c := usage.Coverage{From: usage.DayNumber(from), To: usage.DayNumber(loaded) - 1, All: !res.Partial}
		snap := newSnapshot(a.settings.Name, usage.Merge(prev.table, b.Table(), c, usage.DayNumber(keepFrom)), prev.taken)
		if err := a.publish(snap); err != nil {
			a.fail(a.now(), a.now().Sub(began), prev, "Loading history failed; the next refresh resumes it", err)
			return
		}
		a.state.mu.Lock()
		a.state.historyFrom = from
		a.state.mu.Unlock()
		level.Info(a.logger).Log("msg", "History loaded", "from", from.Format(time.DateOnly), "to", loaded.AddDate(0, 0, -1).Format(time.DateOnly), "rows", res.Rows)
		a.persist(snap)
	}
}

// reachPeriods moves from back to the earliest start of an org's current
// billing period in t, within maxPeriodReach.
func (a *account) reachPeriods(t *usage.Table, now, from time.Time) time.Time {
	limit := usage.StartOfDay(now.Add(-maxPeriodReach))
	views, _ := usage.ComputeView(t, now)
	for _, v := range views {
		if !v.HasPeriod {
			continue
		}
		start := usage.StartOfDay(time.Unix(v.Period.Start, 0))
		if start.Before(from) && !start.Before(limit) {
			from = start
		}
	}
	return from
}
