package informatica_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

func TestSummaryResources(t *testing.T) {
	t.Parallel()
	const prefix = "/saas/public/core/v3/license/metering/"
	for _, tc := range []struct {
		name     string
		api      informatica.SummaryAPI
		combined bool
		path     string
		body     map[string]any
	}{
		{
			"default", "", false, prefix + "ExportMeteringDataAllLinkedOrgsAcrossRegion",
			map[string]any{"combinedMeterUsage": "FALSE"},
		},
		{
			"across region combined", informatica.AllLinkedOrgsAcrossRegion, true, prefix + "ExportMeteringDataAllLinkedOrgsAcrossRegion",
			map[string]any{"combinedMeterUsage": "TRUE"},
		},
		{
			"ExportMeteringData", informatica.ExportMeteringData, false, prefix + "ExportMeteringData",
			map[string]any{"combinedMeterUsage": "FALSE", "jobType": "SUMMARY", "allLinkedOrgs": "TRUE"},
		},
		{
			"ExportMeteringData combined", informatica.ExportMeteringData, true, prefix + "ExportMeteringData",
			map[string]any{"combinedMeterUsage": "TRUE", "jobType": "SUMMARY", "allLinkedOrgs": "TRUE"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, func(c *informatica.Config) {
				c.SummaryAPI = tc.api
				c.CombinedMeterUsage = tc.combined
			})
			// Local times in another zone are sent as UTC.
			cest := time.FixedZone("CEST", 2*60*60)
			from := time.Date(2024, 6, 1, 2, 0, 0, 0, cest)
			to := time.Date(2024, 6, 11, 1, 59, 59, 0, cest)
			rows, res, err := e.export(from, to)
			if err != nil {
				t.Fatal(err)
			}
			if res.Jobs != 1 || res.Rows != len(rows) || res.Partial {
				t.Errorf("result %+v with %d rows", res, len(rows))
			}
			checkRows(t, rows, e.servedRows())
			// Every org is in the data: allLinkedOrgs reached the fake.
			orgs := map[string]bool{}
			for _, r := range rows {
				orgs[r.OrgID] = true
			}
			if len(orgs) != len(fake.DemoOrgs) {
				t.Errorf("rows cover %d orgs, want %d", len(orgs), len(fake.DemoOrgs))
			}

			reqs := e.requests(fake.EndpointExport)
			if len(reqs) != 1 {
				t.Fatalf("%d export requests", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != tc.path {
				t.Errorf("export request %s %s, want POST %s", r.Method, r.Path, tc.path)
			}
			want := map[string]any{"startDate": "2024-06-01T00:00:00Z", "endDate": "2024-06-10T23:59:59Z"}
			for k, v := range tc.body {
				want[k] = v
			}
			if len(r.Body) != len(want) {
				t.Errorf("body %v, want %v", r.Body, want)
			}
			for k, v := range want {
				// Flags are the strings "TRUE"/"FALSE", not JSON booleans.
				if s, ok := r.Body[k].(string); !ok || s != v {
					t.Errorf("body[%q] = %#v, want %q", k, r.Body[k], v)
				}
			}
		})
	}
}

func TestSplitRange(t *testing.T) {
	t.Parallel()
	d0 := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		maxDays  int
		n        int
	}{
		{"one second", d0, d0, 180, 1},
		{"one day", d0, d0.Add(24*time.Hour - time.Second), 180, 1},
		{"180 days", d0, d0.AddDate(0, 0, 180).Add(-time.Second), 180, 1},
		{"180 days and a second", d0, d0.AddDate(0, 0, 180), 180, 2},
		{"400 days", d0, d0.AddDate(0, 0, 400).Add(-time.Second), 180, 3},
		{"400 days to mid-day", d0, d0.AddDate(0, 0, 400).Add(13 * time.Hour), 180, 3},
		{"three years by 30", d0, d0.AddDate(3, 0, 0), 30, 37},
		{"leap year", time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), 180, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := informatica.SplitRange(tc.from, tc.to, tc.maxDays)
			if len(got) != tc.n {
				t.Fatalf("%d ranges, want %d: %v", len(got), tc.n, got)
			}
			if !got[0].Start.Equal(tc.from) || !got[len(got)-1].End.Equal(tc.to) {
				t.Errorf("ranges cover %v..%v, want %v..%v", got[0].Start, got[len(got)-1].End, tc.from, tc.to)
			}
			for i, r := range got {
				if r.End.Before(r.Start) {
					t.Errorf("range %d ends before it starts: %v", i, r)
				}
				if r.End.Sub(r.Start) >= time.Duration(tc.maxDays)*24*time.Hour {
					t.Errorf("range %d spans %v, more than %d days", i, r.End.Sub(r.Start), tc.maxDays)
				}
				if i > 0 {
					// Inclusive ends: the next range starts one second after
					// the previous one, so there is no overlap and no gap.
					if want := got[i-1].End.Add(time.Second); !r.Start.Equal(want) {
						t.Errorf("range %d starts %v, want %v", i, r.Start, want)
					}
					// Ranges start at the same time of day, so whole days
					// are never split between two jobs.
					if r.Start.Sub(tc.from)%(24*time.Hour) != 0 {
						t.Errorf("range %d starts at %v", i, r.Start)
					}
				}
			}
		})
	}
	if got := informatica.SplitRange(d0.Add(time.Second), d0, 180); len(got) != 0 {
		t.Errorf("reversed range gives %v", got)
	}
}

func TestExportLongRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{Days: 450, MaxActiveJobs: 1}, nil)
	// Each export request records how many jobs are active at that moment.
	var active []int
	e.srv.Inject(fake.Fault{Endpoint: fake.EndpointExport, Times: 10, Pass: true, Handler: func(http.ResponseWriter, *http.Request) {
		active = append(active, e.srv.ActiveJobs())
	}})
	from := day(t0).AddDate(0, 0, -400)
	rows, res, err := e.export(from, t0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Jobs != 3 || res.Rows != len(rows) {
		t.Errorf("result %+v with %d rows", res, len(rows))
	}
	if n := e.srv.Calls(fake.EndpointExport); n != 3 {
		t.Fatalf("%d export calls, want 3", n)
	}
	if !slices.Equal(active, []int{0, 0, 0}) {
		t.Errorf("active jobs at each export call: %v, want none", active)
	}
	checkRows(t, rows, e.servedRows())

	// No day twice, no day missing.
	seen := map[row]bool{}
	days := map[string]bool{}
	for _, r := range rows {
		k := row{OrgID: r.OrgID, MeterID: r.MeterID, Date: r.Date}
		if seen[k] {
			t.Fatalf("row exported twice: %+v", k)
		}
		seen[k] = true
		days[r.Date] = true
	}
	if len(days) != 401 {
		t.Errorf("rows cover %d days, want 401", len(days))
	}

	var starts, ends []string
	for _, r := range e.requests(fake.EndpointExport) {
		starts = append(starts, r.Body["startDate"].(string))
		ends = append(ends, r.Body["endDate"].(string))
	}
	wantStarts := []string{"2023-05-12T00:00:00Z", "2023-11-08T00:00:00Z", "2024-05-06T00:00:00Z"}
	wantEnds := []string{"2023-11-07T23:59:59Z", "2024-05-05T23:59:59Z", "2024-06-15T10:00:00Z"}
	if !slices.Equal(starts, wantStarts) || !slices.Equal(ends, wantEnds) {
		t.Errorf("job ranges %v..%v, want %v..%v", starts, ends, wantStarts, wantEnds)
	}
}

func TestPollBackoff(t *testing.T) {
	t.Parallel()
	// The job is CREATED for 100s and PROCESSING until 400s: polls at 15s
	// and 45s see CREATED, at 105s, 225s and 345s PROCESSING, at 465s
	// SUCCESS.
	e := newEnv(t, fake.Options{CreatedFor: 100 * time.Second, ProcessingFor: 300 * time.Second}, nil)
	if _, _, err := e.exportDays(); err != nil {
		t.Fatal(err)
	}
	s := time.Second
	want := []time.Duration{15 * s, 30 * s, 60 * s, 120 * s, 120 * s, 120 * s}
	if got := e.clock.Sleeps(); !slices.Equal(got, want) {
		t.Errorf("poll delays %v, want %v", got, want)
	}
	if n := e.srv.Calls(fake.EndpointStatus); n != len(want) {
		t.Errorf("%d status polls, want %d", n, len(want))
	}
	if n := e.srv.Calls(fake.EndpointDownload); n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}

	t.Run("custom intervals", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{CreatedFor: time.Minute, ProcessingFor: time.Minute}, func(c *informatica.Config) {
			c.PollInterval = 10 * time.Second
			c.MaxPollInterval = 25 * time.Second
		})
		if _, _, err := e.exportDays(); err != nil {
			t.Fatal(err)
		}
		want := []time.Duration{10 * s, 20 * s, 25 * s, 25 * s, 25 * s, 25 * s}
		if got := e.clock.Sleeps(); !slices.Equal(got, want) {
			t.Errorf("poll delays %v, want %v", got, want)
		}
	})
}

func TestTenMinuteJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{CreatedFor: 2 * time.Minute, ProcessingFor: 8 * time.Minute}, nil)
	if _, _, err := e.exportDays(); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Calls(fake.EndpointStatus); n > 15 {
		t.Errorf("%d status polls for a 10-minute job, want at most 15", n)
	}
	if elapsed := e.clock.Now().Sub(t0); elapsed < 10*time.Minute || elapsed > 12*time.Minute {
		t.Errorf("job finished after %v, want 10-12 minutes", elapsed)
	}
}

