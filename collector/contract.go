package collector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/usage"
)

// The contract around the usage: what Informatica holds of an account's
// licences, its org tree and the IPU alert thresholds its administrators
// set. Each source is read at most once per contract interval and org,
// after a refresh; a failed read is counted and logged, keeps the last good
// values until max_age, and leaves the usage and informatica_up alone.

// ContractSettings configure the contract reads of an account.
type ContractSettings struct {
	// Sources are the names of the sources turned on (ContractSourceNames),
	// as ParseContractSources returns them.
	Sources []string
	// Interval is the least time between two reads of a source for one
	// org; 0 means DefaultContractInterval.
	Interval time.Duration
	// MaxOrgs bounds the orgs a source reads in one run; 0 means
	// DefaultContractMaxOrgs.
	MaxOrgs int
	// Names are display names of edition, licence and limit IDs, which
	// Informatica keeps opaque: label name.
	Names map[string]string
}

// Defaults of the contract settings.
const (
	DefaultContractInterval = 24 * time.Hour
	DefaultContractMaxOrgs  = 10
)

// On reports whether the source named name is turned on.
func (s ContractSettings) On(name string) bool { return slices.Contains(s.Sources, name) }

func (s ContractSettings) maxOrgs() int { return cmp.Or(s.MaxOrgs, DefaultContractMaxOrgs) }

func (s ContractSettings) interval() time.Duration {
	return cmp.Or(s.Interval, DefaultContractInterval)
}

// ContractSourceNames are the names of the contract sources, as the
// configuration spells them, in the order of contractSources.
func ContractSourceNames() []string {
	names := make([]string, len(contractSources))
	for i, s := range contractSources {
		names[i] = s.name
	}
	return names
}

