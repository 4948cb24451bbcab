package informatica_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// assetHeader is the ASSET header as documented [D 8].
var assetHeader = []string{
	"Meter ID", "Meter Name", "Date", "Asset Name", "Asset Type", "Project", "Folder",
	"Org ID", "Org Type", "Environment Name", "Environment Type", "Tier", "IPU Per Unit", "Usage", "Consumption (IPUs)",
}

// assetRecords are rows of an ASSET file in documented order, as written
// (quoted where the CSV needs it).
var assetRecords = [][]string{
	{
		"a2nB20h1o0lc7k3P9xtWS8", "Data Integration", "2025-06-01", `"Load, then merge"`, "MTT", "Finance", "Daily",
		"o1", "Production", "Cloud Hosted", "Serverless", "Tier 1", "0.5", "3", "1.5",
	},
	{
		"a2nB20h1o0lc7k3P9xtWS8", "Data Integration", "6/22/2025", "Caf\xe9 orders", "null", "", "",
		"o1", "null", "", "", "", "", "", "null",
	},
}

var wantAssets = []informatica.AssetRow{
	{
		MeterID: "a2nB20h1o0lc7k3P9xtWS8", MeterName: "Data Integration", Date: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		AssetName: "Load, then merge", AssetType: "MTT", Project: "Finance", Folder: "Daily", OrgID: "o1", OrgType: "Production",
		Environment: "Cloud Hosted", EnvType: "Serverless", Tier: "Tier 1", IPUPerUnit: 0.5, Usage: 3, IPU: 1.5,
	},
	// A deleted asset: blank project and folder, kept blank.
	{
		MeterID: "a2nB20h1o0lc7k3P9xtWS8", MeterName: "Data Integration", Date: time.Date(2025, 6, 22, 0, 0, 0, 0, time.UTC),
		AssetName: "Café orders", OrgID: "o1",
	},
}

// assetCSV writes the records with the columns in the order perm gives.
func assetCSV(perm []int, eol string) string {
	var b strings.Builder
	b.WriteString("\ufeff")
	write := func(rec []string) {
		for k, i := range perm {
			if k > 0 {
				b.WriteByte(',')
			}
			b.WriteString(rec[i])
		}
		b.WriteString(eol)
	}
	write(assetHeader)
	for _, r := range assetRecords {
		write(r)
	}
	return b.String()
}

func readAssets(t *testing.T, content string) ([]informatica.AssetRow, error) {
	t.Helper()
	var rows []informatica.AssetRow
	_, err := informatica.ReadAssetCSV("a.csv", strings.NewReader(content), func(r *informatica.AssetRow) error {
		rows = append(rows, *r)
		return nil
	})
	return rows, err
}

func TestReadAssetCSV(t *testing.T) {
	t.Parallel()
	documented := make([]int, len(assetHeader))
	for i := range documented {
		documented[i] = i
	}
	shuffled := rand.New(rand.NewPCG(1, 2)).Perm(len(assetHeader))
	for _, c := range []struct {
		name string
		perm []int
		eol  string
	}{{"documented order", documented, "\n"}, {"shuffled, CRLF", shuffled, "\r\n"}} {
		rows, err := readAssets(t, assetCSV(c.perm, c.eol))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(rows) != len(wantAssets) {
			t.Fatalf("%s: %d rows, want %d", c.name, len(rows), len(wantAssets))
		}
		for i := range rows {
			if rows[i] != wantAssets[i] {
				t.Errorf("%s: row %d = %+v\nwant %+v", c.name, i, rows[i], wantAssets[i])
			}
		}
	}

	// The SUMMARY report's spellings, and a meter by name only.
	rows, err := readAssets(t, "MeterName,Date (in UTC),Asset Name,OrgId,IPUs\nData Integration,2025-06-01T00:00:00Z,A,o2,2\n")
	if err != nil || len(rows) != 1 || rows[0].MeterName != "Data Integration" || rows[0].MeterID != "" || rows[0].IPU != 2 || rows[0].OrgID != "o2" {
		t.Errorf("other spellings: %+v, %v", rows, err)
	}
}

