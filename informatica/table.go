// Reading an export CSV by header name: the header, the columns a reader
// needs, cells as text, numbers and dates, and errors that say where.

package informatica

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

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
	errNotDate       = errors.New("not a date in a known format (2006-01-02, RFC 3339, 2006-01-02 15:04:05, 1/2/2006 or 2/1/2006; see README, Data rules)")
	errDateRange     = errors.New("not a date between 1970 and 9999")
)

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

// column is a column of an export whose columns are found by name, with the
// header names it may have; errors name it by the first. Names are compared
// as headerKey folds them.
type column struct {
	names    []string
	required bool
}

// table reads a CSV file whose columns are found by header name, in any
// order: every export, the SUMMARY one (summary.go) with a faster path for
// its cells. Cells are trimmed, "null" is empty, and text is valid UTF-8.
type table struct {
	rr     *recordReader
	file   string
	kind   string   // the export, for warnings: "SUMMARY", "ASSET"...
	names  []string // the header as read, valid UTF-8
	byName map[string]int
	width  int
	line   int // the line of the current record
	warn   *warnings

	// The order of day and month in dates with slashes, and where the
	// file settled it; the date columns, which settle it.
	order          dayOrder
	orderLine      int
	orderValue     string
	dates          []int
	cur            *heldRecord  // the record being replayed, if any
	held           []heldRecord // records waiting for the order
	heldBytes      int
	firstAmbiguous *CSVError // the first ambiguous date held
}

// heldRecord is a record kept until the file settles the order of day and
// month in its dates.
type heldRecord struct {
	line   int
	fields [][]byte
}

// maxHeldBytes bounds the records held while the order of day and month is
// not settled. Daily rows settle it by the 13th of a month: at most twelve
// days of rows wait, some 24,000 SUMMARY rows (3.5 MB) for 50 orgs with 40
// meters each; 64 MiB is some 450,000 rows.
const maxHeldBytes = 64 << 20

// openTable skips a BOM and reads the header row of r; see readHeader.
func openTable(rr *recordReader, file, kind string, r io.Reader, warn *warnings) (*table, error) {
	rr.reset(r)
	return readHeader(rr, file, kind, warn)
}

// readHeader skips a BOM and reads the header row of the input rr was just
// reset to. A file without one (no bytes, or only blank lines) is read as
// a file without rows: nil and no error, as is a header without rows. Both
// mean the export has nothing for that file, as an export without files
// does (openZIP); whether that is news is the caller's to judge, and to
// an incremental refresh it is "nothing new".
func readHeader(rr *recordReader, file, kind string, warn *warnings) (*table, error) {
	if err := rr.skipBOM(); err != nil {
		return nil, err
	}
	line, err := rr.next()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, rr.wrap(file, line, err)
	}
	t := &table{rr: rr, file: file, kind: kind, byName: map[string]int{}, width: len(rr.fields), line: line, warn: warn}
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

