package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

var writeFile = testkit.WriteFile

func TestExampleConfigLoads(t *testing.T) {
	raw, err := os.ReadFile("../config.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "password", "example-secret\n")
	cfg := strings.Replace(string(raw), "/etc/informatica_exporter/password", "password", 1)
	s, err := Parse([]byte(cfg), dir)
	if err != nil {
		t.Fatalf("config.example.yml does not load: %v", err)
	}
	if len(s.Accounts) != 1 {
		t.Fatalf("accounts = %d, want 1", len(s.Accounts))
	}
	a := s.Accounts[0]
	if a.Name != "production" || a.Client.Username != "ipu-reader@example.com" ||
		a.Client.LoginURL != "https://dm-us.informaticacloud.com" ||
		a.Client.SummaryAPI != informatica.AllLinkedOrgsAcrossRegion || a.Client.CombinedMeterUsage {
		t.Errorf("account = %+v", a)
	}
	if a.Client.Password != "example-secret" {
		t.Errorf("password from password_file: trailing newline not trimmed or file not read")
	}
	if a.Entitlement == nil || *a.Entitlement != 120000 {
		t.Errorf("entitlement = %v, want 120000", a.Entitlement)
	}
	r := s.Refresh
	if r.Interval != time.Hour || r.Lookback != 45*24*time.Hour || r.PollInterval != 15*time.Second ||
		r.JobTimeout != 30*time.Minute || r.MaxAge != 26*time.Hour || r.Window != 3*24*time.Hour ||
		r.FullInterval != 24*time.Hour || r.Concurrency != 4 || !r.HistoryStart.IsZero() {
		t.Errorf("refresh = %+v", r)
	}
}

// TestExampleConfigCallbackURL: the callback_url that config.example.yml
// shows, commented out, loads once uncommented.
func TestExampleConfigCallbackURL(t *testing.T) {
	raw, err := os.ReadFile("../config.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	const commented = "    # callback_url: "
	if !strings.Contains(string(raw), commented) {
		t.Fatal("config.example.yml shows no callback_url")
	}
	cfg := strings.Replace(string(raw), commented, "    callback_url: ", 1)
	cfg = strings.Replace(cfg, "password_file: /etc/informatica_exporter/password", "password: example-secret", 1)
	s, err := Parse([]byte(cfg), t.TempDir())
	if err != nil {
		t.Fatalf("config.example.yml with callback_url does not load: %v", err)
	}
	if got := s.Accounts[0].Client.CallbackURL; !strings.HasPrefix(got, "https://") || !strings.Contains(got, "/-/callback/") {
		t.Errorf("callback URL = %q, want an https URL below /-/callback/", got)
	}
}

func TestConfigDefaults(t *testing.T) {
	s, err := Parse([]byte(`
accounts:
  - name: a
    login_url: https://dm-em.informaticacloud.com
    username: u
    password: p
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Refresh; got.Interval != time.Hour || got.Lookback != 45*24*time.Hour || got.MaxAge != 26*time.Hour ||
		got.PollInterval != 15*time.Second || got.JobTimeout != 30*time.Minute || got.Window != 3*24*time.Hour ||
		got.FullInterval != 24*time.Hour || got.Concurrency != 4 || !got.HistoryStart.IsZero() {
		t.Errorf("default refresh = %+v", got)
	}
	a := s.Accounts[0]
	if a.Client.SummaryAPI != informatica.AllLinkedOrgsAcrossRegion || a.Entitlement != nil || a.Client.CombinedMeterUsage {
		t.Errorf("default account = %+v", a)
	}
}

func TestConfigOtherSummaryAPI(t *testing.T) {
	s, err := Parse([]byte(`
accounts:
  - {name: a, login_url: "https://dm-us.informaticacloud.com/", username: u, password: p,
     summary_api: export_metering_data, combined_meter_usage: true, ipu_entitlement: 0}
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := s.Accounts[0]
	if a.Client.SummaryAPI != informatica.ExportMeteringData || !a.Client.CombinedMeterUsage || a.Entitlement == nil || *a.Entitlement != 0 {
		t.Errorf("account = %+v", a)
	}
}

// TestConfigErrors checks that every kind of bad configuration is refused
// with an error naming the key, and never quoting the password.
func TestConfigErrors(t *testing.T) {
	const secret = "hunter2-very-secret"
	account := func(extra string) string {
		return "accounts:\n  - name: prod\n    login_url: https://dm-us.informaticacloud.com\n    username: u\n" + extra
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"empty file", "", "the file is empty (or only comments): it needs at least one account under accounts:"},
		{"only comments", "# accounts:\n#   - name: a\n", "the file is empty (or only comments)"},
		{"a list, not a mapping", "- accounts\n", "line 1: the file: expected a mapping (key: value lines), got a list"},
		{"no accounts", "accounts: []\n", "accounts: at least one account"},
		{"unknown key", account("    password: x\n    pasword_file: y\n"), `line 6: accounts[0]: unknown key "pasword_file"; the keys here are: name, login_url, username, password, password_file,`},
		{"unknown refresh key", account("    password: x\n") + "refresh:\n  intervall: 1h\n", `line 7: refresh: unknown key "intervall"; the keys here are: interval, lookback,`},
		{"unknown top-level key", "acounts: []\n", `line 1: top level: unknown key "acounts"; the keys here are: accounts, refresh, history`},
		{"password as a list", account("    password: [" + secret + ", y]\n"), "line 5: accounts[0].password: expected a string, got a list"},
		{"password as a mapping", account("    password: {" + secret + ": y}\n"), "line 5: accounts[0].password: expected a string, got a mapping"},
		{"accounts as a mapping", "accounts:\n  prod:\n    login_url: https://x.example\n", `line 2: accounts: expected a list (lines starting with "- ", or [a, b]), got a mapping`},
		{"account as a string", "accounts:\n  - prod\n", "line 2: accounts[0]: expected a mapping (key: value lines), got a string"},
		{"refresh as a list", account("    password: p\n") + "refresh: [1h]\n", "line 6: refresh: expected a mapping (key: value lines), got a list"},
		{"bool as a string", account("    password: p\n    combined_meter_usage: sometimes\n"), "line 6: accounts[0].combined_meter_usage: expected true or false, got a string"},
		{"concurrency as a number", account("    password: p\n") + "refresh:\n  concurrency: 2.5\n", "line 7: refresh.concurrency: expected a whole number, got a number"},
		{"breakdowns as a string", account("    password: p\n    breakdowns: project_folder\n"), "line 6: accounts[0].breakdowns: expected a list"},
		{"second account's key", account("    password: p\n") + "  - name: b\n    ipu_entitlement: [1]\n", "line 7: accounts[1].ipu_entitlement: expected a number, got a list"},
		{"login_url with a query", "accounts:\n  - name: a\n    login_url: https://dm-us.informaticacloud.com/?token=" + secret + "\n    username: u\n    password: p\n", "login_url: must not have a query (?...), which the exporter would drop; give the POD's login host only, e.g. https://dm-us.informaticacloud.com"},
		{"login_url with an empty query", "accounts:\n  - name: a\n    login_url: https://dm-us.informaticacloud.com?\n    username: u\n    password: p\n", "login_url: must not have a query"},
		{"login_url with a fragment", "accounts:\n  - name: a\n    login_url: https://dm-us.informaticacloud.com/saas#" + secret + "\n    username: u\n    password: p\n", "login_url: must not have a fragment (#...)"},
		{"window longer than lookback", account("    password: p\n") + "refresh:\n  lookback: 10d\n  window: 11d\n", "refresh.window: 11d is longer than refresh.lookback 10d"},
		{"history.start month first", account("    password: p\n") + "history:\n  start: 01/05/2025\n", `history.start: "01/05/2025" is not an ISO 8601 date (YYYY-MM-DD)`},
		{"no name", "accounts:\n  - login_url: https://x.example\n    username: u\n    password: p\n", "accounts[0]: name: required"},
		{"duplicate name", account("    password: p\n") + "  - name: prod\n    login_url: https://x.example\n    username: u\n    password: p\n", "accounts[1] (prod): name: \"prod\" is used by an earlier account"},
		{"no login_url", "accounts:\n  - name: a\n    username: u\n    password: p\n", "login_url: required"},
		{"ftp login_url", "accounts:\n  - name: a\n    login_url: ftp://dm-us.informaticacloud.com\n    username: u\n    password: p\n", "login_url: \"ftp://dm-us.informaticacloud.com\" is not an http(s) URL"},
		{"login_url without scheme", "accounts:\n  - name: a\n    login_url: dm-us.informaticacloud.com\n    username: u\n    password: p\n", "is not an http(s) URL"},
		{"credentials and a bad scheme in login_url", "accounts:\n  - name: a\n    login_url: htps://svc:" + secret + "@dm-us.informaticacloud.com\n    username: u\n    password: p\n", "login_url: must not hold credentials"},
		{"credentials without // in login_url", "accounts:\n  - name: a\n    login_url: svc:" + secret + "@dm-us.informaticacloud.com\n    username: u\n    password: p\n", `login_url: "[REDACTED]" is not an http(s) URL`},
		{"bad scheme and a token path in login_url", "accounts:\n  - name: a\n    login_url: htps://dm-us.informaticacloud.com/t/" + secret + "?k=" + secret + "\n    username: u\n    password: p\n", `login_url: "htps://dm-us.informaticacloud.com/[REDACTED]?[REDACTED]" is not an http(s) URL`},
		{"unparsable login_url", "accounts:\n  - name: a\n    login_url: https://svc:" + secret + "%zz@dm-us.informaticacloud.com\n    username: u\n    password: p\n", `login_url: "[REDACTED]" is not an http(s) URL`},
		{"login_url with the login path", "accounts:\n  - name: a\n    login_url: https://dm-us.informaticacloud.com/saas/public/core/v3/login\n    username: u\n    password: p\n", "login_url: must not have a path (the exporter adds /saas/public/core/v3/login and the other API paths itself); give the POD's login host only: https://dm-us.informaticacloud.com"},
		{"login_url with a token path", "accounts:\n  - name: a\n    login_url: https://dm-us.informaticacloud.com/" + secret + "\n    username: u\n    password: p\n", "login_url: must not have a path"},
		{"credentials without // in callback_url", account("    password: p\n    callback_url: informatica:" + secret + "@exporter.example.com/-/callback\n"), "callback_url: not an http(s) URL (scheme://host/path)"},
		{"credentials in login_url", "accounts:\n  - name: a\n    login_url: https://u:" + secret + "@dm-us.informaticacloud.com\n    username: u\n    password: p\n", "login_url: must not hold credentials"},
		{"no username", "accounts:\n  - name: a\n    login_url: https://x.example\n    password: p\n", "username: required"},
		{"no password", account(""), "password_file (or password): required"},
		{"both passwords", account("    password: " + secret + "\n    password_file: pw\n"), "password and password_file: set only one"},
		{"missing password_file", account("    password_file: does-not-exist\n"), "password_file: open"},
		{"empty password_file", account("    password_file: empty\n"), "password_file: "},
		{"bad summary_api", account("    password: p\n    summary_api: summary\n"), "summary_api: \"summary\" is neither"},
		{"negative entitlement", account("    password: p\n    ipu_entitlement: -5\n"), "ipu_entitlement: -5 is not"},
		{"infinite entitlement", account("    password: p\n    ipu_entitlement: .inf\n"), "ipu_entitlement: +Inf is not a number of IPUs >= 0"},
		{"NaN entitlement", account("    password: p\n    ipu_entitlement: .nan\n"), "ipu_entitlement: NaN is not a number of IPUs >= 0"},
		{"name with a leading space", "accounts:\n  - name: ' prod'\n    login_url: https://x.example\n    username: u\n    password: p\n", `name: " prod" has leading or trailing spaces`},
		{"name with a trailing space", "accounts:\n  - name: 'prod '\n    login_url: https://x.example\n    username: u\n    password: p\n", `name: "prod " has leading or trailing spaces`},
		{"interval 1s", account("    password: p\n") + "refresh:\n  interval: 1s\n", "refresh.interval: 1s is shorter than refresh.poll_interval 15s, the least time a run takes"},
		{"lookback of a century", account("    password: p\n") + "refresh:\n  lookback: 36500d\n", "refresh.lookback: 36500d is longer than 3650d: every full run would re-read it, 203 summary export jobs each time; to keep older days, set history.start"},
		{"history.start 1900", account("    password: p\n") + "history:\n  start: 1900-01-01\n", "history.start: 1900-01-01 is before 2000-01-01"},
		{"password as a number field", account("    ipu_entitlement: " + secret + "\n    password: p\n"), "line 5: accounts[0].ipu_entitlement: expected a number, got a string"},
		{"bad duration", account("    password: p\n") + "refresh:\n  interval: soon\n", "refresh.interval: \"soon\" is not a duration"},
		{"interval too short", account("    password: p\n") + "refresh:\n  interval: 0s\n", "refresh.interval"},
		{"lookback too short", account("    password: p\n") + "refresh:\n  lookback: 12h\n", "refresh.lookback"},
		{"job_timeout below poll", account("    password: p\n") + "refresh:\n  poll_interval: 1m\n  job_timeout: 30s\n", "refresh.job_timeout"},
		{"max_age not above interval", account("    password: p\n") + "refresh:\n  interval: 2h\n  max_age: 2h\n", "refresh.max_age"},
		{"unknown breakdown", account("    password: p\n    breakdowns: [assets]\n"), `breakdowns: "assets" is not a breakdown; the breakdowns are: project_folder, asset, task`},
		{"breakdown in upper case", account("    password: p\n    breakdowns: [project_folder, TASK]\n"), `breakdowns: "TASK" is not a breakdown`},
		{"ipu_price without currency", account("    password: p\n    ipu_price: 0.5\n"), "currency: required with ipu_price"},
		{"currency without ipu_price", account("    password: p\n    currency: EUR\n"), "ipu_price: required with currency"},
		{"ipu_price 0", account("    password: p\n    ipu_price: 0\n    currency: EUR\n"), "ipu_price: 0 is not a price > 0"},
		{"negative ipu_price", account("    password: p\n    ipu_price: -1.5\n    currency: EUR\n"), "ipu_price: -1.5 is not a price > 0"},
		{"NaN ipu_price", account("    password: p\n    ipu_price: .nan\n    currency: EUR\n"), "ipu_price: NaN is not a price > 0"},
		{"infinite ipu_price", account("    password: p\n    ipu_price: .inf\n    currency: EUR\n"), "ipu_price: +Inf is not a price > 0"},
		{"ipu_price as a string", account("    password: p\n    ipu_price: 50 cents\n    currency: EUR\n"), "line 6: accounts[0].ipu_price: expected a number, got a string"},
		{"currency in lower case", account("    password: p\n    ipu_price: 1\n    currency: eur\n"), `currency: "eur" is not an active ISO 4217 alphabetic code`},
		{"currency symbol", account("    password: p\n    ipu_price: 1\n    currency: $\n"), `currency: "$" is not an active ISO 4217`},
		{"withdrawn currency", account("    password: p\n    ipu_price: 1\n    currency: DEM\n"), `currency: "DEM" is not an active ISO 4217`},
		{"four-letter currency", account("    password: p\n    ipu_price: 1\n    currency: USDT\n"), `currency: "USDT" is not an active ISO 4217`},
		{"no-currency code", account("    password: p\n    ipu_price: 1\n    currency: XXX\n"), `currency: "XXX" is not an active ISO 4217`},
		{"bad breakdown_interval", account("    password: p\n    breakdown_interval: daily\n"), `breakdown_interval: "daily" is not a duration`},
		{"breakdown_max_series 0", account("    password: p\n    breakdown_max_series: 0\n"), "breakdown_max_series: 0, want at least 1"},
		{"window too short", account("    password: p\n") + "refresh:\n  window: 6h\n", "refresh.window: 6h is shorter than one day"},
		{"full_interval below interval", account("    password: p\n") + "refresh:\n  interval: 2h\n  full_interval: 1h\n", "refresh.full_interval"},
		{"no concurrency", account("    password: p\n") + "refresh:\n  concurrency: 0\n", "refresh.concurrency: 0"},
		{"bad history.start", account("    password: p\n") + "history:\n  start: last year\n", "history.start: \"last year\" is not an ISO 8601 date"},
		{"future history.start", account("    password: p\n") + "history:\n  start: 2999-01-01\n", "history.start: 2999-01-01 is not in the past"},
		{"ftp callback_url", account("    password: p\n    callback_url: ftp://exporter.example.com/-/callback/" + secret + "\n"), `callback_url: not an http(s) URL: scheme "ftp"`},
		{"callback_url without host", account("    password: p\n    callback_url: https:///-/callback/" + secret + "\n"), "callback_url: not an http(s) URL: no host"},
		{"callback_url without scheme", account("    password: p\n    callback_url: exporter.example.com/-/callback/" + secret + "\n"), "callback_url: not an http(s) URL"},
		{"credentials in callback_url", account("    password: p\n    callback_url: https://informatica:" + secret + "@exporter.example.com/-/callback\n"), "callback_url: must not hold credentials"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "empty", "\n")
			path := writeFile(t, dir, "config.yml", c.yaml)
			_, err := Load(log.NewNopLogger(), path)
			if err == nil {
				t.Fatalf("config accepted, want an error containing %q", c.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not contain %q", msg, c.want)
			}
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file %s", msg, path)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error %q quotes the secret", msg)
			}
			for _, goName := range []string{"main.", "in type", "config.plain", "!!", "unmarshal"} {
				if strings.Contains(msg, goName) {
					t.Errorf("error %q speaks Go (%q), not YAML", msg, goName)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q spans several lines", msg)
			}
		})
	}
}

func TestHistoryAndIncrementalConfig(t *testing.T) {
	s, err := Parse([]byte(`
accounts:
  - {name: a, login_url: 'https://x.example', username: u, password: p}
refresh: {window: 2d, full_interval: 12h, concurrency: 2}
history: {start: 2025-01-15}
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := s.Refresh
	if r.Window != 48*time.Hour || r.FullInterval != 12*time.Hour || r.Concurrency != 2 ||
		!r.HistoryStart.Equal(time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("refresh = %+v", r)
	}
}

func TestBreakdownKindsAndPriceConfig(t *testing.T) {
	s, err := Parse([]byte(`
accounts:
  - {name: a, login_url: 'https://x.example', username: u, password: p, breakdowns: [asset, task], ipu_price: 0.85, currency: EUR}
  - {name: b, login_url: 'https://x.example', username: u2, password: p, breakdowns: [task, project_folder, asset]}
  - {name: c, login_url: 'https://x.example', username: u3, password: p, ipu_price: 120, currency: JPY}
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := s.Accounts[0], s.Accounts[1], s.Accounts[2]
	if got := a.Breakdown; got.On("project_folder") || !got.On("asset") || !got.On("task") || got.Interval != 24*time.Hour || got.MaxSeries != 500 {
		t.Errorf("breakdown of a = %+v", got)
	}
	if a.IPUPrice != 0.85 || a.Currency != "EUR" {
		t.Errorf("price of a = %v %q", a.IPUPrice, a.Currency)
	}
	if got := b.Breakdown; !got.On("project_folder") || !got.On("asset") || !got.On("task") {
		t.Errorf("breakdown of b = %+v", got)
	}
	if b.IPUPrice != 0 || b.Currency != "" {
		t.Errorf("price of b = %v %q, want none", b.IPUPrice, b.Currency)
	}
	if got := c.Breakdown; got.On("project_folder") || got.On("asset") || got.On("task") {
		t.Errorf("breakdown of c = %+v, want none", got)
	}
	if c.IPUPrice != 120 || c.Currency != "JPY" {
		t.Errorf("price of c = %v %q", c.IPUPrice, c.Currency)
	}
}

func TestCurrencyList(t *testing.T) {
	codes := strings.Fields(currencies)
	if len(codes) < 150 {
		t.Errorf("%d currencies; ISO 4217 has about 180 active codes", len(codes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if len(c) != 3 || strings.ToUpper(c) != c || strings.IndexFunc(c, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			t.Errorf("%q is not three upper-case letters", c)
		}
		if seen[c] {
			t.Errorf("%s twice", c)
		}
		if i > 0 && codes[i-1] > c {
			t.Errorf("%s after %s: keep the list sorted", c, codes[i-1])
		}
		seen[c] = true
	}
	for _, c := range []string{"USD", "EUR", "GBP", "JPY", "CHF", "INR", "BRL", "AUD", "CAD", "CNY"} {
		if !IsCurrency(c) {
			t.Errorf("%s is refused", c)
		}
	}
}

func TestBreakdownConfig(t *testing.T) {
	s, err := Parse([]byte(`
accounts:
  - {name: a, login_url: 'https://x.example', username: u, password: p, breakdowns: [project_folder], breakdown_interval: 6h, breakdown_max_series: 50}
  - {name: b, login_url: 'https://x.example', username: u2, password: p}
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Accounts[0].Breakdown; !got.On("project_folder") || got.Interval != 6*time.Hour || got.MaxSeries != 50 {
		t.Errorf("breakdown = %+v", got)
	}
	if got := s.Accounts[1].Breakdown; got.On("project_folder") || got.Interval != 24*time.Hour || got.MaxSeries != 500 {
		t.Errorf("default breakdown = %+v", got)
	}
}

func TestPasswordFileRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pw", "from-file\r\n")
	path := writeFile(t, dir, "config.yml", "accounts:\n  - {name: a, login_url: 'https://x.example', username: u, password_file: pw}\n")
	s, err := Load(log.NewNopLogger(), path)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Accounts[0].Client.Password; got != "from-file" {
		t.Errorf("password = %q, want from-file", got)
	}
}

// TestWindowDefaultFollowsShortLookback: with a lookback under 3d and no
// window set, the incremental window is the lookback; a window set equal to
// the lookback is fine.
func TestWindowDefaultFollowsShortLookback(t *testing.T) {
	for _, c := range []struct {
		refresh string
		want    time.Duration
	}{
		{"{lookback: 2d}", 48 * time.Hour},
		{"{lookback: 45d}", 72 * time.Hour},
		{"{lookback: 5d, window: 5d}", 120 * time.Hour},
	} {
		s, err := Parse([]byte("accounts:\n  - {name: a, login_url: 'https://x.example', username: u, password: p}\nrefresh: "+c.refresh+"\n"), t.TempDir())
		if err != nil {
			t.Errorf("refresh: %s: %v", c.refresh, err)
			continue
		}
		if s.Refresh.Window != c.want {
			t.Errorf("refresh: %s: window %v, want %v", c.refresh, s.Refresh.Window, c.want)
		}
	}
}

// TestHistoryStartISO8601 accepts a date and an RFC 3339 time.
func TestHistoryStartISO8601(t *testing.T) {
	for _, start := range []string{"2025-01-15", "2025-01-15T00:00:00Z"} {
		s, err := Parse([]byte("accounts:\n  - {name: a, login_url: 'https://x.example', username: u, password: p}\nhistory: {start: '"+start+"'}\n"), t.TempDir())
		if err != nil {
			t.Errorf("history.start %s: %v", start, err)
			continue
		}
		if want := time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC); !s.Refresh.HistoryStart.Equal(want) {
			t.Errorf("history.start %s = %v, want %v", start, s.Refresh.HistoryStart, want)
		}
	}
}

func TestCallbackConfig(t *testing.T) {
	s, err := Parse([]byte(`
accounts:
  - {name: a, login_url: 'https://x.example', username: u, password: p, callback_url: 'https://exporter.example.com/-/callback/Zm9vYmFy'}
  - {name: b, login_url: 'https://x.example', username: u2, password: p}
refresh: {poll_interval: 10m, job_timeout: 30m}
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Accounts[0].Client.CallbackURL; got != "https://exporter.example.com/-/callback/Zm9vYmFy" {
		t.Errorf("callback URL = %q", got)
	}
	if got := s.Accounts[1].Client.CallbackURL; got != "" {
		t.Errorf("callback URL without callback_url = %q, want none", got)
	}
	if s.Refresh.PollInterval != 10*time.Minute {
		t.Errorf("poll_interval = %s, want 10m", s.Refresh.PollInterval)
	}
}

// TestLoginURLHostAndSaas: the POD's host is accepted bare, with a trailing
// slash and with the /saas of Informatica's examples.
func TestLoginURLHostAndSaas(t *testing.T) {
	for _, u := range []string{
		"https://dm-us.informaticacloud.com", "https://dm-us.informaticacloud.com/",
		"https://dm-us.informaticacloud.com/saas", "https://dm-us.informaticacloud.com/saas/", "http://127.0.0.1:8080",
	} {
		if _, err := Parse([]byte("accounts:\n  - {name: a, login_url: '"+u+"', username: u, password: p}\n"), t.TempDir()); err != nil {
			t.Errorf("login_url %s refused: %v", u, err)
		}
	}
}

// TestURLForError: the rendering of a URL in an error keeps scheme and
// host and nothing that can hold a secret.
func TestURLForError(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://dm-us.informaticacloud.com", "https://dm-us.informaticacloud.com"},
		{"https://dm-us.informaticacloud.com/", "https://dm-us.informaticacloud.com"},
		{"htps://svc:pw@dm-us.informaticacloud.com:8443/saas?x=1#f", "htps://[REDACTED]@dm-us.informaticacloud.com:8443/[REDACTED]?[REDACTED]#[REDACTED]"},
		{"https://exporter.example.com/-/callback/tok", "https://exporter.example.com/[REDACTED]"},
		{"https://h.example?", "https://h.example?[REDACTED]"},
		{"svc:pw@dm-us.informaticacloud.com", "[REDACTED]"},
		{"dm-us.informaticacloud.com/x", "[REDACTED]"},
		{"https://svc:p%zz@h.example", "[REDACTED]"},
		{"", "[REDACTED]"},
	} {
		if got := urlForError(c.in); got != c.want {
			t.Errorf("urlForError(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestConfigLimitsAccepted: the values next to the refused ones load.
func TestConfigLimitsAccepted(t *testing.T) {
	for _, extra := range []string{
		"refresh:\n  interval: 15s\n",
		"refresh:\n  lookback: 3650d\n",
		"history:\n  start: 2000-01-01\n",
		"",
	} {
		cfg := "accounts:\n  - {name: prod, login_url: 'https://x.example', username: u, password: p, ipu_entitlement: 0}\n" + extra
		if _, err := Parse([]byte(cfg), t.TempDir()); err != nil {
			t.Errorf("%q refused: %v", extra, err)
		}
	}
}

// TestConfigWarnings: what is merely expensive loads, with a warning that
// gives the export jobs it costs, computed from the 180 days a summary
// job covers.
func TestConfigWarnings(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		extra string
		want  []string // one substring per warning
	}{
		{"", nil},
		{"refresh:\n  interval: 15m\n  lookback: 400d\n", nil},
		{"history:\n  start: 2021-06-01\n", nil}, // 1826 days less the 45 of the lookback: 10 jobs
		// 144 runs a day: 143 incremental (3d, one job), one full (45d, one job).
		{"refresh:\n  interval: 10m\n", []string{"refresh.interval: 10m is shorter than 15m: about 144 summary export jobs a day per account, 2 accounts"}},
		// 720 days are 4 jobs per full run; 23 incremental runs and one full a day: 27.
		{"refresh:\n  lookback: 720d\n", []string{"refresh.lookback: 720d is longer than the 400d a full run reaches for billing periods: 4 summary export jobs per full run, about 27 a day per account, 2 accounts"}},
		// 2016-06-01 to 2026-06-01 is 3652 days; less the lookback's 45, 3607: 21 jobs.
		{"history:\n  start: 2016-06-01\n", []string{"history.start: 2016-06-01: loading the history takes 21 summary export jobs per account, 2 accounts, once"}},
		{"refresh:\n  interval: 1m\n  lookback: 900d\n", []string{"refresh.interval: 1m", "refresh.lookback: 900d"}},
	} {
		cfg := "accounts:\n  - {name: a, login_url: 'https://x.example', username: u, password: p}\n  - {name: b, login_url: 'https://x.example', username: u, password: p}\n" + c.extra
		s, err := Parse([]byte(cfg), t.TempDir())
		if err != nil {
			t.Fatalf("%q: %v", c.extra, err)
		}
		got := Warnings(s, now)
		if len(got) != len(c.want) {
			t.Errorf("%q: warnings %q, want %d", c.extra, got, len(c.want))
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], c.want[i]) {
				t.Errorf("%q: warning %q does not contain %q", c.extra, got[i], c.want[i])
			}
		}
	}
	// Load logs them.
	dir := t.TempDir()
	path := writeFile(t, dir, "config.yml", "accounts:\n  - {name: a, login_url: 'https://x.example', username: u, password: p}\nrefresh: {interval: 5m}\n")
	var logs bytes.Buffer
	if _, err := Load(log.NewLogfmtLogger(&logs), path); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=warn") || !strings.Contains(logs.String(), "refresh.interval: 5m is shorter than 15m: about 288 summary export jobs a day") {
		t.Errorf("Load logged %q, want the interval warning", logs.String())
	}
}

// TestMissingFileSaysWhatToDo: without a configuration file, as on a
// first run, the error names the file and points to --demo and to
// config.example.yml.
func TestMissingFileSaysWhatToDo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yml")
	_, err := Load(log.NewNopLogger(), path)
	if err == nil {
		t.Fatal("a missing file loaded")
	}
	for _, want := range []string{"read config: open " + path + ": no such file or directory", "--demo", "copy config.example.yml to " + path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	// A file that is there but cannot be read gets no such advice.
	dir := t.TempDir()
	if _, err := Load(log.NewNopLogger(), dir); err == nil || strings.Contains(err.Error(), "--demo") {
		t.Errorf("reading a folder: %v, want an error without the first-run advice", err)
	}
}
