package collector

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log/level"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/usage"
)

// stateVersion changes whenever the stored format does; a file of another
// version is ignored, never misread.
const stateVersion = 1

// stateHeader is the first JSON value of a state file. The rows follow, one
// JSON array each, so that writing and reading never hold the whole file.
type stateHeader struct {
	Version    int       `json:"version"`
	Account    string    `json:"account"`
	LoginURL   string    `json:"login_url"`
	Username   string    `json:"username"`
	LoginOrgID string    `json:"login_org_id,omitempty"`
	Taken      time.Time `json:"taken"`
	ExportRows int       `json:"export_rows"`
	Partial    bool      `json:"partial"`
	// LastFull is when the last full run started; HistoryFrom the oldest day
	// loaded without a gap up to Taken.
	LastFull    time.Time `json:"last_full"`
	HistoryFrom time.Time `json:"history_from"`
	Days        int       `json:"days"`
}

// restore serves the data stored by an earlier run of the exporter, if it
// was stored for this account's login: the summary, then the breakdowns
// that go with it. Anything wrong with the file is a
// warning and an empty start: the next refresh writes a good one.
func (a *account) restore() {
	removeTempStates(statePath(a.storageDir, a.settings.Name))
	h, t, err := loadState(a.storageDir, a.settings.Name)
	switch {
	case errors.Is(err, errNoState):
		return
	case err != nil:
		level.Warn(a.logger).Log("msg", "Ignoring stored state, starting empty", "err", err)
		return
	case h.LoginURL != a.settings.Client.LoginURL || h.Username != a.settings.Client.Username:
		level.Info(a.logger).Log("msg", "Ignoring stored state of another login", "stored_login_url", h.LoginURL, "stored_username", h.Username)
		return
	}
	// State stored while the clock ran ahead is taken now: served for
	// max_age from now, never for max_age after an instant still to come.
	// Its real age is unknown, so it is refreshed at once.
	taken, future := h.Taken, false
	if now := a.now(); taken.After(now) {
		level.Warn(a.logger).Log("msg", "Stored state is dated in the future; the clock was ahead when it was written, so it counts as taken now and is refreshed at once", "taken", taken.UTC().Format(time.RFC3339))
		taken, future = now, true
	}
	a.snap.Store(newSnapshot(a.settings.Name, t, taken))
	s := a.state
	s.mu.Lock()
	s.attempted, s.up = true, true
	s.lastSuccess = taken
	if !future {
		s.lastAttempt = taken
	}
	s.rows, s.partial = h.ExportRows, h.Partial
	s.lastFull, s.historyFrom = h.LastFull, h.HistoryFrom
	if s.lastFull.After(taken) {
		s.lastFull = time.Time{} // a full run is due
	}
	if s.loginOrgID == "" {
		s.loginOrgID = h.LoginOrgID
	}
	s.mu.Unlock()
	level.Info(a.logger).Log("msg", "Serving stored state", "taken", taken.UTC().Format(time.RFC3339), "orgs", len(t.Orgs), "entries", len(t.Days))
	a.restoreBreakdowns()
	a.restoreContract()
}

// persist stores a snapshot with the state that decides the next runs;
// a failure costs only the restart cache.
func (a *account) persist(snap *snapshot) {
	if a.storageDir == "" {
		return
	}
	s := a.state
	s.mu.Lock()
	h := stateHeader{
		Account: a.settings.Name, LoginURL: a.settings.Client.LoginURL, Username: a.settings.Client.Username,
		LoginOrgID: s.loginOrgID, Taken: snap.taken, ExportRows: s.rows, Partial: s.partial,
		LastFull: s.lastFull, HistoryFrom: s.historyFrom,
	}
	s.mu.Unlock()
	if err := saveState(a.storageDir, h, snap.table); err != nil {
		level.Warn(a.logger).Log("msg", "Cannot store state; a restart will start empty", "err", err)
	}
}

