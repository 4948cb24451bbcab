// Package collector runs the background refreshers that export IPU usage
// from Informatica, keeps each account's per-day table, and publishes
// aggregates of it as Prometheus metrics. A scrape only reads the finished
// snapshot of the last refresh; it never waits for Informatica.
package collector

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
)

// Settings are everything the exporter is configured with.
type Settings struct {
	Accounts []AccountSettings
	Refresh  RefreshSettings
}

// Exporter owns one refresher per account and is the prometheus.Collector
// that publishes their data.
type Exporter struct {
	logger     log.Logger
	now        func() time.Time
	after      func(time.Duration) <-chan time.Time
	storageDir string
	ctx        context.Context
	cancel     context.CancelFunc

	mu       sync.RWMutex
	accounts []*account // in configuration order, which decides who publishes a shared org
	refresh  RefreshSettings
	// slots holds one token per refresh in flight: refresh.concurrency
	// accounts at most refresh at once.
	slots chan struct{}
	// dataGathered is set once Gatherer serves the data metrics, so that
	// Collect leaves them out.
	dataGathered atomic.Bool
	// callbacks count the job status callbacks received.
	callbacks callbackCounts
	// expo is the /metrics handler's encoded data metrics, once Handler
	// made one: refreshers encode them again after they publish.
	expo atomic.Pointer[exposition]
}

// defaultConcurrency is refresh.concurrency when it is not set.
const defaultConcurrency = 4

// Option changes how an Exporter is built; tests use them.
type Option func(*Exporter)

// WithClock replaces the exporter's clock.
func WithClock(now func() time.Time) Option { return func(e *Exporter) { e.now = now } }

// WithTimer replaces the refreshers' timer, time.After: a test decides
// when each wait between runs ends, instead of counting what timers did.
func WithTimer(after func(time.Duration) <-chan time.Time) Option {
	return func(e *Exporter) { e.after = after }
}

// WithStorage keeps each account's last good data in dir: written after
// every successful refresh, served at once after a restart.
func WithStorage(dir string) Option { return func(e *Exporter) { e.storageDir = dir } }

