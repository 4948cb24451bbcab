// Package config loads and checks the YAML configuration file into
// collector.Settings. Load either returns a complete, valid configuration or
// an error; the caller applies it (the exporter swaps it in on a reload).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/informatica"
)

// fileConfig is the YAML configuration file; config.example.yml documents
// every key.
type fileConfig struct {
	Accounts []accountConfig `yaml:"accounts"`
	Refresh  refreshConfig   `yaml:"refresh"`
	History  historyConfig   `yaml:"history"`
}

type historyConfig struct {
	// Start is a date, 2006-01-02; kept as text to report a bad one by key.
	Start string `yaml:"start"`
}

type accountConfig struct {
	Name               string            `yaml:"name"`
	LoginURL           string            `yaml:"login_url"`
	Username           string            `yaml:"username"`
	Password           promconfig.Secret `yaml:"password"`
	PasswordFile       string            `yaml:"password_file"`
	SummaryAPI         string            `yaml:"summary_api"`
	CombinedMeterUsage bool              `yaml:"combined_meter_usage"`
	IPUEntitlement     *float64          `yaml:"ipu_entitlement"`
	CAFile             string            `yaml:"ca_file"`
	InsecureSkipVerify bool              `yaml:"insecure_skip_verify"`
	Breakdowns         []string          `yaml:"breakdowns"`
	BreakdownInterval  string            `yaml:"breakdown_interval"`
	BreakdownMaxSeries *int              `yaml:"breakdown_max_series"`
	CallbackURL        string            `yaml:"callback_url"`
	IPUPrice           *float64          `yaml:"ipu_price"`
	Currency           string            `yaml:"currency"`
	// Contract is nil when not set (every source), empty to turn all off.
	Contract         *[]string         `yaml:"contract"`
	ContractInterval string            `yaml:"contract_interval"`
	ContractMaxOrgs  *int              `yaml:"contract_max_orgs"`
	LicenseNames     map[string]string `yaml:"license_names"`
}

// refreshConfig holds durations as text, parsed in settings, so that a bad
// value is reported with its key.
type refreshConfig struct {
	Interval     string `yaml:"interval"`
	Lookback     string `yaml:"lookback"`
	Window       string `yaml:"window"`
	FullInterval string `yaml:"full_interval"`
	PollInterval string `yaml:"poll_interval"`
	JobTimeout   string `yaml:"job_timeout"`
	MaxAge       string `yaml:"max_age"`
	Concurrency  int    `yaml:"concurrency"`
}

var defaultRefresh = refreshConfig{
	Interval:     "1h",
	Lookback:     "45d",
	Window:       "", // 3d, or the lookback if that is shorter
	FullInterval: "24h",
	PollInterval: "15s",
	JobTimeout:   "30m",
	MaxAge:       "26h",
	Concurrency:  4,
}

// Load reads, checks and resolves the configuration file, reading
// password files too, so that a reload either applies a complete, valid
// configuration or nothing. Errors name the file and the key at fault and
// never quote a secret. What is valid but costly is logged as a warning.
func Load(logger log.Logger, path string) (collector.Settings, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Most likely a first run: say what to do next.
		return collector.Settings{}, fmt.Errorf("read config: %w; to try the exporter without an Informatica account, run it with --demo; "+
			"to use yours, copy config.example.yml to %s and fill in your account", err, path)
	}
	if err != nil {
		return collector.Settings{}, fmt.Errorf("read config: %w", err)
	}
	s, err := Parse(raw, filepath.Dir(path))
	if err != nil {
		return collector.Settings{}, fmt.Errorf("config file %s: %w", path, err)
	}
	for _, w := range Warnings(s, time.Now()) {
		level.Warn(logger).Log("msg", "Costly configuration", "file", path, "warning", w)
	}
	return s, nil
}

