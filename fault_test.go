package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// faultAttempts is how often the exporter tries a request in the fault
// matrix.
const faultAttempts = 3

// persistent makes a fault last until the test clears it once the run it
// breaks has failed: how many requests one run makes depends on retries,
// and on net/http retrying a request once on a connection that was reset.
const persistent = 1 << 20

// faultSettings shortens the client's timeouts and backoffs, which the
// configuration file does not expose, so that each fault plays out in
// seconds.
func faultSettings(s *collector.Settings) {
	for i := range s.Accounts {
		c := &s.Accounts[i].Client
		c.MaxAttempts = faultAttempts
		c.RetryBackoff = 20 * time.Millisecond
		c.MaxRetryAfter = 5 * time.Second
		// Long enough for a loaded machine: a run that fails for a reason
		// other than its fault is not retried by the test.
		c.RequestTimeout = 5 * time.Second
		c.DownloadTimeout = 10 * time.Second
		c.Limits.MaxUncompressedBytes = 4 << 20
	}
}

// usageCSV is a summary CSV with the documented header and the given rows.
func usageCSV(rows ...string) string {
	return "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,Scalar,MetricCategory,OrgName,OrgType,IPURate\n" +
		strings.Join(rows, "\n") + "\n"
}

const goodRow = "0cuQSDTq5sikvN7x8r1xm1,a2nB20h1o0lc7k3P9xtWS8,Data Integration,2025-06-01,2025-06-01,2025-06-30,10,0.6,Compute Units,Data Integration,Acme,Production,0.06"

