package collector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestBreakdownCapSyntheticTasks: the cap keeps the largest series by
// billing-period IPUs and folds the rest per org and meter into "other":
// IPUs and runs summed, the largest run kept.
func TestBreakdownCapSyntheticTasks(t *testing.T) {
	sums := newSeriesSums(&taskKind)
	add := func(org, meter, task string, ipu, runs, maxRun, lastDay float64) {
		sums.add(seriesKey{org, meter, task, "name " + task, "MTT", "P", "F"}, seriesValues{ipu, runs, maxRun, lastDay})
	}
	add("o1", "m1", "t1", 10, 2, 6, 1)
	add("o1", "m1", "t2", 5, 5, 3, 2)
	add("o1", "m1", "t3", 1, 1, 1, 0)
	add("o1", "m2", "t4", 0.5, 3, 0.2, 0.1)
	add("o2", "m1", "t5", 7, 1, 7, 7)
	b, err := newBreakdown(sums, 2, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	got := samples{}
	for _, o := range b.orgs {
		s := gatherMetrics(t, o.metrics)
		for k, v := range s {
			got[k] = v
		}
	}
	series := func(org, meter, task, name, typ, project, folder string) func(metric string) string {
		return func(metric string) string {
			return key(metric, "folder", folder, "meter_id", meter, "org_id", org, "project", project, "task_id", task, "task_name", name, "task_type", typ)
		}
	}
	t1 := series("o1", "m1", "t1", "name t1", "MTT", "P", "F")
	t5 := series("o2", "m1", "t5", "name t5", "MTT", "P", "F")
	o1m1 := series("o1", "m1", "other", "other", "other", "other", "other")
	o1m2 := series("o1", "m2", "other", "other", "other", "other", "other")
	want := samples{}
	for i, metric := range []string{"informatica_task_billing_period_consumed_ipus", "informatica_task_billing_period_runs", "informatica_task_billing_period_max_run_ipus", "informatica_task_last_day_consumed_ipus"} {
		want[t1(metric)] = []float64{10, 2, 6, 1}[i]
		want[t5(metric)] = []float64{7, 1, 7, 7}[i]
		want[o1m1(metric)] = []float64{6, 6, 3, 2}[i]
		want[o1m2(metric)] = []float64{0.5, 3, 0.2, 0.1}[i]
	}
	assertSamples(t, got, want)
}

// gatherMetrics gathers ready-made metrics through a registry.
func gatherMetrics(t *testing.T, ms []prometheus.Metric) samples {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectFunc(func(ch chan<- prometheus.Metric) {
		for _, m := range ms {
			ch <- m
		}
	}))
	return gatherSamples(t, reg)
}