// Parse parses a configuration; relative password_file paths are read
// from dir, the configuration file's folder.
func Parse(raw []byte, dir string) (collector.Settings, error) {
	cfg := fileConfig{Refresh: defaultRefresh}
	// First as a tree, to report a value of the wrong type by its key and
	// in YAML's terms, then into the structs.
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(raw)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return collector.Settings{}, errors.New("the file is empty (or only comments): it needs at least one account under accounts:, see config.example.yml")
		}
		return collector.Settings{}, yamlError(err)
	}
	if err := checkYAMLTypes(&doc, reflect.TypeOf(cfg), ""); err != nil {
		return collector.Settings{}, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return collector.Settings{}, yamlError(err)
	}
	refresh, err := cfg.Refresh.settings()
	if err != nil {
		return collector.Settings{}, err
	}
	if refresh.HistoryStart, err = cfg.History.start(); err != nil {
		return collector.Settings{}, err
	}
	if len(cfg.Accounts) == 0 {
		return collector.Settings{}, errors.New("accounts: at least one account is required")
	}
	settings := collector.Settings{Refresh: refresh}
	names := map[string]bool{}
	for i, a := range cfg.Accounts {
		where := fmt.Sprintf("accounts[%d]", i)
		if a.Name != "" {
			where = fmt.Sprintf("accounts[%d] (%s)", i, a.Name)
		}
		set, err := a.settings(dir)
		if err != nil {
			return collector.Settings{}, fmt.Errorf("%s: %w", where, err)
		}
		if names[a.Name] {
			return collector.Settings{}, fmt.Errorf("%s: name: %q is used by an earlier account; names must be unique", where, a.Name)
		}
		names[a.Name] = true
		settings.Accounts = append(settings.Accounts, set)
	}
	return settings, nil
}

// yamlError tidies a YAML decoding error into one line. YAML quotes the
// offending value in backticks; it is dropped, since a misplaced password
// would otherwise end up in the log. The line number still says where.
func yamlError(err error) error {
	msg := err.Error()
	msg = quotedValue.ReplaceAllString(msg, "")
	msg = goTypeName.ReplaceAllString(msg, "")
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", ";")), " ")
	return errors.New(msg)
}

var (
	quotedValue = regexp.MustCompile("`[^`]*` ")
	goTypeName  = regexp.MustCompile(` in type config\.\w+`)
)

