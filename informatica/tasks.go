package informatica

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

// MaxTaskDays is the longest range one job-level export may cover [D 9].
const MaxTaskDays = 180

// TaskRow is one row of a job-level export (ExportServiceJobLevelMeteringData):
// one task run, or for meters that report aggregates, one task's runs on a
// day. The layouts are not documented (iics-metering-api.md §5.5); files are
// read by header name, and a file whose layout this client does not know is
// skipped with a warning (Config.OnWarning). Its strings are valid UTF-8.
type TaskRow struct {
	// MeterID is the meter from a meter column or the file's name; empty when
	// neither names one, and then MeterHint holds the file's name without
	// directory and extension, for the caller to match against meter names.
	MeterID, MeterHint string
	OrgID              string
	TaskID, TaskName   string
	TaskType           string
	// TaskObject is what the task runs (the Data Integration layout's Task
	// Object Name, e.g. a mapping); empty in other layouts.
	TaskObject      string
	RunID           string
	Project, Folder string
	Environment     string
	Status          string
	Date            time.Time // 00:00 UTC of the day the run started (or the row's date)
	Runs            int       // runs this row counts: 1 for per-run files
	IPU             float64
}

// taskJob is the job-level export of every meter that has job-level
// reports, for the requesting org only [D 9, D 17]. Its status and ZIP are
// fetched like every other job's, under ExportMeteringData/<jobId> [D 9].
var taskJob = jobKind{name: KindTask, resource: "ExportServiceJobLevelMeteringData", maxDays: MaxTaskDays, fields: map[string]string{
	"allMeters": "TRUE",
}}

// ExportTaskUsage exports job-level usage of every meter that has job-level
// reports (allMeters) for [from, to] (the requesting org only) and calls fn
// for every row. A range over 180 days runs as consecutive jobs. fn must copy
// any string it keeps: the row is reused.
func (c *Client) ExportTaskUsage(ctx context.Context, from, to time.Time, fn func(*TaskRow) error) (ExportResult, error) {
	return c.export(ctx, taskJob, from, to, func(f *os.File, size int64) (int, error) {
		return ReadTaskZIP(f, size, c.cfg.Limits, fn, c.warn)
	})
}

// ReadTaskZIP reads every CSV file of a job-level export ZIP and calls fn for
// each row; warn is called once for each file skipped for its layout.
func ReadTaskZIP(r io.ReaderAt, size int64, limits Limits, fn func(*TaskRow) error, warn func(msg string, keyvals ...any)) (int, error) {
	if warn == nil {
		warn = func(string, ...any) {}
	}
	var rr recordReader
	return readZIP(r, size, limits, func(name string, r io.Reader) (int, error) {
		return readTaskCSV(&rr, name, r, fn, warn)
	})
}

// The columns of the job-level layouts this client knows, as public code
// reads them [C 1]; none is documented (§5.5). The Data Integration meter's
// files have a row per task run, identified by Task ID; the Application
// Integration meters' files have a row per executed asset and day, with a
// count of executions. "Metered Value" is the IPU figure in the first
// (public code loads it as IPUs); the second has no IPU column in that
// code, so its files are read only if a report adds one under a name below.
var (
	taskMeter   = column{names: []string{"Meter ID", "MeterId"}}
	taskOrg     = column{names: []string{"Org ID", "OrgId"}}
	taskIPU     = column{names: []string{"Metered Value", "IPUs", "IPU", "Consumption (IPUs)", "IPU Consumed"}}
	taskRuns    = column{names: []string{"Execution count"}}
	taskStatus  = column{names: []string{"Status"}}
	taskProject = column{names: []string{"Project Name", "Project"}}
	taskFolder  = column{names: []string{"Folder Name", "Folder"}}

	// Per run (Data Integration).
	runTaskID = column{names: []string{"Task ID", "TaskId"}}
	runName   = column{names: []string{"Task Name"}}
	runObject = column{names: []string{"Task Object Name"}}
	runType   = column{names: []string{"Task Type"}}
	runID     = column{names: []string{"Task Run ID"}}
	runEnv    = column{names: []string{"Environment", "Environment Name"}}
	// The day of a run is the day it started; the later times stand in for
	// it when it is blank [INF].
	runDates = []string{"Start Time", "End Time", "Audit Time", "Date"}

	// Aggregated (Application Integration).
	aggAsset = column{names: []string{"Executed asset"}}
	aggEnv   = column{names: []string{"Execution env"}}
	aggType  = column{names: []string{"Execution type"}}
	aggDates = []string{"Date (in UTC)", "Date"}
)

// taskLayout is where a file's columns are; -1 for those it lacks.
type taskLayout struct {
	id, name, object, typ, run, env int
	meter, org, ipu, runs, status   int
	project, folder                 int
	idName, ipuName, runsName       string
	dates                           []int // present date columns, in order of preference
	dateNames                       []string
	fileMeter, hint                 string
}

var errNotCount = errors.New("not a whole number of runs")

