package collector

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/usage"
)

// BreakdownSettings configure an account's optional breakdowns: exports
// besides the summary that say where the IPUs go.
type BreakdownSettings struct {
	// Kinds are the names of the breakdowns turned on (BreakdownNames),
	// as ParseBreakdowns returns them.
	Kinds []string
	// Interval is the time between the exports of each breakdown; they run
	// with the summary refresh that finds one due.
	Interval time.Duration
	// MaxSeries caps the series of each breakdown; the smallest beyond it
	// are summed per org (and meter) into "other".
	MaxSeries int
}

// On reports whether the breakdown named name is turned on.
func (s BreakdownSettings) On(name string) bool { return slices.Contains(s.Kinds, name) }

func (s BreakdownSettings) on(k *breakdownKind) bool { return s.On(k.name) }

// BreakdownNames are the names of the breakdowns, as the configuration
// spells them, in the order of breakdownKinds.
func BreakdownNames() []string {
	names := make([]string, len(breakdownKinds))
	for i, k := range breakdownKinds {
		names[i] = k.name
	}
	return names
}

// ParseBreakdowns checks the names of breakdowns to turn on and returns
// them in the order of breakdownKinds, once each, for BreakdownSettings.Kinds.
func ParseBreakdowns(names []string) ([]string, error) {
	all := BreakdownNames()
	for _, n := range names {
		if !slices.Contains(all, n) {
			return nil, fmt.Errorf("%q is not a breakdown; the breakdowns are: %s", n, strings.Join(all, ", "))
		}
	}
	var kinds []string
	for _, n := range all {
		if slices.Contains(names, n) {
			kinds = append(kinds, n)
		}
	}
	return kinds, nil
}

// Labels of the series that hold what the cap leaves out, and of usage that
// has no project: assets deleted before Informatica processed their usage
// (documented for the UI's reports, inferred for the exports).
const (
	otherProject = "other"
	noProject    = "(none)"
)

var lastBreakdownDesc = prometheus.NewDesc(
	"informatica_exporter_last_breakdown_success_timestamp_seconds",
	"When the account's last successful breakdown of the kind ("+strings.Join(BreakdownNames(), ", ")+") finished.",
	[]string{"account", "breakdown"}, nil)

// maxBreakdownLabels, maxBreakdownValues and maxRowValues bound the labels,
// the families and the per-day values of a breakdown, so that keys and
// values are arrays: a row is looked up without allocating.
const (
	maxBreakdownLabels = 7
	maxBreakdownValues = 4
	maxRowValues       = 3
)

type (
	seriesKey    [maxBreakdownLabels]string
	seriesValues [maxBreakdownValues]float64 // one per family
	rowValues    [maxRowValues]float64       // one day of a series
)

// breakdownKind is one breakdown: its families and how it exports. All
// kinds share the schedule, the range, the cap, the scoping by the summary
// and the publishing.
type breakdownKind struct {
	name  string // in the configuration and in label breakdown
	title string // in log lines
	// labels are the labels of every family of the kind. A series holds
	// one row of values per day; families says what each family shows of
	// them. The first family, billing-period IPUs, ranks the series for
	// the cap.
	labels   []string
	families []breakdownFamily
	// group is how many leading labels the series beyond the cap keep:
	// they are summed per org (and meter), so the sums per group stay whole.
	group int
	// keepMax marks the row values that combine by maximum rather than sum.
	keepMax [maxRowValues]bool
	// maxDays is the longest range one of its export jobs may cover.
	maxDays int
	// export runs the kind's export job for one range of the run and adds
	// its rows to the run's; finish, if set, adds what the kind gathered
	// over all of them.
	export func(ctx context.Context, c *informatica.Client, run *breakdownRun, job informatica.Range) (informatica.ExportResult, error)
	finish func(logger log.Logger, run *breakdownRun)
}