func TestReadAssetCSVErrors(t *testing.T) {
	t.Parallel()
	const h = "Meter ID,Date,Asset Name,Org ID,Consumption (IPUs),IPU Per Unit\n"
	for _, c := range []struct{ content, want string }{
		{"Meter ID,Date,Org ID,Consumption (IPUs)\nm,2025-06-01,o,1\n", `line 1, column "Asset Name": required column is missing`},
		{"Meter ID,Asset Name,Org ID,Consumption (IPUs)\nm,A,o,1\n", `column "Date": required column is missing`},
		{"Meter ID,Date,Asset Name,Consumption (IPUs)\nm,2025-06-01,A,1\n", `column "Org ID": required column is missing`},
		{"Meter ID,Date,Asset Name,Org ID\nm,2025-06-01,A,o\n", `column "Consumption (IPUs)": required column is missing`},
		{"Date,Asset Name,Org ID,IPU\n2025-06-01,A,o,1\n", `column "Meter ID": required column is missing from the header (or "Meter Name")`},
		{h + "m,2025-06-01,A,o,lots,1\n", `file "a.csv", line 2, column "Consumption (IPUs)", value "lots": not a finite number`},
		{h + "m,2025-06-01,A,o,NaN,1\n", `line 2, column "Consumption (IPUs)", value "NaN": not a finite number`},
		{h + "m,2025-06-01,A,o,1,+Inf\n", `line 2, column "IPU Per Unit", value "+Inf": not a finite number`},
		{h + "m,2025-06-01,A,o,1,1\r\nm,June 2nd,A,o,1,1\n", `file "a.csv", line 3, column "Date", value "June 2nd": not a date`},
		{h + "m,1969-12-31,A,o,1,1\n", `line 2, column "Date", value "1969-12-31": not a date between 1970 and 9999`},
		{h + "m,null,A,o,1,1\n", `line 2, column "Date", value "null": value is required`},
		{h + "m,2025-06-01,A,,1,1\n", `line 2, column "Org ID": value is required`},
		{h + "null,2025-06-01,A,o,1,1\n", `line 2, column "Meter ID", value "null": value is required`},
		{h + "m,2025-06-01,A\n", "line 2: row has 3 fields, the header has 6"},
	} {
		_, err := readAssets(t, c.content)
		var ce *informatica.CSVError
		if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want a CSVError containing %q", c.content, err, c.want)
		}
	}
}

// jobScript answers the export, status and download requests of n jobs in
// place of the fake, which logs in as usual, and records what the client
// asked. It lets the client's job handling be tested for job types the
// fake does not serve.
type jobScript struct {
	mu       sync.Mutex
	paths    []string // of export requests
	bodies   []map[string]any
	statuses []string // paths of status requests
}

func scriptJobs(t *testing.T, e *env, zips ...[]byte) *jobScript {
	t.Helper()
	s := &jobScript{}
	n := 0
	for _, z := range zips {
		n++
		id := fmt.Sprintf("job%019d", n)
		e.srv.Inject(fake.Fault{Endpoint: fake.EndpointExport, Handler: func(w http.ResponseWriter, r *http.Request) {
			var body map[string]any
			err := json.NewDecoder(r.Body).Decode(&body)
			s.mu.Lock()
			s.paths, s.bodies = append(s.paths, r.URL.Path), append(s.bodies, body)
			s.mu.Unlock()
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			serve(http.StatusOK, "application/json", []byte(`{"jobId":"`+id+`","status":"CREATED"}`))(w, r)
		}}, fake.Fault{Endpoint: fake.EndpointStatus, Handler: func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.statuses = append(s.statuses, r.URL.Path)
			s.mu.Unlock()
			serve(http.StatusOK, "application/json", []byte(`{"jobId":"`+id+`","status":"SUCCESS"}`))(w, r)
		}}, fake.Fault{Endpoint: fake.EndpointDownload, Handler: func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasSuffix(r.URL.Path, "/public/core/v3/license/metering/ExportMeteringData/"+id+"/download") {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			serve(http.StatusOK, "application/zip", z)(w, r)
		}})
	}
	return s
}

