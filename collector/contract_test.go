package collector

import (
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/usage"
)

// stepTimer is the refresher's timer in a test: the waits before the
// first allowed runs end at once, the others when the test allows them.
type stepTimer struct {
	mu      sync.Mutex
	allowed int
	waits   int
	pending map[int]chan time.Time // by wait number, from 1
}

func (s *stepTimer) after(time.Duration) <-chan time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits++
	ch := make(chan time.Time, 1)
	if s.waits <= s.allowed {
		ch <- time.Time{}
	} else {
		if s.pending == nil {
			s.pending = map[int]chan time.Time{}
		}
		s.pending[s.waits] = ch
	}
	return ch
}

// run lets run n start and waits until it has finished: the refresher
// waits for run n+1.
func (s *stepTimer) run(t *testing.T, n int) {
	t.Helper()
	s.mu.Lock()
	s.allowed = n
	for i, ch := range s.pending {
		if i <= n {
			ch <- time.Time{}
			delete(s.pending, i)
		}
	}
	s.mu.Unlock()
	waitFor(t, "the run to finish", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.waits > n
	})
}

// contractEnv is one account "prod" with every contract source, against
// the fake's demo contract, on a fixed clock, its runs started by the test.
type contractEnv struct {
	clock *fixedClock
	fake  *fake.Server
	exp   *Exporter
	timer *stepTimer
	acct  AccountSettings
	logs  *syncBuffer
}

var demoProd, demoSub, demoSandbox = fake.DemoOrgs[0].ID, fake.DemoOrgs[1].ID, fake.DemoOrgs[2].ID

const demoEdition = "4sdvnCrYEjfcKjTvAoigEF"

func newContractEnv(t *testing.T, dir string, edit func(*AccountSettings)) *contractEnv {
	t.Helper()
	c := &contractEnv{clock: newFixedClock(fakeBase), timer: &stepTimer{}}
	c.fake = startFake(t, fake.Options{}, c.clock.Now)
	c.acct = accountFor("prod", c.fake, nil)
	c.acct.Client.RequestTimeout = 500 * time.Millisecond
	c.acct.Contract = ContractSettings{Sources: ContractSourceNames(), Names: map[string]string{demoEdition: "Advanced Integration"}}
	if edit != nil {
		edit(&c.acct)
	}
	c.start(t, dir)
	return c
}