// breakdownRun is a breakdown export under way: the range it asked for,
// split into the kind's jobs, and the rows of the jobs done. A run that a
// reload cut between two jobs is resumed by the instance that replaced
// the one that started it (breakdownData.paused).
type breakdownRun struct {
	started time.Time
	scope   *summaryScope
	r       *exportRange
	jobs    []informatica.Range
	next    int // the next job to run
	rows    *rowsBuilder
	res     informatica.ExportResult
	// gathered is what the kind keeps across its jobs until finish.
	gathered any
}

// breakdownFamily is a family of a breakdown: a row value combined over
// the org's current billing period, or on its last complete day.
type breakdownFamily struct {
	desc    *prometheus.Desc
	value   int
	lastDay bool
}

// lastDay says the kind publishes the last complete day: its range then
// reaches back to that day when it precedes the billing period.
func (k *breakdownKind) lastDay() bool {
	return slices.ContainsFunc(k.families, func(f breakdownFamily) bool { return f.lastDay })
}

// breakdownKinds are the breakdowns: adding one is an entry here and its
// kind (families and export). An account's data and state of a kind are
// at the kind's position.
var breakdownKinds = [...]*breakdownKind{&projectKind, &assetKind, &taskKind}

const numBreakdowns = len(breakdownKinds)

var projectKind = breakdownKind{
	name:   "project_folder",
	title:  "Project and folder",
	labels: []string{"org_id", "project", "folder"},
	families: []breakdownFamily{{desc: prometheus.NewDesc(
		"informatica_ipu_project_billing_period_consumed_ipus",
		"IPUs consumed in the org's current billing period by a project folder, from PROJECT_FOLDER exports; project \"other\" sums the folders beyond breakdown_max_series, project \"(none)\" the usage of deleted assets."+cached,
		[]string{"org_id", "project", "folder"}, nil)}},
	group:   1,
	maxDays: informatica.MaxProjectDays,
	export:  exportProjects,
}

func exportProjects(ctx context.Context, c *informatica.Client, run *breakdownRun, job informatica.Range) (informatica.ExportResult, error) {
	return c.ExportProjectUsage(ctx, job.Start, job.End, func(p *informatica.ProjectRow) error {
		run.rows.add(seriesKey{p.OrgID, p.Project, p.Folder}, p.Date, rowValues{p.IPU})
		return nil
	})
}

// orNone is the one rule for a blank label of any breakdown: "(none)", as
// a blank project is for assets deleted before Informatica processed their
// usage, so that a blank folder, type or name is there to select (an
// empty value is no label at all). seriesSums.add applies it to every
// label of every series; the rows keep the labels as they came.
func orNone(s string) string {
	if s == "" {
		return noProject
	}
	return s
}

// breakdownRows are the rows of one good breakdown export, as much of
// them as the breakdown can still publish: per series (its labels), one
// row of values for each day from its org's last complete day on (the
// days a UTC midnight or a new billing period can bring into scope), and
// one row that sums the days of the org's billing period before that. They
// are what an account holds and stores of a breakdown; what it publishes
// is scoped from them (scope).
type breakdownRows struct {
	kind  *breakdownKind
	taken time.Time // when the export finished
	keys  []seriesKey
	rows  []breakdownRow // by series, then day
	// periods are the billing periods the periodSum rows sum, by org ID.
	periods map[string]usage.BillingPeriod
}

type breakdownRow struct {
	series int32 // index in keys
	day    int32 // usage.DayNumber, or periodSum
	v      rowValues
}

// periodSum is the day of a row that sums a series' days of its org's
// billing period (breakdownRows.periods) before its last complete day.
const periodSum = math.MinInt32

// rowsBuilder collects an export's rows: rows of one series and day
// combine, as the kind's keepMax says. With a summary scope, it keeps only
// what later scopes can use: a series' days of the billing period before
// its org's last complete day are summed into one periodSum row, days
// before both are left out. Midnight moves the last day only forward and
// a new period starts after it, so every day a later scope counts is kept.
type rowsBuilder struct {
	kind  *breakdownKind
	scope *summaryScope // nil: every row as it is
	// limit bounds the series; err says the export went past it.
	limit int
	err   error
	// strings holds one copy of each label value: orgs, meters, projects
	// and folders repeat across series.
	strings map[string]string
	series  map[seriesKey]int32
	keys    []seriesKey
	cells   map[[2]int32]int32 // series and day to the index in rows
	rows    []breakdownRow
}