func readTaskCSV(rr *recordReader, file string, r io.Reader, fn func(*TaskRow) error, warn func(string, ...any)) (int, error) {
	// A meter without runs may well send an empty file [INF].
	t, err := openTable(rr, file, "job-level", r, nil)
	if t == nil || err != nil {
		return 0, err
	}
	l, missing := taskColumns(t)
	if len(missing) > 0 {
		warn("Skipping a job-level export file whose layout is not known",
			"file", file, "missing", strings.Join(missing, ", "), "header", t.header())
		// readZIP hands out its entries one after the other, each read to
		// its end; what is left counts against the inflate limit as usual.
		_, err := io.Copy(io.Discard, r)
		return 0, err
	}
	l.fileMeter, l.hint = meterFromFileName(file)
	t.dateColumns(l.dates...)

	row := TaskRow{}
	rows := 0
	for {
		ok, err := t.next()
		if !ok {
			return rows, err
		}
		if err := l.parse(t, &row); err != nil {
			return rows, err
		}
		if err := fn(&row); err != nil {
			return rows, t.callback(err)
		}
		rows++
	}
}

// taskColumns finds a file's layout by its header, and lists what a file
// must have and this one lacks: a task, an IPU and a date column.
func taskColumns(t *table) (taskLayout, []string) {
	l := taskLayout{
		meter: t.find(taskMeter.names...), org: t.find(taskOrg.names...),
		ipu: t.find(taskIPU.names...), runs: t.find(taskRuns.names...), status: t.find(taskStatus.names...),
		project: t.find(taskProject.names...), folder: t.find(taskFolder.names...),
		ipuName: taskIPU.names[0], runsName: taskRuns.names[0],
	}
	if l.ipu >= 0 {
		// The IPU column has several spellings: errors name it as the
		// file does.
		l.ipuName = Shorten(t.names[l.ipu], 60)
	}
	dates := aggDates
	var missing []string
	if l.id = t.find(runTaskID.names...); l.id >= 0 {
		l.idName = runTaskID.names[0]
		l.name, l.object, l.typ = t.find(runName.names...), t.find(runObject.names...), t.find(runType.names...)
		l.run, l.env = t.find(runID.names...), t.find(runEnv.names...)
		dates = runDates
	} else if l.id = t.find(aggAsset.names...); l.id >= 0 {
		l.idName = aggAsset.names[0]
		l.name, l.object, l.typ, l.run = l.id, -1, t.find(aggType.names...), -1
		l.env = t.find(aggEnv.names...)
	} else {
		missing = append(missing, `"`+runTaskID.names[0]+`" or "`+aggAsset.names[0]+`"`)
		dates = append(runDates[:len(runDates):len(runDates)], aggDates[0])
	}
	if l.ipu < 0 {
		missing = append(missing, `an IPU column ("`+strings.Join(taskIPU.names, `", "`)+`")`)
	}
	for _, d := range dates {
		if i := t.find(d); i >= 0 {
			l.dates, l.dateNames = append(l.dates, i), append(l.dateNames, d)
		}
	}
	if len(l.dates) == 0 {
		missing = append(missing, `a date column ("`+strings.Join(dates, `", "`)+`")`)
	}
	return l, missing
}

// parse fills row from the current record.
func (l *taskLayout) parse(t *table, row *TaskRow) error {
	*row = TaskRow{
		MeterID: t.text(l.meter), OrgID: t.text(l.org),
		TaskID: t.text(l.id), TaskName: t.text(l.name), TaskObject: t.text(l.object), TaskType: t.text(l.typ),
		RunID: t.text(l.run), Project: t.text(l.project), Folder: t.text(l.folder),
		Environment: t.text(l.env), Status: t.text(l.status), Runs: 1,
	}
	if row.MeterID == "" {
		row.MeterID, row.MeterHint = l.fileMeter, l.hint
	}
	if row.TaskID == "" {
		return t.bad(l.id, l.idName, errEmptyValue)
	}
	var err error
	if row.IPU, err = t.number(l.ipu, l.ipuName); err != nil {
		return err
	}
	if l.runs >= 0 {
		n, err := t.number(l.runs, l.runsName)
		if err != nil {
			return err
		}
		if n < 0 || n != math.Trunc(n) || n > 1<<53 {
			return t.bad(l.runs, l.runsName, errNotCount)
		}
		row.Runs = int(n)
	}
	for k, i := range l.dates {
		d, ok, err := t.time(i, l.dateNames[k])
		if err != nil {
			return err
		}
		if ok {
			// Times may carry a zone; the day is the UTC one, as
			// Informatica's billing days are [D 18b].
			d = d.UTC()
			row.Date = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
			return nil
		}
	}
	return t.bad(l.dates[0], l.dateNames[0], errEmptyValue)
}

// meterIDLen is the length of an Informatica meter ID, e.g.
// a2nB20h1o0lc7k3P9xtWS8 [D 8].
const meterIDLen = 22

// meterFromFileName returns the meter ID in a file's name, or failing that
// the name without directory and extension as a hint. Export file names
// are not documented [INF]; a 22-character run of letters and digits with
// both in it is taken as a meter ID, as every known one is such a run.
func meterFromFileName(file string) (id, hint string) {
	base := file[strings.LastIndexAny(file, `/\`)+1:]
	if len(base) >= 4 && strings.EqualFold(base[len(base)-4:], ".csv") {
		base = base[:len(base)-4]
	}
	for _, tok := range strings.FieldsFunc(base, func(r rune) bool { return !isAlnum(r) }) {
		if len(tok) == meterIDLen && strings.ContainsAny(tok, "0123456789") &&
			strings.IndexFunc(tok, func(r rune) bool { return r > '9' }) >= 0 {
			return tok, ""
		}
	}
	return "", ValidUTF8(base)
}

func isAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}
