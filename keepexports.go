package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/model"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/keep"
)

// keepFlags are --keep-exports and its bounds: serve, backfill and focus
// keep each export ZIP they download (docs/keep-exports.md).
type keepFlags struct {
	dir      *string
	maxFiles *int
	maxAge   *model.Duration
}

// flagAdder is a kingpin command (or application), whichever the flags go on.
type flagAdder interface {
	Flag(name, help string) *kingpin.FlagClause
}

// The default bounds: a month of exports, the span of a monthly billing
// period, and a ceiling of about that month for one account refreshing
// hourly (24 summary exports a day and a few breakdown exports).
const (
	defaultKeepFiles = "1000"
	defaultKeepAge   = "30d"
)

// addKeepFlags adds the flags to each of commands, the same on each: the
// command that runs sets them.
func addKeepFlags(commands ...flagAdder) keepFlags {
	f := keepFlags{dir: new(string), maxFiles: new(int), maxAge: new(model.Duration)}
	for _, c := range commands {
		c.Flag("keep-exports", "Folder where every export ZIP downloaded from Informatica is kept, "+
			"named <account>_<kind>_<from>_<to>_<job ID>.zip, for audit and for backfill/focus --zip; empty keeps none.").Default("").StringVar(f.dir)
		c.Flag("keep-exports.max-files", "With --keep-exports: the most ZIPs the folder keeps, the oldest removed first; 0: no bound by count.").
			Default(defaultKeepFiles).IntVar(f.maxFiles)
		c.Flag("keep-exports.max-age", "With --keep-exports: how long a ZIP is kept, e.g. 30d or 12h; 0: no bound by age.").
			Default(defaultKeepAge).SetValue(maxAgeValue{f.maxAge})
	}
	return f
}

// maxAgeValue is --keep-exports.max-age: a Prometheus duration, with an
// error that names the flag (kingpin passes the value's error on as it is).
type maxAgeValue struct{ *model.Duration }

func (v maxAgeValue) Set(s string) error {
	if err := v.Duration.Set(s); err != nil {
		return fmt.Errorf("--keep-exports.max-age: %q is not a duration such as 30d or 12h", s)
	}
	return nil
}

// open returns the keeper of --keep-exports, nil without the flag. On
// failure it logs why and returns the exit code: 2 for bounds that are
// no bounds, 1 for a folder it cannot write to.
func (f keepFlags) open(logger log.Logger, now func() time.Time) (*keep.Keeper, int) {
	if *f.dir == "" {
		return nil, 0
	}
	var err error
	switch {
	case *f.maxFiles < 0:
		err = fmt.Errorf("--keep-exports.max-files=%d is negative", *f.maxFiles)
	case *f.maxFiles == 0 && *f.maxAge == 0:
		err = errors.New("--keep-exports needs a bound: --keep-exports.max-files or --keep-exports.max-age above 0")
	}
	if err != nil {
		level.Error(logger).Log("msg", "Invalid --keep-exports bounds", "err", err)
		return nil, 2
	}
	k, err := keep.Open(keep.Options{
		Dir: *f.dir, MaxFiles: *f.maxFiles, MaxAge: time.Duration(*f.maxAge), Now: now,
		Logger: logger,
	})
	if err != nil {
		level.Error(logger).Log("msg", "Cannot keep export ZIPs in --keep-exports", "dir", *f.dir, "err", err)
		return nil, 1
	}
	level.Info(logger).Log("msg", "Keeping every export ZIP", "dir", *f.dir, "max_files", *f.maxFiles, "max_age", f.maxAge.String())
	return k, 0
}

// keepAccounts returns adjust, made to also give each account's export ZIPs
// to k: for backfill and focus, which load their settings once. (The
// exporter takes k as an option instead: a hook in its settings would make
// every reload look like a change.)
func keepAccounts(k *keep.Keeper, adjust func(*collector.Settings)) func(*collector.Settings) {
	if k == nil {
		return adjust
	}
	return func(s *collector.Settings) {
		if adjust != nil {
			adjust(s)
		}
		for i := range s.Accounts {
			name := s.Accounts[i].Name
			s.Accounts[i].Client.OnExport = func(z informatica.ExportZIP) { k.Keep(name, z) }
		}
	}
}