// checkYAMLTypes walks the YAML tree n beside t, the Go type it decodes
// into, and reports the first unknown key or value of the wrong kind as
// "line N: key.path: ...", in YAML's terms. It never quotes a value, which
// could be a misplaced password.
func checkYAMLTypes(n *yaml.Node, t reflect.Type, path string) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return checkYAMLTypes(n.Content[0], t, path)
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil // an empty value: the zero value, or the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	wrong := func() error {
		at := path
		if at == "" {
			at = "the file"
		}
		return fmt.Errorf("line %d: %s: expected %s, got %s", n.Line, at, yamlKindOf(t), yamlKindOfNode(n))
	}
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return wrong()
		}
		fields := map[string]reflect.StructField{}
		var keys []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f
			keys = append(keys, name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				at := path
				if at == "" {
					at = "top level"
				}
				return fmt.Errorf("line %d: %s: unknown key %q; the keys here are: %s", k.Line, at, k.Value, strings.Join(keys, ", "))
			}
			if err := checkYAMLTypes(v, f.Type, joinKey(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			return wrong()
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkYAMLTypes(n.Content[i+1], t.Elem(), joinKey(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return wrong()
		}
		for i, item := range n.Content {
			if err := checkYAMLTypes(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	default:
		if n.Kind != yaml.ScalarNode || n.Decode(reflect.New(t).Interface()) != nil {
			return wrong()
		}
		// YAML would truncate 2.5 into a whole number: refuse it.
		switch t.Kind() {
		case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
			if n.ShortTag() != "!!int" {
				return wrong()
			}
		}
		return nil
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlKindOf says in YAML's terms what a value of type t is written as.
func yamlKindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping (key: value lines)"
	case reflect.Slice:
		return "a list (lines starting with \"- \", or [a, b])"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	default:
		return "a string"
	}
}

// yamlKindOfNode says in YAML's terms what n is.
func yamlKindOfNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!str":
		return "a string"
	case "!!int":
		return "a whole number"
	case "!!float":
		return "a number"
	case "!!bool":
		return "true or false"
	case "!!timestamp":
		return "a date"
	case "!!binary":
		return "binary data"
	}
	return "a value tagged " + n.ShortTag()
}

func (a accountConfig) settings(dir string) (collector.AccountSettings, error) {
	if strings.TrimSpace(a.Name) == "" {
		return collector.AccountSettings{}, errors.New("name: required")
	}
	if strings.TrimSpace(a.Name) != a.Name {
		// The name is the account label: " prod" and "prod" would be two
		// accounts that look the same on every dashboard.
		return collector.AccountSettings{}, fmt.Errorf("name: %q has leading or trailing spaces", a.Name)
	}
	if err := checkLoginURL(a.LoginURL); err != nil {
		return collector.AccountSettings{}, err
	}
	if a.Username == "" {
		return collector.AccountSettings{}, errors.New("username: required")
	}
	password, err := a.password(dir)
	if err != nil {
		return collector.AccountSettings{}, err
	}
	api := informatica.SummaryAPI(a.SummaryAPI)
	switch api {
	case "":
		api = informatica.AllLinkedOrgsAcrossRegion
	case informatica.AllLinkedOrgsAcrossRegion, informatica.ExportMeteringData:
	default:
		return collector.AccountSettings{}, fmt.Errorf("summary_api: %q is neither %s nor %s",
			a.SummaryAPI, informatica.AllLinkedOrgsAcrossRegion, informatica.ExportMeteringData)
	}
	if e := a.IPUEntitlement; e != nil {
		if err := CheckEntitlement("ipu_entitlement", *e); err != nil {
			return collector.AccountSettings{}, err
		}
	}
	caFile := a.CAFile
	if caFile != "" {
		caFile = resolve(dir, caFile)
		if _, err := os.Stat(caFile); err != nil {
			return collector.AccountSettings{}, fmt.Errorf("ca_file: %w", err)
		}
	}
	breakdown, err := a.breakdown()
	if err != nil {
		return collector.AccountSettings{}, err
	}
	if err := checkCallbackURL(a.CallbackURL); err != nil {
		return collector.AccountSettings{}, err
	}
	price, err := a.price()
	if err != nil {
		return collector.AccountSettings{}, err
	}
	contract, err := a.contract()
	if err != nil {
		return collector.AccountSettings{}, err
	}
	return collector.AccountSettings{
		Name:        a.Name,
		Entitlement: a.IPUEntitlement,
		Breakdown:   breakdown,
		Contract:    contract,
		IPUPrice:    price,
		Currency:    a.Currency,
		Client: informatica.Config{
			LoginURL:           a.LoginURL,
			Username:           a.Username,
			Password:           password,
			SummaryAPI:         api,
			CombinedMeterUsage: a.CombinedMeterUsage,
			CAFile:             caFile,
			InsecureSkipVerify: a.InsecureSkipVerify,
			CallbackURL:        a.CallbackURL,
		},
	}, nil
}

// checkLoginURL accepts the POD's login host, e.g.
// https://dm-us.informaticacloud.com, with or without the /saas that
// Informatica's examples print (the client adds the API paths). A longer
// path, such as the login endpoint pasted from the documentation, is
// refused rather than cut: the exporter cannot tell a pasted API path from
// a proxy's prefix, and logging in elsewhere than the file says would hide
// the mistake. Credentials are checked first, and no message quotes more
// of the URL than urlForError shows.
func checkLoginURL(raw string) error {
	if raw == "" {
		return errors.New("login_url: required, e.g. https://dm-us.informaticacloud.com")
	}
	u, err := url.Parse(raw)
	switch {
	case err == nil && u.User != nil:
		return errors.New("login_url: must not hold credentials; use username and password_file")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("login_url: %q is not an http(s) URL; give the POD's login host, e.g. https://dm-us.informaticacloud.com", urlForError(raw))
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("login_url: must not have a query (?...), which the exporter would drop; give the POD's login host only, e.g. %s", hostURL(u))
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("login_url: must not have a fragment (#...), which the exporter would drop; give the POD's login host only, e.g. %s", hostURL(u))
	}
	if p := strings.TrimSuffix(u.Path, "/"); p != "" && p != "/saas" {
		return fmt.Errorf("login_url: must not have a path (the exporter adds /saas/public/core/v3/login and the other API paths itself); give the POD's login host only: %s", hostURL(u))
	}
	return nil
}

// checkCallbackURL checks callback_url with the client's rules. A value
// without "scheme://host" is refused here first: in "user:token@host/..."
// the parser takes the user for a scheme, which the client's error would
// quote.
func checkCallbackURL(raw string) error {
	if u, err := url.Parse(raw); err == nil && u.Opaque != "" {
		return errors.New("callback_url: not an http(s) URL (scheme://host/path), e.g. https://exporter.example.com/-/callback/<token>")
	}
	if err := informatica.CheckCallbackURL(raw); err != nil {
		return fmt.Errorf("callback_url: %w", err)
	}
	return nil
}

// hostURL is scheme://host of u, an http(s) URL without credentials: the
// login_url to give instead.
func hostURL(u *url.URL) string {
	return u.Scheme + "://" + u.Host
}

// redactedURL stands for what urlForError does not show.
const redactedURL = "[REDACTED]"

// urlForError renders a URL of the configuration for an error message,
// which reaches the log and the response of POST /-/reload: its scheme and
// host, with any user info, path, query and fragment replaced by a marker.
// A password in the user info, the token in a callback_url's path or one in
// a query are never shown. A URL without "scheme://host" is not shown at
// all: in "user:password@host" the part after the colon is the password.
func urlForError(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Scheme == "" || u.Host == "" {
		return redactedURL
	}
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		b.WriteString(redactedURL + "@")
	}
	b.WriteString(u.Host)
	if u.Path != "" && u.Path != "/" {
		b.WriteString("/" + redactedURL)
	}
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteString("?" + redactedURL)
	}
	if u.Fragment != "" {
		b.WriteString("#" + redactedURL)
	}
	return b.String()
}

