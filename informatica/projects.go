package informatica

import (
	"context"
	"io"
	"os"
	"time"
)

// MaxProjectDays is the longest range one PROJECT_FOLDER job may cover.
const MaxProjectDays = 30

// ProjectRow is one row of a PROJECT_FOLDER export: an org's IPUs in one
// project folder on one day. The export's columns are not documented; rows
// are read by header name, and columns this client does not know are
// ignored. Its strings are valid UTF-8 (see ValidUTF8).
type ProjectRow struct {
	OrgID, OrgType  string
	Project, Folder string // empty for assets deleted before Informatica processed their usage
	Date            time.Time
	IPU             float64
}

// projectJob is the PROJECT_FOLDER export of the org and its linked orgs.
var projectJob = jobKind{name: KindProject, resource: "ExportMeteringData", maxDays: MaxProjectDays, fields: map[string]string{
	"jobType": "PROJECT_FOLDER", "allLinkedOrgs": "TRUE", "combinedMeterUsage": "TRUE",
}}

// ExportProjectUsage exports IPU usage by project and folder for [from, to]
// and calls fn for every row. A range over 30 days runs as consecutive jobs,
// one at a time. fn must copy any string it keeps: the row is reused.
func (c *Client) ExportProjectUsage(ctx context.Context, from, to time.Time, fn func(*ProjectRow) error) (ExportResult, error) {
	return c.export(ctx, projectJob, from, to, func(f *os.File, size int64) (int, error) {
		return readProjectZIP(f, size, c.cfg.Limits, fn, c.warn)
	})
}

// ReadProjectZIP reads every CSV file of a PROJECT_FOLDER export ZIP and
// calls fn for each row, within the same limits as a summary export.
func ReadProjectZIP(r io.ReaderAt, size int64, limits Limits, fn func(*ProjectRow) error) (int, error) {
	return readProjectZIP(r, size, limits, fn, nil)
}

// readProjectZIP is ReadProjectZIP, passing warnings to warn.
func readProjectZIP(r io.ReaderAt, size int64, limits Limits, fn func(*ProjectRow) error, warn func(string, ...any)) (int, error) {
	var rr recordReader
	w := newWarnings(warn)
	return readZIP(r, size, limits, func(name string, r io.Reader) (int, error) {
		return readProjectCSV(&rr, name, r, fn, w)
	})
}

// The columns of a PROJECT_FOLDER file, with the header names they may
// have: public code reads "Org ID", "Project", "Folder", "Date" and
// "Consumption (IPUs)" [C 1], and the other reports spell the same columns
// differently [INF].
var (
	projectOrgID   = column{names: []string{"Org ID", "OrgId"}, required: true}
	projectOrgType = column{names: []string{"Org Type", "OrgType"}}
	projectName    = column{names: []string{"Project", "Project Name"}, required: true}
	projectFolder  = column{names: []string{"Folder", "Folder Name"}}
	projectDate    = column{names: []string{"Date", "Date (in UTC)"}, required: true}
	projectIPU     = column{names: []string{"Consumption (IPUs)", "IPU", "IPUs", "Consumption"}, required: true}
)

func readProjectCSV(rr *recordReader, file string, r io.Reader, fn func(*ProjectRow) error, warn *warnings) (int, error) {
	t, err := openTable(rr, file, "PROJECT_FOLDER", r, warn)
	if t == nil || err != nil {
		return 0, err
	}
	cols, err := t.indexes(projectOrgID, projectOrgType, projectName, projectFolder, projectDate, projectIPU)
	if err != nil {
		return 0, err
	}
	orgCol, typeCol, projectCol, folderCol, dateCol, ipuCol := cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
	t.dateColumns(dateCol)
	var row ProjectRow
	rows := 0
	for {
		ok, err := t.next()
		if !ok {
			return rows, err
		}
		row = ProjectRow{OrgID: t.text(orgCol), OrgType: t.text(typeCol), Project: t.text(projectCol), Folder: t.text(folderCol)}
		if row.OrgID == "" {
			return rows, t.bad(orgCol, projectOrgID.names[0], errEmptyValue)
		}
		if row.Date, err = t.day(dateCol, projectDate.names[0]); err != nil {
			return rows, err
		}
		if row.IPU, err = t.number(ipuCol, projectIPU.names[0]); err != nil {
			return rows, err
		}
		if err := fn(&row); err != nil {
			return rows, t.callback(err)
		}
		rows++
	}
}