// maxBreakdownSeries bounds the distinct series (assets, tasks, project
// folders of an org and meter) one breakdown export may hold. Real orgs have
// some thousands to tens of thousands; a million is what only a broken or
// hostile export reaches, and its rows alone would take hundreds of MiB.
const maxBreakdownSeries = 1_000_000

func newRowsBuilder(kind *breakdownKind, sc *summaryScope) *rowsBuilder {
	return &rowsBuilder{kind: kind, scope: sc, limit: maxBreakdownSeries, strings: map[string]string{}, series: map[seriesKey]int32{}, cells: map[[2]int32]int32{}}
}

// full returns an error naming the limit when n series are as many as a
// breakdown may hold, else nil.
func (b *rowsBuilder) full(n int) error {
	if n < b.limit {
		return nil
	}
	return fmt.Errorf("the %s breakdown export has more than %d series, more than a real export holds: not used", b.kind.name, b.limit)
}

// add adds the values of series k on the day of date. The key's strings
// are copied (once each) when the series is new: export rows reuse theirs.
func (b *rowsBuilder) add(k seriesKey, date time.Time, v rowValues) {
	b.addDay(k, usage.DayNumber(date), v)
}

func (b *rowsBuilder) addDay(k seriesKey, day int32, v rowValues) {
	if sc := b.scope; sc != nil {
		if last, ok := sc.lastDays[k[0]]; ok && day < last {
			if !sc.inPeriod(k[0], day) {
				return
			}
			day = periodSum
		}
	}
	s, ok := b.series[k]
	if !ok {
		if err := b.full(len(b.keys)); err != nil {
			b.err = cmp.Or(b.err, err)
			return
		}
		for i, v := range k {
			c, ok := b.strings[v]
			if !ok {
				c = strings.Clone(v)
				b.strings[c] = c
			}
			k[i] = c
		}
		s = int32(len(b.keys))
		b.keys = append(b.keys, k)
		b.series[k] = s
	}
	cell := [2]int32{s, day}
	i, ok := b.cells[cell]
	if !ok {
		b.cells[cell] = int32(len(b.rows))
		b.rows = append(b.rows, breakdownRow{series: s, day: day, v: v})
		return
	}
	combine(&b.rows[i].v, v, b.kind.keepMax)
}

func combine(dst *rowValues, v rowValues, keepMax [maxRowValues]bool) {
	for j := range v {
		if keepMax[j] {
			dst[j] = max(dst[j], v[j])
		} else {
			dst[j] += v[j]
		}
	}
}

// finish returns the rows added, taken at taken, copied out of the
// builder's slices, which grew by doubling.
func (b *rowsBuilder) finish(taken time.Time) *breakdownRows {
	rows := slices.Clone(b.rows)
	slices.SortFunc(rows, func(x, y breakdownRow) int {
		return cmp.Or(cmp.Compare(x.series, y.series), cmp.Compare(x.day, y.day))
	})
	r := &breakdownRows{kind: b.kind, taken: taken, keys: slices.Clone(b.keys), rows: rows}
	if b.scope != nil {
		r.periods = b.scope.periods
	}
	return r
}

// eachSeries calls fn with each series and its rows.
func (r *breakdownRows) eachSeries(fn func(k *seriesKey, rows []breakdownRow)) {
	for i := 0; i < len(r.rows); {
		j := i + 1
		for j < len(r.rows) && r.rows[j].series == r.rows[i].series {
			j++
		}
		fn(&r.keys[r.rows[i].series], r.rows[i:j])
		i = j
	}
}

