package collector

import (
	"bytes"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

func TestFirstRefreshAtStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fake.Options{}, false) // interval 1h: only the first run happens
	applied := h.now()
	// Ready comes with the outcome; the log line and the next refresh time
	// follow a moment later.
	waitFor(t, "the first refresh", func() bool {
		return h.exp.Ready() && len(h.logs.Lines("Refresh finished")) == 1 && h.exp.Status()[0].NextRefresh.After(applied.Add(time.Minute))
	})
	finished := h.now()

	served := h.fake.Served()
	if len(served) == 0 {
		t.Fatal("the fake served no rows")
	}
	assertSamples(t, h.usage(), expectedUsage(t, "prod", served, h.now()))

	// The lookback reaches before June 1, so one job covers the period.
	if got, want := exportStarts(h.fake), []string{"2025-05-01T00:00:00Z"}; !slices.Equal(got, want) {
		t.Errorf("export startDates %v, want %v", got, want)
	}
	if n := h.fake.Calls(fake.EndpointLogin); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}

	s := h.samples()
	for name, want := range map[string]float64{
		"informatica_up":                       1,
		"informatica_exporter_refreshes_total": 1,
		"informatica_exporter_export_rows":     float64(len(served)),
		"informatica_exporter_export_partial":  0,
	} {
		if got := s[key(name, "account", "prod")]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, st := range informatica.Stages {
		k := key("informatica_exporter_refresh_failures_total", "account", "prod", "stage", string(st))
		if v, ok := s[k]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", k, v, ok)
		}
	}
	login := h.fake.LoginOrg().ID
	if got := s[key("informatica_ipu_entitlement_ipus", "account", "prod", "org_id", login)]; got != testEntitlement {
		t.Errorf("entitlement on the login org %s = %v, want %v", login, got, testEntitlement)
	}
	for _, ep := range []string{"login", "export", "download"} {
		if got := s[key("informatica_exporter_api_requests_total", "account", "prod", "code", "200", "endpoint", ep)]; got != 1 {
			t.Errorf("api requests %s/200 = %v, want 1", ep, got)
		}
	}
	if got := s[key("informatica_exporter_api_requests_total", "account", "prod", "code", "200", "endpoint", "status")]; got < 1 {
		t.Errorf("api requests status/200 = %v, want at least 1", got)
	}

	success := s[key("informatica_exporter_last_refresh_success_timestamp_seconds", "account", "prod")]
	if success < unixSeconds(applied) || success > unixSeconds(finished) {
		t.Errorf("last success %v outside the run [%v, %v]", success, unixSeconds(applied), unixSeconds(finished))
	}
	if d := s[key("informatica_exporter_last_refresh_duration_seconds", "account", "prod")]; d <= 0 || d > finished.Sub(applied).Seconds() {
		t.Errorf("duration %v, want within (0, %v]", d, finished.Sub(applied).Seconds())
	}
	next := s[key("informatica_exporter_next_refresh_timestamp_seconds", "account", "prod")]
	if next < success+0.9*3600 || next > success+1.1*3600 {
		t.Errorf("next refresh %v, want the interval ±10%% after %v", next, success)
	}

	st := h.exp.Status()
	if len(st) != 1 || !st[0].Up || !st[0].Attempted || st[0].Rows != len(served) || st[0].Orgs != len(fake.DemoOrgs) || st[0].LastError != "" {
		t.Errorf("Status() = %+v", st)
	}
	if w := h.warnings(); len(w) != 0 {
		t.Errorf("warnings after a good refresh: %q", w)
	}
	if n := len(h.logs.Lines("level=info", "Refresh finished")); n != 1 {
		t.Errorf("%d 'Refresh finished' lines, want 1:\n%s", n, h.logs)
	}
}

