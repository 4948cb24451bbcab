// Command informatica_exporter exports the IPU consumption of Informatica
// Intelligent Cloud Services (IICS/IDMC) organizations as Prometheus metrics.
package main

import (
	"context"
	"fmt"
	"html/template"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	slgk "github.com/tjhop/slog-gokit"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

const exporterName = "informatica_exporter"

func main() {
	setBuildVersion()
	os.Exit(run(os.Args[1:], os.Stderr, hooks{}))
}

// hooks let tests run the exporter in-process. The zero value is main's.
type hooks struct {
	// stop, when closed, shuts the exporter down as SIGTERM does.
	stop <-chan struct{}
	// adjust changes the settings after each load, e.g. to shorten timeouts
	// that the configuration file does not expose.
	adjust func(*collector.Settings)
	// now, when set, replaces the exporter's clock: tests run it on any
	// calendar day.
	now func() time.Time
	// after, when set, replaces the refreshers' timer: tests start each
	// run themselves.
	after func(time.Duration) <-chan time.Time
}

// run is main without the process.
func run(args []string, stderr io.Writer, h hooks) int {
	app := kingpin.New(exporterName, "Prometheus exporter for Informatica IICS/IDMC IPU consumption.")
	var (
		configFile  = app.Flag("config.file", "Path to the YAML configuration file.").Default("config.yml").String()
		metricsPath = app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
		demo        = app.Flag("demo", "Serve from a built-in simulated Informatica: no account or configuration needed.").Bool()
		demoIPUs    = app.Flag("demo.ipu-entitlement", "With --demo: the demo account's ipu_entitlement.").Default("15000").Float64()
		storagePath = app.Flag("storage.path", "Folder where each account's last good data is kept across restarts; empty keeps nothing.").Default("").String()
		logLevel    = app.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").Default("info").Enum("debug", "info", "warn", "error")
		logFormat   = app.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").Default("logfmt").Enum("logfmt", "json")
		webFlags    = kingpinflag.AddFlags(app, ":9977")
	)
	demoCallback := app.Flag("demo.callback-url", "With --demo: the demo account's callback_url, e.g. http://localhost:9977/-/callback; its status polls are then a minute apart.").Default("").String()
	demoBreakdowns := app.Flag("demo.breakdowns", "With --demo: the demo account's breakdowns, comma-separated: "+strings.Join(collector.BreakdownNames(), ", ")+".").Default("").String()
	demoPrice := app.Flag("demo.ipu-price", "With --demo: the demo account's ipu_price; 0 publishes no price.").Default("0").Float64()
	demoCurrency := app.Flag("demo.currency", "With --demo: the demo account's currency (ISO 4217), used with --demo.ipu-price.").Default("USD").String()
	app.Command("serve", "Run the exporter (the default).").Default()
	backfill := newBackfillCommand(app)
	focus := newFocusCommand(app)
	keepExports := addKeepFlags(app)
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	app.UsageWriter(stderr)
	app.ErrorWriter(stderr)
	command, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", exporterName, err)
		return 2
	}

	logger, slogger := newLoggers(stderr, *logLevel, *logFormat)
	keeper, code := keepExports.open(logger, h.now)
	if code != 0 {
		return code
	}
	if command == backfill.name() {
		return backfill.run(logger, *configFile, keepAccounts(keeper, h.adjust), h.now)
	}
	if command == focus.name() {
		return focus.run(logger, *configFile, keepAccounts(keeper, h.adjust), h.now)
	}
	level.Info(logger).Log("msg", "Starting "+exporterName, "version", version.Info())
	level.Info(logger).Log("build_context", version.BuildContext())

	// The configuration source: the file, or in demo mode a simulated
	// Informatica and one account against it.
	load := func() (collector.Settings, error) { return loadConfig(logger, *configFile) }
	if *demo {
		f, settings, err := startDemo(demoSettings{
			entitlement: *demoIPUs, callbackURL: *demoCallback,
			breakdowns: *demoBreakdowns, ipuPrice: *demoPrice, currency: *demoCurrency,
		})
		if err != nil {
			level.Error(logger).Log("msg", "Cannot start the simulated Informatica", "err", err)
			return 1
		}
		defer f.Close()
		level.Info(logger).Log("msg", "Demo mode: serving a simulated Informatica", "url", f.URL())
		load = func() (collector.Settings, error) { return settings, nil }
	}

	if h.adjust != nil {
		unadjusted := load
		load = func() (collector.Settings, error) {
			s, err := unadjusted()
			if err == nil {
				h.adjust(&s)
			}
			return s, err
		}
	}
	settings, err := load()
	if err != nil {
		level.Error(logger).Log("msg", "Invalid configuration", "err", err)
		return 1
	}
	var options []collector.Option
	if h.now != nil {
		options = append(options, collector.WithClock(h.now))
	}
	if h.after != nil {
		options = append(options, collector.WithTimer(h.after))
	}
	if *storagePath != "" {
		if err := os.MkdirAll(*storagePath, 0o700); err != nil {
			level.Error(logger).Log("msg", "Cannot use --storage.path", "err", err)
			return 1
		}
		options = append(options, collector.WithStorage(*storagePath))
	}
	if keeper != nil {
		options = append(options, collector.WithKeepExports(keeper.Keep))
	}
	exporter := collector.New(logger, options...)
	if err := exporter.Apply(settings); err != nil {
		level.Error(logger).Log("msg", "Invalid configuration", "err", err)
		return 1
	}
	defer exporter.Stop()
	level.Info(logger).Log("msg", "Configuration loaded", "accounts", len(settings.Accounts))

	reg := prometheus.NewRegistry()
	now := time.Now
	if h.now != nil {
		now = h.now
	}
	reloads := newReloader(logger, load, exporter, now)
	reg.MustRegister(
		exporter,
		reloads,
		versioncollector.NewCollector(exporterName),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if keeper != nil {
		reg.MustRegister(keeper)
	}

	mux := http.NewServeMux()
	mux.Handle(*metricsPath, exporter.Handler(reg, promhttp.HandlerOpts{
		ErrorLog:          stdlog.New(log.NewStdlibAdapter(level.Error(logger)), "", 0),
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !exporter.Ready() {
			http.Error(w, "Not ready: waiting for the first refresh of every account", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "This endpoint requires a POST request.", http.StatusMethodNotAllowed)
			return
		}
		if err := reloads.reload(); err != nil {
			http.Error(w, "Failed to reload config: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Reloaded")
	})
	mux.Handle(callbackPath, callbackHandler(exporter, logger))
	mux.Handle(callbackPath+"/", callbackHandler(exporter, logger))
	if *metricsPath != "/" {
		mux.Handle("/", landingPage(*metricsPath, exporter, reloads, logger))
	}

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(srv, webFlags, slogger) }()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	for {
		select {
		case err := <-serveErr:
			level.Error(logger).Log("msg", "HTTP server stopped", "err", err)
			return 1
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				// reload logs a failure and shows it in its metrics and
				// on the landing page; a signal has no one else to tell.
				_ = reloads.reload()
				continue
			}
			level.Info(logger).Log("msg", "Shutting down", "signal", sig)
		case <-h.stop:
			level.Info(logger).Log("msg", "Shutting down")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			level.Warn(logger).Log("msg", "HTTP server did not shut down cleanly", "err", err)
		}
		return 0
	}
}

// newLoggers returns the go-kit application logger and, bridged to it, the
// slog logger that exporter-toolkit takes.
func newLoggers(w io.Writer, lvl, format string) (log.Logger, *slog.Logger) {
	var base log.Logger
	if format == "json" {
		base = log.NewJSONLogger(log.NewSyncWriter(w))
	} else {
		base = log.NewLogfmtLogger(log.NewSyncWriter(w))
	}
	base = level.NewFilter(base, level.Allow(level.ParseDefault(lvl, level.InfoValue())))
	logger := log.With(base, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller)

	// The bridge adds its own caller and "time"; renaming that to "ts" keeps
	// every line in one shape.
	bridged := log.LoggerFunc(func(kv ...any) error {
		for i := 0; i+1 < len(kv); i += 2 {
			if t, ok := kv[i+1].(time.Time); ok && kv[i] == "time" {
				kv[i], kv[i+1] = "ts", t.UTC()
			}
		}
		return base.Log(kv...)
	})
	// The flag allows only levels both loggers know; Info, as for the
	// go-kit filter above, should one still not parse.
	var slogLevel slog.Level
	if err := slogLevel.UnmarshalText([]byte(lvl)); err != nil {
		slogLevel = slog.LevelInfo
	}
	return logger, slog.New(slgk.NewGoKitHandler(bridged, slogLevel))
}

// reloader applies a new configuration on SIGHUP or POST /-/reload. A bad
// configuration keeps the running one, and says so in its metrics and on
// the landing page.
type reloader struct {
	logger   log.Logger
	load     func() (collector.Settings, error)
	exporter *collector.Exporter
	now      func() time.Time

	// reloading keeps one reload at a time; Collect never takes it, so a
	// scrape never waits for a reload.
	reloading sync.Mutex
	mu        sync.Mutex
	last      reloadStatus
}

// reloadStatus is the outcome of the last load of the configuration.
type reloadStatus struct {
	Initial     bool      // no reload yet: the configuration loaded at start
	At          time.Time // when the last load finished
	Err         string    // why it failed; "" when it succeeded
	LastSuccess time.Time
}

var (
	reloadSuccessfulDesc = prometheus.NewDesc(
		"informatica_exporter_config_last_reload_successful",
		"1 if the last configuration reload succeeded, else 0.", nil, nil)
	reloadTimestampDesc = prometheus.NewDesc(
		"informatica_exporter_config_last_reload_success_timestamp_seconds",
		"When the configuration was last loaded successfully.", nil, nil)
)

func newReloader(logger log.Logger, load func() (collector.Settings, error), e *collector.Exporter, now func() time.Time) *reloader {
	started := now()
	return &reloader{
		logger: logger, load: load, exporter: e, now: now,
		last: reloadStatus{Initial: true, At: started, LastSuccess: started},
	}
}

func (r *reloader) reload() error {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	settings, err := r.load()
	if err == nil {
		err = r.exporter.Apply(settings)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last.Initial, r.last.At, r.last.Err = false, r.now(), ""
	if err != nil {
		r.last.Err = err.Error()
		level.Error(r.logger).Log("msg", "Reload failed, keeping the running configuration", "err", err)
		return err
	}
	r.last.LastSuccess = r.last.At
	level.Info(r.logger).Log("msg", "Configuration reloaded", "accounts", len(settings.Accounts))
	return nil
}

// status returns the outcome of the last load of the configuration.
func (r *reloader) status() reloadStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (r *reloader) Describe(ch chan<- *prometheus.Desc) {
	ch <- reloadSuccessfulDesc
	ch <- reloadTimestampDesc
}

func (r *reloader) Collect(ch chan<- prometheus.Metric) {
	last := r.status()
	ok := 0.0
	if last.Err == "" {
		ok = 1
	}
	ch <- prometheus.MustNewConstMetric(reloadSuccessfulDesc, prometheus.GaugeValue, ok)
	ch <- prometheus.MustNewConstMetric(reloadTimestampDesc, prometheus.GaugeValue, float64(last.LastSuccess.UnixNano())/1e9)
}

// landingPage serves exporter-toolkit's landing page with the outcome of
// the last reload and a table of the accounts' refresh status, rendered on
// every request.
func landingPage(metricsPath string, e *collector.Exporter, reloads *reloader, logger log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var status strings.Builder
		data := struct {
			Reload   reloadStatus
			Accounts []collector.AccountStatus
		}{reloads.status(), e.Status()}
		if err := statusTemplate.Execute(&status, data); err != nil {
			level.Error(logger).Log("msg", "Cannot render the account status", "err", err)
		}
		page, err := web.NewLandingPage(web.LandingConfig{
			Name:        "Informatica Exporter",
			Description: "Prometheus exporter for Informatica IICS/IDMC IPU consumption",
			Version:     version.Info(),
			Profiling:   "false",
			Links: []web.LandingLinks{
				{Address: metricsPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
				{Address: "/-/ready", Text: "Readiness", Description: "200 once every account has finished a first refresh"},
			},
			ExtraHTML: status.String(),
			ExtraCSS:  "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}",
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page.ServeHTTP(w, r)
	})
}

// statusTemplate is html/template, so account names and error texts are
// escaped before they reach the page.
var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	},
}).Parse(`<h3>Configuration</h3>
<p>{{with .Reload}}{{if .Initial}}Loaded at start, {{ts .At}}.{{else if .Err}}Last reload failed at {{ts .At}}: {{.Err}}. Running the configuration loaded at {{ts .LastSuccess}}.{{else}}Last reload succeeded at {{ts .At}}.{{end}}{{end}}</p>
<h3>Accounts</h3>
<table>
<tr><th>Account</th><th>State</th><th>Last success</th><th>Next refresh</th><th>Breakdowns: last success</th><th>Orgs</th><th>Rows</th><th>Last error</th></tr>
{{range .Accounts}}<tr><td>{{.Name}}</td><td>{{if not .Attempted}}first refresh running{{else if .Up}}up{{else}}down ({{.ErrorStage}}){{end}}</td><td>{{ts .LastSuccess}}</td><td>{{or .Activity (ts .NextRefresh)}}</td><td>{{range $i, $b := .Breakdowns}}{{if $i}}, {{end}}{{$b.Kind}}: {{ts $b.LastSuccess}}{{else}}none{{end}}</td><td>{{.Orgs}}</td><td>{{.Rows}}</td><td>{{.LastError}}</td></tr>
{{end}}</table>`))

