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
	c.from = c.cmd.Flag("from", "First day to write, e.g. 2025-01-01; default the configuration's history.start.").String()
	c.to = c.cmd.Flag("to", "Last day to write, inclusive; default yesterday (UTC).").String()
	c.output = c.cmd.Flag("output", "File to write; - for standard output.").Required().String()
	c.zips = c.cmd.Flag("zip", "Read this export ZIP instead of calling Informatica; repeatable. Where ZIPs overlap, the later one's days win.").ExistingFiles()
	return c
}

func (c *backfillCommand) name() string { return c.cmd.FullCommand() }

// run executes the command; its result is the process's exit code.
func (c *backfillCommand) run(logger log.Logger, configFile string, adjust func(*collector.Settings)) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var settings collector.Settings
	if len(*c.zips) == 0 {
		var err error
		if settings, err = loadConfig(configFile); err != nil {
			level.Error(logger).Log("msg", "Invalid configuration", "err", err)
			return 1
		}
		if adjust != nil {
			adjust(&settings)
		}
	}
	from, to, err := c.days(settings.Refresh.HistoryStart)
	if err != nil {
		level.Error(logger).Log("msg", "Invalid backfill range", "err", err)
		return 2
	}
	var tables []*collector.Table
	if len(*c.zips) > 0 {
		t, err := readZIPs(*c.zips)
		if err != nil {
			level.Error(logger).Log("msg", "Cannot read export", "err", err)
			return 1
		}
		tables = append(tables, t)
	}
	for _, a := range settings.Accounts {
		t, err := exportAccount(ctx, a, settings.Refresh, from, to)
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

// days parses --from and --to as UTC days; without --from, history.start
// (historyStart) is the first day.
func (c *backfillCommand) days(historyStart time.Time) (time.Time, time.Time, error) {
	from := historyStart
	if *c.from != "" {
		var err error
		if from, err = informatica.ParseTime(*c.from); err != nil {
			return from, from, fmt.Errorf("--from: %q is not a date such as 2025-01-01", *c.from)
		}
	} else if from.IsZero() {
		return from, from, errors.New("--from is required, unless the configuration sets history.start")
	}
	now := time.Now().UTC()
	to := time.Date(now.Year(), now.Month(), now.Day()-1, 0, 0, 0, 0, time.UTC)
	if *c.to != "" {
		var err error
		if to, err = informatica.ParseTime(*c.to); err != nil {
			return from, to, fmt.Errorf("--to: %q is not a date such as 2025-12-31", *c.to)
		}
	}
	from, to = day(from), day(to)
	if to.Before(from) {
		return from, to, fmt.Errorf("--to %s is before --from %s", to.Format(time.DateOnly), from.Format(time.DateOnly))
	}
	return from, to, nil
}

func day(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// readZIPs reads downloaded exports; later ones win where they overlap.
func readZIPs(paths []string) (*collector.Table, error) {
	var tables []*collector.Table
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
		b := collector.NewBuilder()
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
func exportAccount(ctx context.Context, a collector.AccountSettings, r collector.RefreshSettings, from, to time.Time) (*collector.Table, error) {
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
	if now := time.Now(); end.After(now) {
		end = now
	}
	b := collector.NewBuilder()
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
