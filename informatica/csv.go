package informatica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

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
	errDateRange     = errors.New("not a date between 1970 and 9999")
)

// plausibleDate rejects dates no metering data can have. The zero time, year
// 1, also stands for a missing date, so it must never be read as one.
func plausibleDate(t time.Time) bool {
	return t.Year() >= 1970 && t.Year() <= 9999
}

// maxRecordBytes bounds one CSV record. A summary row is a few hundred
// bytes; a record this long is an unterminated quote swallowing the file,
// which is reported rather than buffered whole.
const maxRecordBytes = 4 << 20

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

// pow10 are the powers of ten that a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseDecimal parses the plain decimals that exports hold ("12", "-0.75",
// "1834.25") when the result is exact to compute: at most 2^53 as an
// integer and at most 22 decimals, so that one correctly rounded division
// gives what strconv.ParseFloat gives. Anything else reports false.
func parseDecimal(b []byte) (float64, bool) {
	neg := false
	if c := b[0]; c == '-' || c == '+' {
		neg = c == '-'
		b = b[1:]
	}
	var m uint64
	i := 0
	for ; i < len(b) && b[i]-'0' <= 9; i++ {
		m = m*10 + uint64(b[i]-'0')
	}
	digits, frac := i, 0
	if i < len(b) && b[i] == '.' {
		i++
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			m = m*10 + uint64(b[i]-'0')
		}
		frac = i - digits - 1
		digits += frac
	}
	if i != len(b) || digits == 0 || digits > 19 || m > 1<<53 || frac >= len(pow10) {
		return 0, false
	}
	f := float64(m) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true
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

const secondsPerDay = 86400

// parseDate parses the common layout 2006-01-02 without time.Parse.
func parseDate(b []byte) (time.Time, bool) {
	days, _, ok := parseDay(b)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(days*secondsPerDay, 0).UTC(), true
}

// parseDay parses the layout 2006-01-02 to the day it names, counted from
// 1970-01-01, and its year (0 to 9999).
func parseDay(b []byte) (days int64, year int, ok bool) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, 0, false
	}
	var v [8]int
	for k, i := range [8]int{0, 1, 2, 3, 5, 6, 8, 9} {
		c := b[i] - '0'
		if c > 9 {
			return 0, 0, false
		}
		v[k] = int(c)
	}
	y, m, d := v[0]*1000+v[1]*100+v[2]*10+v[3], v[4]*10+v[5], v[6]*10+v[7]
	if m < 1 || m > 12 || d < 1 || d > daysIn(time.Month(m), y) {
		return 0, 0, false
	}
	return daysFromCivil(y, m, d), y, true
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// daysFromCivil counts the days from 1970-01-01 to a date of the proleptic
// Gregorian calendar (Howard Hinnant's algorithm), for years 0 to 9999.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := (y+400)/400 - 1 // y >= -1
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// cell trims a field and maps Informatica's literal "null" to empty.
func cell(b []byte) []byte {
	if n := len(b); n > 4 && b[0]-'!' < 0x7F-'!' && b[n-1]-'!' < 0x7F-'!' {
		return b // nothing to trim, not null
	}
	return cellSlow(b)
}

func cellSlow(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) == 4 && b[0]|0x20 == 'n' && b[1]|0x20 == 'u' && b[2]|0x20 == 'l' && b[3]|0x20 == 'l' {
		return nil
	}
	return b
}

// recordReader splits CSV text into records. It reads what encoding/csv
// reads with LazyQuotes and any number of fields per record, field for field
// (csv_fuzz_test.go checks that), but returns the fields as slices of its
// own buffer instead of allocating strings: they are valid until the next
// call to next.
//
// The rules, all encoding/csv's: records end at \n; \r\n counts as \n, in
// quoted fields too; a \r before the end of the input is dropped; empty
// lines are skipped but counted; a field that starts with a quote runs to
// the next quote that is followed by a comma, a line end or the end of the
// input, with "" standing for one quote and any other quote kept as it is;
// a quote inside an unquoted field is an ordinary character.
type recordReader struct {
	r        io.Reader
	buf      []byte // own, or the whole input (resetParts)
	own      []byte // the reader's buffer
	pos, end int    // unread input is buf[pos:end]
	eof      bool   // r has no more input
	err      error  // r failed
	line     int    // the line buf[pos] is on
	fields   []span
	dirty    []int32 // fields to undo "" and \r\n in
}

// field returns field k of the current record.
func (rr *recordReader) field(k int) []byte {
	f := rr.fields[k]
	return rr.buf[f.start:f.end:f.end]
}

