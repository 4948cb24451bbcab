package informatica

import (
	"context"
	"errors"
	"io"
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
	RunID              string
	Project, Folder    string
	Environment        string
	Status             string
	Date               time.Time // 00:00 UTC of the day the run started (or the row's date)
	Runs               int       // runs this row counts: 1 for per-run files
	IPU                float64
}

// ExportTaskUsage exports job-level usage of every meter that has job-level
// reports (allMeters) for [from, to] (the requesting org only) and calls fn
// for every row. A range over 180 days runs as consecutive jobs. fn must copy
// any string it keeps: the row is reused.
func (c *Client) ExportTaskUsage(ctx context.Context, from, to time.Time, fn func(*TaskRow) error) (ExportResult, error) {
	return ExportResult{}, errors.New("ExportTaskUsage: not implemented yet")
}

// ReadTaskZIP reads every CSV file of a job-level export ZIP and calls fn for
// each row; warn is called once for each file skipped for its layout.
func ReadTaskZIP(r io.ReaderAt, size int64, limits Limits, fn func(*TaskRow) error, warn func(msg string, keyvals ...any)) (int, error) {
	return 0, errors.New("ReadTaskZIP: not implemented yet")
}
