package offline

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

type syncBuffer = testkit.SyncBuffer

var writeFile = testkit.WriteFile

// hooks are what the program passes a command besides its flags.
type hooks struct {
	adjust func(*collector.Settings)
	now    func() time.Time
}

// run parses args as the program does, with the flags the commands share
// (--config.file, --log.level), and runs the command it names; its result
// is the exit code. The program's own parsing is tested in package main.
func run(args []string, logs io.Writer, h hooks) int {
	app := kingpin.New("informatica_exporter", "")
	configFile := app.Flag("config.file", "").Default("config.yml").String()
	logLevel := app.Flag("log.level", "").Default("info").Enum("debug", "info", "warn", "error")
	backfill, focus := NewBackfill(app), NewFocus(app)
	command, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(logs, "informatica_exporter: %v\n", err)
		return 2
	}
	logger := level.NewFilter(log.NewLogfmtLogger(log.NewSyncWriter(logs)), level.Allow(level.ParseDefault(*logLevel, level.InfoValue())))
	switch command {
	case backfill.Name():
		return backfill.Run(logger, *configFile, h.adjust, h.now)
	case focus.Name():
		return focus.Run(logger, *configFile, h.adjust, h.now)
	}
	fmt.Fprintf(logs, "no command in %q\n", args)
	return 2
}

// The shared helpers of testkit, under the names the tests use.
var (
	waitFor     = testkit.WaitFor
	startFake   = testkit.StartFake
	writeConfig = testkit.WriteConfig
	accountYAML = testkit.AccountYAML
	frozen      = testkit.Frozen
	date        = testkit.Date
)

// requireProgram finds a program of Debian's prometheus package.
func requireProgram(t *testing.T, name string) string {
	t.Helper()
	return testkit.RequireProgram(t, name, "prometheus")
}