// checkJobs checks that the requests started jobs of at most maxDays each
// at resource with exactly the fields want (and the dates), and that the
// status of each was asked for under ExportMeteringData.
func (s *jobScript) checkJobs(t *testing.T, n int, resource string, maxDays int, want map[string]string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) != n {
		t.Fatalf("%d export requests, want %d", len(s.bodies), n)
	}
	for i, b := range s.bodies {
		if !strings.HasSuffix(s.paths[i], "/public/core/v3/license/metering/"+resource) {
			t.Errorf("export request to %s, want .../%s", s.paths[i], resource)
		}
		if len(b) != len(want)+2 {
			t.Errorf("body %v has fields beyond startDate, endDate and %v", b, want)
		}
		for k, v := range want {
			if b[k] != v {
				t.Errorf("body[%q] = %#v, want %q", k, b[k], v)
			}
		}
		start, err1 := time.Parse(time.RFC3339, fmt.Sprint(b["startDate"]))
		end, err2 := time.Parse(time.RFC3339, fmt.Sprint(b["endDate"]))
		if err1 != nil || err2 != nil || end.Sub(start) >= time.Duration(maxDays)*24*time.Hour {
			t.Errorf("job %d covers %v to %v, want at most %d days", i, b["startDate"], b["endDate"], maxDays)
		}
	}
	for _, p := range s.statuses {
		if !strings.Contains(p, "/public/core/v3/license/metering/ExportMeteringData/job") {
			t.Errorf("status request to %s", p)
		}
	}
}

// TestExportAssetUsage: 45 days are two ASSET jobs of at most 30 days, for
// the requesting org only, and the rows of both ZIPs come back.
func TestExportAssetUsage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{}, nil)
	documented := assetCSV([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, "\r\n")
	s := scriptJobs(t, e,
		makeZIP(t, zipFile{"asset/a1.csv", documented}),
		makeZIP(t, zipFile{"a2.csv", documented}, zipFile{"readme.txt", "not a CSV"}))
	from := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 45).Add(-time.Second)
	var got []informatica.AssetRow
	res, err := e.client.ExportAssetUsage(context.Background(), from, to, func(r *informatica.AssetRow) error {
		got = append(got, *r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.checkJobs(t, 2, "ExportMeteringData", informatica.MaxAssetDays, map[string]string{"jobType": "ASSET"})
	if res.Jobs != 2 || res.Rows != 4 || len(got) != 4 {
		t.Fatalf("result %+v with %d rows, want 2 jobs and 4 rows", res, len(got))
	}
	for i, r := range got {
		if r != wantAssets[i%2] {
			t.Errorf("row %d = %+v, want %+v", i, r, wantAssets[i%2])
		}
	}
	if p := e.srv.PendingFaults(); p != 0 {
		t.Errorf("%d scripted answers unused", p)
	}
}

// TestReadAssetZIPLimits: the ASSET reader is bound by the same limits as
// the summary reader.
func TestReadAssetZIPLimits(t *testing.T) {
	t.Parallel()
	body := assetCSV([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, "\n") + strings.Repeat(" ", 1<<20)
	z := makeZIP(t, zipFile{"a.csv", body})
	limits := informatica.DefaultLimits
	limits.MaxUncompressedBytes = 64 << 10
	_, err := informatica.ReadAssetZIP(bytes.NewReader(z), int64(len(z)), limits, func(*informatica.AssetRow) error { return nil })
	var ze *informatica.ZIPError
	if !errors.As(err, &ze) || !strings.Contains(err.Error(), "inflates past the limit") {
		t.Errorf("error %v, want the inflate limit", err)
	}
	limits = informatica.DefaultLimits
	limits.MaxZIPEntries = 1
	z = makeZIP(t, zipFile{"a.csv", body}, zipFile{"b.csv", body})
	if _, err := informatica.ReadAssetZIP(bytes.NewReader(z), int64(len(z)), limits, func(*informatica.AssetRow) error { return nil }); !errors.As(err, &ze) {
		t.Errorf("error %v, want the entry limit", err)
	}
}

// FuzzReadAssetCSV: any input gives rows of valid UTF-8 or an error, never
// a panic.
func FuzzReadAssetCSV(f *testing.F) {
	f.Add(assetCSV([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, "\r\n"))
	f.Add("Meter Name,Date,Asset Name,Org ID,IPU\n\"x,\"\"y\",2025-06-01,\xff,o,1e3\n")
	f.Fuzz(func(t *testing.T, content string) {
		_, err := informatica.ReadAssetCSV("f.csv", strings.NewReader(content), func(r *informatica.AssetRow) error {
			for _, s := range []string{r.MeterID, r.MeterName, r.AssetName, r.AssetType, r.Project, r.Folder, r.OrgID, r.OrgType, r.Environment, r.EnvType, r.Tier} {
				if !utf8.ValidString(s) {
					t.Fatalf("invalid UTF-8 %q", s)
				}
			}
			return nil
		})
		if err != nil && !utf8.ValidString(err.Error()) {
			t.Fatalf("invalid UTF-8 in error %q", err)
		}
	})
}