// stateRow is one entry of the table: org ID, org name, org type, meter ID,
// meter name, scalar, category, day (YYYY-MM-DD), period start and end (Unix
// seconds, 0 for none), IPU, usage, rate (null for none).
type stateRow [13]any

// statePath is where an account's state lives under dir. The name is escaped,
// so that any account name is a safe file name.
func statePath(dir, account string) string {
	return filepath.Join(dir, url.PathEscape(account)+".state.json.gz")
}

// saveState writes an account's snapshot atomically (writeState).
func saveState(dir string, h stateHeader, t *usage.Table) error {
	h.Version, h.Days = stateVersion, len(t.Days)
	return writeState(dir, statePath(dir, h.Account), func(enc *json.Encoder) error {
		if err := enc.Encode(h); err != nil {
			return err
		}
		var encErr error
		t.Each(func(r *informatica.UsageRow) {
			if encErr != nil {
				return
			}
			var rate any
			if r.HasIPURate {
				rate = r.IPURate
			}
			var start, end int64
			if !r.BillingPeriodStart.IsZero() {
				start, end = r.BillingPeriodStart.Unix(), r.BillingPeriodEnd.Unix()
			}
			encErr = enc.Encode(stateRow{
				r.OrgID, r.OrgName, r.OrgType, r.MeterID, r.MeterName, r.Scalar, r.MetricCategory,
				r.Date.Format(time.DateOnly), start, end, r.IPU, r.MeterUsage, rate,
			})
		})
		return encErr
	})
}

// writeState writes the JSON values write encodes to the gzipped file
// final, atomically: to a temporary file, synced, then renamed over the
// old one, so that a crash at any point leaves either the old file or the
// new, never a torn one.
func writeState(dir, final string, write func(*json.Encoder) error) (err error) {
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(final)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 64<<10)
	zw := gzip.NewWriter(bw)
	if err := write(json.NewEncoder(zw)); err != nil {
		return fmt.Errorf("write state %s: %w", tmp.Name(), err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write state %s: %w", tmp.Name(), err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write state %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync state %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("replace state %s: %w", final, err)
	}
	// The rename itself is durable only once the folder is synced.
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("sync state folder %s: %w", dir, err)
		}
	}
	return nil
}

// removeTempStates deletes what writes of the file path cut off by a crash
// left behind.
func removeTempStates(path string) {
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp"))
	for _, f := range leftovers {
		os.Remove(f)
	}
}

// errNoState means no state was stored for the account.
var errNoState = errors.New("no stored state")

// loadState reads an account's stored state. Any damage is an error naming
// the file; the caller starts empty rather than serve half a table.
func loadState(dir, account string) (stateHeader, *usage.Table, error) {
	path := statePath(dir, account)
	lines, closeFile, err := openStateLines(path)
	if err != nil {
		return stateHeader{}, nil, err
	}
	defer closeFile()
	var h stateHeader
	if err := lines.decode(&h); err != nil {
		return h, nil, fmt.Errorf("read state %s: header: %w", path, err)
	}
	if h.Version != stateVersion {
		return h, nil, fmt.Errorf("read state %s: version %d, this exporter reads version %d", path, h.Version, stateVersion)
	}
	b := usage.NewBuilder()
	var rd stateRowReader
	for i := 0; ; i++ {
		if i%yieldRows == yieldRows-1 {
			// A restore may read millions of rows while the exporter
			// serves scrapes: a scrape waiting for this goroutine's
			// processor runs now rather than at its preemption.
			runtime.Gosched()
		}
		line, err := lines.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			var r informatica.UsageRow
			if r, err = rd.read(line); err == nil {
				err = b.Add(&r)
			}
		}
		if err != nil {
			return h, nil, fmt.Errorf("read state %s: row %d: %w", path, i+1, err)
		}
	}
	if b.Rows() != h.Days {
		return h, nil, fmt.Errorf("read state %s: %d rows, the header promises %d (a truncated file?)", path, b.Rows(), h.Days)
	}
	return h, b.Table(), nil
}