func (rr *recordReader) reset(r io.Reader) {
	if rr.own == nil {
		rr.own = make([]byte, 64<<10)
	}
	rr.buf = rr.own
	rr.r, rr.pos, rr.end, rr.eof, rr.err, rr.line = r, 0, 0, false, nil, 1
}

// resetParts makes data then rest the input; without rest, data is the
// whole input and is read where it is, with no copy into the reader's
// buffer (the chunks of a combined export are already in memory).
func (rr *recordReader) resetParts(data []byte, rest io.Reader) {
	if rest != nil {
		rr.reset(io.MultiReader(bytes.NewReader(data), rest))
		return
	}
	rr.buf = data
	rr.r, rr.pos, rr.end, rr.eof, rr.err, rr.line = nil, 0, len(data), true, nil, 1
	// encoding/csv drops a \r that ends the input, as fill does.
	if rr.end > 0 && data[rr.end-1] == '\r' {
		rr.end--
	}
}

func (rr *recordReader) skipBOM() error {
	for rr.end-rr.pos < len(utf8BOM) && !rr.eof {
		if err := rr.fill(); err != nil {
			return err
		}
	}
	if bytes.HasPrefix(rr.buf[rr.pos:rr.end], utf8BOM) {
		rr.pos += len(utf8BOM)
	}
	return nil
}

// errRecordTooLong is what a record over maxRecordBytes is.
var errRecordTooLong = fmt.Errorf("row is longer than %d bytes (an unterminated quote?)", maxRecordBytes)

// wrap turns a reader failure into the error ReadUsageCSV returns: a record
// too long names its line; a failure of the underlying reader (a corrupt ZIP
// entry) goes through unchanged.
func (rr *recordReader) wrap(file string, line int, err error) error {
	if err == errRecordTooLong {
		return &CSVError{File: file, Line: line, Err: err}
	}
	return err
}

// fill moves the unread input to the start of the buffer and reads more
// after it, growing the buffer when the unread input fills it.
func (rr *recordReader) fill() error {
	if rr.err != nil {
		return rr.err
	}
	if rr.pos > 0 {
		rr.end = copy(rr.buf, rr.buf[rr.pos:rr.end])
		rr.pos = 0
	}
	if rr.end == len(rr.buf) {
		if len(rr.buf) >= maxRecordBytes {
			return errRecordTooLong
		}
		grown := make([]byte, 2*len(rr.buf))
		copy(grown, rr.buf[:rr.end])
		rr.buf, rr.own = grown, grown
	}
	// Read until the buffer is full, so that a reader that delivers a few
	// bytes at a time does not make parse start over for every few bytes.
	// A failure is reported once the records read before it are.
	for empty, start := 0, rr.end; rr.end < len(rr.buf); {
		n, err := rr.r.Read(rr.buf[rr.end:])
		rr.end += n
		switch {
		case err == io.EOF:
			rr.eof = true
			// encoding/csv drops a \r that ends the input.
			if rr.end > rr.pos && rr.buf[rr.end-1] == '\r' {
				rr.end--
			}
			return nil
		case err != nil:
			rr.err = err
			if rr.end > start {
				return nil
			}
			return err
		case n == 0:
			if empty++; empty == 100 {
				rr.err = io.ErrNoProgress
				return rr.err
			}
		}
	}
	return nil
}

// next reads the next record into fields and returns the line it starts
// on, or io.EOF after the last record.
func (rr *recordReader) next() (int, error) {
	for {
		line, done, err := rr.parse()
		if done || err != nil {
			return line, err
		}
		if rr.eof {
			panic("csv: record reader wants input after the end")
		}
		if err := rr.fill(); err != nil {
			return line, err
		}
	}
}

