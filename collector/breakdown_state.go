package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log/level"

	"github.com/ipumon/informatica_exporter/usage"
)

// A breakdown is stored in a file of its own next to the account's
// summary, written after each good breakdown export: the summary is
// written every refresh, and rewriting the breakdowns with it (or it with
// each breakdown) would only cost time.

// breakdownStateVersion changes whenever the stored format of a breakdown
// does; a file of another version is ignored, never misread.
const breakdownStateVersion = 1

// breakdownStateHeader is the first JSON value of a breakdown's file; its
// series follow, one JSON value each.
type breakdownStateHeader struct {
	Version   int       `json:"version"`
	Account   string    `json:"account"`
	LoginURL  string    `json:"login_url"`
	Username  string    `json:"username"`
	Breakdown string    `json:"breakdown"`
	Taken     time.Time `json:"taken"`
	// Periods are the billing periods the "period" days sum, by org ID:
	// first and last day, Unix seconds.
	Periods map[string][2]int64 `json:"periods,omitempty"`
	Series  int                 `json:"series"`
}

// storedSeries is a series of a stored breakdown: its labels, and for each
// of its days the kind's row values.
type storedSeries struct {
	Labels []string    `json:"labels"`
	Days   []string    `json:"days"` // YYYY-MM-DD, or storedPeriodSum
	Values [][]float64 `json:"values"`
}

// storedPeriodSum is the day of a periodSum row in a stored breakdown.
const storedPeriodSum = "period"

// breakdownStatePath is where an account's breakdown of kind k lives under
// dir. Summary files end in .state.json.gz and kind names hold no dot, so
// no two accounts' files meet.
func breakdownStatePath(dir, account string, k *breakdownKind) string {
	return filepath.Join(dir, url.PathEscape(account)+"."+k.name+".breakdown.json.gz")
}

// rowValueCount is how many row values the kind's families show.
func (k *breakdownKind) rowValueCount() int {
	n := 0
	for _, f := range k.families {
		n = max(n, f.value+1)
	}
	return n
}

func saveBreakdown(dir string, h breakdownStateHeader, r *breakdownRows) error {
	h.Version, h.Breakdown, h.Taken, h.Series = breakdownStateVersion, r.kind.name, r.taken, len(r.keys)
	h.Periods = map[string][2]int64{}
	for org, p := range r.periods {
		h.Periods[org] = [2]int64{p.Start, p.End}
	}
	n := r.kind.rowValueCount()
	return writeState(dir, breakdownStatePath(dir, h.Account, r.kind), func(enc *json.Encoder) error {
		if err := enc.Encode(h); err != nil {
			return err
		}
		var err error
		r.eachSeries(func(k *seriesKey, rows []breakdownRow) {
			if err != nil {
				return
			}
			s := storedSeries{Labels: k[:len(r.kind.labels)], Days: make([]string, len(rows)), Values: make([][]float64, len(rows))}
			for i, row := range rows {
				s.Days[i] = storedPeriodSum
				if row.day != periodSum {
					s.Days[i] = usage.DayTime(row.day).Format(time.DateOnly)
				}
				s.Values[i] = row.v[:n]
			}
			err = enc.Encode(s)
		})
		return err
	})
}

// loadBreakdown reads an account's stored breakdown of kind k. Any damage
// is an error naming the file: the caller serves nothing rather than half
// a breakdown.
func loadBreakdown(dir, account string, k *breakdownKind) (breakdownStateHeader, *breakdownRows, error) {
	path := breakdownStatePath(dir, account, k)
	lines, closeFile, err := openStateLines(path)
	if err != nil {
		return breakdownStateHeader{}, nil, err
	}
	defer closeFile()
	var h breakdownStateHeader
	if err := lines.decode(&h); err != nil {
		return h, nil, fmt.Errorf("read state %s: header: %w", path, err)
	}
	if h.Version != breakdownStateVersion || h.Breakdown != k.name {
		return h, nil, fmt.Errorf("read state %s: version %d of breakdown %q, this exporter reads version %d of %q", path, h.Version, h.Breakdown, breakdownStateVersion, k.name)
	}
	b := newRowsBuilder(k, nil)
	n := k.rowValueCount()
	series := 0
	for ; ; series++ {
		var s storedSeries
		err := lines.decode(&s)
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			err = addStoredSeries(b, &s, n)
		}
		if err != nil {
			return h, nil, fmt.Errorf("read state %s: series %d: %w", path, series+1, err)
		}
	}
	if series != h.Series {
		return h, nil, fmt.Errorf("read state %s: %d series, the header promises %d (a truncated file?)", path, series, h.Series)
	}
	r := b.finish(h.Taken)
	r.periods = map[string]usage.BillingPeriod{}
	for org, p := range h.Periods {
		r.periods[org] = usage.BillingPeriod{Start: p[0], End: p[1]}
	}
	return h, r, nil
}

