package informatica

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// UsageRow is one row of a summary export: one org's use of one meter on one
// day.
type UsageRow struct {
	OrgID, OrgName, OrgType string
	MeterID, MeterName      string
	Scalar, MetricCategory  string

	// Date is 00:00 UTC of the usage day, taken as written in the file.
	Date time.Time
	// BillingPeriodStart and BillingPeriodEnd are as reported; zero when the
	// cell is empty or null.
	BillingPeriodStart, BillingPeriodEnd time.Time

	MeterUsage float64 // in the meter's own unit (Scalar); 0 when empty
	IPU        float64 // 0 when empty
	IPURate    float64 // IPUs per unit of MeterUsage; valid when HasIPURate
	HasIPURate bool
}

// Column indexes into usageColumns.
const (
	colOrgID = iota
	colOrgName
	colOrgType
	colMeterID
	colMeterName
	colDate
	colPeriodStart
	colPeriodEnd
	colMeterUsage
	colIPU
	colIPURate
	colScalar
	colMetricCategory
	numColumns
)

// usageColumns are the SUMMARY CSV headers this reader uses, as documented.
var usageColumns = [numColumns]string{
	colOrgID:          "OrgId",
	colOrgName:        "OrgName",
	colOrgType:        "OrgType",
	colMeterID:        "MeterId",
	colMeterName:      "MeterName",
	colDate:           "Date",
	colPeriodStart:    "BillingPeriodStartDate",
	colPeriodEnd:      "BillingPeriodEndDate",
	colMeterUsage:     "MeterUsage",
	colIPU:            "IPU",
	colIPURate:        "IPURate",
	colScalar:         "Scalar",
	colMetricCategory: "MetricCategory",
}

// CSVError locates bad input in an export file.
type CSVError struct {
	File   string
	Line   int    // 1-based; the header is line 1
	Column string // empty when the whole row is at fault
	Value  string
	Err    error
}

func (e *CSVError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "file %q", e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ", line %d", e.Line)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ", column %q", e.Column)
	}
	if e.Value != "" {
		fmt.Fprintf(&b, ", value %q", Shorten(e.Value, 80))
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *CSVError) Unwrap() error { return e.Err }

var (
	errMissingColumn = errors.New("required column is missing from the header")
	errEmptyValue    = errors.New("value is required")
	errNotNumber     = errors.New("not a finite number")
	errNotDate       = errors.New("not a date in a known format (2006-01-02, RFC 3339, 2006-01-02 15:04:05, 1/2/2006)")
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ReadUsageCSV reads a SUMMARY export CSV and calls fn for each data row.
// Columns are found by header name in any order, so extra columns and a new
// column order do not break it; header names match ignoring case, spaces and
// underscores. A leading UTF-8 BOM, quoted fields and empty or "null" cells
// are accepted. Rows are streamed: memory use does not grow with the file.
// fn gets the same *UsageRow each time and must copy what it keeps.
func ReadUsageCSV(file string, r io.Reader, fn func(*UsageRow) error) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if head, _ := br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
		br.Discard(len(utf8BOM))
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // row length is checked against the header below, with a clearer error
	cr.LazyQuotes = true

	header, err := cr.Read()
	if err == io.EOF {
		return 0, &CSVError{File: file, Line: 1, Err: errors.New("file is empty: no header row")}
	}
	if err != nil {
		return 0, csvReadError(file, err)
	}
	p, err := newUsageParser(file, header)
	if err != nil {
		return 0, err
	}

	var row UsageRow
	rows := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, csvReadError(file, err)
		}
		line, _ := cr.FieldPos(0)
		if err := p.parse(line, rec, &row); err != nil {
			return rows, err
		}
		if err := fn(&row); err != nil {
			return rows, fmt.Errorf("file %q, line %d: %w", file, line, err)
		}
		rows++
	}
}

// csvReadError keeps a syntax error's position, and lets a failure of the
// underlying reader (a corrupt ZIP entry) through unchanged.
func csvReadError(file string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &CSVError{File: file, Line: pe.Line, Err: pe.Err}
	}
	return err
}

// usageParser turns records into rows once the header has fixed where each
// column is.
type usageParser struct {
	file  string
	index [numColumns]int
	width int
	// Dates repeat on consecutive rows; caching the last parse of each date
	// column avoids most of the parsing work.
	dates [numColumns]struct {
		text string
		t    time.Time
	}
}

