// Package offline holds the commands that write past days once and exit,
// rather than serve: backfill (OpenMetrics for promtool) and focus (FinOps
// FOCUS CSV). Both read from Informatica, the accounts of the configuration
// file or the simulated one of --demo, or from downloaded export ZIPs.
package offline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/config"
	"github.com/ipumon/informatica_exporter/demo"
	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/usage"
)

// Backfill writes past daily IPU consumption as OpenMetrics, for
// `promtool tsdb create-blocks-from openmetrics`: history that Prometheus
// could not scrape because the exporter did not run yet.
type Backfill struct {
	cmd *kingpin.CmdClause
	dayFlags
}

// NewBackfill adds the backfill command and its flags to app.
func NewBackfill(app *kingpin.Application) *Backfill {
	c := &Backfill{cmd: app.Command("backfill",
		"Write one sample per org, meter and day (informatica_ipu_day_consumed_ipus, at 00:00 UTC of the day) as OpenMetrics, "+
			"from Informatica (the accounts of --config.file, or the simulated one of --demo) or from downloaded export ZIPs (--zip).")}
	c.dayFlags = addDayFlags(c.cmd)
	return c
}

// Name is the command's name, as kingpin's Parse returns it.
func (c *Backfill) Name() string { return c.cmd.FullCommand() }

// Run executes the command; its result is the process's exit code. adjust,
// when set, changes the settings after loading; now, when set, replaces
// the clock (tests run it on any day).
func (c *Backfill) Run(logger log.Logger, configFile string, adjust func(*collector.Settings), now func() time.Time) int {
	job, code := c.prepare(logger, "backfill", configFile, adjust, now)
	if code != 0 {
		return code
	}
	defer job.stop()
	from, to := job.days.from, job.days.to
	var tables []*usage.Table
	if job.zipMode {
		t, err := readZIPs(*c.zips)
		if err != nil {
			level.Error(logger).Log("msg", "Cannot read an export ZIP given with --zip", "err", err)
			return 1
		}
		tables = append(tables, t)
	}
	for _, a := range job.settings.Accounts {
		collector.LogClient(&a.Client, log.With(logger, "account", a.Name), level.Info)
		t, err := exportAccount(job.ctx, logger, a, job.settings.Refresh, from, to, job.start)
		if err != nil {
			level.Error(logger).Log("msg", "Export failed", "account", a.Name, "stage", informatica.StageOf(err), "err", err)
			return 1
		}
		level.Info(logger).Log("msg", "Exported", "account", a.Name, "orgs", len(t.Orgs), "meters", len(t.Meters))
		tables = append(tables, t)
	}
	n, err := writeOutput(*c.output, func(w io.Writer) (int, error) {
		return collector.WriteOpenMetrics(w, tables, from, to)
	})
	if err != nil {
		level.Error(logger).Log("msg", "Cannot write the backfill", "output", *c.output, "err", err)
		return 1
	}
	if n == 0 {
		warnEmpty(logger, "Backfill written with no samples: nothing in the range; check --from and --to", job, *c.zips)
		return 0
	}
	level.Info(logger).Log("msg", "Backfill written", "output", *c.output, "samples", n,
		"from", from.Format(time.DateOnly), "to", to.Format(time.DateOnly),
		"next", "promtool tsdb create-blocks-from openmetrics --max-block-duration=486h "+*c.output+" <data dir>")
	return 0
}

// dayFlags are what the commands that write past days (backfill, focus)
// share: which days, from where, and where to.
type dayFlags struct {
	from, to *string
	output   *string
	zips     *[]string
	demo     *bool
}

func addDayFlags(cmd *kingpin.CmdClause) dayFlags {
	var f dayFlags
	f.from = cmd.Flag("from", "First day to write, as YYYY-MM-DD (ISO 8601), e.g. 2025-01-01; default the configuration's history.start (required with --zip).").String()
	f.to = cmd.Flag("to", "Last day to write, inclusive, as YYYY-MM-DD; default and at most yesterday (UTC): today is incomplete and never written.").String()
	f.output = cmd.Flag("output", "File to write; - for standard output.").Required().String()
	f.zips = cmd.Flag("zip", "Read this export ZIP instead of calling Informatica; repeatable. Where ZIPs overlap, the later one's days win.").ExistingFiles()
	f.demo = cmd.Flag("demo", "Read from a built-in simulated Informatica instead of the configuration's accounts: no account or configuration needed; "+
		"--from defaults to its first day.").Bool()
	return f
}

// dayJob is a command's setting out: its configuration (none in zip mode,
// the simulated Informatica's with --demo), its days, and the instant it
// started.
type dayJob struct {
	ctx      context.Context
	stop     func()
	settings collector.Settings
	zipMode  bool
	days     dayRange
	start    time.Time
}

