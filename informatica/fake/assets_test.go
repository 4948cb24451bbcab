package fake_test

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

const meteringURL = "/saas/public/core/v3/license/metering/"

var (
	assetHeader = []string{
		"Meter ID", "Meter Name", "Date", "Asset Name", "Asset Type", "Project", "Folder", "Org ID", "Org Type",
		"Environment Name", "Environment Type", "Tier", "IPU Per Unit", "Usage", "Consumption (IPUs)",
	}
	runHeader = []string{
		"Task ID", "Task Name", "Task Object Name", "Task Type", "Task Run ID", "Project Name", "Folder Name",
		"Org ID", "Environment ID", "Environment", "Cores Used", "Start Time", "End Time", "Status", "Metered Value",
		"Audit Time", "OBM Task Time(s)",
	}
	executionHeader = []string{
		"Org ID", "Executed asset", "Date (in UTC)", "Execution env", "status", "Invoked by",
		"Execution type", "Execution count", "Total Execution time (in hours)", "Average Execution time (in seconds)",
	}
)

// breakdownFake starts a fake whose jobs end at once, on a fixed calendar.
func breakdownFake(t *testing.T) (*fake.Server, string) {
	t.Helper()
	f := fake.New(fake.Options{
		Now:        func() time.Time { return time.Date(2024, 9, 20, 12, 0, 0, 0, time.UTC) },
		CreatedFor: -1, ProcessingFor: -1,
	})
	if err := f.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	login := call(t, http.MethodPost, f.URL()+"/saas/public/core/v3/login", "",
		map[string]string{"username": f.Username(), "password": f.Password()})
	return f, login["userInfo"].(map[string]any)["sessionId"].(string)
}

// post sends an export request and returns the status code and answer.
func post(t *testing.T, f *fake.Server, session, resource string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, f.URL()+meteringURL+resource, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("INFA-SESSION-ID", session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST %s: %v", resource, err)
	}
	return resp.StatusCode, out
}

// export runs a job to its end and returns the files of its ZIP, parsed
// with encoding/csv, and the create answer.
func export(t *testing.T, f *fake.Server, session, resource string, body any) (map[string][][]string, map[string]any) {
	t.Helper()
	code, job := post(t, f, session, resource, body)
	if code != http.StatusOK || job["status"] != "CREATED" {
		t.Fatalf("POST %s %v: %d %v", resource, body, code, job)
	}
	id := job["jobId"].(string)
	if st := call(t, http.MethodGet, f.URL()+meteringURL+"ExportMeteringData/"+id, session, nil); st["status"] != "SUCCESS" {
		t.Fatalf("job %s is %v", id, st["status"])
	}
	req, _ := http.NewRequest(http.MethodGet, f.URL()+meteringURL+"ExportMeteringData/"+id+"/download", nil)
	req.Header.Set("INFA-SESSION-ID", session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("download of %s: %v", id, err)
	}
	files := map[string][][]string{}
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		if !utf8.Valid(data) {
			t.Errorf("%s is not valid UTF-8", zf.Name)
		}
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", zf.Name, err)
		}
		files[zf.Name] = recs
	}
	return files, job
}

// byHeader maps each record to its values by column name.
func byHeader(t *testing.T, recs [][]string, want []string) []map[string]string {
	t.Helper()
	if len(recs) == 0 || !reflect.DeepEqual(recs[0], want) {
		t.Fatalf("header %q, want %q", recs[0], want)
	}
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, c := range recs[0] {
			m[c] = rec[i]
		}
		out = append(out, m)
	}
	return out
}

// micro is v in whole micro-IPUs, the precision of the summary's IPU.
func micro(t *testing.T, v string) int64 {
	t.Helper()
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("IPU %q: %v", v, err)
	}
	return int64(math.Round(f * 1e6))
}

type dayKey struct{ org, meter, date string }