func addStoredSeries(b *rowsBuilder, s *storedSeries, n int) error {
	if len(s.Labels) != len(b.kind.labels) {
		return fmt.Errorf("%d labels, want %d", len(s.Labels), len(b.kind.labels))
	}
	if len(s.Values) != len(s.Days) {
		return fmt.Errorf("%d days but %d rows of values", len(s.Days), len(s.Values))
	}
	var k seriesKey
	for i, l := range s.Labels {
		if !utf8.ValidString(l) {
			return fmt.Errorf("label %s is not valid UTF-8", b.kind.labels[i])
		}
		k[i] = l
	}
	if k[0] == "" {
		return errors.New("empty org ID")
	}
	for i, day := range s.Days {
		d := int32(periodSum)
		if day != storedPeriodSum {
			t, err := time.Parse(time.DateOnly, day)
			if err != nil {
				return err
			}
			d = usage.DayNumber(t)
		}
		if len(s.Values[i]) != n {
			return fmt.Errorf("day %s: %d values, want %d", day, len(s.Values[i]), n)
		}
		var v rowValues
		copy(v[:], s.Values[i])
		b.addDay(k, d, v)
	}
	return nil
}

// persistBreakdown stores the rows of a good breakdown export; a failure
// costs only the restart cache.
func (a *account) persistBreakdown(rows *breakdownRows) {
	if a.storageDir == "" {
		return
	}
	h := breakdownStateHeader{Account: a.settings.Name, LoginURL: a.settings.Client.LoginURL, Username: a.settings.Client.Username}
	if err := saveBreakdown(a.storageDir, h, rows); err != nil {
		level.Warn(a.logger).Log("msg", "Cannot store the breakdown; a restart will serve none until it runs again", "breakdown", rows.kind.name, "err", err)
	}
}

// restoreBreakdowns serves the breakdowns stored by an earlier run of the
// exporter with the summary they go with, and resumes their schedule: each
// runs again a breakdown_interval after it was taken. A breakdown older
// than max_age is not served, and one of another login is ignored.
func (a *account) restoreBreakdowns() {
	now := a.now()
	for i, k := range breakdownKinds {
		if !a.settings.Breakdown.on(k) {
			continue
		}
		removeTempStates(breakdownStatePath(a.storageDir, a.settings.Name, k))
		h, rows, err := loadBreakdown(a.storageDir, a.settings.Name, k)
		switch {
		case errors.Is(err, errNoState):
			continue
		case err != nil:
			level.Warn(a.logger).Log("msg", "Ignoring the stored breakdown", "breakdown", k.name, "err", err)
			continue
		case h.LoginURL != a.settings.Client.LoginURL || h.Username != a.settings.Client.Username:
			level.Info(a.logger).Log("msg", "Ignoring the stored breakdown of another login", "breakdown", k.name)
			continue
		}
		// As with the summary: a breakdown dated in the future counts as
		// taken now, and runs again at once.
		future := rows.taken.After(now)
		if future {
			rows.taken = now
		}
		if now.Sub(rows.taken) > a.refresh.MaxAge {
			level.Info(a.logger).Log("msg", "Not serving the stored breakdown: older than max_age", "breakdown", k.name, "taken", rows.taken.UTC().Format(time.RFC3339))
			continue
		}
		a.breakdowns.kinds[i].rows.Store(rows)
		a.state.mu.Lock()
		a.state.breakdowns[i].lastSuccess = rows.taken
		if !future {
			a.state.breakdowns[i].lastAttempt = rows.taken
		}
		a.state.mu.Unlock()
		level.Info(a.logger).Log("msg", "Serving stored breakdown", "breakdown", k.name, "taken", rows.taken.UTC().Format(time.RFC3339), "series", len(rows.keys))
	}
}

// removeBreakdownState deletes the stored breakdown of kind k, which is off.
func (a *account) removeBreakdownState(k *breakdownKind) {
	if a.storageDir == "" {
		return
	}
	if err := os.Remove(breakdownStatePath(a.storageDir, a.settings.Name, k)); err != nil && !errors.Is(err, os.ErrNotExist) {
		level.Warn(a.logger).Log("msg", "Cannot remove the stored breakdown of a breakdown turned off", "breakdown", k.name, "err", err)
	}
}
