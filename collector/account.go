package collector

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/ipumon/informatica_exporter/informatica"
)

// AccountSettings configure one Informatica account.
type AccountSettings struct {
	Name string
	// Entitlement is the IPUs contracted per billing period; nil when not set.
	Entitlement *float64
	// Client configures the connection to Informatica. The exporter sets its
	// poll settings from RefreshSettings and its OnRequest hook itself.
	Client informatica.Config
}

// RefreshSettings say when and how much each account exports.
type RefreshSettings struct {
	Interval     time.Duration // between runs, jittered ±10%
	Lookback     time.Duration // days each run requests
	PollInterval time.Duration
	JobTimeout   time.Duration
	MaxAge       time.Duration // usage older than this is not served
}

// maxPeriodReach bounds how far back a billing period can extend a run: an
// annual period plus a margin. A period start further back is bad data.
const maxPeriodReach = 400 * 24 * time.Hour

// account is one configured account: its refresher and everything the
// collector reads about it.
type account struct {
	settings AccountSettings
	refresh  RefreshSettings
	client   *informatica.Client
	logger   log.Logger
	now      func() time.Time
	// storageDir, when set, is where the last good data is kept across
	// restarts.
	storageDir string

	state *accountState
	snap  *atomic.Pointer[snapshot]

	cancel   context.CancelFunc
	retiring chan struct{}
	done     chan struct{}
	// predecessor is the instance this one replaced on a reload, while it
	// finishes its last run.
	predecessor atomic.Pointer[account]
}

// accountState is what outlives a reload that changes an account's settings:
// counters keep counting and the last good data keeps being served.
type accountState struct {
	mu             sync.Mutex
	attempted      bool // a first refresh has finished, successful or not
	up             bool
	lastSuccess    time.Time
	lastAttempt    time.Time
	lastDuration   time.Duration
	nextRefresh    time.Time
	refreshes      uint64
	failures       map[informatica.Stage]uint64
	rows           int
	partial        bool
	loginOrgID     string
	requests       map[requestKey]uint64
	lastError      string
	lastErrorStage informatica.Stage
}

type requestKey struct{ endpoint, code string }

func newAccountState() *accountState {
	s := &accountState{failures: map[informatica.Stage]uint64{}, requests: map[requestKey]uint64{}}
	for _, st := range informatica.Stages {
		s.failures[st] = 0
	}
	return s
}

func (s *accountState) countRequest(endpoint, code string) {
	s.mu.Lock()
	s.requests[requestKey{endpoint, code}]++
	s.mu.Unlock()
}

func newAccount(set AccountSettings, refresh RefreshSettings, state *accountState, snap *atomic.Pointer[snapshot], logger log.Logger, now func() time.Time, storageDir string) (*account, error) {
	cfg := set.Client
	cfg.PollInterval = refresh.PollInterval
	cfg.JobTimeout = refresh.JobTimeout
	cfg.OnRequest = state.countRequest
	client, err := informatica.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", set.Name, err)
	}
	return &account{
		settings:   set,
		refresh:    refresh,
		client:     client,
		logger:     log.With(logger, "account", set.Name),
		now:        now,
		state:      state,
		snap:       snap,
		storageDir: storageDir,
	}, nil
}

// restore serves the data stored by an earlier run of the exporter, if it
// was stored for this account's login. Anything wrong with the file is a
// warning and an empty start: the next refresh writes a good one.
func (a *account) restore() {
	removeTempStates(a.storageDir, a.settings.Name)
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
	a.snap.Store(newSnapshot(a.settings.Name, t, h.Taken))
	s := a.state
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempted, s.up = true, true
	s.lastSuccess, s.lastAttempt = h.Taken, h.Taken
	s.rows, s.partial = h.ExportRows, h.Partial
	if s.loginOrgID == "" {
		s.loginOrgID = h.LoginOrgID
	}
	level.Info(a.logger).Log("msg", "Serving stored state", "taken", h.Taken.UTC().Format(time.RFC3339), "orgs", len(t.Orgs), "entries", len(t.Days))
}

// persist stores a new snapshot; a failure costs only the restart cache.
func (a *account) persist(snap *snapshot, res informatica.ExportResult, loginOrgID string) {
	if a.storageDir == "" {
		return
	}
	err := saveState(a.storageDir, stateHeader{
		Account: a.settings.Name, LoginURL: a.settings.Client.LoginURL, Username: a.settings.Client.Username,
		LoginOrgID: loginOrgID, Taken: snap.taken, ExportRows: res.Rows, Partial: res.Partial,
	}, snap.table)
	if err != nil {
		level.Warn(a.logger).Log("msg", "Cannot store state; a restart will start empty", "err", err)
	}
}

// start runs the refresher until stop or retire. With a predecessor, the
// first run waits until the predecessor has finished its run in flight, so
// that a reload never puts two export jobs of one account in flight.
func (a *account) start(parent context.Context, predecessor *account) {
	ctx, cancel := context.WithCancel(parent)
	a.cancel = cancel
	a.retiring = make(chan struct{})
	a.done = make(chan struct{})
	a.predecessor.Store(predecessor)
	go func() {
		defer close(a.done)
		if predecessor != nil {
			select {
			case <-predecessor.done:
				a.predecessor.Store(nil)
			case <-ctx.Done():
				return
			}
		}
		a.run(ctx)
	}()
}

// stop ends the refresher at once, abandoning a run in flight, and waits for
// it. A predecessor still finishing its run is stopped too: the account is
// going away, or logging in elsewhere.
func (a *account) stop() {
	a.cancel()
	if p := a.predecessor.Load(); p != nil {
		p.stop()
	}
	<-a.done
}

