package collector

import (
	"context"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/usage"
)

// The task breakdown reads job-level exports (ExportServiceJobLevelMeteringData),
// whose request is documented and whose CSV layouts are not: the client
// reads the layouts public code reads and skips the others with a warning
// (iics-metering-api.md §5.5). Only meters whose files carry IPUs produce
// task series, and only for the requesting org.
var taskLabels = []string{"org_id", "meter_id", "task_id", "task_name", "task_type", "project", "folder"}

var taskKind = breakdownKind{
	name:   "task",
	title:  "Task",
	labels: taskLabels,
	families: []breakdownFamily{
		{desc: prometheus.NewDesc(
			"informatica_task_billing_period_consumed_ipus",
			"IPUs a task's runs consumed on a meter in the org's current billing period, from job-level exports (the login org, meters whose job-level files carry IPUs); task_id \"other\" sums the tasks beyond breakdown_max_series."+cached,
			taskLabels, nil), value: taskIPU},
		{desc: prometheus.NewDesc(
			"informatica_task_billing_period_runs",
			"Runs of a task in the org's current billing period, from job-level exports."+cached,
			taskLabels, nil), value: taskRuns},
		{desc: prometheus.NewDesc(
			"informatica_task_billing_period_max_run_ipus",
			"IPUs of the task's most expensive run in the org's current billing period (for rows that aggregate runs: their IPUs over their runs), from job-level exports."+cached,
			taskLabels, nil), value: taskMaxRunIPU},
		{desc: prometheus.NewDesc(
			"informatica_task_last_day_consumed_ipus",
			"IPUs a task's runs consumed on a meter on the org's most recent complete UTC day (see informatica_ipu_last_day_timestamp_seconds), from job-level exports."+cached,
			taskLabels, nil), value: taskIPU, lastDay: true},
	},
	group:   2,
	keepMax: [maxRowValues]bool{taskMaxRunIPU: true},
	maxDays: informatica.MaxTaskDays,
	export:  exportTasks,
	finish:  finishTasks,
}

// Values of a task's day.
const (
	taskIPU = iota
	taskRuns
	taskMaxRunIPU
)

type taskKey struct{ org, meter, task string }

// taskNames are a task's names as of its latest row, so that a task
// renamed during the period stays one series.
type taskNames struct {
	latest                     time.Time
	name, typ, project, folder string
}

type taskDay struct {
	task taskKey
	day  int32
}

// taskGather is what the task breakdown keeps across its jobs: a task's
// names are those of its latest row in the whole range.
type taskGather struct {
	meters *informatica.MeterResolver
	names  map[taskKey]*taskNames
	days   map[taskDay]rowValues
}

func exportTasks(ctx context.Context, c *informatica.Client, run *breakdownRun, job informatica.Range) (informatica.ExportResult, error) {
	g, _ := run.gathered.(*taskGather)
	if g == nil {
		g = &taskGather{meters: informatica.NewMeterResolver(), names: map[taskKey]*taskNames{}, days: map[taskDay]rowValues{}}
		for _, m := range run.r.meters {
			g.meters.Add(m.ID, m.Name)
		}
		run.gathered = g
	}
	rows, meters, names, days := run.rows, g.meters, g.names, g.days
	return c.ExportTaskUsage(ctx, job.Start, job.End, func(t *informatica.TaskRow) error {
		meter := t.MeterID
		if meter == "" {
			var ok bool
			if meter, ok = meters.Resolve(t.MeterHint); !ok {
				return nil
			}
		}
		k := taskKey{t.OrgID, meter, t.TaskID}
		n := names[k]
		if n == nil {
			if err := rows.full(len(names)); err != nil {
				return err
			}
			n = &taskNames{}
			k = taskKey{strings.Clone(k.org), strings.Clone(k.meter), strings.Clone(k.task)}
			names[k] = n
		}
		if !t.Date.Before(n.latest) {
			n.latest = t.Date
			n.name, n.typ = strings.Clone(t.TaskName), strings.Clone(t.TaskType)
			n.project, n.folder = strings.Clone(t.Project), strings.Clone(t.Folder)
		}
		runs := max(t.Runs, 0)
		// Rows that aggregate runs tell only the mean run.
		perRun := t.IPU
		if runs > 1 {
			perRun = t.IPU / float64(runs)
		}
		d := taskDay{k, usage.DayNumber(t.Date)}
		v := days[d]
		combine(&v, rowValues{taskIPU: t.IPU, taskRuns: float64(runs), taskMaxRunIPU: perRun}, rows.kind.keepMax)
		days[d] = v
		return nil
	})
}

// finishTasks adds the task days gathered over the run's jobs.
func finishTasks(logger log.Logger, run *breakdownRun) {
	g, _ := run.gathered.(*taskGather)
	if g == nil {
		return
	}
	for d, v := range g.days {
		n := g.names[d.task]
		run.rows.addDay(seriesKey{d.task.org, d.task.meter, d.task.task, n.name, n.typ, n.project, n.folder}, d.day, v)
	}
	for _, hint := range g.meters.Unresolved() {
		level.Warn(logger).Log("msg", "Skipping job-level rows of a file that names no meter this account's summary knows", "file", hint)
	}
}
