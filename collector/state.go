package collector

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

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
	dec, closeFile, err := openState(path)
	if err != nil {
		return stateHeader{}, nil, err
	}
	defer closeFile()
	var h stateHeader
	if err := dec.Decode(&h); err != nil {
		return h, nil, fmt.Errorf("read state %s: header: %w", path, err)
	}
	if h.Version != stateVersion {
		return h, nil, fmt.Errorf("read state %s: version %d, this exporter reads version %d", path, h.Version, stateVersion)
	}
	b := usage.NewBuilder()
	for i := 0; ; i++ {
		var raw [13]json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return h, nil, fmt.Errorf("read state %s: row %d: %w", path, i+1, err)
		}
		r, err := parseStateRow(raw)
		if err != nil {
			return h, nil, fmt.Errorf("read state %s: row %d: %w", path, i+1, err)
		}
		if err := b.Add(&r); err != nil {
			return h, nil, fmt.Errorf("read state %s: row %d: %w", path, i+1, err)
		}
	}
	if b.Rows() != h.Days {
		return h, nil, fmt.Errorf("read state %s: %d rows, the header promises %d (a truncated file?)", path, b.Rows(), h.Days)
	}
	return h, b.Table(), nil
}

// openState opens a gzipped state file for decoding: errNoState when it
// does not exist.
func openState(path string) (*json.Decoder, func(), error) {
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
	return json.NewDecoder(zr), func() { f.Close() }, nil
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
