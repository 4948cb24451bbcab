package informatica_test

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// exportLog records what OnExport is given, with a copy of each ZIP.
type exportLog struct {
	mu   sync.Mutex
	zips []keptZIP
}

type keptZIP struct {
	job  informatica.JobEvent
	size int64
	body []byte
}

func (l *exportLog) add(z informatica.ExportZIP) {
	body := make([]byte, z.Size)
	n, _ := z.ZIP.ReadAt(body, 0)
	l.mu.Lock()
	l.zips = append(l.zips, keptZIP{job: z.Job, size: z.Size, body: body[:n]})
	l.mu.Unlock()
}

func (l *exportLog) all() []keptZIP {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]keptZIP(nil), l.zips...)
}

// TestOnExportSeesEveryJobsZIP: every job of every kind of export passes
// its ZIP to OnExport, named by kind, range and job ID, and what OnExport
// reads is the whole ZIP: read again, it holds the rows the export read.
func TestOnExportSeesEveryJobsZIP(t *testing.T) {
	t.Parallel()
	var kept exportLog
	var jobs jobLog
	e := newEnv(t, fake.Options{Days: 400}, func(c *informatica.Config) { c.OnExport = kept.add; c.OnJob = jobs.add })
	ctx := context.Background()
	end := day(t0).Add(-time.Second)
	var summary []row
	// 200 days: two summary jobs.
	if _, err := e.client.ExportUsage(ctx, day(t0).AddDate(0, 0, -200), end, func(u *informatica.UsageRow) error {
		summary = append(summary, fromUsage(u))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	from := day(t0).AddDate(0, 0, -40) // two ASSET and PROJECT_FOLDER jobs, one job-level
	rows := map[string]int{}
	if _, err := e.client.ExportAssetUsage(ctx, from, end, func(*informatica.AssetRow) error { rows[informatica.KindAsset]++; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.ExportProjectUsage(ctx, from, end, func(*informatica.ProjectRow) error { rows[informatica.KindProject]++; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.ExportTaskUsage(ctx, from, end, func(*informatica.TaskRow) error { rows[informatica.KindTask]++; return nil }); err != nil {
		t.Fatal(err)
	}

	got := kept.all()
	reads := jobs.steps(informatica.JobRead)
	if len(got) != len(reads) || len(got) != 7 {
		t.Fatalf("OnExport saw %d ZIPs, %d jobs were read; want 7 of each (2 summary, 2 asset, 2 project, 1 task)", len(got), len(reads))
	}
	jobsOf := map[string]int{}
	reread := map[string]int{}
	var rereadSummary []row
	for i, z := range got {
		r := reads[i]
		if z.job.Step != informatica.JobDownloaded || z.job.Kind != r.Kind || z.job.Range != r.Range || z.job.JobID != r.JobID ||
			z.job.JobID == "" || z.job.Resource != r.Resource || z.job.Job != r.Job || z.job.Jobs != r.Jobs {
			t.Errorf("ZIP %d passed as %+v, the job read was %+v", i, z.job, r)
		}
		if z.size != r.Bytes || int64(len(z.body)) != z.size {
			t.Errorf("ZIP %d: size %d, %d bytes readable, the job read %d bytes", i, z.size, len(z.body), r.Bytes)
		}
		jobsOf[z.job.Kind]++
		in := bytes.NewReader(z.body)
		var n int
		var err error
		switch z.job.Kind {
		case informatica.KindSummary:
			n, err = informatica.ReadUsageZIP(in, z.size, informatica.DefaultLimits, func(u *informatica.UsageRow) error {
				rereadSummary = append(rereadSummary, fromUsage(u))
				return nil
			})
		case informatica.KindAsset:
			n, err = informatica.ReadAssetZIP(in, z.size, informatica.DefaultLimits, func(*informatica.AssetRow) error { return nil })
		case informatica.KindProject:
			n, err = informatica.ReadProjectZIP(in, z.size, informatica.DefaultLimits, func(*informatica.ProjectRow) error { return nil })
		case informatica.KindTask:
			n, err = informatica.ReadTaskZIP(in, z.size, informatica.DefaultLimits, func(*informatica.TaskRow) error { return nil }, nil)
		}
		if err != nil {
			t.Errorf("ZIP %d (%s) does not read back: %v", i, z.job.Kind, err)
		}
		reread[z.job.Kind] += n
	}
	if want := map[string]int{informatica.KindSummary: 2, informatica.KindAsset: 2, informatica.KindProject: 2, informatica.KindTask: 1}; !maps.Equal(jobsOf, want) {
		t.Errorf("ZIPs by kind %v, want %v", jobsOf, want)
	}
	checkRows(t, rereadSummary, summary)
	for _, kind := range []string{informatica.KindAsset, informatica.KindProject, informatica.KindTask} {
		if reread[kind] != rows[kind] || rows[kind] == 0 {
			t.Errorf("%s: the kept ZIPs hold %d rows, the export read %d", kind, reread[kind], rows[kind])
		}
	}
}

// TestOnExportBeforeRead: a ZIP that fails to read is passed to OnExport
// all the same (it is the one worth keeping for support), while an answer
// that is no ZIP at all is not.
func TestOnExportBeforeRead(t *testing.T) {
	t.Parallel()
	badCSV := makeZIP(t, zipFile{"a.csv", "OrgId,Date\no1,2024-06-01\n"})
	for _, tc := range []struct {
		name  string
		body  []byte
		stage informatica.Stage
		kept  bool
	}{
		{"bad CSV", badCSV, informatica.StageParse, true},
		{"HTML page with 200", []byte("<!DOCTYPE html><html><body>Service temporarily unavailable</body></html>"), informatica.StageDownload, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var kept exportLog
			e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.OnExport = kept.add })
			e.srv.Inject(fake.Fault{Endpoint: fake.EndpointDownload, Handler: serve(http.StatusOK, "application/zip", tc.body)})
			_, _, err := e.exportDays()
			if st := informatica.StageOf(err); st != tc.stage {
				t.Fatalf("export ended with %v (stage %q), want stage %q", err, st, tc.stage)
			}
			got := kept.all()
			switch {
			case !tc.kept && len(got) != 0:
				t.Errorf("OnExport saw %d answers that are no ZIP", len(got))
			case tc.kept && (len(got) != 1 || !bytes.Equal(got[0].body, tc.body)):
				t.Errorf("OnExport saw %d ZIPs, want the one served", len(got))
			}
		})
	}
}
