package collector

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestBlankLabelsAreNoneOnMetrics: on /metrics, every series of every
// breakdown family carries every label of its kind, a blank cell (the
// fake's deleted assets have neither project nor folder) being "(none)":
// one rule for every label, not project="(none)" beside a missing folder.
func TestBlankLabelsAreNoneOnMetrics(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{}, now)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	a := accountFor("prod", f, nil)
	a.Breakdown = BreakdownSettings{ProjectFolder: true, Asset: true, Task: true, Interval: 24 * time.Hour, MaxSeries: 500}
	if err := e.Apply(Settings{Accounts: []AccountSettings{a}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the breakdowns", func() bool { return breakdownDone(t, reg, "project_folder", "asset", "task") })

	srv := httptest.NewServer(e.Handler(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	none := map[string]int{} // "(none)" values by label
	for _, k := range breakdownKinds {
		for _, d := range k.descs {
			name := descName(d)
			mf := mfs[name]
			if mf == nil || len(mf.Metric) == 0 {
				t.Errorf("%s: no series on /metrics", name)
				continue
			}
			for _, m := range mf.Metric {
				labels := map[string]string{}
				for _, l := range m.Label {
					labels[l.GetName()] = l.GetValue()
				}
				for _, l := range k.labels {
					v, ok := labels[l]
					switch {
					case !ok || v == "":
						t.Errorf("%s%v: label %s missing, want \"(none)\" for a blank cell", name, labels, l)
					case v == noProject:
						none[l]++
					}
				}
			}
		}
	}
	// The fake's deleted assets: blank project and folder, in both kinds
	// that carry them.
	if none["project"] == 0 || none["folder"] == 0 {
		t.Errorf("\"(none)\" values by label %v, want project and folder among them", none)
	}
}