// indexes returns the index of each column, as index does. Optional
// columns the header lacks are logged, once per export and list of
// columns: the values they hold stay empty.
func (t *table) indexes(cols ...column) ([]int, error) {
	out := make([]int, len(cols))
	var missing []string
	for k, c := range cols {
		var err error
		if out[k], err = t.index(c); err != nil {
			return nil, err
		}
		if out[k] < 0 {
			missing = append(missing, c.names[0])
		}
	}
	if len(missing) > 0 {
		list := strings.Join(missing, ", ")
		t.warn.once(t.kind+" "+list, "An export file lacks optional columns; the values they hold stay empty",
			"export", t.kind, "file", t.file, "columns", list)
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
//
// A record with a date that could be day or month first (03/04/2024) waits,
// with the records after it, until a date of the file settles the order
// (a first or second number over 12); then they are read in file order. A
// file that ends with the order not settled is an error naming the first
// such date, and so is a date that contradicts the settled order.
func (t *table) next() (bool, error) {
	for {
		if len(t.held) > 0 && t.order != orderUnknown {
			t.cur, t.line = &t.held[0], t.held[0].line
			if t.held = t.held[1:]; len(t.held) == 0 {
				t.held, t.heldBytes = nil, 0
			}
			return true, nil
		}
		t.cur = nil
		line, err := t.rr.next()
		t.line = line
		if errors.Is(err, io.EOF) {
			if len(t.held) > 0 {
				return false, t.firstAmbiguous
			}
			return false, nil
		}
		if err != nil {
			return false, t.rr.wrap(t.file, line, err)
		}
		if len(t.rr.fields) < t.width {
			return false, &CSVError{File: t.file, Line: line, Err: fmt.Errorf("row has %d fields, the header has %d", len(t.rr.fields), t.width)}
		}
		if err := t.checkFieldLengths(); err != nil {
			return false, err
		}
		wait := false
		if t.maySettleOrder() {
			if wait, err = t.settleOrder(); err != nil {
				return false, err
			}
		}
		if !wait && len(t.held) == 0 {
			return true, nil
		}
		if err := t.hold(); err != nil {
			return false, err
		}
	}
}

// maxFieldBytes bounds one value. The longest values of an export are
// names (of orgs, meters, assets, projects, folders, tasks), which
// Informatica keeps to a few hundred characters; IDs are 22 [D 8]. A value
// this long is not a name but hostile or broken input, and as a label it
// would be kept in memory and in every scrape for each series.
const maxFieldBytes = 4 << 10

var errFieldTooLong = fmt.Errorf("value is longer than %d bytes, the limit on one value", maxFieldBytes)

// checkFieldLengths refuses a record with a value over maxFieldBytes.
func (t *table) checkFieldLengths() error {
	f := t.rr.fields
	if len(f) == 0 || f[len(f)-1].end-f[0].start <= maxFieldBytes {
		return nil // the whole record is shorter
	}
	for k := range f {
		if f[k].end-f[k].start > maxFieldBytes {
			name := ""
			if k < len(t.names) {
				name = t.names[k]
			}
			return &CSVError{File: t.file, Line: t.line, Column: name, Value: ValidUTF8(string(t.rr.field(k))), Err: errFieldTooLong}
		}
	}
	return nil
}

// dateColumns names the columns whose dates settle the order of day and
// month; -1 stands for a column the file lacks.
func (t *table) dateColumns(cols ...int) {
	for _, i := range cols {
		if i >= 0 {
			t.dates = append(t.dates, i)
		}
	}
}

// maySettleOrder is false when no date of the current record has a slash
// where a date with slashes has one (or a space before it): a look at a few
// bytes, which is all most files' rows cost.
func (t *table) maySettleOrder() bool {
	buf := t.rr.buf
	for _, i := range t.dates {
		f := t.rr.fields[i]
		if f.end-f.start < 5 {
			continue // shorter than 1/2/2006; empty
		}
		if b := buf[f.start : f.start+3]; b[1] == '/' || b[2] == '/' || b[0] <= ' ' {
			return true
		}
	}
	return false
}

// settleOrder reads the current record's dates for the order of day and
// month, and reports whether it must wait for the order to be settled.
func (t *table) settleOrder() (bool, error) {
	wait := false
	for _, i := range t.dates {
		v := cell(t.rr.field(i))
		if len(v) < 5 || v[1] != '/' && v[2] != '/' {
			continue
		}
		o, ambiguous := slashOrder(v)
		switch {
		case o != orderUnknown && t.order == orderUnknown:
			t.order, t.orderLine, t.orderValue = o, t.line, string(v)
		case o != orderUnknown && o != t.order:
			return false, t.bad(i, t.names[i], fmt.Errorf("day and month are the other way round than in %q on line %d (%s)",
				Shorten(ValidUTF8(t.orderValue), 40), t.orderLine, t.order))
		case ambiguous && t.order == orderUnknown:
			if !wait && t.firstAmbiguous == nil {
				t.firstAmbiguous = t.cellError(i, t.names[i], errAmbiguousDate)
			}
			wait = true
		}
	}
	return wait, nil
}

// hold keeps a copy of the current record for later.
func (t *table) hold() error {
	n := 0
	for k := range t.rr.fields {
		n += len(t.rr.field(k))
	}
	if t.heldBytes += n; t.heldBytes > maxHeldBytes {
		return &CSVError{File: t.file, Line: t.line, Err: fmt.Errorf("more than %d MiB of rows wait for a date that settles the order of day and month (from %w)", maxHeldBytes>>20, t.firstAmbiguous)}
	}
	buf := make([]byte, 0, n)
	h := heldRecord{line: t.line, fields: make([][]byte, len(t.rr.fields))}
	for k := range t.rr.fields {
		start := len(buf)
		buf = append(buf, t.rr.field(k)...)
		h.fields[k] = buf[start:len(buf):len(buf)]
	}
	t.held = append(t.held, h)
	return nil
}

// field returns field k of the current record, untrimmed.
func (t *table) field(k int) []byte {
	if t.cur != nil {
		return t.cur.fields[k]
	}
	return t.rr.field(k)
}

// numFields is the number of fields of the current record.
func (t *table) numFields() int {
	if t.cur != nil {
		return len(t.cur.fields)
	}
	return len(t.rr.fields)
}

// text returns cell i of the current record as valid UTF-8; "" for i < 0.
func (t *table) text(i int) string {
	if i < 0 {
		return ""
	}
	return ValidUTF8(string(cell(t.field(i))))
}

// bad is a CSVError for cell i of the current record.
func (t *table) bad(i int, name string, err error) error {
	return t.cellError(i, name, err)
}

// cellError is bad as the *CSVError itself, for callers that keep it.
func (t *table) cellError(i int, name string, err error) *CSVError {
	return &CSVError{File: t.file, Line: t.line, Column: name, Value: ValidUTF8(string(t.field(i))), Err: err}
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

// time parses cell i of column name; false when the cell is empty.
func (t *table) time(i int, name string) (time.Time, bool, error) {
	v := t.text(i)
	if v == "" {
		return time.Time{}, false, nil
	}
	d, err := parseTime(v, t.order)
	if err != nil {
		return time.Time{}, false, t.bad(i, name, err)
	}
	if !plausibleDate(d) {
		return time.Time{}, false, t.bad(i, name, errDateRange)
	}
	return d, true, nil
}

// day is the required day column i of the current record, at 00:00 UTC of
// the calendar day written.
func (t *table) day(i int, name string) (time.Time, error) {
	d, ok, err := t.time(i, name)
	if err != nil {
		return time.Time{}, err
	}
	if !ok {
		return time.Time{}, t.bad(i, name, errEmptyValue)
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC), nil
}

// warnings passes each distinct warning of one export on once, from
// whichever goroutine reads the file that has it. A nil *warnings, or one
// without fn, drops them.
type warnings struct {
	fn   func(msg string, keyvals ...any)
	mu   sync.Mutex
	seen map[string]bool
}

func newWarnings(fn func(msg string, keyvals ...any)) *warnings {
	return &warnings{fn: fn, seen: map[string]bool{}}
}

// once passes a warning on unless one with the same key was.
func (w *warnings) once(key, msg string, keyvals ...any) {
	if w == nil || w.fn == nil {
		return
	}
	w.mu.Lock()
	seen := w.seen[key]
	w.seen[key] = true
	w.mu.Unlock()
	if !seen {
		w.fn(msg, keyvals...)
	}
}

// callback wraps an error of the caller's row function with where the row is.
func (t *table) callback(err error) error {
	return fmt.Errorf("file %q, line %d: %w", t.file, t.line, err)
}