// demoSettings are the --demo.* flags.
type demoSettings struct {
	entitlement float64
	callbackURL string
	breakdowns  string // comma-separated, as in the breakdowns key
	ipuPrice    float64
	currency    string
}

// startDemo starts the simulated Informatica on loopback and returns one
// account configured against it, with fast jobs and a short poll interval so
// that metrics appear within seconds. With a callback URL, polls are a
// minute apart, so that it is the callback that brings the data in seconds.
// The entitlement, the breakdowns and the price are checked as the
// configuration file's are.
func startDemo(d demoSettings) (*fake.Server, collector.Settings, error) {
	if err := checkEntitlement("--demo.ipu-entitlement", d.entitlement); err != nil {
		return nil, collector.Settings{}, err
	}
	acc := accountConfig{Currency: d.currency}
	for kind := range strings.SplitSeq(d.breakdowns, ",") {
		if kind = strings.TrimSpace(kind); kind != "" {
			acc.Breakdowns = append(acc.Breakdowns, kind)
		}
	}
	breakdown, err := acc.breakdown()
	if err != nil {
		return nil, collector.Settings{}, fmt.Errorf("--demo.%w", err)
	}
	var price float64
	if d.ipuPrice != 0 {
		acc.IPUPrice = &d.ipuPrice
		if price, err = acc.price(); err != nil {
			return nil, collector.Settings{}, fmt.Errorf("--demo.ipu-price and --demo.currency: %w", err)
		}
	}
	f := fake.New(fake.Options{})
	if err := f.Start("127.0.0.1:0"); err != nil {
		return nil, collector.Settings{}, err
	}
	settings := collector.Settings{
		Refresh: collector.RefreshSettings{
			Interval:     5 * time.Minute,
			Lookback:     45 * 24 * time.Hour,
			PollInterval: time.Second,
			JobTimeout:   time.Minute,
			MaxAge:       26 * time.Hour,
		},
		Accounts: []collector.AccountSettings{{
			Name:        "demo",
			Entitlement: &d.entitlement,
			Breakdown:   breakdown,
			IPUPrice:    price,
			Currency:    d.currency,
			Client: informatica.Config{
				LoginURL: f.URL(),
				Username: f.Username(),
				Password: f.Password(),
			},
		}},
	}
	if price == 0 {
		settings.Accounts[0].Currency = ""
	}
	if d.callbackURL != "" {
		settings.Accounts[0].Client.CallbackURL = d.callbackURL
		settings.Refresh.PollInterval, settings.Refresh.JobTimeout = time.Minute, 5*time.Minute
	}
	return f, settings, nil
}
