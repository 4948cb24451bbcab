package informatica_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

const header = "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,Scalar,MetricCategory,OrgName,OrgType,IPURate\n"

func TestDownloadCombinedAndPerMeter(t *testing.T) {
	t.Parallel()
	var results [][]row
	for _, combined := range []bool{false, true} {
		e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.CombinedMeterUsage = combined })
		rows, res, err := e.exportDays()
		if err != nil {
			t.Fatalf("combined %v: %v", combined, err)
		}
		if res.Rows != len(rows) {
			t.Errorf("combined %v: result says %d rows, callback got %d", combined, res.Rows, len(rows))
		}
		checkRows(t, rows, e.servedRows())
		// Nothing is left behind in the spool directory.
		if left, _ := os.ReadDir(e.cfg.TempDir); len(left) != 0 {
			t.Errorf("temporary files left: %v", left)
		}
		results = append(results, rows)
	}
	checkRows(t, results[0], results[1])
	meters := map[string]bool{}
	for _, r := range results[0] {
		meters[r.MeterID] = true
	}
	if len(meters) != len(fake.DemoMeters) {
		t.Errorf("per-meter export read %d meters, want %d (every file)", len(meters), len(fake.DemoMeters))
	}
}

func TestReadUsageZIP(t *testing.T) {
	t.Parallel()
	a := header + `o1,m1,Meter One,2024-06-01,2024-06-01,2024-06-30,10,1.5,Compute Units,DI,"Acme, Inc.",Production,0.15` + "\n"
	b := header + `o1,m2,Meter Two,2024-06-01,2024-06-01,2024-06-30,20,2.5,Compute Units,DI,"Acme, Inc.",Production,0.125` + "\n" +
		`o1,m2,Meter Two,2024-06-02,2024-06-01,2024-06-30,30,3.75,Compute Units,DI,"Acme, Inc.",Production,0.125` + "\n"
	z := makeZIP(t,
		zipFile{"README.txt", "not a CSV"},
		zipFile{"export/", ""},
		zipFile{"export/IPU_Usage_Meter_One.csv", a},
		zipFile{"__MACOSX/export/._IPU_Usage_Meter_One.csv", "\x00\x05\x16\x07junk"},
		zipFile{"export/IPU_Usage_Meter_Two.CSV", b},
	)
	var ipu []float64
	n, err := informatica.ReadUsageZIP(bytes.NewReader(z), int64(len(z)), informatica.DefaultLimits, func(r *informatica.UsageRow) error {
		ipu = append(ipu, r.IPU)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || fmt.Sprint(ipu) != "[1.5 2.5 3.75]" {
		t.Errorf("read %d rows with IPU %v, want 3 rows [1.5 2.5 3.75] in archive order", n, ipu)
	}
}

// TestEmptyZIPHasNoRows: a ZIP without any file is the export of a range
// without usage, not a broken download.
func TestEmptyZIPHasNoRows(t *testing.T) {
	t.Parallel()
	z := makeZIP(t)
	n, err := informatica.ReadUsageZIP(bytes.NewReader(z), int64(len(z)), informatica.DefaultLimits, func(*informatica.UsageRow) error { return nil })
	if n != 0 || err != nil {
		t.Errorf("empty ZIP: %d rows, %v; want 0 rows and no error", n, err)
	}
}

// downloadWith serves body as the answer to one download and runs Download.
func downloadWith(t *testing.T, e *env, h http.HandlerFunc) (int, error) {
	t.Helper()
	e.srv.Inject(fake.Fault{Endpoint: fake.EndpointDownload, Handler: h})
	n, err := e.client.Download(context.Background(), "job1", func(*informatica.UsageRow) error { return nil })
	if left, _ := os.ReadDir(e.cfg.TempDir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	return n, err
}

func TestDownloadFaults(t *testing.T) {
	t.Parallel()
	good := makeZIP(t, zipFile{"a.csv", header + strings.Repeat("o1,m1,M,2024-06-01,2024-06-01,2024-06-30,10,1.5,CU,DI,Org,Production,0.15\n", 200)})

	for _, tc := range []struct {
		name   string
		limits informatica.Limits
		h      http.HandlerFunc
		stage  informatica.Stage
		want   string
	}{
		{
			"HTML page with 200",
			informatica.Limits{},
			serve(http.StatusOK, "text/html", []byte("<!DOCTYPE html><html><body>Service temporarily unavailable</body></html>")),
			informatica.StageDownload, "not a ZIP",
		},
		{"empty body", informatica.Limits{}, serve(http.StatusOK, "application/zip", nil), informatica.StageDownload, "not a ZIP"},
		{"truncated ZIP", informatica.Limits{}, serve(http.StatusOK, "application/zip", good[:len(good)/2]), informatica.StageDownload, "ZIP"},
		{"truncated end", informatica.Limits{}, serve(http.StatusOK, "application/zip", good[:len(good)-10]), informatica.StageDownload, "ZIP"},
		{
			"no CSV",
			informatica.Limits{},
			serve(http.StatusOK, "application/zip", makeZIP(t, zipFile{"readme.txt", "hello"}, zipFile{"data.xlsx", "PK"})),
			informatica.StageDownload, "no .csv",
		},
		{
			"larger than MaxDownloadBytes",
			informatica.Limits{MaxDownloadBytes: int64(len(good) - 1)},
			serve(http.StatusOK, "application/zip", good), informatica.StageDownload, "larger than",
		},
		{
			"too many entries",
			informatica.Limits{MaxZIPEntries: 2},
			serve(http.StatusOK, "application/zip", makeZIP(t, zipFile{"a.csv", header}, zipFile{"b.csv", header}, zipFile{"c.csv", header})),
			informatica.StageDownload, "entries",
		},
		{
			"bad CSV",
			informatica.Limits{},
			serve(http.StatusOK, "application/zip", makeZIP(t, zipFile{"a.csv", "OrgId,Date\no1,2024-06-01\n"})),
			informatica.StageParse, `"a.csv"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.Limits = tc.limits })
			_, err := downloadWith(t, e, tc.h)
			if err == nil {
				t.Fatal("download succeeded")
			}
			if st := informatica.StageOf(err); st != tc.stage {
				t.Errorf("stage %q, want %q: %v", st, tc.stage, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}

	t.Run("exactly MaxDownloadBytes", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.Limits.MaxDownloadBytes = int64(len(good)) })
		if n, err := downloadWith(t, e, serve(http.StatusOK, "application/zip", good)); err != nil || n != 200 {
			t.Errorf("got %d rows, %v; want 200 rows", n, err)
		}
	})

	t.Run("fake export larger than MaxDownloadBytes", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.Limits.MaxDownloadBytes = 4096 })
		_, _, err := e.exportDays()
		if st := informatica.StageOf(err); st != informatica.StageDownload || !strings.Contains(err.Error(), "larger than 4096 bytes") {
			t.Errorf("error %v (stage %q)", err, st)
		}
	})
}

// TestZIPBomb serves a small ZIP whose CSV inflates far past the limit.
func TestZIPBomb(t *testing.T) {
	t.Parallel()
	const limit = 256 << 10
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("IPU_Usage_Summary.csv")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(header))
	line := []byte("o1,m1,Meter,2024-06-01,2024-06-01,2024-06-30,10,1.5,CU,DI,Org,Production,0.15\n")
	inflated := len(header)
	for inflated < 16*limit {
		w.Write(line)
		inflated += len(line)
	}
	zw.Close()
	if buf.Len() > limit/8 {
		t.Fatalf("test bug: ZIP is %d bytes, not highly compressed", buf.Len())
	}

	for _, tc := range []struct {
		name  string
		limit int64
		ok    bool
	}{
		{"over the limit", limit, false},
		{"exactly at the limit", int64(inflated), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.Limits.MaxUncompressedBytes = tc.limit })
			n, err := downloadWith(t, e, serve(http.StatusOK, "application/zip", buf.Bytes()))
			if tc.ok {
				if err != nil || n != (inflated-len(header))/len(line) {
					t.Errorf("got %d rows, %v", n, err)
				}
				return
			}
			var ze *informatica.ZIPError
			if !errors.As(err, &ze) || ze.Entry != "IPU_Usage_Summary.csv" {
				t.Fatalf("error %v, want a ZIPError for the entry", err)
			}
			if st := informatica.StageOf(err); st != informatica.StageDownload {
				t.Errorf("stage %q, want download", st)
			}
			if !strings.Contains(err.Error(), "limit") {
				t.Errorf("error %q does not mention the limit", err)
			}
			if maxRows := int(tc.limit) / len(line); n > maxRows {
				t.Errorf("%d rows read, more than fit in the limit (%d)", n, maxRows)
			}
		})
	}

	t.Run("limit shared by entries", func(t *testing.T) {
		t.Parallel()
		body := header + strings.Repeat(string(line), 1000)
		z := makeZIP(t, zipFile{"a.csv", body}, zipFile{"b.csv", body}, zipFile{"c.csv", body})
		_, err := informatica.ReadUsageZIP(bytes.NewReader(z), int64(len(z)),
			informatica.Limits{MaxUncompressedBytes: int64(2*len(body) + 10)}, func(*informatica.UsageRow) error { return nil })
		var ze *informatica.ZIPError
		if !errors.As(err, &ze) || ze.Entry != "c.csv" {
			t.Errorf("error %v, want a ZIPError for c.csv", err)
		}
	})
}