// summaryMicro is the summary IPU of the login org per meter and day in
// [from, to], in micro-IPUs.
func summaryMicro(f *fake.Server, from, to time.Time, keep func(fake.Meter) bool) map[dayKey]int64 {
	d := f.Dataset()
	out := map[dayKey]int64{}
	for _, r := range d.Rows([]fake.Org{f.LoginOrg()}, from, to) {
		if keep(r.Meter) {
			out[dayKey{r.Org.ID, r.Meter.ID, r.Date.Format("2006-01-02")}] = int64(math.Round(r.IPU * 1e6))
		}
	}
	return out
}

func all(fake.Meter) bool { return true }

// TestAssetExport: an ASSET export holds one CSV with the documented header,
// covers the login org only (even when asked for linked orgs), and its
// assets add up, per org, meter and day, exactly to the summary; rate times
// usage is the consumption; deleted assets have no project or folder.
func TestAssetExport(t *testing.T) {
	f, session := breakdownFake(t)
	from, to := time.Date(2024, 8, 21, 0, 0, 0, 0, time.UTC), time.Date(2024, 9, 20, 0, 0, 0, 0, time.UTC)
	files, job := export(t, f, session, "ExportMeteringData", map[string]string{
		"startDate": from.Format(time.RFC3339), "endDate": to.Format(time.RFC3339), "jobType": "ASSET", "allLinkedOrgs": "TRUE",
	})
	if job["meterId"] != nil {
		t.Errorf("meterId %v, want null", job["meterId"])
	}
	if len(files) != 1 {
		t.Fatalf("%d files, want 1", len(files))
	}
	var rows []map[string]string
	for _, recs := range files {
		rows = byHeader(t, recs, assetHeader)
	}
	got := map[dayKey]int64{}
	var deleted, comma, nonASCII, orgRows int
	for _, r := range rows {
		if r["Org ID"] != f.LoginOrg().ID {
			t.Fatalf("row of org %s; ASSET covers the login org only", r["Org ID"])
		}
		got[dayKey{r["Org ID"], r["Meter ID"], r["Date"]}] += micro(t, r["Consumption (IPUs)"])
		rate, _ := strconv.ParseFloat(r["IPU Per Unit"], 64)
		usage, _ := strconv.ParseFloat(r["Usage"], 64)
		ipu, _ := strconv.ParseFloat(r["Consumption (IPUs)"], 64)
		if math.Abs(rate*usage-ipu) > 1e-9*max(ipu, 1) {
			t.Errorf("%v: IPU Per Unit × Usage = %v, not the consumption", r, rate*usage)
		}
		switch {
		case r["Asset Type"] == "Organization":
			orgRows++
			if r["Asset Name"] != r["Meter Name"] {
				t.Errorf("per-org row %v is not named after its meter", r)
			}
		case r["Project"] == "":
			deleted++
			if r["Folder"] != "" {
				t.Errorf("deleted asset %v has a folder", r)
			}
		}
		if strings.Contains(r["Asset Name"], ",") {
			comma++
		}
		if strings.ContainsFunc(r["Asset Name"], func(c rune) bool { return c > 127 }) {
			nonASCII++
		}
	}
	if want := summaryMicro(f, from, to, all); !reflect.DeepEqual(got, want) {
		t.Errorf("asset sums per org, meter and day differ from the summary:\n got %v\nwant %v", got, want)
	}
	if deleted == 0 || comma == 0 || nonASCII == 0 || orgRows == 0 {
		t.Errorf("%d deleted assets, %d names with a comma, %d non-ASCII names, %d per-org rows; want each > 0", deleted, comma, nonASCII, orgRows)
	}
	d := f.Dataset()
	if want := d.AssetRows(f.LoginOrg(), from, to); !reflect.DeepEqual(f.ServedAssets(), want) || len(want) != len(rows) {
		t.Errorf("served %d asset rows, the file has %d, Dataset.AssetRows gives %d", len(f.ServedAssets()), len(rows), len(want))
	}
}