// parse splits the record at buf[pos:] into fields. When the buffered input
// ends before the record does, it reports done false, having changed
// nothing, and is called again once more input is buffered.
func (rr *recordReader) parse() (line int, done bool, err error) {
	buf, end, eof := rr.buf[:rr.end], rr.end, rr.eof
	i, line := rr.pos, rr.line
	// Skip empty lines.
	for {
		switch {
		case i < end && buf[i] == '\n':
			i++
			line++
			continue
		case i+1 < end && buf[i] == '\r' && buf[i+1] == '\n':
			i += 2
			line++
			continue
		case i+1 == end && buf[i] == '\r' && !eof:
			return line, false, nil
		}
		break
	}
	if i == end {
		if !eof {
			return line, false, nil
		}
		rr.pos, rr.line = i, line
		return line, true, io.EOF
	}
	if i-rr.pos > 0 {
		// Keep the skipped lines out of the next attempt's work.
		rr.pos, rr.line = i, line
	}
	fields, dirty := rr.fields[:0], rr.dirty[:0]
	newlines := 0
	nl := -1 // the next \n at or after i, or end at the end of the input
	for {
		if i < end && buf[i] == '"' {
			// A quoted field: find its closing quote.
			start := i + 1
			j := start
			d := false
			for {
				k := bytes.IndexByte(buf[j:end], '"')
				if k < 0 {
					if !eof {
						return line, false, nil
					}
					// The input ends inside the quotes: the field is the rest.
					newlines += bytes.Count(buf[start:end], newline)
					fields, dirty = append(fields, span{int32(start), int32(end)}), append(dirty, int32(len(fields)))
					i = end
					goto record
				}
				q := j + k
				if q+1 == end && !eof {
					return line, false, nil
				}
				c := byte('\n') // the end of the input ends the record
				if q+1 < end {
					c = buf[q+1]
				}
				switch c {
				case '"':
					d = true
					j = q + 2
					continue
				case ',':
					i = q + 2
					nl = -1
				case '\n':
					newlines++
					i = min(q+2, end)
				case '\r':
					if q+2 == end && !eof {
						return line, false, nil
					}
					if q+2 < end && buf[q+2] == '\n' {
						newlines++
						i = q + 3
						break
					}
					d = true
					j = q + 1
					continue
				default:
					// A bare quote inside the quotes is kept as it is.
					j = q + 1
					continue
				}
				if n := bytes.Count(buf[start:q], newline); n > 0 {
					newlines += n
					d = true // a \r\n among them is undone
				}
				if d {
					dirty = append(dirty, int32(len(fields)))
				}
				fields = append(fields, span{int32(start), int32(q)})
				if c == ',' {
					break
				}
				goto record
			}
			continue
		}
		// Unquoted fields: up to the next comma on this line, or the end of
		// the line.
		if nl < i {
			if k := bytes.IndexByte(buf[i:end], '\n'); k >= 0 {
				nl = i + k
			} else if eof {
				nl = end
			} else {
				return line, false, nil
			}
		}
		var quoted int
		fields, i, quoted = splitLine(rr.buf, i, nl, fields)
		if quoted >= 0 {
			i = quoted
			continue
		}
		f := span{int32(i), int32(nl)}
		if nl < end {
			if nl > i && buf[nl-1] == '\r' {
				f.end--
			}
			newlines++
			i = nl + 1
		} else {
			i = end
		}
		fields = append(fields, f)
		goto record
	}
record:
	for _, k := range dirty {
		f := &fields[k]
		f.end = f.start + int32(len(unquote(buf[f.start:f.end])))
	}
	rr.fields, rr.dirty = fields, dirty
	rr.pos, rr.line = i, line+newlines
	return line, true, nil
}

// splitLine appends the fields of buf[i:nl], a line or its end, to fields,
// up to the last one or to one that starts with a quote. It returns the
// start of that field, and where it starts again when that one is quoted,
// or -1. It looks for commas eight bytes at a time, and may read past nl
// within buf.
func splitLine(buf []byte, i, nl int, fields []span) ([]span, int, int) {
	const low7, commas = 0x7F7F7F7F7F7F7F7F, 0x2C2C2C2C2C2C2C2C
	if i < nl && buf[i] == '"' {
		return fields, i, i
	}
	start := i
	for j := i; j < nl; j += 8 {
		var t uint64 // the high bit of byte k is set when buf[j+k] is a comma
		if j+8 <= len(buf) {
			x := binary.LittleEndian.Uint64(buf[j:]) ^ commas
			t = ^((x&low7 + low7) | x | low7)
			if n := nl - j; n < 8 {
				t &= 1<<(8*n) - 1
			}
		} else {
			for k := 0; k < 8 && j+k < nl; k++ {
				if buf[j+k] == ',' {
					t |= 0x80 << (8 * k)
				}
			}
		}
		for ; t != 0; t &= t - 1 {
			c := j + bits.TrailingZeros64(t)>>3
			fields = append(fields, span{int32(start), int32(c)})
			start = c + 1
			if start < nl && buf[start] == '"' {
				return fields, start, start
			}
		}
	}
	return fields, start, -1
}

var newline = []byte{'\n'}

// span is a field of the current record: buf[start:end].
type span struct{ start, end int32 }