// zipBytes makes a ZIP of name/content pairs.
func zipBytes(t *testing.T, files ...string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		w, err := zw.Create(files[i])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[i+1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zipAnswer(t *testing.T, files ...string) http.HandlerFunc {
	return bytesAnswer(zipBytes(t, files...))
}

func bytesAnswer(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zip")
		w.Write(b)
	}
}

// faultCase is one row of the fault matrix.
type faultCase struct {
	name string
	// stage the run fails in; empty for faults the exporter rides out.
	stage string
	// inject breaks the fake for one run.
	inject func(t *testing.T, f *fake.Server)
	// check looks at the outcome beyond the common assertions.
	check func(t *testing.T, f *fake.Server, before, after faultCounts)
	// everyRunFull makes every run a full one: an incremental export
	// without rows is no fault, a full one is.
	everyRunFull bool
}

// faultCounts are the fake's request counters around a fault.
type faultCounts struct{ logins, exports, downloads int }

func countsOf(f *fake.Server) faultCounts {
	return faultCounts{f.Calls(fake.EndpointLogin), f.Calls(fake.EndpointExport), f.Calls(fake.EndpointDownload)}
}

func fault(endpoint string, status int, body string) func(*testing.T, *fake.Server) {
	return func(t *testing.T, f *fake.Server) {
		f.Inject(fake.Fault{Endpoint: endpoint, Times: persistent, Status: status, Body: body})
	}
}

func download(answer func(t *testing.T) http.HandlerFunc) func(*testing.T, *fake.Server) {
	return func(t *testing.T, f *fake.Server) {
		f.Inject(fake.Fault{Endpoint: fake.EndpointDownload, Times: persistent, Handler: answer(t)})
	}
}

func csvAnswer(rows ...string) func(t *testing.T) http.HandlerFunc {
	return func(t *testing.T) http.HandlerFunc { return zipAnswer(t, "usage.csv", usageCSV(rows...)) }
}

// loginRefused makes the session expire and the next login fail.
func loginRefused(status int, body string) func(*testing.T, *fake.Server) {
	return func(t *testing.T, f *fake.Server) {
		f.ExpireSessions()
		f.Inject(fake.Fault{Endpoint: fake.EndpointLogin, Times: persistent, Status: status, Body: body})
	}
}

// noRetryStorm checks that a refused login was tried once in the failed run
// and once more in the run that recovered.
func noRetryStorm(t *testing.T, _ *fake.Server, before, after faultCounts) {
	if n := after.logins - before.logins; n != 2 {
		t.Errorf("%d logins from the failed run to the recovery, want 2 (one refused, one at the next run)", n)
	}
}

var faultMatrix = []faultCase{
	{name: "login 400", stage: "login", inject: loginRefused(400, `{"error":{"code":"IDS_001","message":"Bad request"}}`), check: noRetryStorm},
	{name: "login 401", stage: "login", inject: loginRefused(401, `{"error":{"code":"IDS_085","message":"User name or password is not valid."}}`), check: noRetryStorm},
	{name: "login 403", stage: "login", inject: loginRefused(403, `{"code":"UI_10000","description":"User name or password is not valid.","statusCode":403}`), check: noRetryStorm},
	{name: "session expires between polls", inject: func(t *testing.T, f *fake.Server) {
		f.Inject(fake.Fault{Endpoint: fake.EndpointStatus, Pass: true, Handler: func(http.ResponseWriter, *http.Request) { f.ExpireSessions() }})
	}, check: func(t *testing.T, f *fake.Server, before, after faultCounts) {
		if after.logins <= before.logins {
			t.Errorf("no new login after the session expired")
		}
		if got := after.exports - before.exports; got != after.downloads-before.downloads {
			t.Errorf("%d exports for %d downloads: a job was restarted instead of continued", got, after.downloads-before.downloads)
		}
	}},
	{name: "429 with Retry-After", stage: "export", inject: func(t *testing.T, f *fake.Server) {
		f.Inject(fake.Fault{
			Endpoint: fake.EndpointExport, Times: persistent, Status: 429,
			Header: http.Header{"Retry-After": {"1"}}, Body: `{"error":{"code":"429","message":"Too many requests"}}`,
		})
	}},
	{name: "burst of 500", stage: "poll", inject: fault(fake.EndpointStatus, 500, `{"error":{"code":"500","message":"Internal error"}}`)},
	{name: "burst of 502", stage: "export", inject: fault(fake.EndpointExport, 502, "<html><body>Bad Gateway</body></html>")},
	{name: "burst of 503", stage: "download", inject: fault(fake.EndpointDownload, 503, "<html><body>Service Unavailable</body></html>")},
	{name: "connection reset", stage: "download", inject: func(t *testing.T, f *fake.Server) {
		f.Inject(fake.Fault{Endpoint: fake.EndpointDownload, Times: persistent, Reset: true})
	}},
	{name: "server hangs", stage: "poll", inject: func(t *testing.T, f *fake.Server) {
		f.Inject(fake.Fault{Endpoint: fake.EndpointStatus, Times: persistent, Hang: time.Minute})
	}},
	{name: "job FAILED", stage: "poll", inject: func(t *testing.T, f *fake.Server) {
		f.SetOutcomes(fake.Outcome{Status: "FAILED", ErrorMessage: "Get meter usage request failed with exception: I/O error on POST request"})
	}},
	{name: "job never finishes", stage: "poll", inject: func(t *testing.T, f *fake.Server) {
		f.SetOutcomes(fake.Outcome{Never: true})
	}},
	{name: "5 jobs already active", stage: "export", inject: func(t *testing.T, f *fake.Server) {
		f.Inject(fake.Fault{
			Endpoint: fake.EndpointExport, Times: persistent, Status: 400,
			Body: `{"error":{"code":"MTR_005","message":"You can have a maximum of 5 active export jobs."}}`,
		})
	}},
	{name: "download 404", stage: "download", inject: fault(fake.EndpointDownload, 404, `{"error":{"code":"MTR_404","message":"Not found"}}`)},
	{name: "download 410 expired", stage: "download", inject: fault(fake.EndpointDownload, 410, `{"error":{"code":"MTR_410","message":"The export has expired"}}`)},
	{name: "truncated ZIP", stage: "download", inject: download(func(t *testing.T) http.HandlerFunc {
		z := zipBytes(t, "usage.csv", usageCSV(goodRow, goodRow))
		return bytesAnswer(z[:len(z)/2])
	})},
	{name: "ZIP inflating past the limit", stage: "download", inject: download(func(t *testing.T) http.HandlerFunc {
		return zipAnswer(t, "usage.csv", usageCSV(goodRow)+strings.Repeat(goodRow+"\n", 100000))
	})},
	{name: "HTML page with status 200", stage: "download", inject: download(func(t *testing.T) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><body><h1>Maintenance</h1></body></html>")
		}
	})},
	{name: "empty ZIP in a full run", stage: "parse", inject: download(func(t *testing.T) http.HandlerFunc { return zipAnswer(t) }), everyRunFull: true},
	{name: "ZIP with no rows in a full run", stage: "parse", inject: download(csvAnswer()), everyRunFull: true},
	{name: "CSV without a column", stage: "parse", inject: download(func(t *testing.T) http.HandlerFunc {
		return zipAnswer(t, "usage.csv", "OrgId,MeterId,Date,IPU\nx,y,2025-06-01,1\n")
	})},
	{name: "CSV with a non-numeric IPU", stage: "parse", inject: download(csvAnswer(strings.Replace(goodRow, ",0.6,", ",zero point six,", 1)))},
	{name: "CSV with an unknown date format", stage: "parse", inject: download(csvAnswer(strings.Replace(goodRow, ",2025-06-01,2025-06-01,", ",01.06.2025,2025-06-01,", 1)))},
	{name: "CSV row with too few fields", stage: "parse", inject: download(csvAnswer(goodRow, "0cuQSDTq5sikvN7x8r1xm1,a2nB20h1o0lc7k3P9xtWS8,Data Integration"))},
	{name: "PARTIAL_SUCCESS", inject: func(t *testing.T, f *fake.Server) {
		f.SetOutcomes(fake.Outcome{Status: "PARTIAL_SUCCESS", ErrorMessage: "503 Service Unavailable for one linked org"})
	}},
}