func TestJobOutcome(t *testing.T) {
	t.Parallel()
	const msg = "Short error message: [fetchEligibleJobForExecution] Exception in executing job. 503 Service Unavailable"
	for _, tc := range []struct {
		name      string
		outcome   fake.Outcome
		wantErr   string // "" for success
		partial   bool
		downloads int
	}{
		{"SUCCESS", fake.Outcome{}, "", false, 1},
		{"PARTIAL_SUCCESS", fake.Outcome{Status: "PARTIAL_SUCCESS", ErrorMessage: msg}, "", true, 1},
		{"FAILED", fake.Outcome{Status: "FAILED", ErrorMessage: msg}, msg, false, 0},
		{"FAILED with HTML", fake.Outcome{Status: "FAILED", ErrorMessage: "<html><body><h1>Export\nfailed</h1></body></html>"}, "Export failed", false, 0},
		{"CANCELLED", fake.Outcome{Status: "CANCELLED"}, "CANCELLED", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, nil)
			e.srv.SetOutcomes(tc.outcome)
			rows, res, err := e.exportDays()
			if n := e.srv.Calls(fake.EndpointDownload); n != tc.downloads {
				t.Errorf("%d downloads, want %d", n, tc.downloads)
			}
			if tc.wantErr != "" {
				if err == nil {
					t.Fatal("export succeeded")
				}
				if st := informatica.StageOf(err); st != informatica.StagePoll {
					t.Errorf("stage %q, want poll: %v", st, err)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, rows, e.servedRows())
			if res.Partial != tc.partial {
				t.Errorf("Partial = %v, want %v", res.Partial, tc.partial)
			}
			if tc.partial && res.Message != msg {
				t.Errorf("Message = %q, want %q", res.Message, msg)
			}
			if !tc.partial && res.Message != "" {
				t.Errorf("Message = %q for a complete export", res.Message)
			}
		})
	}
}

func TestCreateResponseVariants(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts fake.Options
	}{
		{"jobId 200", fake.Options{}},
		{"jobID", fake.Options{JobIDKey: "jobID"}},
		{"201 Created", fake.Options{CreateStatus: http.StatusCreated}},
		{"jobID 201", fake.Options{JobIDKey: "jobID", CreateStatus: http.StatusCreated}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.opts, nil)
			rows, _, err := e.exportDays()
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, rows, e.servedRows())
			// The fake answers 404 to unknown job IDs, so success means the
			// status and download requests used the ID from the answer.
			if got := e.codes(fake.EndpointExport); len(got) != 1 || got[0] != fmtCode(tc.opts.CreateStatus) {
				t.Errorf("export codes %v", got)
			}
		})
	}

	t.Run("no job ID", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		e.srv.Inject(fake.Fault{Endpoint: fake.EndpointExport, Body: `{"status":"CREATED"}`})
		_, _, err := e.exportDays()
		if st := informatica.StageOf(err); st != informatica.StageExport || !strings.Contains(err.Error(), "jobId") {
			t.Errorf("error %v (stage %q), want an export error about jobId", err, st)
		}
	})

	t.Run("job ID with spaces", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		var path string
		e.srv.Inject(fake.Fault{Endpoint: fake.EndpointExport, Body: `{"jobId":"  job42\n","status":"CREATED"}`})
		e.srv.Inject(fake.Fault{Endpoint: fake.EndpointStatus, Handler: func(w http.ResponseWriter, r *http.Request) {
			path = r.URL.Path
			serve(http.StatusOK, "application/json", []byte(`{"jobId":"job42","status":"FAILED","errorMessage":"boom"}`))(w, r)
		}})
		_, _, err := e.exportDays()
		if path != "/saas/public/core/v3/license/metering/ExportMeteringData/job42" {
			t.Errorf("status path %q", path)
		}
		if err == nil || !strings.Contains(err.Error(), "job42 failed: boom") {
			t.Errorf("error %v", err)
		}
	})
}

func fmtCode(status int) string {
	if status == 0 {
		status = http.StatusOK
	}
	return strconv.Itoa(status)
}

func TestJobTimeout(t *testing.T) {
	t.Parallel()
	for _, timeout := range []time.Duration{0, 10 * time.Minute} {
		want := timeout
		if want == 0 {
			want = 30 * time.Minute
		}
		t.Run(want.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.JobTimeout = timeout })
			e.srv.SetOutcomes(fake.Outcome{Never: true})
			_, _, err := e.exportDays()
			if err == nil {
				t.Fatal("export of a job that never ends succeeded")
			}
			if st := informatica.StageOf(err); st != informatica.StagePoll {
				t.Errorf("stage %q, want poll", st)
			}
			if !strings.Contains(err.Error(), want.String()) {
				t.Errorf("error %q does not mention the timeout %s", err, want)
			}
			if elapsed := e.clock.Now().Sub(t0); elapsed < want || elapsed > want+2*time.Minute {
				t.Errorf("gave up after %v, want %v", elapsed, want)
			}
			if n := e.srv.Calls(fake.EndpointDownload); n != 0 {
				t.Errorf("%d downloads", n)
			}
		})
	}
}

func TestWaitForJobContextCanceled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.client.WaitForJob(ctx, "job1")
	if !errors.Is(err, context.Canceled) || informatica.StageOf(err) != informatica.StagePoll {
		t.Errorf("error %v, want context.Canceled at stage poll", err)
	}
}