func newUsageParser(file string, header []string) (*usageParser, error) {
	p := &usageParser{file: file, width: len(header)}
	byName := make(map[string]int, len(header))
	for i, h := range header {
		key := headerKey(h)
		if _, dup := byName[key]; !dup {
			byName[key] = i
		}
	}
	for c, name := range usageColumns {
		i, ok := byName[headerKey(name)]
		if !ok {
			return nil, &CSVError{File: file, Line: 1, Column: name, Err: errMissingColumn}
		}
		p.index[c] = i
	}
	return p, nil
}

// headerKey folds a header name so that "OrgId", "Org ID" and "org_id"
// match: Informatica's exports spell the same column differently per report.
func headerKey(h string) string {
	var b strings.Builder
	for _, r := range strings.TrimPrefix(h, "\ufeff") {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		}
	}
	return b.String()
}

func (p *usageParser) parse(line int, rec []string, row *UsageRow) error {
	if len(rec) < p.width {
		return &CSVError{File: p.file, Line: line, Err: fmt.Errorf("row has %d fields, the header has %d", len(rec), p.width)}
	}
	for _, extra := range rec[p.width:] {
		if strings.TrimSpace(extra) != "" {
			return &CSVError{File: p.file, Line: line, Err: fmt.Errorf("row has %d fields, the header has %d (an unquoted comma?)", len(rec), p.width)}
		}
	}
	var err error
	text := func(c int) string { return cell(rec[p.index[c]]) }
	required := func(c int) (string, error) {
		v := text(c)
		if v == "" {
			return "", p.errorAt(line, c, rec, errEmptyValue)
		}
		return v, nil
	}
	if row.OrgID, err = required(colOrgID); err != nil {
		return err
	}
	if row.MeterID, err = required(colMeterID); err != nil {
		return err
	}
	row.OrgName = text(colOrgName)
	row.OrgType = text(colOrgType)
	row.MeterName = text(colMeterName)
	row.Scalar = text(colScalar)
	row.MetricCategory = text(colMetricCategory)

	day, ok, err := p.time(line, colDate, rec)
	if err != nil {
		return err
	}
	if !ok {
		return p.errorAt(line, colDate, rec, errEmptyValue)
	}
	row.Date = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	if row.BillingPeriodStart, _, err = p.time(line, colPeriodStart, rec); err != nil {
		return err
	}
	if row.BillingPeriodEnd, _, err = p.time(line, colPeriodEnd, rec); err != nil {
		return err
	}
	if row.MeterUsage, _, err = p.number(line, colMeterUsage, rec); err != nil {
		return err
	}
	if row.IPU, _, err = p.number(line, colIPU, rec); err != nil {
		return err
	}
	if row.IPURate, row.HasIPURate, err = p.number(line, colIPURate, rec); err != nil {
		return err
	}
	return nil
}

func (p *usageParser) errorAt(line, c int, rec []string, err error) error {
	return &CSVError{File: p.file, Line: line, Column: usageColumns[c], Value: rec[p.index[c]], Err: err}
}

func (p *usageParser) number(line, c int, rec []string) (float64, bool, error) {
	v := cell(rec[p.index[c]])
	if v == "" {
		return 0, false, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false, p.errorAt(line, c, rec, errNotNumber)
	}
	return f, true, nil
}

// time parses a date column; a zero time and false for an empty cell.
func (p *usageParser) time(line, c int, rec []string) (time.Time, bool, error) {
	v := cell(rec[p.index[c]])
	if v == "" {
		return time.Time{}, false, nil
	}
	cache := &p.dates[c]
	if v == cache.text {
		return cache.t, true, nil
	}
	t, err := ParseTime(v)
	if err != nil {
		return time.Time{}, false, p.errorAt(line, c, rec, errNotDate)
	}
	cache.text, cache.t = v, t
	return t, true, nil
}

// cell trims a field and maps Informatica's literal "null" to empty.
func cell(s string) string {
	s = strings.TrimSpace(s)
	if len(s) == 4 && strings.EqualFold(s, "null") {
		return ""
	}
	return s
}

// timeLayouts are the date formats seen in Informatica's exports and docs.
// The format of the CSV date columns is not documented, so every plausible
// one is accepted; values without a zone are UTC, as Informatica's billing
// is.
var timeLayouts = []string{
	"2006-01-02",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05 MST",
	"1/2/2006",
	"1/2/2006 15:04:05",
	"1/2/2006 15:04",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 3:04 PM",
	"2006/01/02",
	"2006/01/02 15:04:05",
}

// ParseTime parses a date or timestamp in any format Informatica is known to
// use.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errNotDate
}
