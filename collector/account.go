package collector

import (
	"context"
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
	// poll settings from RefreshSettings and its hooks itself.
	Client informatica.Config
	// Breakdown configures the optional breakdowns.
	Breakdown BreakdownSettings
	// Contract configures the reads of licences, org tree and IPU alert
	// thresholds.
	Contract ContractSettings
	// IPUPrice is the price of one IPU in Currency (an ISO 4217 code); 0
	// when not set.
	IPUPrice float64
	Currency string
}

// RefreshSettings say when and how much each account exports.
type RefreshSettings struct {
	Interval     time.Duration // between runs, jittered ±10%
	Lookback     time.Duration // days a full run requests
	Window       time.Duration // days an incremental run requests
	FullInterval time.Duration // between full runs
	PollInterval time.Duration
	JobTimeout   time.Duration
	MaxAge       time.Duration // usage older than this is not served
	// Concurrency is how many accounts may refresh at once, for the whole
	// exporter; 0 means 4.
	Concurrency int
	// HistoryStart, when set, is the first day the table holds: days before
	// the lookback are loaded once and kept.
	HistoryStart time.Time
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
	// after is the refresher's timer: time.After, or the test's, which
	// decides when each wait ends.
	after func(time.Duration) <-chan time.Time
	// storageDir, when set, is where the last good data is kept across
	// restarts.
	storageDir string
	// slots is shared by all accounts: a run holds a token while it runs.
	slots chan struct{}
	// offset delays the first run of a newly started account.
	offset time.Duration

	state *accountState
	snap  *atomic.Pointer[snapshot]
	// breakdowns and contract, like snap, are shared with the instance
	// this one replaced.
	breakdowns *breakdowns
	contract   *atomic.Pointer[contractData]

	cancel   context.CancelFunc
	retiring chan struct{}
	done     chan struct{}
	// wake ends the wait for the next run early, if the last run failed:
	// a reload is the operator's sign that the cause may be fixed.
	wake chan struct{}
	// runNow makes the first run start at once rather than continue the
	// schedule: its credentials changed, or its last run failed.
	runNow bool
	// predecessor is the instance this one replaced on a reload, while it
	// finishes its last run.
	predecessor atomic.Pointer[account]
	// published is called after new data is published (Exporter.published).
	published func()
}

// accountData is an account's published data, which a reload that keeps
// the login hands on to the new instance.
type accountData struct {
	snap       *atomic.Pointer[snapshot]
	breakdowns *breakdowns
	contract   *atomic.Pointer[contractData]
}

func newAccountData() accountData {
	return accountData{snap: &atomic.Pointer[snapshot]{}, breakdowns: &breakdowns{}, contract: &atomic.Pointer[contractData]{}}
}

// accountState is what outlives a reload that changes an account's settings
// but not its login: counters keep counting and the last good data keeps
// being served.
type accountState struct {
	mu           sync.Mutex
	attempted    bool // a first refresh has finished, successful or not
	up           bool
	lastSuccess  time.Time
	lastAttempt  time.Time
	lastDuration time.Duration
	nextRefresh  time.Time
	refreshes    uint64
	failures     map[informatica.Stage]uint64
	rows         int
	partial      bool
	loginOrgID   string
	lastFull     time.Time // when the last full run started
	historyFrom  time.Time // the oldest day loaded without a gap

	breakdowns     [numBreakdowns]breakdownTimes
	contract       [numContractSources]contractTimes
	requests       map[requestKey]uint64
	ignored        map[string]uint64 // export rows not used, by reason
	lastError      string
	lastErrorStage informatica.Stage
	// consecutiveFailures counts the runs that failed since the last
	// success; it sets the backoff of the next run.
	consecutiveFailures int
	// activity is what the refresher does while nextRefresh is past; ""
	// while it waits for nextRefresh.
	activity string
}

// What a refresher does between two waits, as the landing page says it.
const (
	activitySlot    = "waiting for a refresh slot"
	activityRunning = "running"
	activityHistory = "loading history"
)

// setActivity records what the refresher does now.
func (a *account) setActivity(what string) {
	a.state.mu.Lock()
	a.state.activity = what
	a.state.mu.Unlock()
}

// failing reports whether the account's last run failed.
func (s *accountState) failing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.consecutiveFailures > 0
}

type requestKey struct{ endpoint, code string }

