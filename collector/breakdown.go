package collector

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/usage"
)

// BreakdownSettings configure an account's optional per-project breakdown.
type BreakdownSettings struct {
	// ProjectFolder turns on PROJECT_FOLDER exports.
	ProjectFolder bool
	// Interval is the time between breakdown exports; they run with the
	// summary refresh that finds one due.
	Interval time.Duration
	// MaxSeries caps the project and folder series; the smallest beyond it
	// are summed per org into project "other".
	MaxSeries int
}

// Labels of the series that hold what the cap leaves out, and of usage that
// has no project: assets deleted before Informatica processed their usage.
const (
	otherProject = "other"
	noProject    = "(none)"
)

var projectConsumedDesc = prometheus.NewDesc(
	"informatica_ipu_project_billing_period_consumed_ipus",
	"IPUs consumed in the org's current billing period by a project folder, from PROJECT_FOLDER exports; project \"other\" sums the folders beyond breakdown_max_series, project \"(none)\" the usage of deleted assets."+cached,
	[]string{"org_id", "project", "folder"}, nil)

var lastBreakdownDesc = prometheus.NewDesc(
	"informatica_exporter_last_breakdown_success_timestamp_seconds",
	"When the account's last successful project and folder breakdown finished.",
	[]string{"account"}, nil)

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

type projectKey struct{ org, project, folder string }

// breakdownDue reports whether the account's breakdown should run now.
func (a *account) breakdownDue(now time.Time) bool {
	if !a.settings.Breakdown.ProjectFolder {
		return false
	}
	a.state.mu.Lock()
	defer a.state.mu.Unlock()
	last := a.state.lastBreakdownAttempt
	return last.IsZero() || now.Sub(last) >= a.settings.Breakdown.Interval
}

// runBreakdown exports the current billing period of every org by project
// and folder. It needs the summary data, which says where each org's period
// starts; a failure is counted and logged like a refresh's, and keeps the
// last good breakdown.
func (a *account) runBreakdown(ctx context.Context) {
	started := a.now()
	snap := a.snap.Load()
	if snap == nil {
		return
	}
	// The range starts with the earliest current period; without any, it
	// is the last 30 days.
	views, _ := usage.ComputeView(snap.table, started)
	periods := map[string]usage.BillingPeriod{}
	var from time.Time
	for _, v := range views {
		if !v.HasPeriod {
			continue
		}
		periods[snap.table.Orgs[v.Org].ID] = v.Period
		start := usage.StartOfDay(time.Unix(v.Period.Start, 0))
		if (from.IsZero() || start.Before(from)) && started.Sub(start) < maxPeriodReach {
			from = start
		}
	}
	if from.IsZero() || from.After(started) {
		from = usage.StartOfDay(started.AddDate(0, 0, -informatica.MaxProjectDays))
	}
	sums := map[projectKey]float64{}
	res, err := a.client.ExportProjectUsage(ctx, from, started.UTC(), func(r *informatica.ProjectRow) error {
		if p, ok := periods[r.OrgID]; ok && !p.Contains(r.Date.Unix()) {
			return nil
		}
		k := projectKey{org: strings.Clone(r.OrgID), project: strings.Clone(r.Project), folder: strings.Clone(r.Folder)}
		if k.project == "" {
			k.project = noProject
		}
		sums[k] += r.IPU
		return nil
	})
	if ctx.Err() != nil {
		return
	}
	a.state.mu.Lock()
	a.state.lastBreakdownAttempt = a.now()
	if err != nil {
		// The summary refresh succeeded: informatica_up stays as it is.
		a.state.noteFailure(stageOf(err), err)
	}
	a.state.mu.Unlock()
	if err != nil {
		level.Warn(a.logger).Log("msg", "Project and folder breakdown failed, keeping the last good one", "stage", stageOf(err), "duration", a.now().Sub(started), "err", err)
		return
	}
	b, err := newBreakdown(sums, a.settings.Breakdown.MaxSeries, a.now())
	if err != nil {
		a.state.mu.Lock()
		a.state.noteFailure(informatica.StageParse, err)
		a.state.mu.Unlock()
		level.Warn(a.logger).Log("msg", "Project and folder breakdown failed, keeping the last good one", "stage", informatica.StageParse, "err", err)
		return
	}
	a.breakdown.Store(b)
	if a.published != nil {
		a.published()
	}
	a.state.mu.Lock()
	a.state.lastBreakdownSuccess = b.taken
	a.state.mu.Unlock()
	level.Info(a.logger).Log("msg", "Breakdown finished", "from", from.Format(time.DateOnly), "rows", res.Rows, "jobs", res.Jobs, "series", len(sums), "duration", a.now().Sub(started))
}

// newBreakdown keeps the maxSeries largest series and sums the rest per org
// into project "other", so that an org with thousands of folders cannot
// flood Prometheus.
func newBreakdown(sums map[projectKey]float64, maxSeries int, taken time.Time) (*breakdown, error) {
	keys := make([]projectKey, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y projectKey) int {
		return cmp.Or(cmp.Compare(sums[y], sums[x]), cmp.Compare(x.org, y.org), cmp.Compare(x.project, y.project), cmp.Compare(x.folder, y.folder))
	})
	kept := map[projectKey]float64{}
	for i, k := range keys {
		if i < maxSeries {
			kept[k] += sums[k]
		} else {
			kept[projectKey{org: k.org, project: otherProject, folder: otherProject}] += sums[k]
		}
	}
	b := &breakdown{taken: taken}
	keys = slices.SortedFunc(maps.Keys(kept), func(x, y projectKey) int {
		return cmp.Or(cmp.Compare(x.org, y.org), cmp.Compare(x.project, y.project), cmp.Compare(x.folder, y.folder))
	})
	for _, k := range keys {
		if len(b.orgs) == 0 || b.orgs[len(b.orgs)-1].id != k.org {
			b.orgs = append(b.orgs, breakdownOrg{id: k.org})
		}
		o := &b.orgs[len(b.orgs)-1]
		m, err := prometheus.NewConstMetric(projectConsumedDesc, prometheus.GaugeValue, kept[k], k.org, k.project, k.folder)
		if err != nil {
			return nil, fmt.Errorf("render the project breakdown: %w", err)
		}
		o.metrics = append(o.metrics, m)
	}
	return b, nil
}
