package collector

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/internal/testkit"
	"github.com/ipumon/informatica_exporter/usage"
)

// Monthly periods as Informatica writes them: first and last day, as dates.
const (
	feb, febEnd = "2025-02-01", "2025-02-28"
	mar, marEnd = "2025-03-01", "2025-03-31"
)

// date parses "2006-01-02" or RFC 3339 as UTC; test input is always valid.
func date(s string) time.Time {
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	panic("bad test date " + s)
}

// fixedClock is a settable clock for WithClock.
type fixedClock struct{ ns atomic.Int64 }

func newFixedClock(t time.Time) *fixedClock {
	c := &fixedClock{}
	c.Set(t)
	return c
}

func (c *fixedClock) Now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fixedClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

type syncBuffer = testkit.SyncBuffer

func newTestLogger() (log.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return log.NewLogfmtLogger(buf), buf
}

// waitFor polls cond until it holds, failing the test after a generous bound.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// samples is a gathered registry: "name{label="value",...}" to value, the
// labels in the registry's (sorted) order.
type samples map[string]float64

func gatherSamples(t testing.TB, g prometheus.Gatherer) samples {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := samples{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			if m.TimestampMs != nil {
				t.Errorf("%s carries a timestamp", mf.GetName())
			}
			var v float64
			switch {
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Counter != nil:
				v = m.Counter.GetValue()
			default:
				t.Fatalf("%s: unexpected metric type", mf.GetName())
			}
			var labels []string
			for _, lp := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return out
}

// key builds a samples key; labels are name, value pairs in sorted name order.
func key(name string, labels ...string) string {
	var parts []string
	for i := 0; i+1 < len(labels); i += 2 {
		parts = append(parts, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

// usageKey is the key of a usage gauge.
func usageKey(name, orgID, orgName, meterID, meterName string) string {
	return key(name, "meter_id", meterID, "meter_name", meterName, "org_id", orgID, "org_name", orgName)
}

// with returns the samples whose metric name is one of names.
func (s samples) with(names ...string) samples {
	out := samples{}
	for k, v := range s {
		for _, n := range names {
			if strings.HasPrefix(k, n+"{") {
				out[k] = v
			}
		}
	}
	return out
}

// withLabel returns the samples that carry label="value".
func (s samples) withLabel(label, value string) samples {
	out := samples{}
	needle := fmt.Sprintf("%s=%q", label, value)
	for k, v := range s {
		if strings.Contains(k, "{"+needle) || strings.Contains(k, ","+needle) {
			out[k] = v
		}
	}
	return out
}

func (s samples) String() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %v\n", k, s[k])
	}
	return b.String()
}

// usageNames are the metrics that max_age withdraws.
var usageNames = []string{
	"informatica_ipu_billing_period_consumed_ipus",
	"informatica_ipu_last_day_consumed_ipus",
	"informatica_meter_billing_period_usage",
	"informatica_meter_ipu_rate",
	"informatica_ipu_billing_period_start_timestamp_seconds",
	"informatica_ipu_billing_period_end_timestamp_seconds",
	"informatica_ipu_last_day_timestamp_seconds",
	"informatica_org_info",
	"informatica_meter_info",
}

// assertSamples compares got with want exactly in keys and within a relative
// tolerance in values: sums taken in another order round differently.
func assertSamples(t testing.TB, got, want samples) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("missing %s (want %v)", k, w)
			continue
		}
		if !approx(g, w) {
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s = %v", k, g)
		}
	}
}

func approx(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// row is a compact way to write a usage row in a test.
type row struct {
	org, meter string
	date       string
	start, end string // billing period, RFC 3339 or date; empty for none
	usage, ipu float64
	rate       float64
	hasRate    bool
}

func (r row) usageRow() *informatica.UsageRow {
	u := &informatica.UsageRow{
		OrgID: r.org, OrgName: "Org " + r.org, OrgType: "Production",
		MeterID: r.meter, MeterName: "Meter " + r.meter, Scalar: "Compute Units", MetricCategory: "Data Integration",
		Date:       date(r.date),
		MeterUsage: r.usage, IPU: r.ipu, IPURate: r.rate, HasIPURate: r.hasRate,
	}
	if r.start != "" {
		u.BillingPeriodStart, u.BillingPeriodEnd = date(r.start), date(r.end)
	}
	return u
}

func buildTable(t testing.TB, rows ...row) *usage.Table {
	t.Helper()
	b := usage.NewBuilder()
	for _, r := range rows {
		if err := b.Add(r.usageRow()); err != nil {
			t.Fatalf("Add(%+v): %v", r, err)
		}
	}
	return b.Table()
}
