package informatica_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// The job-level layouts as public code reads them (iics-metering-api.md
// §5.5); not documented.
const (
	diHeader = "Task ID,Task Name,Task Object Name,Task Type,Task Run ID,Project Name,Folder Name,Org ID," +
		"Environment ID,Environment,Cores Used,Start Time,End Time,Status,Metered Value,Audit Time,OBM Task Time(s)\r\n"
	aiHeader = "Org ID,Executed asset,Date (in UTC),Execution env,status,Invoked by,Execution type,Execution count," +
		"Total Execution time (in hours),Average Execution time (in seconds)"
)

// taskFiles is a job-level ZIP's files: one of each layout, one without an
// IPU column and one this client cannot read.
var taskFiles = []zipFile{
	{"job/DataIntegration_a2nB20h1o0lc7k3P9xtWS8.csv", "\ufeff" + diHeader +
		"0100001Z000000000ABC,m_load,\"Load, orders\",MTT,42,Finance,Daily,o1,env1,Cloud Hosted,2," +
		"2025-06-01T23:30:00-02:00,2025-06-02T02:00:00Z,COMPLETED,1.25,2025-06-02 02:00:05,12\r\n" +
		"0100001Z000000000ABD,Caf\xe9,null,MTT,43,,,o1,env1,null,2,,2025-06-03 10:00:00,null,null,,\r\n"},
	{"Application Integration.csv", aiHeader + ",IPUs\n" +
		"o1,Process Orders,2025-06-04,Cloud Server,success,API,Process,17,0.5,1.2,0.75\n"},
	{"ai_3uIRkIV5Rt9lBbAPzeR5Kj.csv", aiHeader + "\no1,Process Orders,2025-06-04,Cloud Server,success,API,Process,17,0.5,1.2\n"},
	{"other.csv", "Foo,Bar\n1,2\n"},
	{"empty.csv", ""},
	{"with meter.csv", "Meter ID,Task ID,IPU,Start Time\n" +
		"bN6mes5n4GGciiMkuoDlCz,t1,2,2025-06-05T01:02:03.000+0000\n" +
		"null,t2,3,2025-06-05\n"},
}

var wantTasks = []informatica.TaskRow{
	{
		MeterID: "a2nB20h1o0lc7k3P9xtWS8", OrgID: "o1", TaskID: "0100001Z000000000ABC", TaskName: "m_load", TaskObject: "Load, orders",
		TaskType: "MTT", RunID: "42", Project: "Finance", Folder: "Daily", Environment: "Cloud Hosted", Status: "COMPLETED",
		Date: time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC), Runs: 1, IPU: 1.25,
	},
	{
		MeterID: "a2nB20h1o0lc7k3P9xtWS8", OrgID: "o1", TaskID: "0100001Z000000000ABD", TaskName: "Café", TaskType: "MTT", RunID: "43",
		Date: time.Date(2025, 6, 3, 0, 0, 0, 0, time.UTC), Runs: 1,
	},
	{
		MeterHint: "Application Integration", OrgID: "o1", TaskID: "Process Orders", TaskName: "Process Orders", TaskType: "Process",
		Environment: "Cloud Server", Status: "success", Date: time.Date(2025, 6, 4, 0, 0, 0, 0, time.UTC), Runs: 17, IPU: 0.75,
	},
	{MeterID: "bN6mes5n4GGciiMkuoDlCz", TaskID: "t1", Date: time.Date(2025, 6, 5, 0, 0, 0, 0, time.UTC), Runs: 1, IPU: 2},
	// No meter in the row: the file's name is all there is.
	{MeterHint: "with meter", TaskID: "t2", Date: time.Date(2025, 6, 5, 0, 0, 0, 0, time.UTC), Runs: 1, IPU: 3},
}

// warnLog records calls of an OnWarning function.
type warnLog struct {
	mu    sync.Mutex
	calls []map[string]any
}

func (w *warnLog) warn(msg string, keyvals ...any) {
	m := map[string]any{"msg": msg}
	for i := 0; i+1 < len(keyvals); i += 2 {
		m[fmt.Sprint(keyvals[i])] = keyvals[i+1]
	}
	w.mu.Lock()
	w.calls = append(w.calls, m)
	w.mu.Unlock()
}

// skipped returns the files warned about as skipped, and every warning.
func (w *warnLog) skipped() ([]string, []map[string]any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var files []string
	for _, c := range w.calls {
		if strings.Contains(fmt.Sprint(c["msg"]), "layout is not known") {
			files = append(files, fmt.Sprint(c["file"]))
		}
	}
	return files, w.calls
}