// ParseContractSources checks the names of sources to turn on and returns
// them in the order of contractSources, once each.
func ParseContractSources(names []string) ([]string, error) {
	all := ContractSourceNames()
	for _, n := range names {
		if !slices.Contains(all, n) {
			return nil, fmt.Errorf("%q is not a contract source; the sources are: %s", n, strings.Join(all, ", "))
		}
	}
	var out []string
	for _, n := range all {
		if slices.Contains(names, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// contractSource is one of Informatica's contract resources: how it is
// read, and for which orgs.
type contractSource struct {
	name  string // in the configuration, label source and the state file
	title string // in log lines
	// linkedOrgs: the source is read for the login org and the linked orgs
	// seen in the usage; else for the login org only.
	linkedOrgs bool
	read       func(ctx context.Context, c *informatica.Client, org string) (contractEntry, error)
}

// contractSources are the contract sources: adding one is an entry here,
// its families in contractFamilies and its field in contractEntry. An
// account's data and state of a source are at the source's position.
var contractSources = [...]*contractSource{&licenseSource, &orgTreeSource, &alertSource}

const numContractSources = len(contractSources)

// Positions of the sources in contractSources.
const (
	srcLicense = iota
	srcOrgTree
	srcAlerts
)

var licenseSource = contractSource{
	name: "license", title: "Licence", linkedOrgs: true,
	read: func(ctx context.Context, c *informatica.Client, org string) (contractEntry, error) {
		l, err := c.License(ctx, org)
		return contractEntry{License: &l}, err
	},
}

var orgTreeSource = contractSource{
	name: "org_tree", title: "Org tree",
	read: func(ctx context.Context, c *informatica.Client, _ string) (contractEntry, error) {
		orgs, err := c.OrgTree(ctx)
		return contractEntry{Tree: orgs}, err
	},
}

var alertSource = contractSource{
	name: "alert_thresholds", title: "IPU alert threshold", linkedOrgs: true,
	read: func(ctx context.Context, c *informatica.Client, org string) (contractEntry, error) {
		a, ok, err := c.IPUAlert(ctx, org)
		if !ok {
			return contractEntry{}, err
		}
		return contractEntry{Alert: &a}, err
	},
}

// contractEntry is what one read of a source for one org gave; the field
// of the source is set (Alert stays nil for an org without a threshold).
type contractEntry struct {
	Taken   time.Time             `json:"taken"`
	License *informatica.License  `json:"license,omitempty"`
	Tree    []informatica.Org     `json:"tree,omitempty"`
	Alert   *informatica.IPUAlert `json:"alert,omitempty"`
}

// contractData is an account's contract as published: per source, the
// last good entry of each org it was read for. It is never changed, only
// replaced, so the exposition keys on its address.
type contractData struct {
	sources [numContractSources]map[string]contractEntry
}

// with returns a copy of d with entry e for org in source i.
func (d *contractData) with(i int, org string, e contractEntry) *contractData {
	out := &contractData{}
	if d != nil {
		out.sources = d.sources
	}
	out.sources[i] = maps.Clone(out.sources[i])
	if out.sources[i] == nil {
		out.sources[i] = map[string]contractEntry{}
	}
	out.sources[i][org] = e
	return out
}

// contractTimes is the state of one contract source of an account.
type contractTimes struct {
	lastSuccess time.Time
	failures    uint64
	attempts    map[string]time.Time // by org
	// failing counts each org's failed reads since its last good one: a
	// failed read is tried again sooner than the interval (retryDelay), so
	// that one passing fault does not leave the last good values to run
	// out at max_age.
	failing map[string]int
	// causes are the errors logged, by org, so that each is logged once.
	causes map[string]string
	// lastError is the last failed read's, until a run of the source
	// without failure; denied lists the linked orgs that refused it.
	lastError string
	denied    []string
}

// contractFamily is a family of the contract metrics: the series one
// org's entry of its source makes. Every label list starts with org_id,
// by which an org several accounts read is published once.
type contractFamily struct {
	family
	source int
	series func(v *contractView, org string, e *contractEntry, emit func(value float64, labels ...string))
}

// contractView is what the families of an account's contract need besides
// the entries: the display names and the orgs of its usage.
type contractView struct {
	names     map[string]string
	usageOrgs []usage.OrgInfo
}

// contractCached ends the HELP of every contract family.
const contractCached = " Cached from Informatica, read every contract_interval."

// contractFamilies are the contract metrics; adding one is an entry here.
var contractFamilies = [...]contractFamily{
	{
		family: newFamily("informatica_license_expiry_timestamp_seconds",
			"When an edition (kind edition) or a custom licence (kind custom_license) of the org expires, from GET /public/core/v3/license/org/<org_id>. id is Informatica's opaque ID, name its display name from the account's license_names, license_type TRIAL, SUBSCRIPTION, FREE or NONE for a custom licence."+contractCached,
			[]string{"org_id", "kind", "id", "license_type", "name"}),
		source: srcLicense,
		series: func(v *contractView, org string, e *contractEntry, emit func(float64, ...string)) {
			for _, x := range []struct {
				kind string
				list []informatica.Expiring
			}{{"edition", e.License.Editions}, {"custom_license", e.License.CustomLicenses}} {
				for _, l := range x.list {
					if !l.Expires.IsZero() {
						emit(unixSeconds(l.Expires), org, x.kind, l.ID, l.Type, v.names[l.ID])
					}
				}
			}
		},
	},
	{
		family: newFamily("informatica_license_limit",
			"A custom limit of the org's licences, from GET /public/core/v3/license/org/<org_id>; Informatica's -1, no maximum, is +Inf. limit_id is Informatica's opaque ID, name its display name from the account's license_names."+contractCached,
			[]string{"org_id", "limit_id", "name"}),
		source: srcLicense,
		series: func(v *contractView, org string, e *contractEntry, emit func(float64, ...string)) {
			for _, l := range e.License.Limits {
				value := l.Value
				if l.Unlimited() {
					value = math.Inf(1)
				}
				emit(value, org, l.ID, v.names[l.ID])
			}
		},
	},
	{
		family: newFamily("informatica_org_tree_info",
			"The org tree, from GET /api/v2/org: parent_org_id is the org's parent, or the org itself for an org without one, so that sum by (parent_org_id) adds each parent's sub-orgs to it. tree is root, sub_org, or not_in_tree for an org billed in the usage that the tree does not list (linked production and sandbox orgs). Always 1."+contractCached,
			[]string{"org_id", "parent_org_id", "tree"}),
		source: srcOrgTree,
		series: func(v *contractView, _ string, e *contractEntry, emit func(float64, ...string)) {
			tree := v.tree(e)
			for _, o := range e.Tree {
				id := tree.id(o.ID)
				if o.ParentID == "" {
					emit(1, id, id, "root")
				} else {
					emit(1, id, tree.id(o.ParentID), "sub_org")
				}
			}
			for _, o := range v.usageOrgs {
				if _, ok := tree.byID[o.ID]; !ok {
					emit(1, o.ID, o.ID, "not_in_tree")
				}
			}
		},
	},
	{
		family: newFamily("informatica_ipu_alert_threshold",
			"The IPU alert threshold the org's administrators set in Informatica's Metering UI, from GET /public/core/v3/metering/ipuAlert/org('<org_id>'): IPUs per billing period for type absolute, percent of the entitlement for type percentage. No series for an org without a threshold."+contractCached,
			[]string{"org_id", "type"}),
		source: srcAlerts,
		series: func(_ *contractView, org string, e *contractEntry, emit func(float64, ...string)) {
			if e.Alert == nil {
				return
			}
			kind := "absolute"
			if e.Alert.Percentage {
				kind = "percentage"
			}
			emit(e.Alert.Threshold, org, kind)
		},
	},
}

// Health of the contract reads, by source.
var (
	contractFailuresDesc = prometheus.NewDesc(
		"informatica_exporter_contract_failures_total",
		"Failed reads of the account's contract source ("+strings.Join(ContractSourceNames(), ", ")+"): one per org and read. A linked org that refuses a read (403, 404) is no failure.",
		[]string{"account", "source"}, nil)
	lastContractDesc = prometheus.NewDesc(
		"informatica_exporter_last_contract_success_timestamp_seconds",
		"When the account's last successful read of the contract source ("+strings.Join(ContractSourceNames(), ", ")+") finished.",
		[]string{"account", "source"}, nil)
)

// contractDescs are the contract families and their health.
func contractDescs() []*prometheus.Desc {
	var out []*prometheus.Desc
	for _, f := range contractFamilies {
		out = append(out, f.desc)
	}
	return append(out, contractFailuresDesc, lastContractDesc)
}

// orgTree is a tree entry as labels see it: by the IDs of the usage where
// the tree gave only v2 short IDs and the usage has an org of that name.
type orgTree struct {
	byID  map[string]informatica.Org
	alias map[string]string // short ID to usage ID
}

func (v *contractView) tree(e *contractEntry) *orgTree {
	t := &orgTree{byID: map[string]informatica.Org{}, alias: map[string]string{}}
	if e == nil {
		return t
	}
	byName := map[string][]string{}
	for _, o := range v.usageOrgs {
		byName[o.Name] = append(byName[o.Name], o.ID)
	}
	for _, o := range e.Tree {
		if ids := byName[o.Name]; o.ShortID && o.Name != "" && len(ids) == 1 {
			t.alias[o.ID] = ids[0]
		}
	}
	for _, o := range e.Tree {
		o.ID, o.ParentID = t.id(o.ID), t.id(o.ParentID)
		t.byID[o.ID] = o
	}
	return t
}

func (t *orgTree) id(id string) string { return cmp.Or(t.alias[id], id) }

// orgLabels are the tree's labels of informatica_org_info: the parent
// ("" for a top org) and whether it is a development org ("" for an org
// the tree does not list).
func (t *orgTree) orgLabels(id string) (parent, devOrg string) {
	if t == nil {
		return "", ""
	}
	o, ok := t.byID[id]
	if !ok {
		return "", ""
	}
	return o.ParentID, fmt.Sprint(o.DevOrg)
}

// contractData returns the account's contract data, nil for none (or an
// account made without a holder, as tests do).
func (a *account) contractData() *contractData {
	if a.contract == nil {
		return nil
	}
	return a.contract.Load()
}

// contractKey is the account's contract data and how many of its entries
// are past maxAge: together, what its contract metrics are as of now.
// Entries only age, so the count tells when they change.
type contractKey struct {
	data  *contractData
	stale int
}

func (a *account) contractKey(now time.Time, maxAge time.Duration) contractKey {
	d := a.contractData()
	k := contractKey{data: d}
	if d == nil {
		return k
	}
	for _, entries := range d.sources {
		for _, e := range entries {
			if now.Sub(e.Taken) > maxAge {
				k.stale++
			}
		}
	}
	return k
}

// freshEntry returns the entry of org in source i if it is younger than
// maxAge and the source is on.
func (a *account) freshEntry(d *contractData, i int, org string, now time.Time, maxAge time.Duration) *contractEntry {
	if d == nil || !a.settings.Contract.On(contractSources[i].name) {
		return nil
	}
	e, ok := d.sources[i][org]
	if !ok || now.Sub(e.Taken) > maxAge {
		return nil
	}
	return &e
}

// loginTree returns the account's fresh org tree, nil when it has none.
func (a *account) loginTree(now time.Time, maxAge time.Duration, usageOrgs []usage.OrgInfo) *orgTree {
	d := a.contractData()
	if d == nil {
		return nil
	}
	for org := range d.sources[srcOrgTree] {
		if e := a.freshEntry(d, srcOrgTree, org, now, maxAge); e != nil {
			v := contractView{usageOrgs: usageOrgs}
			return v.tree(e)
		}
	}
	return nil
}

// collectContract sends the account's fresh contract metrics of the orgs
// no earlier account published (seen, by family), then marks them seen.
func (a *account) collectContract(ch chan<- prometheus.Metric, seen *[len(contractFamilies)]map[string]bool, usageOrgs []usage.OrgInfo, now time.Time, maxAge time.Duration) {
	d := a.contractData()
	if d == nil {
		return
	}
	v := &contractView{names: a.settings.Contract.Names, usageOrgs: usageOrgs}
	for f := range contractFamilies {
		fam := &contractFamilies[f]
		orgs := slices.Sorted(maps.Keys(d.sources[fam.source]))
		mine := map[string]bool{}
		for _, org := range orgs {
			e := a.freshEntry(d, fam.source, org, now, maxAge)
			if e == nil {
				continue
			}
			fam.series(v, org, e, func(value float64, labels ...string) {
				if seen[f][labels[0]] {
					return
				}
				mine[labels[0]] = true
				m, err := prometheus.NewConstMetric(fam.desc, prometheus.GaugeValue, value, labels...)
				if err != nil {
					m = prometheus.NewInvalidMetric(fam.desc, err)
				}
				ch <- m
			})
		}
		for org := range mine {
			seen[f][org] = true
		}
	}
}

// contractExpiry is when the first fresh entry of the account's contract
// turns stale; zero when none is fresh.
func (a *account) contractExpiry(now time.Time, maxAge time.Duration) time.Time {
	var first time.Time
	if d := a.contractData(); d != nil {
		for _, entries := range d.sources {
			for _, e := range entries {
				if stale := e.Taken.Add(maxAge + time.Nanosecond); stale.After(now) && (first.IsZero() || stale.Before(first)) {
					first = stale
				}
			}
		}
	}
	return first
}

// applyContractSettings makes the contract data the account took over on
// a reload follow its settings: a source turned off is dropped, its
// entries and its state, and from storage.
func (a *account) applyContractSettings() {
	if a.contract == nil {
		return
	}
	d := a.contractData()
	changed := false
	var next contractData
	if d != nil {
		next = *d
	}
	a.state.mu.Lock()
	for i, src := range contractSources {
		if a.settings.Contract.On(src.name) {
			continue
		}
		a.state.contract[i] = contractTimes{}
		if next.sources[i] != nil {
			next.sources[i], changed = nil, true
		}
	}
	a.state.mu.Unlock()
	if changed {
		a.contract.Store(&next)
		a.persistContract()
	}
	if len(a.settings.Contract.Sources) == 0 {
		a.contract.Store(nil)
		a.removeContractState()
	}
}

// dueContractOrgs returns the orgs source i reads now: the login org
// first, then the linked orgs of the usage least recently read, those not
// read for the contract interval, at most the settings' max orgs.
func (a *account) dueContractOrgs(i int, login string, now time.Time) []string {
	candidates := []string{login}
	if contractSources[i].linkedOrgs {
		if snap := a.snap.Load(); snap != nil {
			for _, o := range snap.table.Orgs {
				if o.ID != login {
					candidates = append(candidates, o.ID)
				}
			}
		}
	}
	a.state.mu.Lock()
	attempts, failing := a.state.contract[i].attempts, a.state.contract[i].failing
	a.state.mu.Unlock()
	var due []string
	for _, org := range candidates {
		gap := a.settings.Contract.interval()
		if n := failing[org]; n > 0 {
			gap = retryDelay(n, gap)
		}
		last, ok := attempts[org]
		if !ok || now.Sub(last) >= gap || last.After(now) {
			due = append(due, org)
		}
	}
	// The login org first, then the orgs read longest ago (never first).
	slices.SortStableFunc(due, func(x, y string) int {
		if x == login || y == login {
			return boolCompare(y == login, x == login)
		}
		return attempts[x].Compare(attempts[y])
	})
	return due[:min(len(due), a.settings.Contract.maxOrgs())]
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// runContract reads the contract sources due, after a refresh: one read
// per org due, each failure counted, logged once per cause and kept apart
// from the usage, whose data and informatica_up it never touches.
func (a *account) runContract(ctx context.Context) {
	if len(a.settings.Contract.Sources) == 0 {
		return
	}
	a.state.mu.Lock()
	login := a.state.loginOrgID
	loginFailed := !a.state.up && a.state.lastErrorStage == informatica.StageLogin
	a.state.mu.Unlock()
	login = cmp.Or(a.client.OrgID(), login)
	if login == "" || loginFailed {
		// No login yet, or the run's failed: reads would only fail on it
		// again. The next run reads what is due.
		return
	}
	changed := false
	for i, src := range contractSources {
		if !a.settings.Contract.On(src.name) {
			continue
		}
		var failed, denied []string
		var lastErr error
		read := false
		for _, org := range a.dueContractOrgs(i, login, a.now()) {
			if ctx.Err() != nil || a.retired() {
				return
			}
			e, err := src.read(ctx, a.client, org)
			if ctx.Err() != nil {
				return
			}
			read = true
			finished := a.now()
			a.state.mu.Lock()
			t := &a.state.contract[i]
			if t.attempts == nil {
				t.attempts, t.causes, t.failing = map[string]time.Time{}, map[string]string{}, map[string]int{}
			}
			t.attempts[org] = finished
			cause, logged := t.causes[org]
			switch {
			case err == nil:
				delete(t.causes, org)
				delete(t.failing, org)
				t.lastSuccess = finished
			case org != login && refused(err):
				denied = append(denied, org)
				t.causes[org] = err.Error()
			default:
				failed = append(failed, org)
				lastErr = err
				t.failures++
				t.failing[org]++
				t.causes[org] = err.Error()
			}
			a.state.mu.Unlock()
			switch {
			case err == nil:
				e.Taken = finished
				a.contract.Store(a.contractData().with(i, org, e))
				changed = true
				if logged {
					level.Info(a.logger).Log("msg", src.title+" read again", "source", src.name, "org_id", org)
				}
			case cause == err.Error():
				// Logged already.
			case org != login && refused(err):
				level.Info(a.logger).Log("msg", src.title+" of a linked org is not readable with this login; its usage is not affected", "source", src.name, "org_id", org, "err", err)
			default:
				level.Warn(a.logger).Log("msg", src.title+" read failed, keeping the last good values until max_age; the usage is not affected", "source", src.name, "org_id", org, "err", err)
			}
		}
		if read {
			// What the landing page shows: the last run's outcome.
			a.state.mu.Lock()
			t := &a.state.contract[i]
			t.lastError, t.denied = "", denied
			if len(failed) > 0 {
				t.lastError = lastErr.Error()
			}
			a.state.mu.Unlock()
		}
	}
	if changed {
		if a.published != nil {
			a.published()
		}
		a.persistContract()
	}
}

// refused reports an answer that says the login may not read an org, or
// that the resource is not there for it: for a linked org, expected.
func refused(err error) bool {
	var apiErr *informatica.APIError
	return errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusForbidden || apiErr.StatusCode == http.StatusNotFound)
}