// TestAssetExportOneMeter: meterId restricts an ASSET export to that meter.
func TestAssetExportOneMeter(t *testing.T) {
	f, session := breakdownFake(t)
	m := fake.DemoMeters[1]
	from, to := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 9, 10, 0, 0, 0, 0, time.UTC)
	files, job := export(t, f, session, "ExportMeteringData", map[string]string{
		"startDate": from.Format(time.RFC3339), "endDate": to.Format(time.RFC3339), "jobType": "ASSET", "meterId": m.ID,
	})
	if job["meterId"] != m.ID {
		t.Errorf("meterId %v, want %s", job["meterId"], m.ID)
	}
	got := map[dayKey]int64{}
	for _, recs := range files {
		for _, r := range byHeader(t, recs, assetHeader) {
			got[dayKey{r["Org ID"], r["Meter ID"], r["Date"]}] += micro(t, r["Consumption (IPUs)"])
		}
	}
	want := summaryMicro(f, from, to, func(x fake.Meter) bool { return x.ID == m.ID })
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestJobLevelExport: with allMeters, a job-level export has one file per
// meter with job-level reports; the runs of the per-run meters add up per
// day exactly to the summary, each attributed to the day it started, one a
// day crossing midnight; the other layouts are there with their headers.
func TestJobLevelExport(t *testing.T) {
	f, session := breakdownFake(t)
	from, to := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 9, 20, 0, 0, 0, 0, time.UTC)
	files, job := export(t, f, session, "ExportServiceJobLevelMeteringData", map[string]any{
		"startDate": from.Format(time.RFC3339), "endDate": to.Format(time.RFC3339), "allMeters": "TRUE",
	})
	if job["allMeters"] != true || job["orgId"] != f.LoginOrg().ID {
		t.Errorf("create answer %v", job)
	}
	d := f.Dataset()
	var names []string
	for _, m := range d.JobLevelMeters() {
		names = append(names, fake.JobLevelFileName(m))
	}
	var gotNames []string
	for name := range files {
		gotNames = append(gotNames, name)
	}
	slices.Sort(names)
	slices.Sort(gotNames)
	if !reflect.DeepEqual(gotNames, names) || len(names) != 4 {
		t.Fatalf("files %q, want %q", gotNames, names)
	}

	perRun := func(m fake.Meter) bool { return m.JobLevel == fake.JobLevelRuns }
	got := map[dayKey]int64{}
	late := map[dayKey]int{}
	for _, m := range d.JobLevelMeters() {
		recs := files[fake.JobLevelFileName(m)]
		switch m.JobLevel {
		case fake.JobLevelRuns:
			for _, r := range byHeader(t, recs, runHeader) {
				if r["Org ID"] != f.LoginOrg().ID {
					t.Fatalf("run of org %s; job-level exports cover the login org only", r["Org ID"])
				}
				start, err1 := time.Parse("2006-01-02 15:04:05", r["Start Time"])
				end, err2 := time.Parse("2006-01-02 15:04:05", r["End Time"])
				if err1 != nil || err2 != nil || !end.After(start) {
					t.Fatalf("run %v: times %v %v", r, err1, err2)
				}
				k := dayKey{r["Org ID"], m.ID, start.Format("2006-01-02")}
				got[k] += micro(t, r["Metered Value"])
				if start.Day() != end.Day() {
					late[k]++
					if start.Hour() != 23 || start.Minute() != 40 {
						t.Errorf("run %v crosses midnight but does not start at 23:40", r)
					}
				}
			}
		case fake.JobLevelExecutions:
			if rows := byHeader(t, recs, executionHeader); len(rows) == 0 {
				t.Errorf("%s has no rows", m.Name)
			}
		default:
			if len(recs) < 2 || slices.Contains(recs[0], "Metered Value") {
				t.Errorf("%s: %d records, header %q", m.Name, len(recs), recs[0])
			}
		}
	}
	want := summaryMicro(f, from, to, perRun)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("runs per org, meter and start day differ from the summary:\n got %v\nwant %v", got, want)
	}
	for k := range want {
		if late[k] != 1 {
			t.Errorf("%v: %d runs cross midnight, want 1", k, late[k])
		}
	}
	// The ZIP holds one file per meter, so the runs are served meter by
	// meter; Dataset.TaskRuns goes day by day.
	runOrder := func(a, b fake.TaskRun) int {
		return strings.Compare(a.Meter.ID+a.TaskID+a.Start.Format(time.RFC3339), b.Meter.ID+b.TaskID+b.Start.Format(time.RFC3339))
	}
	runs, served := d.TaskRuns(f.LoginOrg(), from, to), f.ServedTaskRuns()
	slices.SortFunc(runs, runOrder)
	slices.SortFunc(served, runOrder)
	if !reflect.DeepEqual(served, runs) {
		t.Errorf("served %d runs, Dataset.TaskRuns gives %d", len(f.ServedTaskRuns()), len(runs))
	}
	// One meter has executions, so they are served in the same order.
	if ex := d.Executions(f.LoginOrg(), from, to); !reflect.DeepEqual(f.ServedExecutions(), ex) || len(ex) == 0 {
		t.Errorf("served %d executions, Dataset.Executions gives %d", len(f.ServedExecutions()), len(ex))
	}

	// meterId: that meter's file only; allMeters as a JSON boolean.
	m := d.JobLevelMeters()[0]
	files, job = export(t, f, session, "ExportServiceJobLevelMeteringData", map[string]any{
		"startDate": from.Format(time.RFC3339), "endDate": to.Format(time.RFC3339), "allMeters": false, "meterId": m.ID,
	})
	if _, ok := files[fake.JobLevelFileName(m)]; len(files) != 1 || !ok || job["meterId"] != m.ID || job["allMeters"] != false {
		t.Errorf("meterId %s: files %v, answer %v", m.ID, len(files), job)
	}
	files, _ = export(t, f, session, "ExportServiceJobLevelMeteringData", map[string]any{
		"startDate": from.Format(time.RFC3339), "endDate": to.Format(time.RFC3339), "allMeters": true,
	})
	if len(files) != 4 {
		t.Errorf("allMeters true: %d files, want 4", len(files))
	}
}