// summaryScope is what the summary says, at one instant, of the days a
// breakdown's families describe: each org's current billing period and
// last complete day. It holds for instants in [from, until): the
// summary's view changes with new data, at a UTC midnight and at a period
// boundary, and so do the breakdowns, from the rows they hold.
type summaryScope struct {
	snap        *snapshot // nil before the account has any summary
	from, until time.Time
	periods     map[string]usage.BillingPeriod // by org ID
	lastDays    map[string]int32               // by org ID, usage.DayNumber
}

func newSummaryScope(snap *snapshot, now time.Time) *summaryScope {
	sc := &summaryScope{snap: snap, from: now, periods: map[string]usage.BillingPeriod{}, lastDays: map[string]int32{}}
	if snap == nil {
		sc.until = usage.DayTime(usage.DayNumber(now) + 1)
		return sc
	}
	views, until := usage.ComputeView(snap.table, now)
	sc.until = until
	for _, v := range views {
		org := snap.table.Orgs[v.Org].ID
		if v.HasPeriod {
			sc.periods[org] = v.Period
		}
		if v.HasLastDay {
			sc.lastDays[org] = v.LastDay
		}
	}
	return sc
}

// inPeriod reports whether a row of org on day counts towards the org's
// current billing period: all of an org's rows do when the summary names
// no period for it.
func (sc *summaryScope) inPeriod(org string, day int32) bool {
	p, ok := sc.periods[org]
	return !ok || p.Contains(usage.DayTime(day).Unix())
}

// onLastDay reports whether a row of org on day is on the org's last
// complete day, the day of informatica_ipu_last_day_timestamp_seconds.
func (sc *summaryScope) onLastDay(org string, day int32) bool {
	d, ok := sc.lastDays[org]
	return ok && d == day
}

// summaryScope returns the account's summary scope as of now, computed
// again only when the summary or the instant's day or period changed.
func (a *account) summaryScope(now time.Time) *summaryScope {
	snap := a.snap.Load()
	if sc := a.breakdowns.scope.Load(); sc != nil && sc.snap == snap && !now.Before(sc.from) && now.Before(sc.until) {
		return sc
	}
	sc := newSummaryScope(snap, now)
	a.breakdowns.scope.Store(sc)
	return sc
}

// scope makes the metrics of the rows as of sc: each family's value
// combined over the rows of the org's billing period or on its last day.
// A series is published when it has a row on either, as the summary's are.
func (r *breakdownRows) scope(sc *summaryScope, maxSeries int) (*breakdown, error) {
	kind := r.kind
	sums := newSeriesSums(kind)
	r.eachSeries(func(k *seriesKey, rows []breakdownRow) {
		var v seriesValues
		shown := false
		for _, row := range rows {
			var inPeriod, lastDay bool
			if row.day == periodSum {
				inPeriod = r.samePeriod(sc, k[0])
			} else {
				inPeriod, lastDay = sc.inPeriod(k[0], row.day), sc.onLastDay(k[0], row.day)
			}
			for i, f := range kind.families {
				if f.lastDay && lastDay || !f.lastDay && inPeriod {
					shown = true
					if kind.keepMax[f.value] {
						v[i] = max(v[i], row.v[f.value])
					} else {
						v[i] += row.v[f.value]
					}
				}
			}
		}
		if shown {
			sums.add(*k, v)
		}
	})
	b, err := newBreakdown(sums, maxSeries, r.taken)
	if err != nil {
		return nil, err
	}
	b.rows, b.scope, b.maxSeries = r, sc, maxSeries
	return b, nil
}

// samePeriod reports whether the periodSum rows of org sum the days of its
// current billing period as of sc.
func (r *breakdownRows) samePeriod(sc *summaryScope, org string) bool {
	p, ok := r.periods[org]
	q, current := sc.periods[org]
	return ok == current && p == q
}

// exportRange is what a breakdown export requests: the days from the
// earliest current billing period (or last complete day) of any org to
// now, and the meters the summary knows.
type exportRange struct {
	from, to time.Time
	meters   []usage.MeterInfo
}

