package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/usage"
)

// backfillCommand writes past daily IPU consumption as OpenMetrics, for
// `promtool tsdb create-blocks-from openmetrics`: history that Prometheus
// could not scrape because the exporter did not run yet.
type backfillCommand struct {
	cmd      *kingpin.CmdClause
	from, to *string
	output   *string
	zips     *[]string
}

func newBackfillCommand(app *kingpin.Application) *backfillCommand {
	c := &backfillCommand{cmd: app.Command("backfill",
		"Write one sample per org, meter and day (informatica_ipu_day_consumed_ipus, at 00:00 UTC of the day) as OpenMetrics, "+
			"from Informatica (the accounts of --config.file) or from downloaded export ZIPs (--zip).")}
	c.from = c.cmd.Flag("from", "First day to write, as YYYY-MM-DD (ISO 8601), e.g. 2025-01-01; default the configuration's history.start (required with --zip).").String()
	c.to = c.cmd.Flag("to", "Last day to write, inclusive, as YYYY-MM-DD; default and at most yesterday (UTC): today is incomplete and never written.").String()
	c.output = c.cmd.Flag("output", "File to write; - for standard output.").Required().String()
	c.zips = c.cmd.Flag("zip", "Read this export ZIP instead of calling Informatica; repeatable. Where ZIPs overlap, the later one's days win.").ExistingFiles()
	return c
}

func (c *backfillCommand) name() string { return c.cmd.FullCommand() }

// run executes the command; its result is the process's exit code. now,
// when set, replaces the clock (tests run it on any day).
func (c *backfillCommand) run(logger log.Logger, configFile string, adjust func(*collector.Settings), now func() time.Time) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if now == nil {
		now = time.Now
	}
	zipMode := len(*c.zips) > 0
	var settings collector.Settings
	if !zipMode {
		var err error
		if settings, err = loadConfig(configFile); err != nil {
			level.Error(logger).Log("msg", "Invalid configuration", "err", err)
			return 1
		}
		if adjust != nil {
			adjust(&settings)
		}
	}
	start := now()
	r, err := c.days(settings.Refresh.HistoryStart, zipMode, start)
	if err != nil {
		level.Error(logger).Log("msg", "Invalid backfill range", "err", err)
		return 2
	}
	from, to := r.from, r.to
	if r.clamped {
		level.Warn(logger).Log("msg", "--to is today or later: writing up to yesterday, the last complete UTC day; "+
			"today's incomplete day is never written, since a TSDB block would keep it for ever",
			"to_asked", *c.to, "to", to.Format(time.DateOnly))
	}
	var tables []*usage.Table
	if zipMode {
		t, err := readZIPs(*c.zips)
		if err != nil {
			level.Error(logger).Log("msg", "Cannot read an export ZIP given with --zip", "err", err)
			return 1
		}
		tables = append(tables, t)
	}
	for _, a := range settings.Accounts {
		t, err := exportAccount(ctx, a, settings.Refresh, from, to, start)
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
	level.Info(logger).Log("msg", "Backfill written", "output", *c.output, "samples", n,
		"from", from.Format(time.DateOnly), "to", to.Format(time.DateOnly),
		"next", "promtool tsdb create-blocks-from openmetrics "+*c.output+" <data dir>")
	return 0
}

// dayRange is the range of UTC days a backfill writes.
type dayRange struct {
	from, to time.Time
	// clamped: --to was today or later, and to is yesterday instead.
	clamped bool
}

// days parses --from and --to, ISO 8601 dates, as UTC days. Without --from,
// history.start (historyStart) is the first day, except in zip mode, which
// reads no configuration. The last day is at most yesterday (of now, UTC):
// today is not complete yet.
func (c *backfillCommand) days(historyStart time.Time, zipMode bool, now time.Time) (dayRange, error) {
	var r dayRange
	var err error
	switch {
	case *c.from != "":
		if r.from, err = parseDay("--from", *c.from); err != nil {
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
	if *c.to != "" {
		if r.to, err = parseDay("--to", *c.to); err != nil {
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
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		b := usage.NewBuilder()
		_, err = informatica.ReadUsageZIP(f, info.Size(), informatica.DefaultLimits, b.Add)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		tables = append(tables, b.Table())
	}
	return collector.MergeExports(tables...), nil
}

// backfillPollInterval is the first poll delay of a backfill whose account
// has a callback_url: the default poll_interval.
const backfillPollInterval = 15 * time.Second

// exportAccount exports one account's usage for the days from..to.
func exportAccount(ctx context.Context, a collector.AccountSettings, r collector.RefreshSettings, from, to, now time.Time) (*usage.Table, error) {
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
		return nil, err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		client.Logout(ctx)
	}()
	end := to.Add(24*time.Hour - time.Second)
	if end.After(now) {
		end = now
	}
	b := usage.NewBuilder()
	if _, err := client.ExportUsage(ctx, from, end, b.Add); err != nil {
		return nil, err
	}
	return b.Table(), nil
}

// writeOutput writes to path, or to standard output for "-".
func writeOutput(path string, write func(io.Writer) (int, error)) (int, error) {
	if path == "-" {
		w := bufio.NewWriter(os.Stdout)
		n, err := write(w)
		return n, errors.Join(err, w.Flush())
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriter(f)
	n, err := write(w)
	return n, errors.Join(err, w.Flush(), f.Close())
}