// prepare reads the configuration (with --demo, starts the simulated
// Informatica instead; in zip mode, neither) and the days to write. On
// failure it logs why and returns the exit code; otherwise the caller must
// call the job's stop, which also stops the simulated Informatica.
func (f dayFlags) prepare(logger log.Logger, command, configFile string, adjust func(*collector.Settings), now func() time.Time) (dayJob, int) {
	if now == nil {
		now = time.Now
	}
	job := dayJob{zipMode: len(*f.zips) > 0}
	var simulated *fake.Server
	switch {
	case job.zipMode && *f.demo:
		level.Error(logger).Log("msg", "Invalid "+command+" arguments", "err", "--demo and --zip: give one, the simulated Informatica or export ZIPs")
		return job, 2
	case *f.demo:
		var err error
		if simulated, job.settings, err = demo.Start(demo.Account{}); err != nil {
			level.Error(logger).Log("msg", "Cannot start the simulated Informatica", "err", err)
			return job, 1
		}
		// The default first day: all the history it holds.
		job.settings.Refresh.HistoryStart = simulated.Dataset().First
		level.Info(logger).Log("msg", "Demo mode: reading from a simulated Informatica", "url", simulated.URL())
	case !job.zipMode:
		var err error
		if job.settings, err = config.Load(logger, configFile); err != nil {
			level.Error(logger).Log("msg", "Invalid configuration", "err", err)
			return job, 1
		}
	}
	closeDemo := func() {
		if simulated != nil {
			simulated.Close()
		}
	}
	if adjust != nil && !job.zipMode {
		adjust(&job.settings)
	}
	job.start = now()
	var err error
	job.days, err = f.parseDays(job.settings.Refresh.HistoryStart, job.zipMode, job.start)
	if err != nil {
		closeDemo()
		level.Error(logger).Log("msg", "Invalid "+command+" range", "err", err)
		return job, 2
	}
	if job.days.clamped {
		level.Warn(logger).Log("msg", "--to is today or later: writing up to yesterday, the last complete UTC day; "+
			"today's incomplete day is never written, since a TSDB block would keep it for ever",
			"to_asked", *f.to, "to", job.days.to.Format(time.DateOnly))
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	job.ctx, job.stop = ctx, func() { cancel(); closeDemo() }
	return job, 0
}

// warnEmpty logs that a command wrote no data, naming the range and where
// it read from (the accounts, and the ZIPs), so that a wrong --from is
// noticed.
func warnEmpty(logger log.Logger, msg string, job dayJob, zips []string) {
	var accounts []string
	for _, a := range job.settings.Accounts {
		accounts = append(accounts, a.Name)
	}
	kv := []any{"msg", msg, "from", job.days.from.Format(time.DateOnly), "to", job.days.to.Format(time.DateOnly)}
	if len(accounts) > 0 {
		kv = append(kv, "accounts", strings.Join(accounts, ","))
	}
	if len(zips) > 0 {
		kv = append(kv, "zips", strings.Join(zips, ","))
	}
	level.Warn(logger).Log(kv...)
}

// dayRange is the range of UTC days a backfill or FOCUS export writes.
type dayRange struct {
	from, to time.Time
	// clamped: --to was today or later, and to is yesterday instead.
	clamped bool
}

// parseDays parses --from and --to, ISO 8601 dates, as UTC days. Without --from,
// history.start (historyStart) is the first day, except in zip mode, which
// reads no configuration. The last day is at most yesterday (of now, UTC):
// today is not complete yet.
func (f dayFlags) parseDays(historyStart time.Time, zipMode bool, now time.Time) (dayRange, error) {
	var r dayRange
	var err error
	switch {
	case *f.from != "":
		if r.from, err = parseDay("--from", *f.from); err != nil {
			return r, err
		}
	case zipMode:
		return r, errors.New("--from is required with --zip: give the first day to write, e.g. --from=2025-01-01")
	case historyStart.IsZero():
		return r, errors.New("--from is required, unless the configuration sets history.start")
	default:
		r.from = day(historyStart)
	}
	yesterday := day(now.UTC()).AddDate(0, 0, -1)
	r.to = yesterday
	if *f.to != "" {
		if r.to, err = parseDay("--to", *f.to); err != nil {
			return r, err
		}
	}
	if r.to.After(yesterday) {
		r.to, r.clamped = yesterday, true
	}
	switch {
	case r.from.After(yesterday):
		return r, fmt.Errorf("--from %s is today or later: only complete days are written, the last being yesterday, %s (UTC)",
			r.from.Format(time.DateOnly), yesterday.Format(time.DateOnly))
	case r.to.Before(r.from):
		return r, fmt.Errorf("--to %s is before --from %s", r.to.Format(time.DateOnly), r.from.Format(time.DateOnly))
	}
	return r, nil
}

// parseDay parses the value of flag as an ISO 8601 date, YYYY-MM-DD. Other
// spellings are refused: 01/05/2026 could be 1 May or 5 January.
func parseDay(flag, value string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, value)
	if err != nil {
		return t, fmt.Errorf("%s: %q is not an ISO 8601 date (YYYY-MM-DD) such as 2025-01-01", flag, value)
	}
	return t, nil
}

