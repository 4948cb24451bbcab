package main

// The life of an account across reloads, judged from outside: /metrics,
// /-/ready, the landing page and the fake Informatica's request log.

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// lifecycleConfig is a configuration of one account "acme" with the given
// account keys (beyond name) and top-level sections.
func lifecycleConfig(account, extra string) string {
	return "accounts:\n  - name: acme\n" + account + `refresh:
  interval: 1h
  lookback: 45d
  poll_interval: 10ms
  job_timeout: 10s
  max_age: 26h
` + extra
}

// loginYAML is the account keys that log in to f with password.
func loginYAML(f *fake.Server, password string) string {
	return fmt.Sprintf("    login_url: %s\n    username: %s\n    password: %s\n", f.URL(), f.Username(), password)
}

func (p *exporterProcess) reload() {
	p.t.Helper()
	if code, body := httpDo(p.t, http.MethodPost, p.url+"/-/reload"); code != http.StatusOK {
		p.t.Fatalf("reload = %d %s", code, body)
	}
}

// exportsFrom returns the startDate of every export job f was asked for.
func exportsFrom(f *fake.Server) []string {
	var out []string
	for _, r := range f.Requests() {
		if r.Endpoint == fake.EndpointExport {
			out = append(out, fmt.Sprint(r.Body["startDate"]))
		}
	}
	return out
}

// TestReloadOntoAnotherLogin moves an account onto another login: it is a
// new account. Until the new login's first refresh, nothing of the old one
// is served and the exporter is not ready; then the entitlement carries the
// new org and its history is loaded from history.start.
func TestReloadOntoAnotherLogin(t *testing.T) {
	now := frozen(date(2026, 6, 15, 12, 0, 0))
	oldOrg := fake.Org{ID: "0ldOrgxxxxxxxxxxxxxxxxx", Name: "Old", Type: "Production", Scale: 1}
	newOrg := fake.Org{ID: "NewOrgxxxxxxxxxxxxxxxxx", Name: "New", Type: "Production", Scale: 1}
	f1 := startFake(t, fake.Options{Now: now, Orgs: []fake.Org{oldOrg}, Days: 200})
	f2 := startFake(t, fake.Options{Now: now, Orgs: []fake.Org{newOrg}, Days: 200, Username: "other", Password: "other-password"})
	dir := t.TempDir()
	const history = "history:\n  start: 2026-01-01\n"
	path := writeFile(t, dir, "config.yml", lifecycleConfig(loginYAML(f1, f1.Password())+"    ipu_entitlement: 100\n", history))
	timer := &stepTimer{}
	p := startExporterWith(t, hooks{now: now, after: timer.after}, "--config.file="+path)
	timer.allow(1)
	waitForUp(t, p, "acme")
	// The first run and the history down to history.start are in.
	waitFor(t, 20*time.Second, "the old login's history", func() bool {
		return strings.HasPrefix(strings.Join(exportsFrom(f1), " "), "2026-05-01") && len(exportsFrom(f1)) == 2
	})
	got := p.scrape()
	if got[key("informatica_ipu_entitlement_ipus", "account", "acme", "org_id", oldOrg.ID)] != 100 {
		t.Fatalf("no entitlement of the old org before the reload")
	}

	// The next runs wait for the test's timer: only a new account's first
	// run can start.
	writeFile(t, dir, "config.yml", lifecycleConfig(loginYAML(f2, f2.Password())+"    ipu_entitlement: 100\n", history))
	p.reload()
	got = p.scrape()
	if v, ok := got[key("informatica_up", "account", "acme")]; ok && v != 0 {
		t.Errorf("informatica_up = %v before the new login's first refresh, want 0 or absent", v)
	}
	for k := range got {
		if strings.Contains(k, oldOrg.ID) {
			t.Errorf("the old login's %s is still served", k)
		}
	}
	if v := got[key("informatica_exporter_refreshes_total", "account", "acme")]; v != 0 {
		t.Errorf("refreshes_total = %v before the new login's first refresh: the old login's counters were kept", v)
	}
	if code, _ := p.get("/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/-/ready = %d before the new login's first refresh, want 503", code)
	}

	timer.allow(3) // the old instance's second wait, then the new one's first
	got = waitForUp(t, p, "acme")
	if code, _ := p.get("/-/ready"); code != http.StatusOK {
		t.Errorf("/-/ready = %d after the new login's first refresh", code)
	}
	if v := got[key("informatica_ipu_entitlement_ipus", "account", "acme", "org_id", newOrg.ID)]; v != 100 {
		t.Errorf("entitlement of the new org = %v, want 100", v)
	}
	if _, ok := withoutTreeLabels(got)[key("informatica_org_info", "account", "acme", "org_id", newOrg.ID, "org_name", "New", "org_type", "Production")]; !ok {
		t.Errorf("the new login's org is not published")
	}
	waitFor(t, 20*time.Second, "the new login's history from history.start", func() bool {
		for _, s := range exportsFrom(f2) {
			if strings.HasPrefix(s, "2026-01-01") {
				return true
			}
		}
		return false
	})
	waitFor(t, 10*time.Second, "the old login to log out", func() bool { return f1.Calls(fake.EndpointLogout) == 1 })
}