// newExportRange reads the summary scope as of now. The range starts with
// the earliest current billing period (with lastDay, or the earliest last
// complete day, if earlier: on the first day of a period that is the last
// day of the previous one); without any, it is the last 30 days.
func newExportRange(sc *summaryScope, now time.Time, lastDay bool) *exportRange {
	r := &exportRange{to: now.UTC()}
	if sc.snap != nil {
		r.meters = sc.snap.table.Meters
	}
	extend := func(start time.Time) {
		if (r.from.IsZero() || start.Before(r.from)) && now.Sub(start) < maxPeriodReach {
			r.from = start
		}
	}
	for _, p := range sc.periods {
		extend(usage.StartOfDay(time.Unix(p.Start, 0)))
	}
	if lastDay {
		for _, d := range sc.lastDays {
			extend(usage.DayTime(d))
		}
	}
	if r.from.IsZero() || r.from.After(now) {
		r.from = usage.StartOfDay(now.AddDate(0, 0, -informatica.MaxProjectDays))
	}
	return r
}

// breakdown is a breakdown as published: the metrics of its rows as of a
// summary scope, capped.
type breakdown struct {
	taken time.Time
	orgs  []breakdownOrg
	// What it was made of, so that it is made again when one changes.
	rows      *breakdownRows
	scope     *summaryScope
	maxSeries int
}

// breakdownOrg groups an org's series, so that an org two accounts export
// is published once.
type breakdownOrg struct {
	id      string
	metrics []prometheus.Metric
}

// breakdowns holds an account's breakdown data; like snap, it is shared
// with the instance this one replaced.
type breakdowns struct {
	kinds [numBreakdowns]breakdownData
	// scope is the summary scope the published breakdowns share.
	scope atomic.Pointer[summaryScope]
}

// breakdownData is an account's data of one kind of breakdown: the rows of
// its last good export and their publication.
type breakdownData struct {
	rows      atomic.Pointer[breakdownRows]
	published atomic.Pointer[breakdown]
	// paused is a run a reload cut between two jobs, for the next
	// instance to resume.
	paused atomic.Pointer[breakdownRun]
	mu     sync.Mutex // held while scoping
	// scopeFailed is set once a failed scoping has been logged.
	scopeFailed atomic.Bool
}

// breakdownTimes is the state of one kind of breakdown of an account.
type breakdownTimes struct {
	lastAttempt, lastSuccess time.Time
}

// freshBreakdown returns the account's breakdown of each kind as of now:
// nil where the kind is off or has no rows younger than maxAge; else its
// rows scoped by the summary as of now and capped by the account's
// settings. The array is comparable: the encoded exposition keys on it, so
// that a new day, period, summary, cap or rows encode it again.
func (a *account) freshBreakdown(now time.Time, maxAge time.Duration) [numBreakdowns]*breakdown {
	var out [numBreakdowns]*breakdown
	for i, k := range breakdownKinds {
		if !a.settings.Breakdown.on(k) {
			continue
		}
		if rows := a.breakdowns.kinds[i].rows.Load(); rows != nil && now.Sub(rows.taken) <= maxAge {
			out[i] = a.publishedBreakdown(i, rows, now)
		}
	}
	return out
}

// applyBreakdownSettings makes the breakdown data the account took over
// on a reload follow its settings: a kind turned off is dropped, its rows
// and its schedule, so that its series and its last-success gauge go with
// the reload, and from storage. The kinds kept are scoped again under the new cap when the
// reload publishes (freshBreakdown), from the rows held.
func (a *account) applyBreakdownSettings() {
	for i, k := range breakdownKinds {
		if a.settings.Breakdown.on(k) {
			continue
		}
		a.breakdowns.kinds[i].rows.Store(nil)
		a.breakdowns.kinds[i].published.Store(nil)
		a.breakdowns.kinds[i].paused.Store(nil)
		a.state.mu.Lock()
		a.state.breakdowns[i] = breakdownTimes{}
		a.state.mu.Unlock()
		a.removeBreakdownState(k)
	}
}