// TestBreakdownSplitsAreWhole: over every org and day of the demo data,
// assets and the per-run meters' runs add up exactly to the summary rows
// they split, and every run is attributed to the day it started.
func TestBreakdownSplitsAreWhole(t *testing.T) {
	last := time.Date(2024, 9, 20, 0, 0, 0, 0, time.UTC)
	d := fake.Dataset{Orgs: fake.DemoOrgs, Meters: fake.DemoMeters, First: last.AddDate(0, 0, -119), Last: last, Projects: 4, Generation: 3}
	for _, o := range d.Orgs {
		rows := d.Rows([]fake.Org{o}, d.First, d.Last)
		want, wantRuns := map[dayKey]int64{}, map[dayKey]int64{}
		for _, r := range rows {
			k := dayKey{r.Org.ID, r.Meter.ID, r.Date.Format("2006-01-02")}
			want[k] = int64(math.Round(r.IPU * 1e6))
			if r.Meter.JobLevel == fake.JobLevelRuns {
				wantRuns[k] = want[k]
			}
		}
		got, gotRuns := map[dayKey]int64{}, map[dayKey]int64{}
		for _, a := range d.AssetRows(o, d.First, d.Last) {
			got[dayKey{a.Org.ID, a.Meter.ID, a.Date.Format("2006-01-02")}] += int64(math.Round(a.IPU * 1e6))
			if a.Deleted && (a.Project != "" || a.Folder != "") {
				t.Errorf("deleted asset %+v has a project", a)
			}
		}
		for _, r := range d.TaskRuns(o, d.First, d.Last) {
			if !r.Date.Equal(time.Date(r.Start.Year(), r.Start.Month(), r.Start.Day(), 0, 0, 0, 0, time.UTC)) {
				t.Errorf("run %+v is not attributed to its start day", r)
			}
			gotRuns[dayKey{r.Org.ID, r.Meter.ID, r.Date.Format("2006-01-02")}] += int64(math.Round(r.IPU * 1e6))
		}
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotRuns, wantRuns) {
			t.Errorf("org %s: asset or run sums differ from the summary", o.ID)
		}
	}
}