func TestFailedRefreshKeepsLastGoodData(t *testing.T) {
	t.Parallel()
	badRow := csvHeader + "o1,m1,Meter,2025-06-14,2025-06-01,2025-06-30,1,lots,Units,Cat,Org,Production,0.5\n"
	for _, tc := range []struct {
		name   string
		stage  informatica.Stage
		inject func(f *fake.Server)
	}{
		{"login", informatica.StageLogin, func(f *fake.Server) {
			// The session is gone; logging in again fails.
			f.ExpireSessions()
			f.Inject(fake.Fault{Endpoint: fake.EndpointLogin, Status: http.StatusInternalServerError})
		}},
		{"export", informatica.StageExport, func(f *fake.Server) {
			f.Inject(fake.Fault{
				Endpoint: fake.EndpointExport, Status: http.StatusInternalServerError,
				Body: `{"error":{"code":"MTR_500","message":"Internal error"}}`,
			})
		}},
		{"poll", informatica.StagePoll, func(f *fake.Server) {
			f.SetOutcomes(fake.Outcome{Status: "FAILED", ErrorMessage: "Exception occurred while processing"})
		}},
		{"download", informatica.StageDownload, func(f *fake.Server) {
			f.Inject(fake.Fault{Endpoint: fake.EndpointDownload, Status: http.StatusInternalServerError})
		}},
		{"bad CSV", informatica.StageParse, func(f *fake.Server) {
			f.Inject(fake.Fault{Endpoint: fake.EndpointDownload, Handler: zipAnswer(badRow)})
		}},
		{"no rows", informatica.StageParse, func(f *fake.Server) {
			f.Inject(fake.Fault{Endpoint: fake.EndpointDownload, Handler: zipAnswer(csvHeader)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, fake.Options{}, true)
			h.run(1)
			good := h.usage()
			goodSnap := h.snap()
			goodRows := h.health("informatica_exporter_export_rows")
			goodSuccess := h.health("informatica_exporter_last_refresh_success_timestamp_seconds")
			if len(good) == 0 || h.health("informatica_up") != 1 {
				t.Fatal("the first refresh did not succeed")
			}

			// New data at the fake, so that a run that wrongly used any of
			// it would show.
			h.fake.SetGeneration(1)
			tc.inject(h.fake)
			h.run(2)
			if n := h.fake.PendingFaults(); n != 0 {
				t.Fatalf("%d injected faults unused", n)
			}

			if got := h.health("informatica_up"); got != 0 {
				t.Errorf("up = %v after a failed refresh", got)
			}
			if got := h.health("informatica_exporter_refreshes_total"); got != 2 {
				t.Errorf("refreshes_total = %v, want 2", got)
			}
			for _, st := range informatica.Stages {
				want := 0.0
				if st == tc.stage {
					want = 1
				}
				if got := h.health("informatica_exporter_refresh_failures_total", "stage", string(st)); got != want {
					t.Errorf("refresh_failures_total{stage=%q} = %v, want %v", st, got, want)
				}
			}
			if h.snap() != goodSnap {
				t.Error("the snapshot was replaced by a failed refresh")
			}
			if got := h.usage(); got.String() != good.String() {
				t.Errorf("usage changed after a failed refresh:\n%s\nwas:\n%s", got, good)
			}
			if got := h.health("informatica_exporter_export_rows"); got != goodRows {
				t.Errorf("export_rows = %v, want the last success's %v", got, goodRows)
			}
			if got := h.health("informatica_exporter_last_refresh_success_timestamp_seconds"); got != goodSuccess {
				t.Errorf("last success moved from %v to %v", goodSuccess, got)
			}
			warnings := h.warnings()
			if len(warnings) != 1 {
				t.Fatalf("%d warning lines, want 1:\n%s", len(warnings), h.logs)
			}
			if w := warnings[0]; !strings.Contains(w, "stage="+string(tc.stage)) || !strings.Contains(w, "account=prod") {
				t.Errorf("warning does not name the account and stage %s: %s", tc.stage, w)
			}
			// The log holds every level, the debug lines of each call included.
			if n := strings.Count(h.logs.String(), `msg="Informatica call"`); n == 0 {
				t.Errorf("no debug line of an Informatica call in the log:\n%s", h.logs)
			}
			for _, secret := range append([]string{h.fake.Password()}, h.fake.SessionIDs()...) {
				if strings.Contains(h.logs.String(), secret) {
					t.Errorf("the secret %q is in the log", secret)
				}
			}
			if st := h.exp.Status(); st[0].Up || st[0].ErrorStage != tc.stage || st[0].LastError == "" {
				t.Errorf("Status() = %+v, want down with a %s error", st[0], tc.stage)
			}

			// The next run recovers with the fake's new data.
			h.fake.ResetServed()
			h.run(3)
			if got := h.health("informatica_up"); got != 1 {
				t.Errorf("up = %v after recovery", got)
			}
			served := h.fake.Served()
			now := h.usage()
			assertSamples(t, now, expectedUsage(t, "prod", served, h.now()))
			if now.String() == good.String() {
				t.Error("the recovering run did not replace the data")
			}
			if got := h.health("informatica_exporter_export_rows"); got != float64(len(served)) {
				t.Errorf("export_rows = %v, want %d", got, len(served))
			}
			if got := h.health("informatica_exporter_refresh_failures_total", "stage", string(tc.stage)); got != 1 {
				t.Errorf("failures of %s = %v after recovery, want 1", tc.stage, got)
			}
			if n := len(h.warnings()); n != 1 {
				t.Errorf("%d warning lines after recovery, want still 1", n)
			}
		})
	}
}

func TestPartialSuccess(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fake.Options{}, true)
	h.run(1)
	first := h.fake.Served()

	h.fake.SetGeneration(1)
	h.fake.SetOutcomes(fake.Outcome{Status: "PARTIAL_SUCCESS", ErrorMessage: "Could not gather the usage of one org"})
	h.fake.ResetServed()
	h.run(2)
	partial := h.fake.Served()
	missing := fake.DemoOrgs[len(fake.DemoOrgs)-1].ID
	var kept []fake.Row
	for _, r := range partial {
		if r.Org.ID == missing {
			t.Fatalf("the fake's partial export holds org %s", missing)
		}
	}
	for _, r := range first {
		if r.Org.ID == missing {
			kept = append(kept, r)
		}
	}
	// The partial data is used; the missing org keeps its previous data.
	assertSamples(t, h.usage(), expectedUsage(t, "prod", append(partial, kept...), h.now()))
	if got := h.health("informatica_up"); got != 1 {
		t.Errorf("up = %v after PARTIAL_SUCCESS, want 1", got)
	}
	if got := h.health("informatica_exporter_export_partial"); got != 1 {
		t.Errorf("export_partial = %v, want 1", got)
	}
	if got := h.health("informatica_exporter_export_rows"); got != float64(len(partial)) {
		t.Errorf("export_rows = %v, want %d", got, len(partial))
	}
	if w := h.warnings(); len(w) != 1 || !strings.Contains(w[0], "PARTIAL_SUCCESS") {
		t.Errorf("want one warning about PARTIAL_SUCCESS, got %q", w)
	}

	h.fake.ResetServed()
	h.run(3)
	assertSamples(t, h.usage(), expectedUsage(t, "prod", h.fake.Served(), h.now()))
	if got := h.health("informatica_exporter_export_partial"); got != 0 {
		t.Errorf("export_partial = %v after a full export, want 0", got)
	}
}

