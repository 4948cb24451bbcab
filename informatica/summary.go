// The SUMMARY export: rows of IPU usage per org, meter and day.

package informatica

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unsafe"
)

// UsageRow is one row of a summary export: one org's use of one meter on one
// day. Its strings are valid UTF-8 (see ValidUTF8).
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

// ReadUsageCSV reads a SUMMARY export CSV and calls fn for each data row.
// Columns are found by header name in any order, so extra columns and a new
// column order do not break it; header names match ignoring case, spaces and
// underscores. A leading UTF-8 BOM, quoted fields and empty or "null" cells
// are accepted. Rows are streamed: memory use does not grow with the file.
// fn gets the same *UsageRow each time and must copy what it keeps; the
// strings in it stay valid (they are never overwritten), and repeat from row
// to row without new allocations.
func ReadUsageCSV(file string, r io.Reader, fn func(*UsageRow) error) (int, error) {
	return newCSVState().read(file, r, fn)
}

// csvState is what the rows of one export share, across all its files: the
// read buffer and the strings seen so far.
type csvState struct {
	rr      recordReader
	orgs    map[string]*orgStrings
	meters  map[string]*meterStrings
	lastOrg *orgStrings
	lastMtr *meterStrings
}

type orgStrings struct {
	id, name, typ cellText
	next          *orgStrings // the org that followed this one last time
}

type meterStrings struct {
	id, name, scalar, category cellText
	next                       *meterStrings
}

// cellText is a string column's last value, as read and as handed out: the
// same string unless the bytes read were not valid UTF-8. A value that
// repeats the last one costs a comparison with what was read, as before
// there was any conversion; only a new value is checked and converted.
type cellText struct{ raw, text string }

// set makes b the value, and returns it as valid UTF-8.
func (c *cellText) set(b []byte) string {
	if string(b) != c.raw {
		c.raw = string(b)
		c.text = ValidUTF8(c.raw)
	}
	return c.text
}

// maxInterned bounds the strings an export's reader keeps for reuse.
const maxInterned = 1 << 16

func newCSVState() *csvState {
	return &csvState{orgs: map[string]*orgStrings{}, meters: map[string]*meterStrings{}}
}

func (s *csvState) read(file string, r io.Reader, fn func(*UsageRow) error) (int, error) {
	s.rr.reset(r)
	return s.readFile(file, fn)
}

// readFile reads the header and the records of the input s.rr was just
// reset to.
func (s *csvState) readFile(file string, fn func(*UsageRow) error) (int, error) {
	if err := s.rr.skipBOM(); err != nil {
		return 0, err
	}
	line, err := s.rr.next()
	if err == io.EOF {
		return 0, &CSVError{File: file, Line: 1, Err: errors.New("file is empty: no header row")}
	}
	if err != nil {
		return 0, s.rr.wrap(file, line, err)
	}
	header := make([]string, len(s.rr.fields))
	for i := range header {
		header[i] = string(s.rr.field(i))
	}
	p, err := newUsageParser(file, header)
	if err != nil {
		return 0, err
	}
	p.strings = s
	return s.rows(file, p, fn)
}

// readAfter reads the records of a part of a file that begins at a record
// boundary on line line, with the file's header record: data, then rest
// when it is not nil. Without rest, the records are split in data itself,
// which they may change.
func (s *csvState) readAfter(file string, header []byte, line int, data []byte, rest io.Reader, fn func(*UsageRow) error) (int, error) {
	s.rr.reset(bytes.NewReader(header))
	if err := s.rr.skipBOM(); err != nil {
		return 0, err
	}
	if _, err := s.rr.next(); err != nil {
		return 0, s.rr.wrap(file, 1, err)
	}
	names := make([]string, len(s.rr.fields))
	for i := range names {
		names[i] = string(s.rr.field(i))
	}
	p, err := newUsageParser(file, names)
	if err != nil {
		return 0, err
	}
	p.strings = s
	s.rr.resetParts(data, rest)
	s.rr.line = line
	return s.rows(file, p, fn)
}

// rows reads the records after the header.
func (s *csvState) rows(file string, p *usageParser, fn func(*UsageRow) error) (int, error) {
	var row UsageRow
	rows := 0
	for {
		line, err := s.rr.next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, s.rr.wrap(file, line, err)
		}
		if err := p.parse(line, &s.rr, &row); err != nil {
			return rows, err
		}
		if err := fn(&row); err != nil {
			return rows, fmt.Errorf("file %q, line %d: %w", file, line, err)
		}
		rows++
	}
}

// usageParser turns records into rows once the header has fixed where each
// column is.
type usageParser struct {
	file    string
	index   [numColumns]int
	width   int
	strings *csvState
	// Dates and the rate repeat on consecutive rows; caching the last parse
	// of each avoids most of the parsing work.
	dates [numColumns][2]dateCache
	rate  numberCache
}

type dateCache struct {
	n    int // length of text; 0 when empty
	text [40]byte
	t    time.Time
}