// yieldRows is how many rows a restore reads (about a millisecond) before
// it lets other goroutines run.
const yieldRows = 1024

// maxStateLine bounds a line of a state file: the longest are breakdown
// series of a few dozen days and headers of some thousand orgs' periods,
// well under a MiB.
const maxStateLine = 16 << 20

// stateLines reads a state file's JSON values, one a line as
// json.Encoder writes them.
type stateLines struct {
	r    *bufio.Reader
	long []byte // a line longer than r's buffer
}

// openStateLines opens a gzipped state file: errNoState when it does not
// exist.
func openStateLines(path string) (*stateLines, func(), error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, errNoState
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read state: %w", err)
	}
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read state %s: %w", path, err)
	}
	// Closing what was only read has no error worth reporting.
	return &stateLines{r: bufio.NewReaderSize(zr, 64<<10)}, func() { f.Close() }, nil
}

// next returns the next line that is not blank, valid until the next call;
// io.EOF at the end.
func (l *stateLines) next() ([]byte, error) {
	for {
		line, err := l.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			l.long = append(l.long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = l.r.ReadSlice('\n')
				l.long = append(l.long, line...)
				if len(l.long) > maxStateLine {
					return nil, fmt.Errorf("a line longer than %d bytes (a damaged file?)", maxStateLine)
				}
			}
			line = l.long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) > 0 {
			return line, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// decode reads the next line into v; io.EOF at the end.
func (l *stateLines) decode(v any) error {
	line, err := l.next()
	if err != nil {
		return err
	}
	return json.Unmarshal(line, v)
}

// stateRowReader reads stateRows. encoding/json spends 40 allocations and
// 10 microseconds a row, which a restore of millions of rows, running
// beside the scrapes, cannot afford: rows as saveState writes them are read
// here without it, with a row's few distinct strings kept once; anything
// else (escapes, spaces, invalid UTF-8, a malformed row) goes through
// encoding/json, so that what a row means and the errors it gets are
// encoding/json's.
type stateRowReader struct {
	strs map[string]string
	// last are the previous row's strings: a series' rows come one after
	// the other and repeat all but the day.
	last [7]string
	days map[string]time.Time
}

func (rd *stateRowReader) read(line []byte) (informatica.UsageRow, error) {
	if r, ok := rd.fast(line); ok {
		return r, nil
	}
	var raw [13]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return informatica.UsageRow{}, err
	}
	return parseStateRow(raw)
}

// fast reads a row written by saveState; ok is false for anything else.
func (rd *stateRowReader) fast(line []byte) (r informatica.UsageRow, ok bool) {
	p := stateScan{b: bytes.TrimRight(line, "\n")}
	if !p.byte('[') {
		return r, false
	}
	for i, dst := range []*string{&r.OrgID, &r.OrgName, &r.OrgType, &r.MeterID, &r.MeterName, &r.Scalar, &r.MetricCategory} {
		s, ok := p.str()
		if !ok || !p.byte(',') {
			return r, false
		}
		if string(s) != rd.last[i] {
			rd.last[i] = rd.intern(s)
		}
		*dst = rd.last[i]
	}
	day, ok := p.str()
	if !ok || !p.byte(',') {
		return r, false
	}
	d, ok := rd.days[string(day)]
	if !ok {
		var err error
		if d, err = time.Parse(time.DateOnly, string(day)); err != nil {
			return r, false
		}
		if rd.days == nil {
			rd.days = map[string]time.Time{}
		}
		rd.days[string(day)] = d
	}
	start, ok1 := p.int()
	end, ok2 := p.int()
	ipu, ok3 := p.float()
	use, ok4 := p.float()
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return r, false
	}
	if p.null() {
		if !p.byte(']') {
			return r, false
		}
	} else {
		rate, ok := p.number()
		if !ok || !p.byte(']') {
			return r, false
		}
		r.IPURate, r.HasIPURate = rate, true
	}
	if len(p.b) != 0 || r.OrgID == "" || r.MeterID == "" {
		return r, false
	}
	r.Date, r.IPU, r.MeterUsage = d, ipu, use
	if start != 0 || end != 0 {
		r.BillingPeriodStart, r.BillingPeriodEnd = time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC()
	}
	return r, true
}

