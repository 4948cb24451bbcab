package collector

import (
	"context"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
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
	descs: []*prometheus.Desc{
		prometheus.NewDesc(
			"informatica_task_billing_period_consumed_ipus",
			"IPUs a task's runs consumed on a meter in the org's current billing period, from job-level exports (the login org, meters whose job-level files carry IPUs); task_id \"other\" sums the tasks beyond breakdown_max_series."+cached,
			taskLabels, nil),
		prometheus.NewDesc(
			"informatica_task_billing_period_runs",
			"Runs of a task in the org's current billing period, from job-level exports."+cached,
			taskLabels, nil),
		prometheus.NewDesc(
			"informatica_task_billing_period_max_run_ipus",
			"IPUs of the task's most expensive run in the org's current billing period (for rows that aggregate runs: their IPUs over their runs), from job-level exports."+cached,
			taskLabels, nil),
		prometheus.NewDesc(
			"informatica_task_last_day_consumed_ipus",
			"IPUs a task's runs consumed on a meter on the org's most recent complete UTC day (see informatica_ipu_last_day_timestamp_seconds), from job-level exports."+cached,
			taskLabels, nil),
	},
	group:   2,
	keepMax: [maxBreakdownValues]bool{2: true},
	lastDay: true,
	export:  exportTasks,
}

// Values of a task series, in the order of taskKind.descs.
const (
	taskPeriodIPU = iota
	taskPeriodRuns
	taskMaxRunIPU
	taskLastDayIPU
)

type taskKey struct{ org, meter, task string }

// taskSeries is a task's sums and its names as of its latest row, so that
// a task renamed during the period stays one series.
type taskSeries struct {
	values                     seriesValues
	latest                     time.Time
	name, typ, project, folder string
}

func exportTasks(ctx context.Context, c *informatica.Client, logger log.Logger, sc *breakdownScope, sums *seriesSums) (informatica.ExportResult, error) {
	meters := informatica.NewMeterResolver()
	for _, m := range sc.meters {
		meters.Add(m.ID, m.Name)
	}
	tasks := map[taskKey]*taskSeries{}
	res, err := c.ExportTaskUsage(ctx, sc.from, sc.to, func(r *informatica.TaskRow) error {
		inPeriod, lastDay := sc.inPeriod(r.OrgID, r.Date), sc.onLastDay(r.OrgID, r.Date)
		if !inPeriod && !lastDay {
			return nil
		}
		meter := r.MeterID
		if meter == "" {
			var ok bool
			if meter, ok = meters.Resolve(r.MeterHint); !ok {
				return nil
			}
		}
		k := taskKey{r.OrgID, meter, r.TaskID}
		t := tasks[k]
		if t == nil {
			t = &taskSeries{}
			k = taskKey{strings.Clone(k.org), strings.Clone(k.meter), strings.Clone(k.task)}
			tasks[k] = t
		}
		if !r.Date.Before(t.latest) {
			t.latest = r.Date
			t.name, t.typ = strings.Clone(r.TaskName), strings.Clone(r.TaskType)
			t.project, t.folder = strings.Clone(r.Project), strings.Clone(r.Folder)
		}
		if inPeriod {
			runs := max(r.Runs, 0)
			t.values[taskPeriodIPU] += r.IPU
			t.values[taskPeriodRuns] += float64(runs)
			// Rows that aggregate runs tell only the mean run.
			perRun := r.IPU
			if runs > 1 {
				perRun = r.IPU / float64(runs)
			}
			t.values[taskMaxRunIPU] = max(t.values[taskMaxRunIPU], perRun)
		}
		if lastDay {
			t.values[taskLastDayIPU] += r.IPU
		}
		return nil
	})
	for k, t := range tasks {
		sums.add(seriesKey{k.org, k.meter, k.task, t.name, t.typ, orNone(t.project), t.folder}, t.values)
	}
	for _, hint := range meters.Unresolved() {
		level.Warn(logger).Log("msg", "Skipping job-level rows of a file that names no meter this account's summary knows", "file", hint)
	}
	return res, err
}