type numberCache struct {
	n    int
	text [24]byte
	v    float64
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

func (p *usageParser) parse(line int, rec *recordReader, row *UsageRow) error {
	if n := len(rec.fields); n < p.width {
		return &CSVError{File: p.file, Line: line, Err: fmt.Errorf("row has %d fields, the header has %d", n, p.width)}
	} else if n > p.width {
		for k := p.width; k < n; k++ {
			if len(bytes.TrimSpace(rec.field(k))) != 0 {
				return &CSVError{File: p.file, Line: line, Err: fmt.Errorf("row has %d fields, the header has %d (an unquoted comma?)", n, p.width)}
			}
		}
	}
	text := func(c int) []byte { return cell(rec.field(p.index[c])) }
	orgID, meterID := text(colOrgID), text(colMeterID)
	if len(orgID) == 0 {
		return p.errorAt(line, colOrgID, rec, errEmptyValue)
	}
	if len(meterID) == 0 {
		return p.errorAt(line, colMeterID, rec, errEmptyValue)
	}
	o := p.strings.org(orgID, text(colOrgName), text(colOrgType))
	row.OrgID, row.OrgName, row.OrgType = o.id.text, o.name.text, o.typ.text
	m := p.strings.meter(meterID, text(colMeterName), text(colScalar), text(colMetricCategory))
	row.MeterID, row.MeterName, row.Scalar, row.MetricCategory = m.id.text, m.name.text, m.scalar.text, m.category.text

	var err error
	var ok bool
	if row.Date, ok, err = p.time(line, colDate, rec); err != nil {
		return err
	}
	if !ok {
		return p.errorAt(line, colDate, rec, errEmptyValue)
	}
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

func (p *usageParser) errorAt(line, c int, rec *recordReader, err error) error {
	return &CSVError{File: p.file, Line: line, Column: usageColumns[c], Value: ValidUTF8(string(rec.field(p.index[c]))), Err: err}
}

// org returns the strings of an org, allocating only those not seen before.
// Files list the same orgs in the same order day after day, so the org that
// followed the last one the last time is tried before the map, which is
// keyed by the ID as read.
func (s *csvState) org(id, name, typ []byte) *orgStrings {
	o := s.lastOrg
	switch {
	case o != nil && o.next != nil && string(id) == o.next.id.raw:
		// Tried first: orgs mostly change from row to row.
		o = o.next
		s.lastOrg = o
	case o != nil && string(id) == o.id.raw:
	default:
		prev := o
		if o = s.orgs[string(id)]; o == nil {
			if len(s.orgs) >= maxInterned {
				clear(s.orgs)
				prev = nil
			}
			o = &orgStrings{}
			o.id.set(id)
			s.orgs[o.id.raw] = o
		}
		if prev != nil {
			prev.next = o
		}
		s.lastOrg = o
	}
	o.name.set(name)
	o.typ.set(typ)
	return o
}

// meter returns the strings of a meter, allocating only those not seen
// before, as org does.
func (s *csvState) meter(id, name, scalar, category []byte) *meterStrings {
	m := s.lastMtr
	switch {
	case m != nil && string(id) == m.id.raw:
		// Tried first: meters mostly repeat from row to row (a file per
		// meter).
	case m != nil && m.next != nil && string(id) == m.next.id.raw:
		m = m.next
		s.lastMtr = m
	default:
		prev := m
		if m = s.meters[string(id)]; m == nil {
			if len(s.meters) >= maxInterned {
				clear(s.meters)
				prev = nil
			}
			m = &meterStrings{}
			m.id.set(id)
			s.meters[m.id.raw] = m
		}
		if prev != nil {
			prev.next = m
		}
		s.lastMtr = m
	}
	m.name.set(name)
	m.scalar.set(scalar)
	m.category.set(category)
	return m
}

func (p *usageParser) number(line, c int, rec *recordReader) (float64, bool, error) {
	v := cell(rec.field(p.index[c]))
	if len(v) == 0 {
		return 0, false, nil
	}
	// The rate repeats from row to row; usage and IPUs rarely do.
	cache := &p.rate
	if c == colIPURate && len(v) == cache.n && string(v) == string(cache.text[:cache.n]) {
		return cache.v, true, nil
	}
	f, ok := parseDecimal(v)
	if !ok {
		// The string shares v's bytes, which the next record overwrites:
		// safe, since ParseFloat keeps nothing of it but in the error,
		// which is dropped.
		var err error
		f, err = strconv.ParseFloat(unsafe.String(&v[0], len(v)), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, false, p.errorAt(line, c, rec, errNotNumber)
		}
	}
	if c == colIPURate && len(v) <= len(cache.text) {
		cache.n = copy(cache.text[:], v)
		cache.v = f
	}
	return f, true, nil
}

// time parses a date column; a zero time and false for an empty cell. The
// result is 00:00 UTC of the calendar day written for the Date column, the
// instant as written for the others.
func (p *usageParser) time(line, c int, rec *recordReader) (time.Time, bool, error) {
	v := cell(rec.field(p.index[c]))
	if len(v) == 0 {
		return time.Time{}, false, nil
	}
	cache := &p.dates[c]
	if e := &cache[0]; len(v) == e.n && string(v) == string(e.text[:e.n]) {
		return e.t, true, nil
	}
	if e := &cache[1]; len(v) == e.n && string(v) == string(e.text[:e.n]) {
		// Two values take turns (monthly and annual billing periods
		// of orgs listed one after the other): the most recent first.
		cache[0], cache[1] = cache[1], cache[0]
		return cache[0].t, true, nil
	}
	var t time.Time
	if days, year, ok := parseDay(v); ok {
		// Already 00:00 UTC of the day written.
		if year < 1970 {
			return time.Time{}, false, p.errorAt(line, c, rec, errDateRange)
		}
		t = time.Unix(days*secondsPerDay, 0).UTC()
	} else {
		var err error
		if t, err = ParseTime(string(v)); err != nil {
			return time.Time{}, false, p.errorAt(line, c, rec, errNotDate)
		}
		if !plausibleDate(t) {
			return time.Time{}, false, p.errorAt(line, c, rec, errDateRange)
		}
		if c == colDate {
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		}
	}
	if len(v) <= len(cache[0].text) {
		cache[1] = cache[0]
		cache[0].n = copy(cache[0].text[:], v)
		cache[0].t = t
	}
	return t, true, nil
}