// TestBreakdownRequestValidation: ranges over 30 (ASSET) or 180
// (job-level) days, unknown jobTypes, a job-level request naming no meter,
// and meter IDs that name no (job-level) meter are refused with 400.
func TestBreakdownRequestValidation(t *testing.T) {
	f, session := breakdownFake(t)
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	days := func(n int) string { return start.AddDate(0, 0, n).Format(time.RFC3339) }
	s := start.Format(time.RFC3339)
	for _, c := range []struct {
		name, resource string
		body           map[string]any
		code           int
		errCode        string
	}{
		{"asset 30 days", "ExportMeteringData", map[string]any{"startDate": s, "endDate": days(30), "jobType": "ASSET"}, 200, ""},
		{"asset 31 days", "ExportMeteringData", map[string]any{"startDate": s, "endDate": days(31), "jobType": "ASSET"}, 400, "MTR_003"},
		{"asset unknown meter", "ExportMeteringData", map[string]any{"startDate": s, "endDate": days(3), "jobType": "ASSET", "meterId": "Data Integration"}, 400, "MTR_007"},
		{"jobType JOB", "ExportMeteringData", map[string]any{"startDate": s, "endDate": days(3), "jobType": "JOB"}, 400, "MTR_004"},
		{"job level 180 days", "ExportServiceJobLevelMeteringData", map[string]any{"startDate": s, "endDate": days(180), "allMeters": "TRUE"}, 200, ""},
		{"job level 181 days", "ExportServiceJobLevelMeteringData", map[string]any{"startDate": s, "endDate": days(181), "allMeters": "TRUE"}, 400, "MTR_003"},
		{"job level no meter", "ExportServiceJobLevelMeteringData", map[string]any{"startDate": s, "endDate": days(3), "allMeters": "FALSE"}, 400, "MTR_007"},
		{"job level unknown meter", "ExportServiceJobLevelMeteringData", map[string]any{"startDate": s, "endDate": days(3), "meterId": "nope"}, 400, "MTR_007"},
		{"job level meter without reports", "ExportServiceJobLevelMeteringData", map[string]any{"startDate": s, "endDate": days(3), "meterId": fake.DemoMeters[7].ID}, 400, "MTR_007"},
	} {
		code, out := post(t, f, session, c.resource, c.body)
		if code != c.code {
			t.Errorf("%s: %d %v, want %d", c.name, code, out, c.code)
			continue
		}
		if c.errCode != "" {
			if e, _ := out["error"].(map[string]any); e["code"] != c.errCode {
				t.Errorf("%s: error %v, want code %s", c.name, out["error"], c.errCode)
			}
		}
	}
}

// TestAssetExportShape: the CSV shape options apply to ASSET files too.
func TestAssetExportShape(t *testing.T) {
	f := fake.New(fake.Options{
		Now:        func() time.Time { return time.Date(2024, 9, 20, 12, 0, 0, 0, time.UTC) },
		CreatedFor: -1, ProcessingFor: -1, ShuffleColumns: true, ExtraColumns: true, CRLF: true, DateLayout: "01/02/2006",
	})
	if err := f.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	login := call(t, http.MethodPost, f.URL()+"/saas/public/core/v3/login", "",
		map[string]string{"username": f.Username(), "password": f.Password()})
	session := login["userInfo"].(map[string]any)["sessionId"].(string)
	files, _ := export(t, f, session, "ExportMeteringData", map[string]string{
		"startDate": "2024-09-10T00:00:00Z", "endDate": "2024-09-12T00:00:00Z", "jobType": "ASSET",
	})
	for _, recs := range files {
		header := recs[0]
		for _, c := range assetHeader {
			if !slices.Contains(header, c) {
				t.Errorf("header %q lacks %q", header, c)
			}
		}
		if len(header) <= len(assetHeader) || reflect.DeepEqual(header[:len(assetHeader)], assetHeader) {
			t.Errorf("header %q: want extra columns and another order", header)
		}
		date := slices.Index(header, "Date")
		if _, err := time.Parse("01/02/2006", recs[1][date]); err != nil {
			t.Errorf("date %q: %v", recs[1][date], err)
		}
	}
}
