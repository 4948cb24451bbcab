// Package collector runs the background refreshers that export IPU usage
// from Informatica, keeps each account's per-day table, and publishes
// aggregates of it as Prometheus metrics. A scrape only reads the finished
// snapshot of the last refresh; it never waits for Informatica.
//
// The table itself, its merge and its view are package usage. Here, by
// role:
//   - the exporter, its accounts and reloads: exporter.go, account.go;
//   - refreshing an account's summary and its schedule: refresh.go;
//     export job callbacks: callback.go;
//   - the breakdowns (project and folder, asset, task): breakdown.go (the
//     table of kinds, their per-day rows and the series scoped from them),
//     with a file for each kind's export (assets.go, tasks.go);
//   - the contract around the usage (licences, org tree, IPU alert
//     thresholds): contract.go (the table of sources, their families and
//     reads);
//   - what --storage.path keeps across restarts: state.go (the summary),
//     breakdown_state.go (each breakdown) and contract_state.go;
//   - OpenMetrics backfill of past days (MergeExports, WriteOpenMetrics):
//     backfill.go;
//   - exposition: metrics.go (the families, usage families as one table),
//     snapshot.go (a table rendered into the usage series of a day),
//     collect.go (the Collector: health, and data for plain registries),
//     gather.go (the Gatherer that gathers data once per change),
//     exposition.go (the /metrics handler serving pre-encoded bytes,
//     promhttp for the rest) and crc.go (the gzip checksum of those).
package collector

import (
	"context"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

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
	// keepExport, when set, is given each export ZIP an account downloads.
	keepExport func(account string, z informatica.ExportZIP)
	ctx        context.Context
	cancel     context.CancelFunc

	// applyMu keeps one Apply or Stop at a time; it is never taken by a
	// scrape, so an Apply may wait under it.
	applyMu sync.Mutex
	// mu guards the published configuration; it is only held to read or
	// swap it, never while waiting.
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

// WithKeepExports gives keep each export ZIP that an account downloads,
// with the account's name, before the ZIP is read (informatica's
// Config.OnExport).
func WithKeepExports(keep func(account string, z informatica.ExportZIP)) Option {
	return func(e *Exporter) { e.keepExport = keep }
}

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
// change keep running undisturbed. Changed ones that keep their login
// restart their refresher once the export job in flight has finished,
// keeping their counters, their schedule and their last good data. One that
// logs in somewhere else is a new account, as are added ones. Removed ones
// stop and log out. A changed password, or a reload after a failed run,
// runs the account at once instead of waiting out its schedule or backoff.
// On error nothing changes.
//
// Building the accounts and restoring their stored state happen before
// the new accounts are published, without the lock that scrapes take:
// until then scrapes answer from the running configuration.
func (e *Exporter) Apply(s Settings) error {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	if err := e.apply(s); err != nil {
		return err
	}
	// The accounts changed, so the encoded data metrics did: encode them
	// on the reload's goroutine rather than in the next scrape, if apply
	// did not.
	e.published()
	return nil
}

// change is an account that Apply (re)starts: prev is the instance it
// replaces, if any.
type change struct {
	prev, next *account
	restore    bool // load stored state: prev, if any, is of another login
}

// apply runs with e.applyMu held, which keeps one Apply or Stop at a time.
func (e *Exporter) apply(s Settings) error {
	e.mu.RLock()
	current, slots := e.accounts, e.slots
	e.mu.RUnlock()

	old := map[string]*account{}
	for _, a := range current {
		old[a.settings.Name] = a
	}
	if s.Refresh.Concurrency <= 0 {
		s.Refresh.Concurrency = defaultConcurrency
	}
	if slots == nil || cap(slots) != s.Refresh.Concurrency {
		// Runs in flight keep the tokens of the old channel; every account
		// restarts with the new one, since its refresh settings changed.
		slots = make(chan struct{}, s.Refresh.Concurrency)
	}
	var next, kept []*account
	var changes []change
	for _, set := range s.Accounts {
		prev := old[set.Name]
		delete(old, set.Name)
		if prev != nil && reflect.DeepEqual(prev.settings, set) && prev.refresh == s.Refresh {
			next = append(next, prev)
			kept = append(kept, prev)
			continue
		}
		// A new login is a new account: nothing of the old one is kept.
		state, data := newAccountState(), newAccountData()
		sameOrg := prev != nil && sameLogin(prev.settings, set)
		if sameOrg {
			state, data = prev.state, accountData{snap: prev.snap, breakdowns: prev.breakdowns, contract: prev.contract}
		}
		a, err := e.newAccount(set, s.Refresh, state, data, slots)
		if err != nil {
			return err
		}
		a.applyBreakdownSettings()
		a.applyContractSettings()
		a.runNow = sameOrg && (prev.settings.Client.Password != set.Client.Password || state.failing())
		next = append(next, a)
		changes = append(changes, change{prev: prev, next: a, restore: !sameOrg && e.storageDir != ""})
	}
	// Stored state is read before the new accounts are published, so that
	// they are whole when a scrape first sees them.
	restored := false
	for _, c := range changes {
		if c.restore {
			c.next.restore()
			restored = true
		}
	}

	// Their data metrics are encoded before they are published too, and
	// published right after, so that no scrape encodes a large restored
	// table or waits for its encoding.
	x := e.expo.Load()
	if x != nil {
		x.encodeLogged(next, s.Refresh.MaxAge, byReload)
	}
	e.mu.Lock()
	e.accounts = next
	e.refresh = s.Refresh
	e.slots = slots
	e.mu.Unlock()
	if x != nil || restored {
		// The garbage of restoring and encoding goes back to the system
		// before the new accounts start, as after a refresher's encoding.
		debug.FreeOSMemory()
	}

	// What is left in old was removed from the configuration.
	for _, a := range old {
		a.stop()
		go a.logout()
		level.Info(e.logger).Log("msg", "Account removed", "account", a.settings.Name)
	}
	for _, a := range kept {
		a.wakeUp() // a reload after a failed run retries at once
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
			level.Info(c.next.logger).Log("msg", "Account logs in elsewhere: starting anew, without the data of the previous login")
		}
		c.next.start(e.ctx, predecessor)
	}
	return nil
}