// unquote undoes "" and \r\n in a quoted field's text, in place.
func unquote(b []byte) []byte {
	w := 0
	for r := 0; r < len(b); r++ {
		c := b[r]
		if r+1 < len(b) && (c == '"' && b[r+1] == '"' || c == '\r' && b[r+1] == '\n') {
			c = b[r+1]
			r++
		}
		b[w] = c
		w++
	}
	return b[:w]
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

// column is a column of an export whose columns are found by name, with the
// header names it may have; errors name it by the first. Names are compared
// as headerKey folds them.
type column struct {
	names    []string
	required bool
}

// table reads a CSV file whose columns are found by header name, in any
// order: the PROJECT_FOLDER, ASSET and job-level exports. (The summary
// reader has a faster path of its own.) Cells are trimmed, "null" is empty,
// and text is valid UTF-8.
type table struct {
	rr     *recordReader
	file   string
	names  []string // the header as read, valid UTF-8
	byName map[string]int
	width  int
	line   int // the line of the current record
}

// errNoHeader is what a file without even a header row is.
var errNoHeader = errors.New("file is empty: no header row")

// openTable skips a BOM and reads the header row of r.
func openTable(rr *recordReader, file string, r io.Reader) (*table, error) {
	rr.reset(r)
	if err := rr.skipBOM(); err != nil {
		return nil, err
	}
	line, err := rr.next()
	if err == io.EOF {
		return nil, &CSVError{File: file, Line: 1, Err: errNoHeader}
	}
	if err != nil {
		return nil, rr.wrap(file, line, err)
	}
	t := &table{rr: rr, file: file, byName: map[string]int{}, width: len(rr.fields), line: line}
	t.names = make([]string, len(rr.fields))
	for i := range rr.fields {
		t.names[i] = ValidUTF8(string(rr.field(i)))
		if k := headerKey(t.names[i]); k != "" {
			if _, dup := t.byName[k]; !dup {
				t.byName[k] = i
			}
		}
	}
	return t, nil
}

// find returns the index of the first of names the header has, or -1.
func (t *table) find(names ...string) int {
	for _, n := range names {
		if i, ok := t.byName[headerKey(n)]; ok {
			return i
		}
	}
	return -1
}

// index returns the index of c, -1 when an optional c is missing, and a
// CSVError when a required one is.
func (t *table) index(c column) (int, error) {
	i := t.find(c.names...)
	if i < 0 && c.required {
		return -1, &CSVError{File: t.file, Line: 1, Column: c.names[0], Err: errMissingColumn}
	}
	return i, nil
}

// indexes returns the index of each column, as index does.
func (t *table) indexes(cols ...column) ([]int, error) {
	out := make([]int, len(cols))
	for k, c := range cols {
		var err error
		if out[k], err = t.index(c); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// header is the header row for a log line: valid UTF-8 and shortened.
func (t *table) header() string {
	return Shorten(strings.Join(t.names, ","), 300)
}

// next reads the next record; false at the end of the file or on an error.
// A record shorter than the header is an error; a longer one is read, as
// its extra fields are not the columns looked up.
func (t *table) next() (bool, error) {
	line, err := t.rr.next()
	t.line = line
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, t.rr.wrap(t.file, line, err)
	}
	if len(t.rr.fields) < t.width {
		return false, &CSVError{File: t.file, Line: line, Err: fmt.Errorf("row has %d fields, the header has %d", len(t.rr.fields), t.width)}
	}
	return true, nil
}

// text returns cell i of the current record as valid UTF-8; "" for i < 0.
func (t *table) text(i int) string {
	if i < 0 {
		return ""
	}
	return ValidUTF8(string(cell(t.rr.field(i))))
}

// bad is a CSVError for cell i of the current record.
func (t *table) bad(i int, name string, err error) error {
	return &CSVError{File: t.file, Line: t.line, Column: name, Value: ValidUTF8(string(t.rr.field(i))), Err: err}
}

// number parses cell i of column name; 0 when empty or i < 0.
func (t *table) number(i int, name string) (float64, error) {
	v := t.text(i)
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, t.bad(i, name, errNotNumber)
	}
	return f, nil
}

// time parses cell i of column name with parse, which is ParseTime when
// nil; false when the cell is empty.
func (t *table) time(i int, name string, parse func(string) (time.Time, error)) (time.Time, bool, error) {
	v := t.text(i)
	if v == "" {
		return time.Time{}, false, nil
	}
	if parse == nil {
		parse = ParseTime
	}
	d, err := parse(v)
	if err != nil {
		return time.Time{}, false, t.bad(i, name, errNotDate)
	}
	if !plausibleDate(d) {
		return time.Time{}, false, t.bad(i, name, errDateRange)
	}
	return d, true, nil
}

// day is the required day column i of the current record, at 00:00 UTC of
// the calendar day written.
func (t *table) day(i int, name string) (time.Time, error) {
	d, ok, err := t.time(i, name, nil)
	if err != nil {
		return time.Time{}, err
	}
	if !ok {
		return time.Time{}, t.bad(i, name, errEmptyValue)
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC), nil
}

// callback wraps an error of the caller's row function with where the row is.
func (t *table) callback(err error) error {
	return fmt.Errorf("file %q, line %d: %w", t.file, t.line, err)
}