// breakdown reads the optional breakdowns of an account.
func (a accountConfig) breakdown() (collector.BreakdownSettings, error) {
	b := collector.BreakdownSettings{Interval: 24 * time.Hour, MaxSeries: 500}
	kinds, err := collector.ParseBreakdowns(a.Breakdowns)
	if err != nil {
		return b, fmt.Errorf("breakdowns: %w", err)
	}
	b.Kinds = kinds
	if err := optionalDuration("breakdown_interval", a.BreakdownInterval, 1, "a duration such as 6h or 1d", &b.Interval); err != nil {
		return b, err
	}
	return b, optionalCount("breakdown_max_series", a.BreakdownMaxSeries, &b.MaxSeries)
}

// optionalDuration sets dst from an optional duration key, at least least.
func optionalDuration(key, value string, least time.Duration, want string, dst *time.Duration) error {
	if value == "" {
		return nil
	}
	d, err := model.ParseDuration(value)
	if err != nil || time.Duration(d) < least {
		return fmt.Errorf("%s: %q is not %s", key, value, want)
	}
	*dst = time.Duration(d)
	return nil
}

// optionalCount sets dst from an optional count key, at least 1.
func optionalCount(key string, value *int, dst *int) error {
	if value == nil {
		return nil
	}
	if *value < 1 {
		return fmt.Errorf("%s: %d, want at least 1", key, *value)
	}
	*dst = *value
	return nil
}

