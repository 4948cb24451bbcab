package collector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/usage"
)

// BreakdownSettings configure an account's optional breakdowns: exports
// besides the summary that say where the IPUs go.
type BreakdownSettings struct {
	// ProjectFolder turns on PROJECT_FOLDER exports (project_folder).
	ProjectFolder bool
	// Asset turns on ASSET exports (asset).
	Asset bool
	// Task turns on job-level exports (task).
	Task bool
	// Interval is the time between the exports of each breakdown; they run
	// with the summary refresh that finds one due.
	Interval time.Duration
	// MaxSeries caps the series of each breakdown; the smallest beyond it
	// are summed per org (and meter) into "other".
	MaxSeries int
}

// on reports whether the breakdown k is turned on.
func (s BreakdownSettings) on(k *breakdownKind) bool {
	return [numBreakdowns]bool{s.ProjectFolder, s.Asset, s.Task}[k.index]
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
	"When the account's last successful breakdown of the kind (project_folder, asset or task) finished.",
	[]string{"account", "breakdown"}, nil)

// maxBreakdownLabels and maxBreakdownValues bound the labels and the
// families of a breakdown, so that a series' key and values are arrays:
// a row is looked up without allocating.
const (
	maxBreakdownLabels = 7
	maxBreakdownValues = 4
)

type (
	seriesKey    [maxBreakdownLabels]string
	seriesValues [maxBreakdownValues]float64
)

// breakdownKind is one breakdown: its families and how it exports. All
// kinds share the schedule, the range, the cap and the publishing.
type breakdownKind struct {
	index int
	name  string // in the configuration and in label breakdown
	title string // in log lines
	// labels are the labels of every family of the kind; descs the
	// families, a series has one value for each. The first value, the
	// billing period's IPUs, ranks the series for the cap.
	labels []string
	descs  []*prometheus.Desc
	// group is how many leading labels the series beyond the cap keep:
	// they are summed per org (and meter), so the sums per group stay whole.
	group int
	// keepMax marks the values that combine by maximum rather than sum.
	keepMax [maxBreakdownValues]bool
	// lastDay says the kind publishes the last complete day: its range
	// then reaches back to that day when it precedes the billing period.
	lastDay bool
	// export runs the kind's export jobs for sc and adds their rows to sums.
	export func(ctx context.Context, a *account, sc *breakdownScope, sums *seriesSums) (informatica.ExportResult, error)
}

const (
	breakdownProjectFolder = iota
	breakdownAsset
	breakdownTask
	numBreakdowns
)

// breakdownKinds are indexed by their index.
var breakdownKinds = [numBreakdowns]*breakdownKind{&projectKind, &assetKind, &taskKind}

var projectKind = breakdownKind{
	index:  breakdownProjectFolder,
	name:   "project_folder",
	title:  "Project and folder",
	labels: []string{"org_id", "project", "folder"},
	descs: []*prometheus.Desc{prometheus.NewDesc(
		"informatica_ipu_project_billing_period_consumed_ipus",
		"IPUs consumed in the org's current billing period by a project folder, from PROJECT_FOLDER exports; project \"other\" sums the folders beyond breakdown_max_series, project \"(none)\" the usage of deleted assets."+cached,
		[]string{"org_id", "project", "folder"}, nil)},
	group:  1,
	export: exportProjects,
}

func exportProjects(ctx context.Context, a *account, sc *breakdownScope, sums *seriesSums) (informatica.ExportResult, error) {
	return a.client.ExportProjectUsage(ctx, sc.from, sc.to, func(r *informatica.ProjectRow) error {
		if !sc.inPeriod(r.OrgID, r.Date) {
			return nil
		}
		sums.add(seriesKey{r.OrgID, orNone(r.Project), r.Folder}, seriesValues{r.IPU})
		return nil
	})
}

// orNone is the one rule for a blank label of any breakdown: "(none)", as
// a blank project is for assets deleted before Informatica processed their
// usage, so that a blank folder, type or name is there to select (an
// empty value is no label at all). seriesSums.add applies it to every
// label of every series.
func orNone(s string) string {
	if s == "" {
		return noProject
	}
	return s
}

// breakdown is the finished result of one breakdown export.
type breakdown struct {
	taken time.Time
	orgs  []breakdownOrg
}

// breakdownOrg groups an org's series, so that an org two accounts export
// is published once.
type breakdownOrg struct {
	id      string
	metrics []prometheus.Metric
}

// breakdowns holds an account's last good breakdown of each kind; like
// snap, it is shared with the instance this one replaced.
type breakdowns [numBreakdowns]atomic.Pointer[breakdown]

// breakdownTimes is the state of one kind of breakdown of an account.
type breakdownTimes struct {
	lastAttempt, lastSuccess time.Time
}

// seriesSums are a breakdown's series as the rows add up.
type seriesSums struct {
	kind   *breakdownKind
	series map[seriesKey]*seriesValues
}

func newSeriesSums(kind *breakdownKind) *seriesSums {
	return &seriesSums{kind: kind, series: map[seriesKey]*seriesValues{}}
}