// retire lets a run in flight finish, then ends the refresher. It does not
// wait; done closes when the refresher has ended.
func (a *account) retire() {
	close(a.retiring)
}

// logout ends the Informatica session, bounded so that shutdown never hangs
// on an unresponsive Informatica.
func (a *account) logout() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.client.Logout(ctx); err != nil {
		level.Debug(a.logger).Log("msg", "Logout failed", "err", err)
	}
}

func (a *account) run(ctx context.Context) {
	wait := a.firstDelay()
	for {
		a.state.mu.Lock()
		a.state.nextRefresh = a.now().Add(wait)
		a.state.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-a.retiring:
			t.Stop()
			return
		case <-t.C:
		}
		a.runOnce(ctx)
		wait = jitter(a.refresh.Interval)
	}
}

// firstDelay continues the schedule across a reload: an account whose last
// refresh is recent waits for its turn instead of exporting again at once.
func (a *account) firstDelay() time.Duration {
	a.state.mu.Lock()
	defer a.state.mu.Unlock()
	if a.state.lastAttempt.IsZero() {
		return 0
	}
	return max(a.state.lastAttempt.Add(a.refresh.Interval).Sub(a.now()), 0)
}

// jitter spreads runs over ±10% of the interval so that accounts and
// exporters do not hit Informatica in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// runOnce performs one refresh and records its outcome.
func (a *account) runOnce(ctx context.Context) {
	started := a.now()
	prev := a.snap.Load()
	table, res, err := a.export(ctx, prev)
	if ctx.Err() != nil {
		return // stopped mid-run: neither a success nor a failure
	}
	finished := a.now()
	duration := finished.Sub(started)
	if err != nil {
		stage := informatica.StageOf(err)
		if stage == "" {
			stage = informatica.StageParse
		}
		a.record(finished, duration, func(s *accountState) {
			s.up = false
			s.failures[stage]++
			s.lastError, s.lastErrorStage = err.Error(), stage
		})
		kept := "no previous data"
		if prev != nil {
			kept = "serving data from " + prev.taken.UTC().Format(time.RFC3339)
		}
		level.Warn(a.logger).Log("msg", "Refresh failed, keeping the last good data", "stage", stage, "kept", kept, "duration", duration, "err", err)
		return
	}
	snap := newSnapshot(a.settings.Name, table, finished)
	a.snap.Store(snap)
	loginOrg := a.record(finished, duration, func(s *accountState) {
		s.up = true
		s.lastSuccess = finished
		s.rows = res.Rows
		s.partial = res.Partial
		s.lastError, s.lastErrorStage = "", ""
	})
	if res.Partial {
		level.Warn(a.logger).Log("msg", "Export ended PARTIAL_SUCCESS: orgs missing from it keep their previous data", "rows", res.Rows, "jobs", res.Jobs, "message", res.Message)
	}
	level.Info(a.logger).Log("msg", "Refresh finished", "rows", res.Rows, "jobs", res.Jobs, "orgs", len(table.Orgs), "meters", len(table.Meters), "duration", duration)
	a.persist(snap, res, loginOrg)
}

// record updates the account's state after a run under its lock, so that a
// scrape sees the outcome of a run whole, and returns the login org's ID.
func (a *account) record(finished time.Time, duration time.Duration, outcome func(*accountState)) string {
	s := a.state
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempted = true
	s.lastAttempt = finished
	s.lastDuration = duration
	s.refreshes++
	if org := a.client.OrgID(); org != "" {
		s.loginOrgID = org
	}
	outcome(s)
	return s.loginOrgID
}

// export runs the export jobs of one refresh and builds the new table. The
// range is [now - lookback, now], reaching back to the start of every org's
// current billing period so that period totals are complete.
func (a *account) export(ctx context.Context, prev *snapshot) (*Table, informatica.ExportResult, error) {
	now := a.now().UTC()
	from := startOfDay(now.Add(-a.refresh.Lookback))
	if prev != nil {
		from = a.reachPeriods(prev.table, now, from)
	}
	b := NewBuilder()
	res, err := a.client.ExportUsage(ctx, from, now, b.Add)
	if err != nil {
		return nil, res, err
	}
	// Before the first refresh the periods are unknown; export the part of
	// a current period that the lookback missed.
	if reach := a.reachPeriods(b.Table(), now, from); reach.Before(from) {
		more, err := a.client.ExportUsage(ctx, reach, from.Add(-time.Second), b.Add)
		res.Jobs += more.Jobs
		res.Rows += more.Rows
		res.Partial = res.Partial || more.Partial
		if err != nil {
			return nil, res, err
		}
	}
	if res.Rows == 0 {
		return nil, res, &informatica.StageError{Stage: informatica.StageParse,
			Err: errors.New("the export holds no usage rows; an empty export would wipe every series, so it is not used")}
	}
	table := b.Table()
	if res.Partial && prev != nil {
		table = table.WithOrgsFrom(prev.table)
	}
	return table, res, nil
}

// reachPeriods moves from back to the earliest start of an org's current
// billing period in t, within maxPeriodReach.
func (a *account) reachPeriods(t *Table, now, from time.Time) time.Time {
	limit := startOfDay(now.Add(-maxPeriodReach))
	views, _ := computeView(t, now)
	for _, v := range views {
		if !v.hasPeriod {
			continue
		}
		start := startOfDay(time.Unix(v.period.start, 0))
		if start.Before(from) && !start.Before(limit) {
			from = start
		}
	}
	return from
}

func startOfDay(t time.Time) time.Time {
	return dayTime(dayNumber(t))
}