// New returns an Exporter with no accounts; Apply starts them.
func New(logger log.Logger, opts ...Option) *Exporter {
	ctx, cancel := context.WithCancel(context.Background())
	e := &Exporter{logger: logger, now: time.Now, after: time.After, ctx: ctx, cancel: cancel}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Apply makes s the running configuration. Accounts whose settings did not
// change keep running undisturbed. Changed ones restart their refresher once
// a run in flight has finished, keeping their counters, their schedule and,
// unless they now log in somewhere else, their last good data. Removed ones
// stop and log out. On error nothing changes.
func (e *Exporter) Apply(s Settings) error {
	e.mu.Lock()
	defer e.mu.Unlock()

	old := map[string]*account{}
	for _, a := range e.accounts {
		old[a.settings.Name] = a
	}
	if s.Refresh.Concurrency <= 0 {
		s.Refresh.Concurrency = defaultConcurrency
	}
	slots := e.slots
	if slots == nil || cap(slots) != s.Refresh.Concurrency {
		// Runs in flight keep the tokens of the old channel; every account
		// restarts with the new one, since its refresh settings changed.
		slots = make(chan struct{}, s.Refresh.Concurrency)
	}
	type change struct {
		prev, next *account
		restore    bool // load stored state: the data of prev, if any, is of another login
	}
	var next []*account
	var changes []change
	for _, set := range s.Accounts {
		prev := old[set.Name]
		if prev != nil && reflect.DeepEqual(prev.settings, set) && prev.refresh == s.Refresh {
			next = append(next, prev)
			delete(old, set.Name)
			continue
		}
		state, data := newAccountState(), newAccountData()
		keepData := prev != nil && sameLogin(prev.settings, set)
		if prev != nil {
			state = prev.state
		}
		if keepData {
			data = accountData{snap: prev.snap, breakdowns: prev.breakdowns}
		}
		a, err := e.newAccount(set, s.Refresh, state, data, slots)
		if err != nil {
			return err
		}
		next = append(next, a)
		changes = append(changes, change{prev: prev, next: a, restore: !keepData && e.storageDir != ""})
		delete(old, set.Name)
	}
	// What is left in old was removed from the configuration.
	for _, a := range old {
		a.stop()
		go a.logout()
		level.Info(e.logger).Log("msg", "Account removed", "account", a.settings.Name)
	}
	// New accounts start a moment apart, so that a large configuration does
	// not log in everywhere at the same instant.
	stagger := min(200*time.Millisecond, s.Refresh.Interval/time.Duration(10*max(len(changes), 1)))
	for i, c := range changes {
		c.next.offset = time.Duration(i) * stagger
		if c.next.settings.Client.InsecureSkipVerify {
			level.Warn(c.next.logger).Log("msg", "TLS certificate verification of Informatica is off (insecure_skip_verify): the password can be read by anyone in the middle")
		}
		var predecessor *account
		switch {
		case c.prev == nil:
		case sameLogin(c.prev.settings, c.next.settings):
			// The same org: let the job in flight finish and feed the
			// shared data, and start the new settings after it, rather
			// than leave an abandoned job running at Informatica.
			c.prev.retire()
			predecessor = c.prev
			go func() { <-c.prev.done; c.prev.logout() }()
		default:
			c.prev.stop()
			go c.prev.logout()
		}
		if c.restore {
			c.next.restore()
		}
		c.next.start(e.ctx, predecessor)
	}
	e.accounts = next
	e.refresh = s.Refresh
	e.slots = slots
	return nil
}

// sameLogin reports whether two settings log in to the same org, so that
// the data of one is the data of the other.
func sameLogin(a, b AccountSettings) bool {
	return a.Client.LoginURL == b.Client.LoginURL && a.Client.Username == b.Client.Username
}

// Stop ends every refresher and logs every session out.
func (e *Exporter) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cancel()
	var wg sync.WaitGroup
	for _, a := range e.accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.stop()
			a.logout()
		}()
	}
	wg.Wait()
}

// Ready reports whether every account has finished a first refresh,
// successful or not.
func (e *Exporter) Ready() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, a := range e.accounts {
		a.state.mu.Lock()
		done := a.state.attempted
		a.state.mu.Unlock()
		if !done {
			return false
		}
	}
	return true
}

// AccountStatus is what the landing page shows of an account.
type AccountStatus struct {
	Name        string
	Up          bool
	Attempted   bool
	LastSuccess time.Time
	NextRefresh time.Time
	Rows        int
	Orgs        int
	LastError   string
	ErrorStage  informatica.Stage
}

// Status describes every account, in configuration order.
func (e *Exporter) Status() []AccountStatus {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []AccountStatus
	for _, a := range e.accounts {
		s := a.state
		s.mu.Lock()
		st := AccountStatus{
			Name: a.settings.Name, Up: s.up, Attempted: s.attempted, LastSuccess: s.lastSuccess,
			NextRefresh: s.nextRefresh, Rows: s.rows, LastError: s.lastError, ErrorStage: s.lastErrorStage,
		}
		s.mu.Unlock()
		if snap := a.snap.Load(); snap != nil {
			st.Orgs = len(snap.table.Orgs)
		}
		out = append(out, st)
	}
	return out
}

// Describe sends every metric's description.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	ch <- callbacksDesc
}

// Collect publishes the health of every account and, unless Gatherer
// serves them, the data of every account whose data is younger than
// refresh.max_age.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	accounts, maxAge := e.current()
	for _, a := range accounts {
		a.collectHealth(ch)
	}
	e.collectCallbacks(ch)
	if !e.dataGathered.Load() {
		e.collectData(ch, accounts, maxAge, e.now())
	}
}

func (e *Exporter) current() ([]*account, time.Duration) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.accounts, e.refresh.MaxAge
}