// add adds v to the series k: summed, or the maximum kept where the kind
// says so. The key's strings are copied when the series is new: rows reuse
// theirs.
func (s *seriesSums) add(k seriesKey, v seriesValues) {
	for i := range s.kind.labels {
		k[i] = orNone(k[i])
	}
	cur, ok := s.series[k]
	if !ok {
		for i := range k {
			k[i] = strings.Clone(k[i])
		}
		cur = &seriesValues{}
		s.series[k] = cur
	}
	for i := range v {
		if s.kind.keepMax[i] {
			cur[i] = max(cur[i], v[i])
		} else {
			cur[i] += v[i]
		}
	}
}

// breakdownScope is what a breakdown export needs of the summary data:
// the range to export, each org's current billing period and last complete
// day, and the meters.
type breakdownScope struct {
	from, to time.Time
	periods  map[string]usage.BillingPeriod // by org ID
	lastDays map[string]int64               // by org ID: 00:00 UTC of the day, Unix seconds
	meters   []usage.MeterInfo
}

// newBreakdownScope reads the summary table as of now. The range starts
// with the earliest current billing period (with lastDay, or the earliest
// last complete day, if earlier: on the first day of a period that is the
// last day of the previous one); without any, it is the last 30 days.
func newBreakdownScope(t *usage.Table, now time.Time, lastDay bool) *breakdownScope {
	sc := &breakdownScope{to: now.UTC(), periods: map[string]usage.BillingPeriod{}, lastDays: map[string]int64{}, meters: t.Meters}
	views, _ := usage.ComputeView(t, now)
	extend := func(start time.Time) {
		if (sc.from.IsZero() || start.Before(sc.from)) && now.Sub(start) < maxPeriodReach {
			sc.from = start
		}
	}
	for _, v := range views {
		org := t.Orgs[v.Org].ID
		if v.HasPeriod {
			sc.periods[org] = v.Period
			extend(usage.StartOfDay(time.Unix(v.Period.Start, 0)))
		}
		if v.HasLastDay {
			day := usage.DayTime(v.LastDay)
			sc.lastDays[org] = day.Unix()
			if lastDay {
				extend(day)
			}
		}
	}
	if sc.from.IsZero() || sc.from.After(now) {
		sc.from = usage.StartOfDay(now.AddDate(0, 0, -informatica.MaxProjectDays))
	}
	return sc
}

// inPeriod reports whether a row of org dated date counts towards the
// org's current billing period: all of an org's rows do when the summary
// names no period for it.
func (sc *breakdownScope) inPeriod(org string, date time.Time) bool {
	p, ok := sc.periods[org]
	return !ok || p.Contains(date.Unix())
}

// onLastDay reports whether a row of org dated date is on the org's last
// complete day, the day of informatica_ipu_last_day_timestamp_seconds.
func (sc *breakdownScope) onLastDay(org string, date time.Time) bool {
	d, ok := sc.lastDays[org]
	return ok && d == date.Unix()
}

// dueBreakdowns returns the kinds of breakdown that should run now.
func (a *account) dueBreakdowns(now time.Time) []*breakdownKind {
	var due []*breakdownKind
	a.state.mu.Lock()
	defer a.state.mu.Unlock()
	for _, k := range breakdownKinds {
		if !a.settings.Breakdown.on(k) {
			continue
		}
		last := a.state.breakdowns[k.index].lastAttempt
		if last.IsZero() || now.Sub(last) >= a.settings.Breakdown.Interval {
			due = append(due, k)
		}
	}
	return due
}

// runBreakdown exports the current billing period of every org for the
// breakdown k. It needs the summary data, which says where each org's
// period starts; a failure is counted and logged like a refresh's, keeps
// the last good breakdown, and leaves the summary and informatica_up alone.
func (a *account) runBreakdown(ctx context.Context, k *breakdownKind) {
	started := a.now()
	snap := a.snap.Load()
	if snap == nil {
		return
	}
	sc := newBreakdownScope(snap.table, started, k.lastDay)
	sums := newSeriesSums(k)
	res, err := k.export(ctx, a, sc, sums)
	if ctx.Err() != nil {
		return
	}
	a.state.mu.Lock()
	a.state.breakdowns[k.index].lastAttempt = a.now()
	a.state.mu.Unlock()
	stage := stageOf(err)
	var b *breakdown
	if err == nil {
		b, err = newBreakdown(sums, a.settings.Breakdown.MaxSeries, a.now())
		stage = informatica.StageParse
	}
	if err != nil {
		a.state.mu.Lock()
		a.state.noteFailure(stage, err)
		a.state.mu.Unlock()
		level.Warn(a.logger).Log("msg", k.title+" breakdown failed, keeping the last good one", "breakdown", k.name, "stage", stage, "duration", a.now().Sub(started), "err", err)
		return
	}
	a.breakdowns[k.index].Store(b)
	if a.published != nil {
		a.published()
	}
	a.state.mu.Lock()
	a.state.breakdowns[k.index].lastSuccess = b.taken
	a.state.mu.Unlock()
	level.Info(a.logger).Log("msg", "Breakdown finished", "breakdown", k.name, "from", sc.from.Format(time.DateOnly), "rows", res.Rows, "jobs", res.Jobs, "series", len(sums.series), "duration", a.now().Sub(started))
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
		for i, d := range kind.descs {
			m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, kept.series[k][i], k[:len(kind.labels)]...)
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
		out = append(out, k.descs...)
	}
	return append(out, lastBreakdownDesc)
}