// contract reads the contract keys of an account: every source unless
// contract lists some (or none).
func (a accountConfig) contract() (collector.ContractSettings, error) {
	c := collector.ContractSettings{Sources: collector.ContractSourceNames(), Interval: collector.DefaultContractInterval, MaxOrgs: collector.DefaultContractMaxOrgs}
	if a.Contract != nil {
		sources, err := collector.ParseContractSources(*a.Contract)
		if err != nil {
			return c, fmt.Errorf("contract: %w", err)
		}
		c.Sources = sources
	}
	if err := optionalDuration("contract_interval", a.ContractInterval, time.Minute, "a duration of at least 1m such as 24h or 1d", &c.Interval); err != nil {
		return c, err
	}
	if err := optionalCount("contract_max_orgs", a.ContractMaxOrgs, &c.MaxOrgs); err != nil {
		return c, err
	}
	for id, name := range a.LicenseNames {
		if strings.TrimSpace(id) == "" || strings.TrimSpace(name) == "" {
			return c, fmt.Errorf("license_names: %q: %q: want an edition, licence or limit ID and a name, neither empty", id, name)
		}
	}
	c.Names = a.LicenseNames
	return c, nil
}

// price reads ipu_price and currency, which go together: a price means
// nothing without its currency.
func (a accountConfig) price() (float64, error) {
	switch {
	case a.IPUPrice == nil && a.Currency == "":
		return 0, nil
	case a.IPUPrice == nil:
		return 0, errors.New("ipu_price: required with currency, or remove currency")
	case a.Currency == "":
		return 0, errors.New("currency: required with ipu_price, an ISO 4217 code such as USD or EUR")
	case CheckPrice("ipu_price", *a.IPUPrice) != nil:
		return 0, CheckPrice("ipu_price", *a.IPUPrice)
	case !IsCurrency(a.Currency):
		return 0, fmt.Errorf("currency: %q is not an active ISO 4217 alphabetic code (three upper-case letters such as USD, EUR, JPY)", a.Currency)
	}
	return *a.IPUPrice, nil
}

// Breakdowns returns the breakdown settings of an account whose
// breakdowns key lists kinds and whose other breakdown keys are unset:
// what --demo.breakdowns configures. Errors start with "breakdowns: ".
func Breakdowns(kinds []string) (collector.BreakdownSettings, error) {
	return accountConfig{Breakdowns: kinds}.breakdown()
}

// Price checks a price and its currency as ipu_price and currency are
// checked in an account: what --demo.ipu-price and --demo.currency
// configure.
func Price(price float64, currency string) (float64, error) {
	return accountConfig{IPUPrice: &price, Currency: currency}.price()
}

// CheckPrice is the one rule for the price of an IPU, in the configuration
// (ipu_price) and on the command line (--ipu-price, --demo.ipu-price): a
// finite number > 0. A price of 0 would claim the usage was free.
func CheckPrice(where string, p float64) error {
	if !(p > 0) || math.IsInf(p, 0) {
		return fmt.Errorf("%s: %v is not a price > 0", where, p)
	}
	return nil
}

// CheckEntitlement is the one rule for an IPU entitlement, in the
// configuration (ipu_entitlement) and on the command line
// (--demo.ipu-entitlement): a finite number >= 0.
func CheckEntitlement(where string, e float64) error {
	if !(e >= 0) || math.IsInf(e, 0) {
		return fmt.Errorf("%s: %v is not a number of IPUs >= 0", where, e)
	}
	return nil
}

// currencies are the active ISO 4217 alphabetic codes (list one of the
// maintenance agency, SIX; written from memory of its 2025 edition, with
// ANG and XCG both during the guilder's transition), without XTS (testing)
// and XXX (no currency).
const currencies = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV " +
	"BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK " +
	"DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL " +
	"HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT " +
	"LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR " +
	"MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF " +
	"SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP " +
	"TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU " +
	"XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG"

// IsCurrency reports whether code is one of currencies.
func IsCurrency(code string) bool {
	if len(code) != 3 || strings.ToUpper(code) != code {
		return false
	}
	for c := range strings.FieldsSeq(currencies) {
		if c == code {
			return true
		}
	}
	return false
}