// TestFaultMatrix injects each fault into a running exporter after a good
// refresh. The exporter must keep answering scrapes, keep serving the last
// good data unchanged, show the failure in its health metrics and in one log
// line, and recover at the next run. Every log line, /metrics and the
// landing page are also scanned for the password and every session ID.
// The test starts each run itself, on a calendar that stands still.
func TestFaultMatrix(t *testing.T) {
	for _, c := range faultMatrix {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			now := frozen(time.Now())
			f := startFake(t, fake.Options{Now: now})
			path := writeConfig(t, t.TempDir(), "1s", accountYAML("acme", f, ""))
			adjust := faultSettings
			if c.everyRunFull {
				adjust = func(s *collector.Settings) { faultSettings(s); s.Refresh.FullInterval = 0 }
			}
			timer := &stepTimer{}
			p := startExporterWith(t, hooks{adjust: adjust, now: now, after: timer.after}, "--config.file="+path, "--log.level=debug")
			timer.allow(1)
			up := key("informatica_up", "account", "acme")
			partial := key("informatica_exporter_export_partial", "account", "acme")
			refreshes := key("informatica_exporter_refreshes_total", "account", "acme")

			var good map[string]float64
			waitFor(t, 20*time.Second, "a successful refresh and its contract reads", func() bool {
				good = p.scrape()
				return good[up] == 1 && contractRead(good, "acme")
			})
			goodUsage := usageOnly(good)
			scrapes := p.scrapeContinuously(t)

			before := countsOf(f)
			logStart := len(p.logs.String())
			failuresBefore := failuresByStage(good)
			c.inject(t, f)
			timer.allow(2)

			var after map[string]float64
			switch {
			case c.stage != "":
				failures := key("informatica_exporter_refresh_failures_total", "account", "acme", "stage", c.stage)
				waitFor(t, 30*time.Second, "the faulty run to end", func() bool {
					after = p.scrape()
					return after[refreshes] > good[refreshes]
				})
				f.ClearFaults()
				if after[failures] <= failuresBefore[c.stage] {
					t.Fatalf("the faulty run did not fail in stage %s:\n%s", c.stage, p.logs.String()[logStart:])
				}
				if after[up] != 0 {
					t.Errorf("informatica_up = %v after a failed refresh, want 0", after[up])
				}
				for stage, n := range failuresByStage(after) {
					if stage != c.stage && n != failuresBefore[stage] {
						t.Errorf("failures for stage %s grew too (%v -> %v)", stage, failuresBefore[stage], n)
					}
				}
				assertSameUsage(t, usageOnly(after), goodUsage)
			case c.name == "PARTIAL_SUCCESS":
				waitFor(t, 30*time.Second, "the partial refresh", func() bool {
					after = p.scrape()
					return after[partial] == 1
				})
				if after[up] != 1 {
					t.Errorf("informatica_up = %v after a partial refresh, want 1", after[up])
				}
				// The org missing from the partial export keeps its data.
				assertSameUsage(t, usageOnly(after), goodUsage)
			default:
				timer.allow(3) // the faulty run and one more
				waitFor(t, 30*time.Second, "two more refreshes", func() bool {
					after = p.scrape()
					return after[refreshes] >= good[refreshes]+2 && f.PendingFaults() == 0
				})
				if sum := sumFailures(after) - sumFailures(good); sum != 0 {
					t.Errorf("%v refreshes failed; the exporter should ride this out", sum)
				}
				assertSameUsage(t, usageOnly(after), goodUsage)
			}

			// The next run recovers: run 3, or run 4 after a fault ridden out.
			recovery := 3
			if c.stage == "" && c.name != "PARTIAL_SUCCESS" {
				recovery = 4
			}
			timer.allow(recovery)
			waitFor(t, 30*time.Second, "recovery", func() bool {
				s := p.scrape()
				return s[up] == 1 && s[partial] == 0 && s[refreshes] > after[refreshes]
			})
			assertSameUsage(t, usageOnly(p.scrape()), goodUsage)
			if c.check != nil {
				c.check(t, f, before, countsOf(f))
			}

			logs := p.logs.String()[logStart:]
			warnings := testkit.LinesWith(logs, "level=warn", `account=acme`)
			switch {
			case c.stage != "":
				if n := len(testkit.LinesWith(logs, "level=warn", "stage="+c.stage)); n != 1 || len(warnings) != 1 {
					t.Errorf("want exactly one warning, naming stage %s; got:\n%s", c.stage, strings.Join(warnings, "\n"))
				}
			case c.name == "PARTIAL_SUCCESS":
				if n := len(testkit.LinesWith(logs, "level=warn", "PARTIAL_SUCCESS")); n != 1 || len(warnings) != 1 {
					t.Errorf("want exactly one warning about the partial export; got:\n%s", strings.Join(warnings, "\n"))
				}
			default:
				if len(warnings) != 0 {
					t.Errorf("want no warning; got:\n%s", strings.Join(warnings, "\n"))
				}
			}

			ok, failed := scrapes()
			if failed != 0 || ok == 0 {
				t.Errorf("scrapes during the fault: %d answered, %d failed", ok, failed)
			}
			p.assertNoSecrets(t, f)
		})
	}
}