// TestReloadRetriesAtOnce: a reload after a failed run retries it at once,
// and so does a reload that changes the password (here the content of
// password_file), instead of waiting out the backoff. The test never lets
// a wait between runs end.
func TestReloadRetriesAtOnce(t *testing.T) {
	f := startFake(t, fake.Options{})
	dir := t.TempDir()
	writeFile(t, dir, "password", "wrong-secret\n")
	path := writeFile(t, dir, "config.yml", lifecycleConfig(fmt.Sprintf(
		"    login_url: %s\n    username: %s\n    password_file: password\n", f.URL(), f.Username()), ""))
	timer := &stepTimer{}
	p := startExporterWith(t, hooks{after: timer.after}, "--config.file="+path)
	timer.allow(1)
	refreshes := key("informatica_exporter_refreshes_total", "account", "acme")
	waitFor(t, 20*time.Second, "the failed first run", func() bool { return p.scrape()[refreshes] == 1 })
	if n := f.Calls(fake.EndpointLogin); n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}

	// The same configuration again: the failed run is retried.
	p.reload()
	waitFor(t, 20*time.Second, "a retry after the reload", func() bool { return p.scrape()[refreshes] == 2 })
	if n := f.Calls(fake.EndpointLogin); n != 2 {
		t.Errorf("%d logins, want 2", n)
	}

	// The right password: the account runs at once and is up.
	writeFile(t, dir, "password", f.Password()+"\n")
	p.reload()
	waitFor(t, 20*time.Second, "a run with the new password", func() bool { return p.scrape()[refreshes] == 3 })
	if v := p.scrape()[key("informatica_up", "account", "acme")]; v != 1 {
		t.Errorf("informatica_up = %v after the run with the new password, want 1:\n%s", v, p.logs)
	}
}

// holdPolls is a transport that holds the status polls of export jobs
// until release is closed: a job stays in flight as long as the test
// wants.
type holdPolls struct {
	next    http.RoundTripper
	release chan struct{}
	held    atomic.Int64
}

func (h *holdPolls) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/download") {
		h.held.Add(1)
		select {
		case <-h.release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return h.next.RoundTrip(r)
}

// TestRetiredInstanceOnlyFinishes reloads an account with changed settings
// (same login) while its first export job is in flight: the old instance
// finishes that job, so that none is left running at Informatica, and
// starts no other: no history chunk, no breakdown. The new instance's runs
// wait for the test's timer, so every export job the fake sees until the
// old session logs out is the old instance's.
func TestRetiredInstanceOnlyFinishes(t *testing.T) {
	now := frozen(date(2026, 6, 15, 12, 0, 0))
	f := startFake(t, fake.Options{Now: now, Days: 300})
	dir := t.TempDir()
	account := func(entitlement int) string {
		return loginYAML(f, f.Password()) + fmt.Sprintf("    ipu_entitlement: %d\n    breakdowns: [project_folder, asset, task]\n", entitlement)
	}
	const history = "history:\n  start: 2025-10-01\n"
	path := writeFile(t, dir, "config.yml", lifecycleConfig(account(100), history))
	hold := &holdPolls{next: http.DefaultTransport, release: make(chan struct{})}
	adjust := func(s *collector.Settings) {
		for i := range s.Accounts {
			s.Accounts[i].Client.HTTPClient = &http.Client{Transport: hold}
		}
	}
	timer := &stepTimer{}
	p := startExporterWith(t, hooks{now: now, after: timer.after, adjust: adjust}, "--config.file="+path)
	timer.allow(1)
	waitFor(t, 20*time.Second, "the first job in flight", func() bool { return hold.held.Load() > 0 })

	writeFile(t, dir, "config.yml", lifecycleConfig(account(200), history))
	p.reload()
	close(hold.release)
	waitFor(t, 20*time.Second, "the old instance to log out", func() bool { return f.Calls(fake.EndpointLogout) == 1 })
	if jobs := exportsFrom(f); len(jobs) != 1 {
		t.Errorf("%d export jobs (from %v), want only the one in flight at the reload", len(jobs), jobs)
	}
	if n := f.Calls(fake.EndpointDownload); n != 1 {
		t.Errorf("%d downloads, want 1: the job in flight, finished", n)
	}
	if v := p.scrape()[key("informatica_up", "account", "acme")]; v != 1 {
		t.Errorf("informatica_up = %v after the job in flight finished, want 1", v)
	}
}