// password returns the account's password from password or password_file,
// exactly one of which must be set.
func (a accountConfig) password(dir string) (string, error) {
	switch {
	case a.Password != "" && a.PasswordFile != "":
		return "", errors.New("password and password_file: set only one")
	case a.Password != "":
		return string(a.Password), nil
	case a.PasswordFile == "":
		return "", errors.New("password_file (or password): required")
	}
	path := resolve(dir, a.PasswordFile)
	b, err := os.ReadFile(path)
	if err != nil {
		// The error names the file, never its content.
		return "", fmt.Errorf("password_file: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("password_file: %s is empty", path)
	}
	return p, nil
}

// resolve makes a path from the configuration relative to its folder.
func resolve(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

func (r refreshConfig) settings() (collector.RefreshSettings, error) {
	var s collector.RefreshSettings
	windowSet := r.Window != ""
	if !windowSet {
		r.Window = "3d"
	}
	for _, d := range []struct {
		key   string
		value string
		dst   *time.Duration
	}{
		{"interval", r.Interval, &s.Interval},
		{"lookback", r.Lookback, &s.Lookback},
		{"window", r.Window, &s.Window},
		{"full_interval", r.FullInterval, &s.FullInterval},
		{"poll_interval", r.PollInterval, &s.PollInterval},
		{"job_timeout", r.JobTimeout, &s.JobTimeout},
		{"max_age", r.MaxAge, &s.MaxAge},
	} {
		v, err := model.ParseDuration(d.value)
		if err != nil {
			return s, fmt.Errorf("refresh.%s: %q is not a duration such as 90s, 15m, 1h or 45d", d.key, d.value)
		}
		*d.dst = time.Duration(v)
	}
	switch {
	case s.Interval < time.Second:
		return s, fmt.Errorf("refresh.interval: %s is shorter than 1s", r.Interval)
	case s.Lookback < 24*time.Hour:
		return s, fmt.Errorf("refresh.lookback: %s is shorter than one day", r.Lookback)
	case s.Lookback > maxLookback:
		return s, fmt.Errorf("refresh.lookback: %s is longer than %dd: every full run would re-read it, %d summary export jobs each time; "+
			"to keep older days, set history.start, which loads them once", r.Lookback, maxLookback/oneDay, summaryJobs(s.Lookback))
	case s.PollInterval <= 0:
		return s, errors.New("refresh.poll_interval: must be positive")
	case s.Interval < s.PollInterval:
		return s, fmt.Errorf("refresh.interval: %s is shorter than refresh.poll_interval %s, the least time a run takes: "+
			"runs would follow each other back to back, an export job each, for no fresher data", r.Interval, r.PollInterval)
	case s.JobTimeout < s.PollInterval:
		return s, fmt.Errorf("refresh.job_timeout: %s is shorter than refresh.poll_interval %s", r.JobTimeout, r.PollInterval)
	case s.MaxAge <= s.Interval:
		return s, fmt.Errorf("refresh.max_age: %s must be longer than refresh.interval %s, or series vanish between refreshes", r.MaxAge, r.Interval)
	case s.Window < 24*time.Hour:
		return s, fmt.Errorf("refresh.window: %s is shorter than one day", r.Window)
	case s.Window > s.Lookback && windowSet:
		return s, fmt.Errorf("refresh.window: %s is longer than refresh.lookback %s; an incremental run cannot export more days than a full run", r.Window, r.Lookback)
	case s.FullInterval < s.Interval:
		return s, fmt.Errorf("refresh.full_interval: %s is shorter than refresh.interval %s", r.FullInterval, r.Interval)
	case r.Concurrency < 1:
		return s, fmt.Errorf("refresh.concurrency: %d, want at least 1", r.Concurrency)
	}
	if s.Window > s.Lookback {
		s.Window = s.Lookback // the default window, with a lookback under 3d
	}
	s.Concurrency = r.Concurrency
	return s, nil
}

// Limits of the refresh and history keys. A value beyond a max (or before
// earliestHistory) can only be a mistake and is refused; one beyond a warn
// limit is merely expensive in Informatica export jobs, and loading the
// configuration logs a warning with the job count (Warnings).
const (
	oneDay = 24 * time.Hour
	// warnInterval: Informatica processes usage in batches hours apart
	// (iics-metering-api.md: run an export at most every 1 to 6 hours); a
	// run every few minutes costs an export job each for numbers that
	// rarely change. Under 15 minutes is about 100 jobs a day or more.
	warnInterval = 15 * time.Minute
	// maxLookback: a full run re-reads the whole lookback every
	// full_interval, one summary job per 180 days. Ten years is 21 jobs a
	// day for days that never change: such history is what history.start
	// is for (loaded once).
	maxLookback = 3650 * oneDay
	// warnLookback: a full run reaches back to the start of every org's
	// current billing period anyway (up to 400 days); a longer lookback
	// re-reads days no billing period needs.
	warnLookback = 400 * oneDay
	// warnHistoryJobs: loading history is one summary job per 180 days,
	// once; more than 10 jobs (about 5 years) is worth a line in the log.
	warnHistoryJobs = 10
)

// earliestHistory: IPU metering cannot predate Informatica's cloud
// services; a history.start before 2000 is a typo (1900-01-01, 0025-...).
var earliestHistory = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// summaryJobs is the number of summary export jobs that cover d: the client
// splits ranges into jobs of informatica.MaxSummaryDays.
func summaryJobs(d time.Duration) int {
	days := int((d + oneDay - 1) / oneDay)
	return (days + informatica.MaxSummaryDays - 1) / informatica.MaxSummaryDays
}

// summaryJobsPerDay is about how many summary export jobs an account's
// refreshes cost a day: incremental runs export the window, one run in
// full_interval the whole lookback.
func summaryJobsPerDay(r collector.RefreshSettings) int {
	runs := float64(oneDay) / float64(r.Interval)
	full := min(runs, float64(oneDay)/float64(max(r.FullInterval, r.Interval)))
	return int(math.Ceil((runs-full)*float64(summaryJobs(r.Window)) + full*float64(summaryJobs(r.Lookback))))
}

// Warnings lists what in valid settings is merely expensive, with
// its cost in export jobs, as of now.
func Warnings(s collector.Settings, now time.Time) []string {
	r := s.Refresh
	var out []string
	perDay := summaryJobsPerDay(r)
	if r.Interval < warnInterval {
		out = append(out, fmt.Sprintf("refresh.interval: %s is shorter than %s: about %d summary export jobs a day per account, %d accounts, "+
			"while Informatica processes usage in batches hours apart", model.Duration(r.Interval), model.Duration(warnInterval), perDay, len(s.Accounts)))
	}
	if r.Lookback > warnLookback {
		out = append(out, fmt.Sprintf("refresh.lookback: %dd is longer than the %dd a full run reaches for billing periods: %d summary export jobs per full run, "+
			"about %d a day per account, %d accounts; history.start keeps older days at the cost of one load",
			r.Lookback/oneDay, warnLookback/oneDay, summaryJobs(r.Lookback), perDay, len(s.Accounts)))
	}
	if !r.HistoryStart.IsZero() {
		if jobs := summaryJobs(now.Sub(r.HistoryStart) - r.Lookback); jobs > warnHistoryJobs {
			out = append(out, fmt.Sprintf("history.start: %s: loading the history takes %d summary export jobs per account, %d accounts, once",
				r.HistoryStart.Format(time.DateOnly), jobs, len(s.Accounts)))
		}
	}
	return out
}

// start parses history.start: an ISO 8601 date (or RFC 3339 time) in the
// past. Other spellings, such as 01/05/2026, are refused: day and month
// could be either way round.
func (h historyConfig) start() (time.Time, error) {
	if h.Start == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, h.Start)
	if err != nil {
		t, err = time.Parse(time.RFC3339, h.Start)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("history.start: %q is not an ISO 8601 date (YYYY-MM-DD) such as 2025-01-01", h.Start)
	}
	t = t.UTC()
	if t.Before(earliestHistory) {
		return time.Time{}, fmt.Errorf("history.start: %s is before %s, earlier than any Informatica cloud service: a typo?", h.Start, earliestHistory.Format(time.DateOnly))
	}
	if !t.Before(time.Now()) {
		return time.Time{}, fmt.Errorf("history.start: %s is not in the past", h.Start)
	}
	return t, nil
}