// assertNoSecrets scans the logs, /metrics and the landing page for the
// password and every session ID the fake issued. The exporter must log at
// debug, so that the scan covers the lines of each call to Informatica.
func (p *exporterProcess) assertNoSecrets(t *testing.T, f *fake.Server) {
	t.Helper()
	if !strings.Contains(p.logs.String(), `level=debug`) || !strings.Contains(p.logs.String(), `msg="Informatica call"`) {
		t.Error("the log scanned for secrets holds no debug line of a call to Informatica: run the exporter with --log.level=debug")
	}
	_, metrics := p.get("/metrics")
	_, page := p.get("/")
	secrets := append([]string{f.Password()}, f.SessionIDs()...)
	for what, text := range map[string]string{"log": p.logs.String(), "/metrics": metrics, "landing page": page} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("the %s contains the secret %q", what, s)
			}
		}
	}
}

// scrapeContinuously scrapes /metrics until the returned function is
// called, which reports how many scrapes were answered and how many failed.
func (p *exporterProcess) scrapeContinuously(t *testing.T) func() (ok, failed int64) {
	var answered, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			resp, err := client.Get(p.url + "/metrics")
			if err == nil && resp.StatusCode == http.StatusOK {
				answered.Add(1)
			} else {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("after %s: %v %v", time.Since(start), err, resp))
			}
			if err == nil {
				resp.Body.Close()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var once sync.Once
	done := func() (int64, int64) {
		once.Do(func() {
			close(stop)
			wg.Wait()
			if e := firstErr.Load(); e != nil {
				t.Logf("first failed scrape: %s", e)
			}
		})
		return answered.Load(), failed.Load()
	}
	t.Cleanup(func() { done() })
	return done
}

var usagePrefixes = []string{
	"informatica_ipu_", "informatica_meter_", "informatica_org_info",
}

// usageOnly keeps the samples computed from export data; the contract,
// read after the first refresh, is left out, as are the org tree's labels.
func usageOnly(s map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range withoutTreeLabels(s) {
		for _, p := range usagePrefixes {
			if strings.HasPrefix(k, p) && !strings.HasPrefix(k, "informatica_ipu_alert_threshold{") {
				out[k] = v
			}
		}
	}
	return out
}

func assertSameUsage(t *testing.T, got, want map[string]float64) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("no usage to compare")
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s = %v (present %v), want %v as before the fault", k, g, ok, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("new series %s after the fault", k)
		}
	}
}

func failuresByStage(s map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, stage := range []string{"login", "export", "poll", "download", "parse"} {
		out[stage] = s[key("informatica_exporter_refresh_failures_total", "account", "acme", "stage", stage)]
	}
	return out
}

func sumFailures(s map[string]float64) float64 {
	sum := 0.0
	for _, v := range failuresByStage(s) {
		sum += v
	}
	return sum
}