func day(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// readZIPs reads downloaded exports; later ones win where they overlap.
func readZIPs(paths []string) (*usage.Table, error) {
	var tables []*usage.Table
	for _, p := range paths {
		b := usage.NewBuilder()
		err := readZIPFile(p, func(f *os.File, size int64) error {
			_, err := informatica.ReadUsageZIP(f, size, informatica.DefaultLimits, b.Add)
			return err
		})
		if err != nil {
			return nil, err
		}
		tables = append(tables, b.Table())
	}
	return collector.MergeExports(tables...), nil
}

// readZIPFile opens the file at path for read, and names the file in the
// errors of read.
func readZIPFile(path string, read func(f *os.File, size int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if err := read(f, info.Size()); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// backfillPollInterval is the first poll delay of a backfill whose account
// has a callback_url: the default poll_interval.
const backfillPollInterval = 15 * time.Second

// exportAccount exports one account's usage for the days from..to.
func exportAccount(ctx context.Context, logger log.Logger, a collector.AccountSettings, r collector.RefreshSettings, from, to, now time.Time) (*usage.Table, error) {
	var t *usage.Table
	err := withAccountClient(ctx, logger, a, r, func(client *informatica.Client) error {
		var err error
		t, err = exportSummary(ctx, client, from, to, now)
		return err
	})
	return t, err
}

// exportSummary exports the usage of the days from..to with client.
func exportSummary(ctx context.Context, client *informatica.Client, from, to, now time.Time) (*usage.Table, error) {
	b := usage.NewBuilder()
	if _, err := client.ExportUsage(ctx, from, exportEnd(to, now), b.Add); err != nil {
		return nil, err
	}
	return b.Table(), nil
}

// exportEnd is the last instant of the day to, or now if that is earlier.
func exportEnd(to, now time.Time) time.Time {
	end := to.Add(24*time.Hour - time.Second)
	if end.After(now) {
		end = now
	}
	return end
}

// withAccountClient calls fn with a client of account a, set up for a
// one-off command, and logs out after (a failed logout is a warning: the
// work is done).
func withAccountClient(ctx context.Context, logger log.Logger, a collector.AccountSettings, r collector.RefreshSettings, fn func(*informatica.Client) error) error {
	cfg := a.Client
	cfg.PollInterval, cfg.JobTimeout = r.PollInterval, r.JobTimeout
	if cfg.CallbackURL != "" {
		// The backfill has no listener: a job status posted to the
		// callback URL would reach the running exporter as an unmatched
		// callback, and nothing would wake this poller, whose poll_interval
		// was set long for callbacks. It polls on the default schedule.
		cfg.CallbackURL = ""
		cfg.PollInterval = min(cfg.PollInterval, backfillPollInterval)
	}
	client, err := informatica.NewClient(cfg)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := client.Logout(ctx); err != nil {
			level.Warn(logger).Log("msg", "Logout from Informatica failed", "account", a.Name, "err", err)
		}
	}()
	return fn(client)
}

// writeOutput writes to path, or to standard output for "-". The file is
// written beside path under a temporary name and renamed onto path only
// once complete, so that a failed write leaves the previous file as it was
// and no partial one. A device or a pipe is written in place.
func writeOutput(path string, write func(io.Writer) (int, error)) (int, error) {
	if path == "-" {
		return writeBuffered(os.Stdout, write)
	}
	// The file a symbolic link names is replaced, not the link.
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	mode := os.FileMode(0o644)
	if info, err := os.Stat(path); err == nil {
		switch {
		case info.IsDir():
			return 0, fmt.Errorf("%s is a folder", path)
		case !info.Mode().IsRegular():
			// A device or a pipe (/dev/null, a FIFO read by another
			// program): a file renamed onto it would replace it.
			return writeInPlace(path, write)
		}
		mode = info.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, err
	}
	n, err := writeBuffered(f, write)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return n, err
	}
	return n, nil
}

func writeInPlace(path string, write func(io.Writer) (int, error)) (int, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	n, err := writeBuffered(f, write)
	return n, errors.Join(err, f.Close())
}

func writeBuffered(f io.Writer, write func(io.Writer) (int, error)) (int, error) {
	w := bufio.NewWriter(f)
	n, err := write(w)
	return n, errors.Join(err, w.Flush())
}