// publishedBreakdown returns rows scoped as of now, scoping them again
// only when the summary scope or the cap changed.
func (a *account) publishedBreakdown(i int, rows *breakdownRows, now time.Time) *breakdown {
	d := &a.breakdowns.kinds[i]
	sc, maxSeries := a.summaryScope(now), a.settings.Breakdown.MaxSeries
	current := func() *breakdown {
		if b := d.published.Load(); b != nil && b.rows == rows && b.scope == sc && b.maxSeries == maxSeries {
			return b
		}
		return nil
	}
	if b := current(); b != nil {
		return b
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if b := current(); b != nil {
		return b
	}
	b, err := rows.scope(sc, maxSeries)
	if err != nil {
		// The run that exported the rows scoped them, so only a bug gets
		// here: leave the breakdown out rather than fail every scrape.
		if d.scopeFailed.CompareAndSwap(false, true) {
			level.Error(a.logger).Log("msg", "Cannot serve the breakdown", "breakdown", breakdownKinds[i].name, "err", err)
		}
		return nil
	}
	d.published.Store(b)
	return b
}

// seriesSums are a breakdown's published series as they add up.
type seriesSums struct {
	kind   *breakdownKind
	series map[seriesKey]*seriesValues
}

func newSeriesSums(kind *breakdownKind) *seriesSums {
	return &seriesSums{kind: kind, series: map[seriesKey]*seriesValues{}}
}

// add adds v to the series k: summed, or the maximum kept where the kind
// says so.
func (s *seriesSums) add(k seriesKey, v seriesValues) {
	for i := range s.kind.labels {
		k[i] = orNone(k[i])
	}
	cur, ok := s.series[k]
	if !ok {
		cur = &seriesValues{}
		s.series[k] = cur
	}
	for i, f := range s.kind.families {
		if s.kind.keepMax[f.value] {
			cur[i] = max(cur[i], v[i])
		} else {
			cur[i] += v[i]
		}
	}
}

// dueBreakdowns returns the kinds of breakdown that should run now, by
// their position in breakdownKinds.
func (a *account) dueBreakdowns(now time.Time) []int {
	var due []int
	a.state.mu.Lock()
	defer a.state.mu.Unlock()
	for i, k := range breakdownKinds {
		if !a.settings.Breakdown.on(k) {
			continue
		}
		last := a.state.breakdowns[i].lastAttempt
		if last.IsZero() || now.Sub(last) >= a.settings.Breakdown.Interval {
			due = append(due, i)
		}
	}
	return due
}

// runBreakdown exports the days of every org's current billing period (and
// last complete day) for the breakdown i. It needs the summary data, which
// says where each org's period starts; a failure is counted and logged
// like a refresh's, keeps the last good breakdown, and leaves the summary
// and informatica_up alone.
func (a *account) runBreakdown(ctx context.Context, i int) {
	k := breakdownKinds[i]
	run := a.breakdowns.kinds[i].paused.Swap(nil)
	if run != nil && a.now().Sub(run.started) < a.settings.Breakdown.Interval {
		level.Info(a.logger).Log("msg", "Resuming the breakdown a reload cut short", "breakdown", k.name, "job", run.next+1, "jobs", len(run.jobs))
	} else {
		started := a.now()
		if a.snap.Load() == nil {
			return
		}
		sc := a.summaryScope(started)
		r := newExportRange(sc, started, k.lastDay())
		run = &breakdownRun{
			started: started, scope: sc, r: r, rows: newRowsBuilder(k, sc),
			jobs: informatica.SplitRange(r.from.UTC(), r.to.UTC(), k.maxDays),
		}
	}
	var err error
	for ; run.next < len(run.jobs) && err == nil; run.next++ {
		if a.retired() {
			// A retired instance starts no job: the one that replaced
			// it goes on from here.
			a.breakdowns.kinds[i].paused.Store(run)
			return
		}
		var res informatica.ExportResult
		res, err = k.export(ctx, a.client, run, run.jobs[run.next])
		run.res.Jobs += res.Jobs
		run.res.Rows += res.Rows
		run.res.Partial = run.res.Partial || res.Partial
		if ctx.Err() != nil {
			return
		}
	}
	if k.finish != nil {
		k.finish(a.logger, run)
	}
	started, sc, r, b, res := run.started, run.scope, run.r, run.rows, run.res
	a.state.mu.Lock()
	a.state.breakdowns[i].lastAttempt = a.now()
	a.state.mu.Unlock()
	stage := stageOf(err)
	if err == nil && b.err != nil {
		err, stage = b.err, informatica.StageParse
	}
	rows := b.finish(a.now())
	if err == nil {
		// Rows that cannot become metrics fail this run, not a scrape.
		_, err = rows.scope(sc, a.settings.Breakdown.MaxSeries)
		stage = informatica.StageParse
	}
	if err != nil {
		a.state.mu.Lock()
		a.state.noteFailure(stage, err)
		a.state.mu.Unlock()
		level.Warn(a.logger).Log("msg", k.title+" breakdown failed, keeping the last good one", "breakdown", k.name, "stage", stage, "duration", a.now().Sub(started), "err", err)
		return
	}
	a.breakdowns.kinds[i].rows.Store(rows)
	if a.published != nil {
		a.published()
	}
	// Stored before its success is told, so that whoever sees the success
	// finds it stored too.
	a.persistBreakdown(rows)
	a.state.mu.Lock()
	a.state.breakdowns[i].lastSuccess = rows.taken
	a.state.mu.Unlock()
	level.Info(a.logger).Log("msg", "Breakdown finished", "breakdown", k.name, "from", r.from.Format(time.DateOnly), "rows", res.Rows, "jobs", res.Jobs, "series", len(rows.keys), "days", len(rows.rows), "duration", a.now().Sub(started))
}

// newBreakdown keeps the maxSeries largest series (by billing-period IPUs)
// and combines the rest per group (org, or org and meter) into one series
// whose other labels are "other", so that an org with thousands of assets
// cannot flood Prometheus and the sums per group stay whole.
func newBreakdown(sums *seriesSums, maxSeries int, taken time.Time) (*breakdown, error) {
	kind := sums.kind
	keys := make([]seriesKey, 0, len(sums.series))
	for k := range sums.series {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y seriesKey) int {
		if c := slices.Compare(sums.series[y][:], sums.series[x][:]); c != 0 {
			return c
		}
		return slices.Compare(x[:], y[:])
	})
	kept := newSeriesSums(kind)
	for i, k := range keys {
		v := *sums.series[k]
		if i >= maxSeries {
			for j := kind.group; j < len(kind.labels); j++ {
				k[j] = otherProject
			}
		}
		kept.add(k, v)
	}
	keys = keys[:0]
	for k := range kept.series {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y seriesKey) int { return slices.Compare(x[:], y[:]) })
	b := &breakdown{taken: taken}
	for _, k := range keys {
		if len(b.orgs) == 0 || b.orgs[len(b.orgs)-1].id != k[0] {
			b.orgs = append(b.orgs, breakdownOrg{id: k[0]})
		}
		o := &b.orgs[len(b.orgs)-1]
		for i, f := range kind.families {
			m, err := prometheus.NewConstMetric(f.desc, prometheus.GaugeValue, kept.series[k][i], k[:len(kind.labels)]...)
			if err != nil {
				return nil, fmt.Errorf("render the %s breakdown: %w", kind.name, err)
			}
			o.metrics = append(o.metrics, m)
		}
	}
	return b, nil
}

// breakdownDescs are the families of every kind, and the health gauge.
func breakdownDescs() []*prometheus.Desc {
	var out []*prometheus.Desc
	for _, k := range breakdownKinds {
		for _, f := range k.families {
			out = append(out, f.desc)
		}
	}
	return append(out, lastBreakdownDesc)
}