// collectData sends the metrics computed from export data. An org exported
// by several accounts is published by the first of them in the
// configuration, since its usage series carry no account label.
func (e *Exporter) collectData(ch chan<- prometheus.Metric, accounts []*account, maxAge time.Duration, now time.Time) {
	orgsSeen := map[string]bool{}
	metersSeen := map[MeterInfo]bool{}
	var breakdownSeen [numBreakdowns]map[string]bool
	for i := range breakdownSeen {
		breakdownSeen[i] = map[string]bool{}
	}
	for _, a := range accounts {
		if r := a.rendered(now, maxAge); r != nil {
			r.collect(ch, orgsSeen)
			for _, m := range r.meters {
				if !metersSeen[m.info] {
					metersSeen[m.info] = true
					ch <- m.metric
				}
			}
		}
		for i, b := range a.freshBreakdown(now, maxAge) {
			if b == nil {
				continue
			}
			for _, o := range b.orgs {
				if breakdownSeen[i][o.id] {
					continue
				}
				breakdownSeen[i][o.id] = true
				for _, m := range o.metrics {
					ch <- m
				}
			}
		}
	}
}

// rendered returns the account's usage metrics as of now, or nil when it has
// none younger than maxAge.
func (a *account) rendered(now time.Time, maxAge time.Duration) *rendered {
	snap := a.snap.Load()
	if snap == nil || now.Sub(snap.taken) > maxAge {
		return nil
	}
	r, err := snap.metrics(now)
	if err != nil {
		// Leave this account out rather than fail every scrape; its
		// refresh rendered the same table, so this cannot happen unless a
		// new day brings metrics that were not rendered before.
		if snap.renderFailed.CompareAndSwap(false, true) {
			level.Error(a.logger).Log("msg", "Cannot serve the account's usage metrics", "err", err)
		}
		return nil
	}
	return r
}

// freshBreakdown returns the account's breakdown of each kind, nil where
// it has none younger than maxAge. The array is comparable: the encoded
// exposition keys on it.
func (a *account) freshBreakdown(now time.Time, maxAge time.Duration) [numBreakdowns]*breakdown {
	var out [numBreakdowns]*breakdown
	for i := range out {
		if b := a.breakdowns[i].Load(); b != nil && now.Sub(b.taken) <= maxAge {
			out[i] = b
		}
	}
	return out
}

func (a *account) collectHealth(ch chan<- prometheus.Metric) {
	s := a.state
	name := a.settings.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(upDesc, boolValue(s.up), name)
	if !s.lastSuccess.IsZero() {
		gauge(lastSuccessDesc, unixSeconds(s.lastSuccess), name)
		gauge(exportRowsDesc, float64(s.rows), name)
		gauge(exportPartialDesc, boolValue(s.partial), name)
	}
	if s.attempted {
		gauge(lastDurationDesc, s.lastDuration.Seconds(), name)
	}
	if !s.nextRefresh.IsZero() {
		gauge(nextRefreshDesc, unixSeconds(s.nextRefresh), name)
	}
	counter(refreshesDesc, s.refreshes, name)
	for _, st := range informatica.Stages {
		counter(failuresDesc, s.failures[st], name, string(st))
	}
	for k, v := range s.requests {
		counter(apiRequestsDesc, v, name, k.endpoint, k.code)
	}
	for reason, v := range s.ignored {
		counter(rowsIgnoredDesc, v, name, reason)
	}
	for _, k := range breakdownKinds {
		if t := s.breakdowns[k.index].lastSuccess; !t.IsZero() {
			gauge(lastBreakdownDesc, unixSeconds(t), name, k.name)
		}
	}
	if a.settings.Entitlement != nil && s.loginOrgID != "" {
		gauge(entitlementDesc, *a.settings.Entitlement, name, s.loginOrgID)
	}
	if a.settings.IPUPrice > 0 && a.settings.Currency != "" {
		gauge(ipuPriceDesc, a.settings.IPUPrice, name, a.settings.Currency)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