func checkTasks(t *testing.T, got, want []informatica.TaskRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("row %d = %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func checkSkipped(t *testing.T, w *warnLog, repeat int) {
	t.Helper()
	files, calls := w.skipped()
	var want []string
	for range repeat {
		want = append(want, "ai_3uIRkIV5Rt9lBbAPzeR5Kj.csv", "other.csv")
	}
	if fmt.Sprint(files) != fmt.Sprint(want) || len(calls) != len(want) {
		t.Fatalf("warnings %v, want one for each of %v", calls, want)
	}
	ai, other := calls[0], calls[1]
	if m := fmt.Sprint(ai["missing"]); !strings.Contains(m, "an IPU column") || strings.Contains(m, "Task ID") {
		t.Errorf("AI file without IPUs: missing %q", m)
	}
	if h := fmt.Sprint(ai["header"]); !strings.HasPrefix(h, "Org ID,Executed asset,") {
		t.Errorf("header %q", h)
	}
	if m := fmt.Sprint(other["missing"]); !strings.Contains(m, `"Task ID" or "Executed asset"`) || !strings.Contains(m, "IPU") {
		t.Errorf("unknown layout: missing %q", m)
	}
}

func TestReadTaskZIP(t *testing.T) {
	t.Parallel()
	z := makeZIP(t, taskFiles...)
	var w warnLog
	var got []informatica.TaskRow
	n, err := informatica.ReadTaskZIP(bytes.NewReader(z), int64(len(z)), informatica.DefaultLimits, func(r *informatica.TaskRow) error {
		got = append(got, *r)
		return nil
	}, w.warn)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(wantTasks) {
		t.Errorf("%d rows counted", n)
	}
	checkTasks(t, got, wantTasks)
	checkSkipped(t, &w, 1)

	// No warn function: files are skipped all the same.
	n, err = informatica.ReadTaskZIP(bytes.NewReader(z), int64(len(z)), informatica.DefaultLimits, func(*informatica.TaskRow) error { return nil }, nil)
	if err != nil || n != len(wantTasks) {
		t.Errorf("without warn: %d rows, %v", n, err)
	}
}

func TestReadTaskCSVErrors(t *testing.T) {
	t.Parallel()
	const h = "Task ID,Metered Value,Start Time,End Time\n"
	const agg = "Executed asset,Date,Execution count,IPU\n"
	for _, c := range []struct{ content, want string }{
		{h + "t,1,June 1st,\n", `file "t.csv", line 2, column "Start Time", value "June 1st": not a date`},
		{h + "t,1,,1900-01-01\n", `line 2, column "End Time", value "1900-01-01": not a date between 1970 and 9999`},
		{h + "t,1,,\n", `line 2, column "Start Time": value is required`},
		{h + "t,lots,2025-06-01,\n", `line 2, column "Metered Value", value "lots": not a finite number`},
		{h + ",1,2025-06-01,\n", `line 2, column "Task ID": value is required`},
		{h + "t,1\n", "line 2: row has 2 fields, the header has 4"},
		{agg + "a,2025-06-01,2.5,1\n", `line 2, column "Execution count", value "2.5": not a whole number of runs`},
		{agg + "a,2025-06-01,-1,1\n", `column "Execution count", value "-1": not a whole number of runs`},
		{"Executed asset,Date,IPUs Consumed ,IPUs\na,2025-06-01,1,Inf\n", `column "IPUs", value "Inf": not a finite number`},
	} {
		_, err := informatica.ReadTaskCSV("t.csv", strings.NewReader(c.content), func(*informatica.TaskRow) error { return nil }, nil)
		var ce *informatica.CSVError
		if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want a CSVError containing %q", c.content, err, c.want)
		}
	}
}

// TestReadTaskZIPLimits: a skipped file counts against the inflate limit
// as much as a read one.
func TestReadTaskZIPLimits(t *testing.T) {
	t.Parallel()
	big := "Foo,Bar\n" + strings.Repeat("1,2\n", 64<<10)
	z := makeZIP(t, zipFile{"other.csv", big}, taskFiles[1])
	limits := informatica.DefaultLimits
	limits.MaxUncompressedBytes = 128 << 10
	var w warnLog
	_, err := informatica.ReadTaskZIP(bytes.NewReader(z), int64(len(z)), limits, func(*informatica.TaskRow) error { return nil }, w.warn)
	var ze *informatica.ZIPError
	if !errors.As(err, &ze) || !strings.Contains(err.Error(), "inflates past the limit") {
		t.Errorf("error %v, want the inflate limit", err)
	}
	limits = informatica.DefaultLimits
	limits.MaxZIPEntries = 2
	z = makeZIP(t, taskFiles...)
	if _, err := informatica.ReadTaskZIP(bytes.NewReader(z), int64(len(z)), limits, func(*informatica.TaskRow) error { return nil }, nil); !errors.As(err, &ze) {
		t.Errorf("error %v, want the entry limit", err)
	}
}

// TestExportTaskUsage: 200 days are two job-level jobs of every meter,
// whose skipped files are reported through OnWarning.
func TestExportTaskUsage(t *testing.T) {
	t.Parallel()
	var w warnLog
	e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.OnWarning = w.warn })
	z := makeZIP(t, taskFiles...)
	s := scriptJobs(t, e, z, z)
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 200).Add(-time.Second)
	var got []informatica.TaskRow
	res, err := e.client.ExportTaskUsage(context.Background(), from, to, func(r *informatica.TaskRow) error {
		got = append(got, *r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.checkJobs(t, 2, "ExportServiceJobLevelMeteringData", informatica.MaxTaskDays, map[string]string{"allMeters": "TRUE"})
	if res.Jobs != 2 || res.Rows != 2*len(wantTasks) {
		t.Errorf("result %+v", res)
	}
	checkTasks(t, got, append(wantTasks[:len(wantTasks):len(wantTasks)], wantTasks...))
	checkSkipped(t, &w, 2)
	if p := e.srv.PendingFaults(); p != 0 {
		t.Errorf("%d scripted answers unused", p)
	}
}

// TestExportTaskUsageNoWarning: without OnWarning, skipped files are
// skipped quietly.
func TestExportTaskUsageNoWarning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{}, nil)
	scriptJobs(t, e, makeZIP(t, taskFiles...))
	res, err := e.client.ExportTaskUsage(context.Background(), t0.AddDate(0, 0, -3), t0, func(*informatica.TaskRow) error { return nil })
	if err != nil || res.Rows != len(wantTasks) {
		t.Errorf("result %+v, %v", res, err)
	}
}
