// Command informatica_exporter exports the IPU consumption of Informatica
// Intelligent Cloud Services (IICS/IDMC) organizations as Prometheus metrics.
package main

import (
	"context"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
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
	"github.com/ipumon/informatica_exporter/config"
	"github.com/ipumon/informatica_exporter/demo"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/keep"
	"github.com/ipumon/informatica_exporter/offline"
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
	// demo, when set, is given the simulated Informatica of --demo, so
	// that tests can scan the logs for its secrets.
	demo func(*fake.Server)
}

// run is main without the process.
func run(args []string, stderr io.Writer, h hooks) int {
	app := kingpin.New(exporterName, "Prometheus exporter for Informatica IICS/IDMC IPU consumption.")
	// The flags every command shares; each command's own are on it.
	var (
		configFile = app.Flag("config.file", "Path to the YAML configuration file.").Default("config.yml").String()
		logLevel   = app.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").Default("info").Enum("debug", "info", "warn", "error")
		logFormat  = app.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").Default("logfmt").Enum("logfmt", "json")
	)
	serve := newServeCommand(app)
	backfill := offline.NewBackfill(app)
	focus := offline.NewFocus(app)
	keepExports := addKeepFlags(app.GetCommand("serve"), app.GetCommand(backfill.Name()), app.GetCommand(focus.Name()))
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
	switch command {
	case backfill.Name():
		return backfill.Run(logger, *configFile, keepAccounts(keeper, h.adjust), h.now)
	case focus.Name():
		return focus.Run(logger, *configFile, keepAccounts(keeper, h.adjust), h.now)
	}
	return serve.run(logger, slogger, *configFile, h, keeper)
}

// serveCommand runs the exporter: the default command, whose flags work
// without the word serve.
type serveCommand struct {
	metricsPath *string
	storagePath *string
	web         *web.FlagConfig
	demo        *bool
	demoAccount demo.Account
}

// newServeCommand adds the serve command and its flags to app.
func newServeCommand(app *kingpin.Application) *serveCommand {
	cmd := app.Command("serve", "Run the exporter (the default command: its flags work without the word serve).").Default()
	f := &serveCommand{
		metricsPath: cmd.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String(),
		storagePath: cmd.Flag("storage.path", "Folder where each account's last good data is kept across restarts; empty keeps nothing.").Default("").String(),
		web:         kingpinflag.AddFlags(cmd, ":9977"),
		demo:        cmd.Flag("demo", "Serve from a built-in simulated Informatica: no account or configuration needed.").Bool(),
	}
	cmd.Flag("demo.ipu-entitlement", "With --demo: the demo account's ipu_entitlement.").Default("15000").Float64Var(&f.demoAccount.Entitlement)
	cmd.Flag("demo.callback-url", "With --demo: the demo account's callback_url, e.g. http://localhost:9977/-/callback; its status polls are then a minute apart.").Default("").StringVar(&f.demoAccount.CallbackURL)
	cmd.Flag("demo.breakdowns", "With --demo: the demo account's breakdowns, comma-separated: "+strings.Join(collector.BreakdownNames(), ", ")+".").Default("").StringVar(&f.demoAccount.Breakdowns)
	cmd.Flag("demo.ipu-price", "With --demo: the demo account's ipu_price; 0 publishes no price.").Default("0").Float64Var(&f.demoAccount.IPUPrice)
	cmd.Flag("demo.currency", "With --demo: the demo account's currency (ISO 4217), used with --demo.ipu-price.").Default("USD").StringVar(&f.demoAccount.Currency)
	return f
}

// run serves the metrics until a signal or h.stop ends it; its result is
// the process's exit code. keeper, when set, keeps each export ZIP.
func (f *serveCommand) run(logger log.Logger, slogger *slog.Logger, configFile string, h hooks, keeper *keep.Keeper) int {
	level.Info(logger).Log("msg", "Starting "+exporterName, "version", version.Info())
	level.Info(logger).Log("build_context", version.BuildContext())

	// The configuration source: the file, or in demo mode a simulated
	// Informatica and one account against it.
	load := func() (collector.Settings, error) { return config.Load(logger, configFile) }
	if *f.demo {
		simulated, settings, err := demo.Start(f.demoAccount)
		if err != nil {
			level.Error(logger).Log("msg", "Cannot start the simulated Informatica", "err", err)
			return 1
		}
		defer simulated.Close()
		if h.demo != nil {
			h.demo(simulated)
		}
		level.Info(logger).Log("msg", "Demo mode: serving a simulated Informatica", "url", simulated.URL())
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
	if *f.storagePath != "" {
		if err := os.MkdirAll(*f.storagePath, 0o700); err != nil {
			level.Error(logger).Log("msg", "Cannot use --storage.path", "err", err)
			return 1
		}
		options = append(options, collector.WithStorage(*f.storagePath))
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
	mux.Handle(*f.metricsPath, exporter.Handler(reg, promhttp.HandlerOpts{
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
	if *f.metricsPath != "/" {
		mux.Handle("/", landingPage(*f.metricsPath, exporter, reloads, logger))
	}

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(srv, f.web, slogger) }()

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