// start starts an exporter for the account, as after a restart.
func (c *contractEnv) start(t *testing.T, dir string) {
	t.Helper()
	logger, logs := newTestLogger()
	c.logs = logs
	opts := []Option{WithClock(c.clock.Now), WithTimer(c.timer.after)}
	if dir != "" {
		opts = append(opts, WithStorage(dir))
	}
	c.exp = New(logger, opts...)
	t.Cleanup(c.exp.Stop)
	if err := c.exp.Apply(Settings{Accounts: []AccountSettings{c.acct}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

func (c *contractEnv) samples(t *testing.T) samples { t.Helper(); return samplesOf(t, c.exp) }

// contractNames are the contract families.
var contractNames = []string{
	"informatica_license_expiry_timestamp_seconds", "informatica_license_limit",
	"informatica_org_tree_info", "informatica_ipu_alert_threshold",
}

// demoContractSamples are the contract series of the fake's demo contract
// as of now, with the name the test's settings give the first edition.
func demoContractSamples(now time.Time) samples {
	return demoContractSamplesNamed(now, "Advanced Integration")
}

// demoContractSamplesNamed is demoContractSamples with the first edition
// named name.
func demoContractSamplesNamed(now time.Time, name string) samples {
	day := now.UTC().Truncate(24 * time.Hour)
	exp := "informatica_license_expiry_timestamp_seconds"
	return samples{
		key(exp, "id", demoEdition, "kind", "edition", "license_type", "", "name", name, "org_id", demoProd):                               float64(day.AddDate(0, 0, 20).Unix()),
		key(exp, "id", "9hTq2LmXw0aZs1PdVbN8Kc", "kind", "edition", "license_type", "", "name", "", "org_id", demoProd):                    float64(day.AddDate(1, 0, 0).Unix()),
		key(exp, "id", "a5Xjp3VF3sjcyZUDa6UaWh", "kind", "custom_license", "license_type", "SUBSCRIPTION", "name", "", "org_id", demoProd): float64(day.AddDate(1, 0, 0).Unix()),
		key(exp, "id", demoEdition, "kind", "edition", "license_type", "", "name", name, "org_id", demoSub):                                float64(day.AddDate(0, 0, 200).Unix()),
		key("informatica_license_limit", "limit_id", "09cX4Tmi1qSfrS997ORMYl", "name", "", "org_id", demoProd):                             math.Inf(1),
		key("informatica_license_limit", "limit_id", "1bYv7RkP3sQw9TzXc2LmNd", "name", "", "org_id", demoProd):                             25,
		key("informatica_org_tree_info", "org_id", demoProd, "parent_org_id", demoProd, "tree", "root"):                                    1,
		key("informatica_org_tree_info", "org_id", demoSub, "parent_org_id", demoProd, "tree", "sub_org"):                                  1,
		key("informatica_org_tree_info", "org_id", demoSandbox, "parent_org_id", demoSandbox, "tree", "not_in_tree"):                       1,
		key("informatica_ipu_alert_threshold", "org_id", demoProd, "type", "percentage"):                                                   80,
		key("informatica_ipu_alert_threshold", "org_id", demoSub, "type", "absolute"):                                                      20,
	}
}

func contractCalls(f *fake.Server) [3]int {
	return [3]int{f.Calls(fake.EndpointLicense), f.Calls(fake.EndpointOrg), f.Calls(fake.EndpointIPUAlert)}
}

// TestContractMetrics: one run publishes the demo contract: expiries with
// display names, limits with -1 as +Inf, the tree with the org billed but
// not in it, the thresholds of both types, and the tree's labels on
// informatica_org_info. A linked org that refuses its licence (403) is no
// failure. The next reads wait for contract_interval.
func TestContractMetrics(t *testing.T) {
	t.Parallel()
	c := newContractEnv(t, "", nil)
	c.timer.run(t, 1)
	s := c.samples(t)
	assertSamples(t, s.with(contractNames...), demoContractSamples(c.clock.Now()))
	info := s.with("informatica_org_info")
	for k, want := range map[string]float64{
		key("informatica_org_info", "account", "prod", "dev_org", "false", "org_id", demoProd, "org_name", fake.DemoOrgs[0].Name, "org_type", "Production", "parent_org_id", ""):            1,
		key("informatica_org_info", "account", "prod", "dev_org", "false", "org_id", demoSub, "org_name", fake.DemoOrgs[1].Name, "org_type", "Sub-Organization", "parent_org_id", demoProd): 1,
		key("informatica_org_info", "account", "prod", "dev_org", "", "org_id", demoSandbox, "org_name", fake.DemoOrgs[2].Name, "org_type", "Sandbox", "parent_org_id", ""):                 1,
	} {
		if info[k] != want {
			t.Errorf("missing %s in\n%s", k, info)
		}
	}
	if len(info) != 3 {
		t.Errorf("informatica_org_info has %d series, want one per org:\n%s", len(info), info)
	}
	for _, src := range ContractSourceNames() {
		if got := s[key("informatica_exporter_contract_failures_total", "account", "prod", "source", src)]; got != 0 {
			t.Errorf("contract failures of %s = %v, want 0", src, got)
		}
		if got := s[key("informatica_exporter_last_contract_success_timestamp_seconds", "account", "prod", "source", src)]; got != unixSeconds(c.clock.Now()) {
			t.Errorf("last contract success of %s = %v, want now", src, got)
		}
	}
	// The licence and the threshold of every org of the usage; the tree
	// once, and the sub-org listed by its short ID on its own.
	if got := contractCalls(c.fake); got != [3]int{3, 2, 3} {
		t.Errorf("licence, org and IPU alert calls %v, want [3 2 3]", got)
	}
	st := c.exp.Status()[0].Contract
	if len(st) != 3 || st[0].Source != "license" || !slices.Equal(st[0].Refused, []string{demoSandbox}) || st[0].LastError != "" {
		t.Errorf("landing page's contract %+v: want the sandbox's licence refused, no error", st)
	}
	if lines := c.logs.Lines("level=warn"); len(lines) != 0 {
		t.Errorf("warnings: %q", lines)
	}

	// The encoded exposition serves them too.
	rec := httptest.NewRecorder()
	c.exp.Handler(prometheus.NewRegistry(), promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := `informatica_ipu_alert_threshold{org_id="` + demoSub + `",type="absolute"} 20`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if want := `informatica_license_limit{limit_id="09cX4Tmi1qSfrS997ORMYl",name="",org_id="` + demoProd + `"} +Inf`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("/metrics lacks %s", want)
	}

	// An hour on: nothing is read again; a day on, everything is.
	c.clock.Set(fakeBase.Add(time.Hour))
	c.timer.run(t, 2)
	if got := contractCalls(c.fake); got != [3]int{3, 2, 3} {
		t.Errorf("calls %v an hour later, want none more than [3 2 3]", got)
	}
	c.clock.Set(fakeBase.Add(DefaultContractInterval))
	c.timer.run(t, 3)
	if got := contractCalls(c.fake); got != [3]int{6, 4, 6} {
		t.Errorf("calls %v a contract interval later, want [6 4 6]", got)
	}
}

// TestContractMaxOrgs: a run reads at most max orgs of a source, the login
// org first, then those read longest ago.
func TestContractMaxOrgs(t *testing.T) {
	t.Parallel()
	c := newContractEnv(t, "", func(a *AccountSettings) {
		a.Contract.Sources, a.Contract.MaxOrgs = []string{"license"}, 1
	})
	var paths []string
	for run := 1; run <= 4; run++ {
		c.clock.Set(fakeBase.Add(time.Duration(run) * time.Hour))
		c.timer.run(t, run)
	}
	for _, r := range c.fake.Requests() {
		if r.Endpoint == fake.EndpointLicense {
			paths = append(paths, r.Path[strings.LastIndex(r.Path, "/")+1:])
		}
	}
	// The sub-org and the sandbox in ID order: both never read.
	if want := []string{demoProd, demoSub, demoSandbox}; !slices.Equal(paths, want) {
		t.Errorf("licence reads %v, want %v, one a run", paths, want)
	}
}

// TestContractFailureIsolation: a contract read that fails (403 or 404 on
// the login org, 5xx, a timeout, malformed JSON) leaves the usage, its
// health and informatica_up as a run without contract reads leaves them;
// it is counted by source, logged once per cause, and the last good
// values stay.
func TestContractFailureIsolation(t *testing.T) {
	t.Parallel()
	faults := map[string]fake.Fault{
		"403":            {Status: 403, Body: `{"error":{"code":"AUTH_03","message":"No privilege."}}`},
		"404":            {Status: 404, Body: `{"error":{"code":"CORE_404","message":"Not found."}}`},
		"503":            {Status: 503, Body: "<html>busy</html>"},
		"timeout":        {Hang: time.Minute},
		"malformed JSON": {Status: 200, Body: `[{"id":`},
	}
	endpoints := map[string]string{"license": fake.EndpointLicense, "org_tree": fake.EndpointOrg, "alert_thresholds": fake.EndpointIPUAlert}
	for src, endpoint := range endpoints {
		for name, fault := range faults {
			t.Run(src+" "+name, func(t *testing.T) {
				t.Parallel()
				c := newContractEnv(t, "", func(a *AccountSettings) { a.Contract.Interval = 12 * time.Hour })
				c.timer.run(t, 1)
				before := c.samples(t)

				// Every read of the source fails from now on.
				fault.Endpoint, fault.Times = endpoint, 1000
				c.fake.Inject(fault)
				for run := 2; run <= 3; run++ {
					c.clock.Set(fakeBase.Add(time.Duration(run-1) * 12 * time.Hour))
					c.timer.run(t, run)
				}
				s := c.samples(t)

				// The usage is that of a run without contract reads.
				ref := newContractEnv(t, "", func(a *AccountSettings) { a.Contract = ContractSettings{} })
				ref.clock.Set(c.clock.Now())
				ref.timer.run(t, 1)
				// The tree's labels of informatica_org_info aside: the series
				// are the same.
				treeLabels := regexp.MustCompile(`,?(dev_org|parent_org_id)="[^"]*"`)
				strip := func(s samples) samples {
					out := samples{}
					for k, v := range s {
						out[strings.Replace(treeLabels.ReplaceAllString(k, ""), "{,", "{", 1)] = v
					}
					return out
				}
				want, got := strip(ref.samples(t).with(usageNames...)), strip(s.with(usageNames...))
				assertSamples(t, got, want)
				if got := s[key("informatica_up", "account", "prod")]; got != 1 {
					t.Errorf("informatica_up = %v", got)
				}
				for k, v := range s.with("informatica_exporter_refresh_failures_total") {
					if v != 0 {
						t.Errorf("%s = %v", k, v)
					}
				}

				// Counted: the login org's read, and the linked orgs' unless
				// they refused it, twice.
				perRun := 1
				if src != "org_tree" && name != "403" && name != "404" {
					perRun = 3
				}
				if got := s[key("informatica_exporter_contract_failures_total", "account", "prod", "source", src)]; got != float64(2*perRun) {
					t.Errorf("contract failures of %s = %v, want %d", src, got, 2*perRun)
				}
				for _, other := range ContractSourceNames() {
					if other != src && s[key("informatica_exporter_contract_failures_total", "account", "prod", "source", other)] != 0 {
						t.Errorf("failures counted for %s", other)
					}
				}
				if lines := c.logs.Lines("read failed"); len(lines) != perRun {
					t.Errorf("%d log lines of the failure over two runs, want %d (once per org and cause):\n%s", len(lines), perRun, strings.Join(lines, "\n"))
				}
				if st := c.exp.Status()[0]; st.Up != true || !slices.ContainsFunc(st.Contract, func(x ContractStatus) bool { return x.Source == src && x.LastError != "" }) {
					t.Errorf("landing page %+v: want the account up and the %s error shown", st, src)
				}

				// The last good values stay, until max_age after they were
				// read; the other sources' were read again since.
				assertSamples(t, s.with(contractNames...), before.with(contractNames...))
				c.clock.Set(fakeBase.Add(refreshSettings(time.Hour).MaxAge + time.Second))
				left := c.samples(t).with(contractNames...)
				for _, f := range contractFamilies {
					name := descName(f.desc)
					n := len(left.with(name))
					if stale := contractSources[f.source].name == src; stale && n != 0 || !stale && n != len(before.with(name)) {
						t.Errorf("%d series of %s past max_age of the last good %s read, want %d", n, name, src, map[bool]int{true: 0, false: len(before.with(name))}[stale])
					}
				}
			})
		}
	}
}

// TestContractRestored: the contract is stored with the account's state
// and served at once after a restart, without reading it again, until
// max_age after it was read; one stored for another login, or damaged, is
// not served.
func TestContractRestored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := newContractEnv(t, dir, nil)
	c.timer.run(t, 1)
	want := c.samples(t).with(contractNames...)
	if len(want) != len(demoContractSamples(fakeBase)) {
		t.Fatalf("contract before the restart:\n%s", want)
	}
	c.exp.Stop()
	calls := contractCalls(c.fake)

	restart := func(edit func(*AccountSettings)) samples {
		c.timer = &stepTimer{} // no run
		acct := c.acct
		if edit != nil {
			edit(&c.acct)
		}
		c.start(t, dir)
		c.acct = acct
		return c.samples(t).with(contractNames...)
	}
	c.clock.Set(fakeBase.Add(time.Hour))
	assertSamples(t, restart(nil), want)
	if got := contractCalls(c.fake); got != calls {
		t.Errorf("calls %v after the restart, want %v: none", got, calls)
	}
	if s := c.samples(t); s[key("informatica_exporter_last_contract_success_timestamp_seconds", "account", "prod", "source", "license")] != unixSeconds(fakeBase) {
		t.Errorf("last contract success after the restart:\n%s", s.with("informatica_exporter_last_contract_success_timestamp_seconds"))
	}
	c.exp.Stop()

	// A source turned off on the restart is not served.
	got := restart(func(a *AccountSettings) { a.Contract.Sources = []string{"org_tree"} })
	if len(got) != 3 || len(got.with("informatica_org_tree_info")) != 3 {
		t.Errorf("with only org_tree on:\n%s", got)
	}
	c.exp.Stop()

	if got := restart(func(a *AccountSettings) { a.Client.Username = "someone-else" }); len(got) != 0 {
		t.Errorf("the contract of another login is served:\n%s", got)
	}
	c.exp.Stop()

	c.clock.Set(fakeBase.Add(refreshSettings(time.Hour).MaxAge + time.Second))
	if got := restart(nil); len(got) != 0 {
		t.Errorf("a contract older than max_age is served:\n%s", got)
	}
	c.exp.Stop()

	c.clock.Set(fakeBase.Add(time.Hour))
	if err := os.WriteFile(contractStatePath(dir, "prod"), []byte("not gzip"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := restart(nil); len(got) != 0 {
		t.Errorf("a damaged contract file is served:\n%s", got)
	}
	if lines := c.logs.Lines("Ignoring the stored contract"); len(lines) != 1 {
		t.Errorf("no warning names the damaged file:\n%s", c.logs)
	}
}

// TestContractReloadTurnsSourcesOff: a reload that turns a source off
// drops its series and health at once; one that keeps the login keeps the
// others and their schedule.
func TestContractReloadTurnsSourcesOff(t *testing.T) {
	t.Parallel()
	c := newContractEnv(t, "", nil)
	c.timer.run(t, 1)
	acct := c.acct
	acct.Contract.Sources = []string{"org_tree"}
	if err := c.exp.Apply(Settings{Accounts: []AccountSettings{acct}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s := c.samples(t)
	if got := s.with(contractNames...); len(got) != 3 || len(got.with("informatica_org_tree_info")) != 3 {
		t.Errorf("contract series after turning off license and alert_thresholds:\n%s", got)
	}
	if got := s.with("informatica_exporter_contract_failures_total"); len(got) != 1 {
		t.Errorf("contract health after the reload:\n%s", got)
	}
	if got := len(s.withLabel("parent_org_id", demoProd)); got != 3 {
		t.Errorf("%d series name the parent after the reload, want 3 (org_info of the sub-org, org_tree_info of both)", got)
	}
	acct.Contract.Sources = nil
	if err := c.exp.Apply(Settings{Accounts: []AccountSettings{acct}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := c.samples(t).withLabel("parent_org_id", demoProd); len(got) != 0 {
		t.Errorf("the tree is served with every contract source off:\n%s", got)
	}
}

// TestOrgTreeShortIDs: a tree that gives only v2 short IDs labels its orgs
// by the usage's IDs where the names match one usage org, and keeps the
// short ID (not dropping the org) where they do not.
func TestOrgTreeShortIDs(t *testing.T) {
	t.Parallel()
	v := &contractView{usageOrgs: []usage.OrgInfo{{ID: "0cuQSDTq5sikvN7x8r1xm1", Name: "Top"}, {ID: "6fRxkT2bqYc9WvLm0PzQ3e", Name: "Dev"}}}
	e := &contractEntry{Tree: []informatica.Org{
		{ID: "a1B2c3", ShortID: true, Name: "Top"},
		{ID: "d4E5f6", ShortID: true, Name: "Dev", ParentID: "a1B2c3", DevOrg: true},
		{ID: "g7H8i9", ShortID: true, Name: "Unknown", ParentID: "a1B2c3"},
	}}
	got := samples{}
	contractFamilies[2].series(v, "", e, func(value float64, labels ...string) {
		got[key("t", "org_id", labels[0], "parent_org_id", labels[1], "tree", labels[2])] = value
	})
	assertSamples(t, got, samples{
		key("t", "org_id", "0cuQSDTq5sikvN7x8r1xm1", "parent_org_id", "0cuQSDTq5sikvN7x8r1xm1", "tree", "root"):    1,
		key("t", "org_id", "6fRxkT2bqYc9WvLm0PzQ3e", "parent_org_id", "0cuQSDTq5sikvN7x8r1xm1", "tree", "sub_org"): 1,
		key("t", "org_id", "g7H8i9", "parent_org_id", "0cuQSDTq5sikvN7x8r1xm1", "tree", "sub_org"):                 1,
	})
	if parent, dev := v.tree(e).orgLabels("6fRxkT2bqYc9WvLm0PzQ3e"); parent != "0cuQSDTq5sikvN7x8r1xm1" || dev != "true" {
		t.Errorf("org_info labels of the dev org: %q, %q", parent, dev)
	}
}

// TestContractRetriesFailedReads: a failed read is tried again at the next
// run, not a contract_interval later, so that one passing fault does not
// leave the values to run out at max_age; a linked org that refused the
// read, and the orgs read well, wait for the interval.
func TestContractRetriesFailedReads(t *testing.T) {
	t.Parallel()
	c := newContractEnv(t, "", func(a *AccountSettings) { a.Contract.Sources = []string{"license"} })
	c.fake.Inject(fake.Fault{Endpoint: fake.EndpointLicense, Status: 503, Body: "<html>busy</html>"})
	c.timer.run(t, 1)
	failures := key("informatica_exporter_contract_failures_total", "account", "prod", "source", "license")
	if s := c.samples(t); s[failures] != 1 || len(s.withLabel("org_id", demoProd).with("informatica_license_expiry_timestamp_seconds")) != 0 {
		t.Fatalf("after the failed read of the login org: %v failures\n%s", s[failures], s.with(contractNames...))
	}
	c.clock.Set(fakeBase.Add(time.Hour))
	c.timer.run(t, 2)
	if got := c.fake.Calls(fake.EndpointLicense); got != 4 {
		t.Errorf("%d licence calls after the next run, want 4: the failed read again, nothing else", got)
	}
	s := c.samples(t)
	if s[failures] != 1 || len(s.withLabel("org_id", demoProd).with("informatica_license_expiry_timestamp_seconds")) != 3 {
		t.Errorf("after the retry: %v failures\n%s", s[failures], s.with(contractNames...))
	}
	c.clock.Set(fakeBase.Add(2 * time.Hour))
	c.timer.run(t, 3)
	if got := c.fake.Calls(fake.EndpointLicense); got != 4 {
		t.Errorf("%d licence calls a run after the good retry, want still 4", got)
	}
}

// TestContractSharedOrgsOnce: two accounts that read the same orgs publish
// each org's contract series once, as the usage's.
func TestContractSharedOrgsOnce(t *testing.T) {
	t.Parallel()
	clock := newFixedClock(fakeBase)
	f := startFake(t, fake.Options{}, clock.Now)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, clock.Now)
	timer := &recordingTimer{limit: 2} // the first run of each
	e.after = timer.after
	var accounts []AccountSettings
	for _, name := range []string{"one", "two"} {
		a := accountFor(name, f, nil)
		a.Contract.Sources = ContractSourceNames()
		accounts = append(accounts, a)
	}
	if err := e.Apply(Settings{Accounts: accounts, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both accounts' first runs", func() bool { return len(timer.recorded()) == 4 })
	s := gatherSamples(t, reg) // a series published twice fails the gathering
	assertSamples(t, s.with(contractNames...), demoContractSamplesNamed(fakeBase, ""))
	if got := len(s.with("informatica_exporter_last_contract_success_timestamp_seconds")); got != 6 {
		t.Errorf("%d last-success series, want 3 per account", got)
	}
}