// TestRunReachesBackToPeriodStart: with annual periods the lookback of 45
// days misses most of the current period; the runs export from its start,
// one job at a time.
func TestRunReachesBackToPeriodStart(t *testing.T) {
	t.Parallel()
	periodStart := date("2024-10-20") // about 8 months before fakeBase
	h := newHarness(t, fake.Options{AnnualFrom: periodStart, Days: 400}, true)

	// Sample the fake's active jobs all through the runs.
	var (
		mu                 sync.Mutex
		maxActive, samples int
	)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			n := h.fake.ActiveJobs()
			mu.Lock()
			maxActive = max(maxActive, n)
			if n > 0 {
				samples++
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	h.run(1)
	first := exportStarts(h.fake)
	// The lookback first, then the rest of the period in jobs of at most
	// 180 days.
	if want := []string{"2025-05-01T00:00:00Z", "2024-10-20T00:00:00Z", "2025-04-18T00:00:00Z"}; !slices.Equal(first, want) {
		t.Errorf("first run's export startDates %v, want %v", first, want)
	}
	ds := h.fake.Dataset()
	wholePeriod := ds.Rows(ds.Orgs, periodStart, h.now())
	assertSamples(t, h.usage(), expectedUsage(t, "prod", wholePeriod, h.now()))
	want := key("informatica_ipu_billing_period_start_timestamp_seconds", "org_id", ds.Orgs[0].ID)
	if got := h.samples()[want]; got != float64(periodStart.Unix()) {
		t.Errorf("period start = %v, want %v", got, periodStart.Unix())
	}

	// Later runs know the period and start there.
	h.run(2)
	if got, want := exportStarts(h.fake)[len(first):], []string{"2024-10-20T00:00:00Z", "2025-04-18T00:00:00Z"}; !slices.Equal(got, want) {
		t.Errorf("second run's export startDates %v, want %v", got, want)
	}
	assertSamples(t, h.usage(), expectedUsage(t, "prod", wholePeriod, h.now()))

	close(stop)
	<-sampled
	if maxActive > 1 {
		t.Errorf("%d export jobs in flight at once, want at most 1", maxActive)
	}
	if samples == 0 {
		t.Error("the sampler never saw a job in flight")
	}
	// Each job is downloaded before the next one starts.
	var order []string
	for _, r := range h.fake.Requests() {
		if r.Endpoint == fake.EndpointExport || r.Endpoint == fake.EndpointDownload {
			order = append(order, r.Endpoint)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i] == order[i-1] {
			t.Errorf("requests %v: two %s in a row", order, order[i])
			break
		}
	}
}

// TestGoldenAfterRefreshFromFake runs one refresh from the fake on a stopped
// clock and compares every metric with testdata/fake.prom. The fake's jobs
// finish at once, and its meters charge a fixed unit a day, so the expected
// values are simple to work out by hand.
func TestGoldenAfterRefreshFromFake(t *testing.T) {
	t.Parallel()
	clock := newFixedClock(goldenNow)
	f := startFake(t, fake.Options{
		Orgs: []fake.Org{
			{ID: "org-1", Name: "Org One", Type: "Production", Scale: 1},
			{ID: "org-2", Name: "Org, Two", Type: "Sandbox", Scale: 1},
		},
		Meters: []fake.Meter{
			{ID: "m-flat", Name: "Flat Meter", Scalar: "Organizations", Category: "Platform", Rate: 0.25},
			{ID: "m-two", Name: "Two Meter", Scalar: "Jobs", Category: "Data Integration", Rate: 2},
		},
		CreatedFor: -1, ProcessingFor: -1,
	}, clock.Now)
	logger, _ := newTestLogger()
	e, _ := newTestExporter(t, logger, clock.Now)
	acct := accountFor("prod", f, nil)
	entitlement := 1000.0
	acct.Entitlement = &entitlement
	if err := e.Apply(Settings{Accounts: []AccountSettings{acct}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first refresh", e.Ready)
	// The next refresh is jittered; it is checked on its own.
	waitFor(t, "the next refresh to be scheduled", func() bool {
		a := accountNamed(e, "prod")
		a.state.mu.Lock()
		defer a.state.mu.Unlock()
		return a.state.nextRefresh.After(goldenNow)
	})

	expected, err := os.ReadFile("testdata/fake.prom")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range allDescs {
		if d != nextRefreshDesc {
			names = append(names, descName(d))
		}
	}
	if len(names) != 34 || !strings.HasPrefix(names[0], "informatica_") {
		t.Fatalf("metric names %q", names)
	}
	if err := testutil.CollectAndCompare(e, bytes.NewReader(expected), names...); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.CollectAndLint(e)
	if err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	next := gatherSamples(t, reg)[key("informatica_exporter_next_refresh_timestamp_seconds", "account", "prod")]
	if now := unixSeconds(goldenNow); next < now+0.9*3600 || next > now+1.1*3600 {
		t.Errorf("next refresh %v, want an hour ±10%% after %v", next, now)
	}
}

// descName extracts fqName from a Desc's String().
func descName(d *prometheus.Desc) string {
	s := d.String()
	start := strings.Index(s, `fqName: "`) + len(`fqName: "`)
	return s[start : start+strings.Index(s[start:], `"`)]
}
