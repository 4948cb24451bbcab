// The SUMMARY export: rows of IPU usage per org, meter and day.

package informatica

import (
	"bytes"
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

// usageColumns are the SUMMARY CSV headers this reader uses, as documented
// [D 6]. A file needs the columns a row's values depend on: the org, the
// day, the billing period, the IPUs, and the meter by ID or by name (a file
// without MeterId names its meters by MeterName, which then also stands in
// for the ID). The others fill labels and the rate; a file without them is
// read, with a warning, and their values are empty.
var usageColumns = [numColumns]column{
	colOrgID:          {names: []string{"OrgId"}, required: true},
	colOrgName:        {names: []string{"OrgName"}},
	colOrgType:        {names: []string{"OrgType"}},
	colMeterID:        {names: []string{"MeterId"}},
	colMeterName:      {names: []string{"MeterName"}},
	colDate:           {names: []string{"Date"}, required: true},
	colPeriodStart:    {names: []string{"BillingPeriodStartDate"}, required: true},
	colPeriodEnd:      {names: []string{"BillingPeriodEndDate"}, required: true},
	colMeterUsage:     {names: []string{"MeterUsage"}},
	colIPU:            {names: []string{"IPU"}, required: true},
	colIPURate:        {names: []string{"IPURate"}},
	colScalar:         {names: []string{"Scalar"}},
	colMetricCategory: {names: []string{"MetricCategory"}},
}

// csvState is what the rows of one export share, across all its files: the
// read buffer and the strings seen so far.
type csvState struct {
	rr      recordReader
	warn    *warnings
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

func newCSVState(warn *warnings) *csvState {
	return &csvState{warn: warn, orgs: map[string]*orgStrings{}, meters: map[string]*meterStrings{}}
}

// read reads a SUMMARY export CSV and calls fn for each data row.
// Columns are found by header name in any order, so extra columns and a new
// column order do not break it; header names match ignoring case, spaces and
// underscores. A leading UTF-8 BOM, quoted fields and empty or "null" cells
// are accepted. Rows are streamed: memory use does not grow with the file.
// fn gets the same *UsageRow each time and must copy what it keeps; the
// strings in it stay valid (they are never overwritten), and repeat from row
// to row without new allocations.
func (s *csvState) read(file string, r io.Reader, fn func(*UsageRow) error) (int, error) {
	s.rr.reset(r)
	return s.readFile(file, fn)
}

// readFile reads the header and the records of the input s.rr was just
// reset to.
func (s *csvState) readFile(file string, fn func(*UsageRow) error) (int, error) {
	t, err := readHeader(&s.rr, file, "SUMMARY", s.warn)
	if t == nil || err != nil {
		return 0, err
	}
	p, err := newUsageParser(t, s)
	if err != nil {
		return 0, err
	}
	return s.rows(t, p, fn)
}

// readAfter reads the records of a part of a file that begins at a record
// boundary on line line, with the file's header record: data, then rest
// when it is not nil. Without rest, the records are split in data itself,
// which they may change.
func (s *csvState) readAfter(file string, header []byte, line int, data []byte, rest io.Reader, fn func(*UsageRow) error) (int, error) {
	s.rr.reset(bytes.NewReader(header))
	t, err := readHeader(&s.rr, file, "SUMMARY", s.warn)
	if t == nil || err != nil {
		return 0, err
	}
	p, err := newUsageParser(t, s)
	if err != nil {
		return 0, err
	}
	s.rr.resetParts(data, rest)
	s.rr.line = line
	return s.rows(t, p, fn)
}

// rows reads the records after the header.
func (s *csvState) rows(t *table, p *usageParser, fn func(*UsageRow) error) (int, error) {
	var row UsageRow
	rows := 0
	for {
		ok, err := t.next()
		if !ok {
			return rows, err
		}
		if err := p.parse(t, &row); err != nil {
			return rows, err
		}
		if err := fn(&row); err != nil {
			return rows, t.callback(err)
		}
		rows++
	}
}

// usageParser turns records into rows once the header has fixed where each
// column is.
type usageParser struct {
	file    string
	index   [numColumns]int // -1 for a column the file lacks
	meterID int             // the column that identifies meters
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

func newUsageParser(t *table, s *csvState) (*usageParser, error) {
	p := &usageParser{file: t.file, width: t.width, strings: s}
	idx, err := t.indexes(usageColumns[:]...)
	if err != nil {
		return nil, err
	}
	copy(p.index[:], idx)
	t.dateColumns(p.index[colDate], p.index[colPeriodStart], p.index[colPeriodEnd])
	switch p.meterID = p.index[colMeterID]; {
	case p.meterID >= 0:
	case p.index[colMeterName] >= 0:
		p.meterID = p.index[colMeterName]
	default:
		return nil, &CSVError{File: t.file, Line: 1, Column: "MeterId", Err: fmt.Errorf("%w (or MeterName)", errMissingColumn)}
	}
	return p, nil
}

func (p *usageParser) parse(t *table, row *UsageRow) error {
	if n := t.numFields(); n > p.width {
		for k := p.width; k < n; k++ {
			if len(bytes.TrimSpace(t.field(k))) != 0 {
				return &CSVError{File: p.file, Line: t.line, Err: fmt.Errorf("row has %d fields, the header has %d (an unquoted comma?)", n, p.width)}
			}
		}
	}
	text := func(c int) []byte {
		if i := p.index[c]; i >= 0 {
			return cell(t.field(i))
		}
		return nil
	}
	orgID, meterID := text(colOrgID), cell(t.field(p.meterID))
	if len(orgID) == 0 {
		return p.errorAt(t, colOrgID, errEmptyValue)
	}
	if len(meterID) == 0 {
		if p.meterID != p.index[colMeterID] {
			return p.errorAt(t, colMeterName, errEmptyValue)
		}
		return p.errorAt(t, colMeterID, errEmptyValue)
	}
	o := p.strings.org(orgID, text(colOrgName), text(colOrgType))
	row.OrgID, row.OrgName, row.OrgType = o.id.text, o.name.text, o.typ.text
	m := p.strings.meter(meterID, text(colMeterName), text(colScalar), text(colMetricCategory))
	row.MeterID, row.MeterName, row.Scalar, row.MetricCategory = m.id.text, m.name.text, m.scalar.text, m.category.text

	var err error
	var ok bool
	if row.Date, ok, err = p.time(t, colDate); err != nil {
		return err
	}
	if !ok {
		return p.errorAt(t, colDate, errEmptyValue)
	}
	if row.BillingPeriodStart, _, err = p.time(t, colPeriodStart); err != nil {
		return err
	}
	if row.BillingPeriodEnd, _, err = p.time(t, colPeriodEnd); err != nil {
		return err
	}
	if row.MeterUsage, _, err = p.number(t, colMeterUsage); err != nil {
		return err
	}
	if row.IPU, _, err = p.number(t, colIPU); err != nil {
		return err
	}
	if row.IPURate, row.HasIPURate, err = p.number(t, colIPURate); err != nil {
		return err
	}
	return nil
}

func (p *usageParser) errorAt(t *table, c int, err error) error {
	return t.bad(p.index[c], usageColumns[c].names[0], err)
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

func (p *usageParser) number(t *table, c int) (float64, bool, error) {
	i := p.index[c]
	if i < 0 {
		return 0, false, nil
	}
	v := cell(t.field(i))
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
			return 0, false, p.errorAt(t, c, errNotNumber)
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
func (p *usageParser) time(tb *table, c int) (time.Time, bool, error) {
	v := cell(tb.field(p.index[c]))
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
			return time.Time{}, false, p.errorAt(tb, c, errDateRange)
		}
		t = time.Unix(days*secondsPerDay, 0).UTC()
	} else {
		var err error
		if t, err = parseTime(string(v), tb.order); err != nil {
			return time.Time{}, false, p.errorAt(tb, c, err)
		}
		if !plausibleDate(t) {
			return time.Time{}, false, p.errorAt(tb, c, errDateRange)
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