// holdExports is a transport that holds the n-th export job's creation
// until the test allows n jobs: the test sees what the exporter says while
// each job waits.
type holdExports struct {
	next    http.RoundTripper
	created atomic.Int64 // export requests that arrived
	allowed atomic.Int64
}

func (h *holdExports) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && !strings.HasSuffix(r.URL.Path, "/login") && !strings.HasSuffix(r.URL.Path, "/logout") {
		n := h.created.Add(1)
		for n > h.allowed.Load() {
			select {
			case <-r.Context().Done():
				return nil, r.Context().Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
	return h.next.RoundTrip(r)
}

// accountRow returns the landing page's table row of an account.
func accountRow(t *testing.T, p *exporterProcess, name string) string {
	t.Helper()
	code, page := p.get("/")
	if code != http.StatusOK {
		t.Fatalf("landing page: %d", code)
	}
	start := strings.Index(page, "<tr><td>"+name+"</td>")
	if start < 0 {
		t.Fatalf("no row of account %s on the landing page:\n%s", name, page)
	}
	row, _, _ := strings.Cut(page[start:], "</tr>")
	return row
}

// TestLandingPageTellsTheTruth: the next refresh is never a time already
// past (while a run or history loading is under way the page says so),
// each breakdown shows its last success, and the last reload its outcome
// and time, also when it failed.
func TestLandingPageTellsTheTruth(t *testing.T) {
	at := date(2026, 6, 15, 12, 0, 0)
	now := frozen(at)
	f := startFake(t, fake.Options{Now: now, Days: 200})
	dir := t.TempDir()
	config := lifecycleConfig(loginYAML(f, f.Password())+"    breakdowns: [project_folder]\n", "history:\n  start: 2026-01-01\n")
	path := writeFile(t, dir, "config.yml", config)
	hold := &holdExports{next: http.DefaultTransport}
	adjust := func(s *collector.Settings) {
		for i := range s.Accounts {
			s.Accounts[i].Client.HTTPClient = &http.Client{Transport: hold}
		}
	}
	timer := &stepTimer{}
	p := startExporterWith(t, hooks{now: now, after: timer.after, adjust: adjust}, "--config.file="+path)
	if _, page := p.get("/"); !strings.Contains(page, "Loaded at start, 2026-06-15T12:00:00Z.") {
		t.Errorf("the landing page does not say when the configuration was loaded")
	}
	timer.allow(1)

	cell := func(row string, i int) string {
		cells := strings.Split(row, "<td>")
		if i+1 >= len(cells) {
			t.Fatalf("row %q has no cell %d", row, i)
		}
		c, _, _ := strings.Cut(cells[i+1], "</td>")
		return c
	}
	const next, breakdowns = 3, 4 // columns
	waitFor(t, 20*time.Second, "the first export job", func() bool { return hold.created.Load() == 1 })
	row := accountRow(t, p, "acme")
	if c := cell(row, next); c != "running" {
		t.Errorf("next refresh = %q during the first run, want running", c)
	}
	if c := cell(row, breakdowns); c != "project_folder: never" {
		t.Errorf("breakdowns = %q before any, want project_folder: never", c)
	}
	hold.allowed.Store(1)
	waitFor(t, 20*time.Second, "the history job", func() bool { return hold.created.Load() == 2 })
	if c := cell(accountRow(t, p, "acme"), next); c != "loading history" {
		t.Errorf("next refresh = %q while history loads, want loading history", c)
	}
	hold.allowed.Store(3)
	nextRun := at.Add(time.Hour * 9 / 10) // the earliest a jittered hour can end
	waitFor(t, 20*time.Second, "the run to end", func() bool {
		c := cell(accountRow(t, p, "acme"), next)
		when, err := time.Parse(time.RFC3339, c)
		return err == nil && !when.Before(nextRun)
	})
	if c := cell(accountRow(t, p, "acme"), breakdowns); c != "project_folder: 2026-06-15T12:00:00Z" {
		t.Errorf("breakdowns = %q after the breakdown, want its time", c)
	}

	writeFile(t, dir, "config.yml", "accounts: [")
	if code, _ := httpDo(t, http.MethodPost, p.url+"/-/reload"); code != http.StatusInternalServerError {
		t.Errorf("reload of a broken file = %d, want 500", code)
	}
	if _, page := p.get("/"); !strings.Contains(page, "Last reload failed at 2026-06-15T12:00:00Z: ") ||
		!strings.Contains(page, "Running the configuration loaded at 2026-06-15T12:00:00Z.") {
		t.Errorf("the landing page does not show the failed reload:\n%s", page)
	}
	writeFile(t, dir, "config.yml", config)
	p.reload()
	if _, page := p.get("/"); !strings.Contains(page, "Last reload succeeded at 2026-06-15T12:00:00Z.") {
		t.Errorf("the landing page does not show the good reload:\n%s", page)
	}
}

// TestReloadNeverQuotesURLSecrets: a configuration whose login_url or
// callback_url holds a secret (user info, a path token, a query) is
// refused on POST /-/reload, and neither the response nor the log quotes
// the secret.
func TestReloadNeverQuotesURLSecrets(t *testing.T) {
	const secret = "S3cretPass-in-a-url"
	f := startFake(t, fake.Options{})
	dir := t.TempDir()
	path := writeConfig(t, dir, "1h", accountYAML("one", f, ""))
	// At debug, so that the scan covers every line the exporter can log.
	p := startExporter(t, nil, "--config.file="+path, "--log.level=debug")
	for _, c := range []struct{ key, url string }{
		{"login_url", "htps://svc:" + secret + "@dm-us.informaticacloud.com"},
		{"login_url", "svc:" + secret + "@dm-us.informaticacloud.com"},
		{"login_url", "htps://dm-us.informaticacloud.com/" + secret},
		{"login_url", "ftp://dm-us.informaticacloud.com/?token=" + secret},
		{"login_url", "https://dm-us.informaticacloud.com/" + secret + "/saas"},
		{"login_url", "https://dm-us.informaticacloud.com?token=" + secret},
		{"login_url", "https://dm-us.informaticacloud.com#" + secret},
		{"callback_url", "ftp://exporter.example.com/-/callback/" + secret},
		{"callback_url", "informatica:" + secret + "@exporter.example.com/-/callback"},
		{"callback_url", "https://informatica:" + secret + "@exporter.example.com/-/callback"},
		{"callback_url", "https:///-/callback/" + secret},
	} {
		account := accountYAML("one", f, "")
		if c.key == "login_url" {
			account = strings.Replace(account, f.URL(), "'"+c.url+"'", 1)
		} else {
			account += "    callback_url: '" + c.url + "'\n"
		}
		writeConfig(t, dir, "1h", account)
		logStart := len(p.logs.String())
		code, body := httpDo(t, http.MethodPost, p.url+"/-/reload")
		if code != http.StatusInternalServerError || !strings.Contains(body, c.key+": ") {
			t.Errorf("%s %s: reload = %d %q, want 500 naming %s", c.key, c.url, code, body, c.key)
		}
		if strings.Contains(body, secret) {
			t.Errorf("%s %s: the reload response quotes the secret: %q", c.key, c.url, body)
		}
		if logs := p.logs.String()[logStart:]; strings.Contains(logs, secret) {
			t.Errorf("%s %s: the log quotes the secret: %s", c.key, c.url, logs)
		}
	}
}
