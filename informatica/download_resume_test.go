package informatica_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// cutAt is where the fake cuts a download off: well inside any export ZIP
// of the ten days exportDays asks for.
const cutAt = 512

// TestDownloadCutOffMidway: a download cut off after part of its body is
// fetched again for the same job, within the export, with one warning:
// from where it stopped when the server takes Range requests, from the
// start when it does not, or when its answer to a Range request is not the
// rest of the file.
func TestDownloadCutOffMidway(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// faults builds the download faults; seen records each download
		// request's Range and If-Range headers.
		faults     func(seen http.HandlerFunc) []fake.Fault
		wantRanges []string
		resume     bool // what the warning says
	}{
		{
			name: "resumed with Range",
			faults: func(seen http.HandlerFunc) []fake.Fault {
				return []fake.Fault{
					{Endpoint: fake.EndpointDownload, Ranges: true, CutAfter: cutAt, Handler: seen, Pass: true},
					{Endpoint: fake.EndpointDownload, Ranges: true, Times: 10, Handler: seen, Pass: true},
				}
			},
			wantRanges: []string{"", "bytes=512-"},
			resume:     true,
		},
		{
			name: "from the start without Range support",
			faults: func(seen http.HandlerFunc) []fake.Fault {
				return []fake.Fault{
					{Endpoint: fake.EndpointDownload, CutAfter: cutAt, Handler: seen, Pass: true},
					{Endpoint: fake.EndpointDownload, Times: 10, Handler: seen, Pass: true},
				}
			},
			wantRanges: []string{"", ""},
		},
		{
			name: "200 to a Range request starts over",
			faults: func(seen http.HandlerFunc) []fake.Fault {
				return []fake.Fault{
					{Endpoint: fake.EndpointDownload, Ranges: true, CutAfter: cutAt, Handler: seen, Pass: true},
					// Range support gone: the whole file, status 200.
					{Endpoint: fake.EndpointDownload, Times: 10, Handler: seen, Pass: true},
				}
			},
			wantRanges: []string{"", "bytes=512-"},
			resume:     true,
		},
		{
			name: "206 for another range is not appended",
			faults: func(seen http.HandlerFunc) []fake.Fault {
				return []fake.Fault{
					{Endpoint: fake.EndpointDownload, Ranges: true, CutAfter: cutAt, Handler: seen, Pass: true},
					{Endpoint: fake.EndpointDownload, Ranges: true, Pass: true, Handler: func(w http.ResponseWriter, r *http.Request) {
						seen(w, r)
						r.Header.Set("Range", "bytes=100-") // a server off by some bytes
					}},
					{Endpoint: fake.EndpointDownload, Ranges: true, Times: 10, Handler: seen, Pass: true},
				}
			},
			wantRanges: []string{"", "bytes=512-", ""},
			resume:     true,
		},
		{
			name: "changed file sent whole under If-Range",
			faults: func(seen http.HandlerFunc) []fake.Fault {
				return []fake.Fault{
					{Endpoint: fake.EndpointDownload, Ranges: true, CutAfter: cutAt, Handler: seen, Pass: true},
					{Endpoint: fake.EndpointDownload, Ranges: true, Times: 10, Pass: true, Handler: func(w http.ResponseWriter, r *http.Request) {
						seen(w, r)
						r.Header.Set("If-Range", `"another version"`)
					}},
				}
			},
			wantRanges: []string{"", "bytes=512-"},
			resume:     true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var w warnings
			e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.OnWarning = w.hook })
			var mu sync.Mutex
			var ranges, ifRanges []string
			seen := func(_ http.ResponseWriter, r *http.Request) {
				mu.Lock()
				ranges = append(ranges, r.Header.Get("Range"))
				ifRanges = append(ifRanges, r.Header.Get("If-Range"))
				mu.Unlock()
			}
			e.srv.Inject(tc.faults(seen)...)
			rows, res, err := e.exportDays()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ranges, tc.wantRanges) {
				t.Errorf("download requests with Range %q, want %q", ranges, tc.wantRanges)
			}
			for i, r := range ranges {
				if r != "" && ifRanges[i] == "" {
					t.Errorf("request %d asks for %q without If-Range", i+1, r)
				}
			}
			checkOneJob(t, e, len(tc.wantRanges))
			// Every download request served the same rows; one set was read.
			served := e.servedRows()
			checkRows(t, rows, served[:len(served)/len(tc.wantRanges)])
			if res.Rows != len(rows) {
				t.Errorf("result says %d rows, read %d", res.Rows, len(rows))
			}
			warned := w.all()
			if len(warned) != 1 || !strings.Contains(warned[0].msg, "cut off") ||
				warned[0].value("job_id") != e.srv.JobIDs()[0] || warned[0].value("resume") != tc.resume {
				t.Errorf("warnings %+v, want one about the cut-off download of job %s, resume=%v", warned, e.srv.JobIDs()[0], tc.resume)
			}
		})
	}
}

// TestDownloadCutOffEveryTime: a download cut off on every try gives up
// after MaxAttempts tries, at stage download, without starting another
// job, with one warning.
func TestDownloadCutOffEveryTime(t *testing.T) {
	t.Parallel()
	var w warnings
	e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.OnWarning = w.hook })
	e.srv.Inject(fake.Fault{Endpoint: fake.EndpointDownload, CutAfter: cutAt, Times: 10})
	_, _, err := e.exportDays()
	if informatica.StageOf(err) != informatica.StageDownload || !strings.Contains(err.Error(), "cut off on each of 4 tries") {
		t.Fatalf("error %v (stage %q), want a download error after 4 tries", err, informatica.StageOf(err))
	}
	if errors.Is(err, informatica.ErrJobTimeout) {
		t.Errorf("error %v is a job timeout", err)
	}
	checkOneJob(t, e, 4)
	if n := len(w.all()); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
}

// checkOneJob checks from the fake's request log that one job was started
// and all downloads fetched it.
func checkOneJob(t *testing.T, e *env, downloads int) {
	t.Helper()
	jobs := e.srv.JobIDs()
	if n := len(e.requests(fake.EndpointExport)); n != 1 || len(jobs) != 1 {
		t.Fatalf("%d export requests started jobs %v, want one", n, jobs)
	}
	got := e.requests(fake.EndpointDownload)
	if len(got) != downloads {
		t.Errorf("%d download requests, want %d", len(got), downloads)
	}
	for _, r := range got {
		if !strings.Contains(r.Path, "/"+jobs[0]+"/download") {
			t.Errorf("download of %s, want job %s", r.Path, jobs[0])
		}
	}
}