// intern returns s as a string, the same string each time it comes.
func (rd *stateRowReader) intern(s []byte) string {
	if v, ok := rd.strs[string(s)]; ok {
		return v
	}
	if rd.strs == nil {
		rd.strs = map[string]string{}
	}
	v := string(s)
	rd.strs[v] = v
	return v
}

// stateScan reads the JSON tokens of a stateRow from the start of b: only
// the plain forms json.Encoder writes, for which what it reads is what
// encoding/json reads.
type stateScan struct{ b []byte }

func (p *stateScan) byte(c byte) bool {
	if len(p.b) == 0 || p.b[0] != c {
		return false
	}
	p.b = p.b[1:]
	return true
}

// str reads a string without escapes, in valid UTF-8.
func (p *stateScan) str() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	for i, c := range p.b {
		switch {
		case c == '"':
			s := p.b[:i]
			p.b = p.b[i+1:]
			return s, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

func (p *stateScan) null() bool {
	if !bytes.HasPrefix(p.b, []byte("null")) {
		return false
	}
	p.b = p.b[len("null"):]
	return true
}

// numberLen is the length of the JSON number b starts with, 0 for none;
// integer says it has no fraction or exponent.
func numberLen(b []byte) (n int, integer bool) {
	digits := func() int {
		k := 0
		for n+k < len(b) && b[n+k] >= '0' && b[n+k] <= '9' {
			k++
		}
		n += k
		return k
	}
	if n < len(b) && b[n] == '-' {
		n++
	}
	switch {
	case n < len(b) && b[n] == '0':
		n++
	case digits() == 0:
		return 0, false
	}
	integer = true
	if n < len(b) && b[n] == '.' {
		n++
		if digits() == 0 {
			return 0, false
		}
		integer = false
	}
	if n < len(b) && (b[n] == 'e' || b[n] == 'E') {
		n++
		if n < len(b) && (b[n] == '+' || b[n] == '-') {
			n++
		}
		if digits() == 0 {
			return 0, false
		}
		integer = false
	}
	return n, integer
}

// number reads a JSON number as a float64.
func (p *stateScan) number() (float64, bool) {
	n, _ := numberLen(p.b)
	if n == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(p.b[:n]), 64)
	p.b = p.b[n:]
	return f, err == nil
}

// float reads a number and the comma after it.
func (p *stateScan) float() (float64, bool) {
	f, ok := p.number()
	return f, ok && p.byte(',')
}

// int reads an integer and the comma after it.
func (p *stateScan) int() (int64, bool) {
	n, integer := numberLen(p.b)
	if n == 0 || !integer {
		return 0, false
	}
	v, err := strconv.ParseInt(string(p.b[:n]), 10, 64)
	p.b = p.b[n:]
	return v, err == nil && p.byte(',')
}

func parseStateRow(raw [13]json.RawMessage) (informatica.UsageRow, error) {
	var r informatica.UsageRow
	var day string
	var start, end int64
	var rate *float64
	for i, dst := range []any{
		&r.OrgID, &r.OrgName, &r.OrgType, &r.MeterID, &r.MeterName, &r.Scalar, &r.MetricCategory,
		&day, &start, &end, &r.IPU, &r.MeterUsage, &rate,
	} {
		if err := json.Unmarshal(raw[i], dst); err != nil {
			return r, fmt.Errorf("field %d: %w", i+1, err)
		}
	}
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return r, err
	}
	if r.OrgID == "" || r.MeterID == "" {
		return r, errors.New("empty org or meter ID")
	}
	r.Date = d
	if start != 0 || end != 0 {
		r.BillingPeriodStart, r.BillingPeriodEnd = time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC()
	}
	if rate != nil {
		r.IPURate, r.HasIPURate = *rate, true
	}
	return r, nil
}