func newAccountState() *accountState {
	s := &accountState{
		failures: map[informatica.Stage]uint64{}, requests: map[requestKey]uint64{},
		ignored: map[string]uint64{ignoredFutureDate: 0},
	}
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

func (e *Exporter) newAccount(set AccountSettings, refresh RefreshSettings, state *accountState, data accountData, slots chan struct{}) (*account, error) {
	cfg := set.Client
	cfg.PollInterval = refresh.PollInterval
	cfg.JobTimeout = refresh.JobTimeout
	logger := log.With(e.logger, "account", set.Name)
	LogClient(&cfg, logger, level.Debug)
	logCall := cfg.OnCall
	cfg.OnCall = func(c informatica.Call) {
		state.countRequest(c.Endpoint, c.Code)
		logCall(c)
	}
	if keep := e.keepExport; keep != nil {
		cfg.OnExport = func(z informatica.ExportZIP) { keep(set.Name, z) }
	}
	client, err := informatica.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", set.Name, err)
	}
	return &account{
		settings:   set,
		refresh:    refresh,
		client:     client,
		logger:     logger,
		now:        e.now,
		after:      e.after,
		state:      state,
		snap:       data.snap,
		breakdowns: data.breakdowns,
		contract:   data.contract,
		storageDir: e.storageDir,
		slots:      slots,
		published:  e.published,
		wake:       make(chan struct{}, 1),
	}, nil
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

// retire lets the export job in flight finish, then ends the refresher: it
// starts nothing more, no history chunk, breakdown or retry. It does not
// wait; done closes when the refresher has ended.
func (a *account) retire() {
	close(a.retiring)
}

// retired reports whether retire was called.
func (a *account) retired() bool {
	select {
	case <-a.retiring:
		return true
	default:
		return false
	}
}

// wakeUp ends the wait for the next run now if the last run failed.
func (a *account) wakeUp() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
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
	// A run that is to start at once does not wait for a timer at all.
	skipWait := a.runNow
	for {
		a.state.mu.Lock()
		a.state.nextRefresh = a.now().Add(wait)
		a.state.activity = ""
		a.state.mu.Unlock()
		if !skipWait && !a.sleep(ctx, wait) {
			return
		}
		skipWait = false
		a.setActivity(activitySlot)
		if !a.acquire(ctx) {
			return
		}
		a.setActivity(activityRunning)
		a.runOnce(ctx)
		for _, k := range a.dueBreakdowns(a.now()) {
			if a.retired() {
				break
			}
			a.runBreakdown(ctx, k)
		}
		if !a.retired() {
			a.runContract(ctx)
		}
		<-a.slots
		wait = a.nextWait()
	}
}

// retryBase is the wait after a first failed run; it doubles with every
// further failure, up to refresh.interval.
const retryBase = time.Minute

// nextWait is the time until the next run: refresh.interval after a
// success; after failures, a backoff that starts at retryBase, so that a
// refresh that failed at start or on a passing fault at Informatica does
// not leave the data an hour older than it need be.
func (a *account) nextWait() time.Duration {
	a.state.mu.Lock()
	failed := a.state.consecutiveFailures
	a.state.mu.Unlock()
	if failed == 0 {
		return jitter(a.refresh.Interval)
	}
	return retryDelay(failed, a.refresh.Interval)
}

// retryDelay is the wait after the given number of consecutive failed
// runs: retryBase, twice that, four times, ..., never more than interval.
func retryDelay(failures int, interval time.Duration) time.Duration {
	d := retryBase
	for i := 1; i < failures && d < interval; i++ {
		d *= 2
	}
	return min(d, interval)
}

// sleep waits for d, or until wakeUp while the last run failed; false
// when the refresher is to end instead.
func (a *account) sleep(ctx context.Context, d time.Duration) bool {
	timer := a.after(d)
	for {
		select {
		case <-ctx.Done():
			return false
		case <-a.retiring:
			return false
		case <-timer:
			return true
		case <-a.wake:
			if a.state.failing() {
				return true
			}
		}
	}
}

// acquire waits for a refresh slot; false when the refresher is to end
// instead. A slow or failing account holds one slot, never more, so the
// others go on.
func (a *account) acquire(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-a.retiring:
		return false
	case a.slots <- struct{}{}:
		return true
	}
}

// firstDelay continues the schedule across a reload or a restart: an
// account whose last refresh is recent waits for its turn instead of
// exporting again at once, unless runNow says the reload changed what
// made the last run fail or wait.
func (a *account) firstDelay() time.Duration {
	a.state.mu.Lock()
	defer a.state.mu.Unlock()
	if a.runNow {
		return 0
	}
	if a.state.lastAttempt.IsZero() {
		return a.offset
	}
	gap := a.refresh.Interval
	if f := a.state.consecutiveFailures; f > 0 {
		gap = retryDelay(f, gap)
	}
	// A last attempt in the future (the clock was set back) waits one gap,
	// not until the clock catches up.
	wait := min(a.state.lastAttempt.Add(gap).Sub(a.now()), gap)
	return max(wait, a.offset)
}

// jitter spreads runs over ±10% of the interval so that accounts and
// exporters do not hit Informatica in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}