// sameLogin reports whether two settings log in to the same org, so that
// the data of one is the data of the other.
func sameLogin(a, b AccountSettings) bool {
	return a.Client.LoginURL == b.Client.LoginURL && a.Client.Username == b.Client.Username
}

// Stop ends every refresher and logs every session out.
func (e *Exporter) Stop() {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	e.cancel()
	e.mu.RLock()
	accounts := e.accounts
	e.mu.RUnlock()
	var wg sync.WaitGroup
	for _, a := range accounts {
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
	// Activity, when set, is what the refresher does instead of waiting
	// for NextRefresh, which is then past: "running", "loading history",
	// "waiting for a refresh slot", "starting".
	Activity   string
	Rows       int
	Orgs       int
	LastError  string
	ErrorStage informatica.Stage
	// Breakdowns are the breakdowns turned on, in kind order.
	Breakdowns []BreakdownStatus
	// Contract are the contract sources turned on, in source order.
	Contract []ContractStatus
}

// ContractStatus is the state of one contract source of an account.
type ContractStatus struct {
	Source      string
	LastSuccess time.Time
	// LastError is the last run's failure, if any; Refused lists the
	// linked orgs that answered 403 or 404, which is no failure.
	LastError string
	Refused   []string
}

// BreakdownStatus is the state of one breakdown of an account.
type BreakdownStatus struct {
	Kind        string
	LastSuccess time.Time
}

// activityStarting is an account's activity before its refresher first
// set a next refresh.
const activityStarting = "starting"

// Status describes every account, in configuration order.
func (e *Exporter) Status() []AccountStatus {
	e.mu.RLock()
	accounts := e.accounts
	e.mu.RUnlock()
	now := e.now()
	var out []AccountStatus
	for _, a := range accounts {
		s := a.state
		s.mu.Lock()
		st := AccountStatus{
			Name: a.settings.Name, Up: s.up, Attempted: s.attempted, LastSuccess: s.lastSuccess,
			NextRefresh: s.nextRefresh, Activity: s.activity, Rows: s.rows, LastError: s.lastError, ErrorStage: s.lastErrorStage,
		}
		for i, k := range breakdownKinds {
			if a.settings.Breakdown.on(k) {
				st.Breakdowns = append(st.Breakdowns, BreakdownStatus{Kind: k.name, LastSuccess: s.breakdowns[i].lastSuccess})
			}
		}
		for i, src := range contractSources {
			if a.settings.Contract.On(src.name) {
				c := &s.contract[i]
				st.Contract = append(st.Contract, ContractStatus{Source: src.name, LastSuccess: c.lastSuccess, LastError: c.lastError, Refused: c.denied})
			}
		}
		s.mu.Unlock()
		switch {
		case st.Activity != "":
		case st.NextRefresh.IsZero():
			st.Activity = activityStarting
		case st.NextRefresh.Before(now):
			// The wait has ended; the run is about to take a slot.
			st.Activity = activitySlot
		}
		if snap := a.snap.Load(); snap != nil {
			st.Orgs = len(snap.table.Orgs)
		}
		out = append(out, st)
	}
	return out
}
