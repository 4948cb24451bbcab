package informatica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
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
var projectJob = jobKind{resource: "ExportMeteringData", maxDays: MaxProjectDays, fields: map[string]string{
	"jobType": "PROJECT_FOLDER", "allLinkedOrgs": "TRUE", "combinedMeterUsage": "TRUE"}}

// ExportProjectUsage exports IPU usage by project and folder for [from, to]
// and calls fn for every row. A range over 30 days runs as consecutive jobs,
// one at a time. fn must copy any string it keeps: the row is reused.
func (c *Client) ExportProjectUsage(ctx context.Context, from, to time.Time, fn func(*ProjectRow) error) (ExportResult, error) {
	return c.export(ctx, projectJob, from, to, func(f *os.File, size int64) (int, error) {
		return ReadProjectZIP(f, size, c.cfg.Limits, fn)
	})
}

// ReadProjectZIP reads every CSV file of a PROJECT_FOLDER export ZIP and
// calls fn for each row, within the same limits as a summary export.
func ReadProjectZIP(r io.ReaderAt, size int64, limits Limits, fn func(*ProjectRow) error) (int, error) {
	var rr recordReader
	return readZIP(r, size, limits, func(name string, r io.Reader) (int, error) {
		return readProjectCSV(&rr, name, r, fn)
	})
}

// ReadProjectCSV reads a PROJECT_FOLDER export CSV and calls fn for each row.
func ReadProjectCSV(file string, r io.Reader, fn func(*ProjectRow) error) (int, error) {
	var rr recordReader
	return readProjectCSV(&rr, file, r, fn)
}

// projectColumn is a column of a PROJECT_FOLDER file, with the header names
// it may have: public code reads "Org ID", "Project", "Folder", "Date" and
// "Consumption (IPUs)", and the other reports spell the same columns
// differently. Names are compared as headerKey folds them.
type projectColumn struct {
	names    []string
	required bool
}

var (
	projectOrgID   = projectColumn{names: []string{"Org ID", "OrgId"}, required: true}
	projectOrgType = projectColumn{names: []string{"Org Type", "OrgType"}}
	projectName    = projectColumn{names: []string{"Project", "Project Name"}, required: true}
	projectFolder  = projectColumn{names: []string{"Folder", "Folder Name"}}
	projectDate    = projectColumn{names: []string{"Date", "Date (in UTC)"}, required: true}
	projectIPU     = projectColumn{names: []string{"Consumption (IPUs)", "IPU", "IPUs", "Consumption"}, required: true}
)

func readProjectCSV(rr *recordReader, file string, r io.Reader, fn func(*ProjectRow) error) (int, error) {
	rr.reset(r)
	if err := rr.skipBOM(); err != nil {
		return 0, err
	}
	line, err := rr.next()
	if err == io.EOF {
		return 0, &CSVError{File: file, Line: 1, Err: errors.New("file is empty: no header row")}
	}
	if err != nil {
		return 0, rr.wrap(file, line, err)
	}
	byName := map[string]int{}
	for i := range rr.fields {
		if k := headerKey(string(rr.field(i))); k != "" {
			if _, dup := byName[k]; !dup {
				byName[k] = i
			}
		}
	}
	width := len(rr.fields)
	index := func(c projectColumn) (int, error) {
		for _, n := range c.names {
			if i, ok := byName[headerKey(n)]; ok {
				return i, nil
			}
		}
		if c.required {
			return -1, &CSVError{File: file, Line: 1, Column: c.names[0], Err: errMissingColumn}
		}
		return -1, nil
	}
	var cols [6]int
	for i, c := range []projectColumn{projectOrgID, projectOrgType, projectName, projectFolder, projectDate, projectIPU} {
		if cols[i], err = index(c); err != nil {
			return 0, err
		}
	}
	orgCol, typeCol, projectCol, folderCol, dateCol, ipuCol := cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
	text := func(i int) string {
		if i < 0 {
			return ""
		}
		return ValidUTF8(string(cell(rr.field(i))))
	}
	bad := func(line, i int, name string, err error) error {
		return &CSVError{File: file, Line: line, Column: name, Value: ValidUTF8(string(rr.field(i))), Err: err}
	}

	var row ProjectRow
	rows := 0
	for {
		line, err := rr.next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, rr.wrap(file, line, err)
		}
		if len(rr.fields) < width {
			return rows, &CSVError{File: file, Line: line, Err: fmt.Errorf("row has %d fields, the header has %d", len(rr.fields), width)}
		}
		row = ProjectRow{OrgID: text(orgCol), OrgType: text(typeCol), Project: text(projectCol), Folder: text(folderCol)}
		if row.OrgID == "" {
			return rows, bad(line, orgCol, projectOrgID.names[0], errEmptyValue)
		}
		date := text(dateCol)
		if date == "" {
			return rows, bad(line, dateCol, projectDate.names[0], errEmptyValue)
		}
		day, err := ParseTime(date)
		if err != nil {
			return rows, bad(line, dateCol, projectDate.names[0], errNotDate)
		}
		if !plausibleDate(day) {
			return rows, bad(line, dateCol, projectDate.names[0], errDateRange)
		}
		row.Date = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
		if v := text(ipuCol); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return rows, bad(line, ipuCol, projectIPU.names[0], errNotNumber)
			}
			row.IPU = f
		}
		if err := fn(&row); err != nil {
			return rows, fmt.Errorf("file %q, line %d: %w", file, line, err)
		}
		rows++
	}
}
