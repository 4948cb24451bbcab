package main

// The command line as users meet it: each command's help, serve as the
// default command, and a first run without a configuration file.

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// runChild runs the exporter as a process of its own in dir with args, as
// a user runs it from a shell there, and returns what it wrote to
// standard error and its exit code.
func runChild(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0])
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return stderr.String(), cmd.ProcessState.ExitCode()
}

// helpFlag is a flag's line in kingpin's help: "  -h, --[no-]help ...",
// "      --config.file=...".
var helpFlag = regexp.MustCompile(`(?m)^(?:  -\w, |      )--(?:\[no-\])?([\w.-]+)`)

// TestHelpShowsEachCommandsFlags: each command's --help lists its own
// flags and the few every command shares, and no other command's; the top
// level lists the shared flags and every command.
func TestHelpShowsEachCommandsFlags(t *testing.T) {
	shared := []string{"help", "config.file", "log.level", "log.format", "version"}
	keepExports := []string{"keep-exports", "keep-exports.max-files", "keep-exports.max-age"}
	day := append([]string{"from", "to", "output", "zip", "demo"}, keepExports...)
	serve := append([]string{
		"web.telemetry-path", "storage.path", "web.listen-address", "web.config.file",
		"demo", "demo.ipu-entitlement", "demo.callback-url", "demo.breakdowns", "demo.ipu-price", "demo.currency",
	}, keepExports...)
	if runtime.GOOS == "linux" {
		serve = append(serve, "web.systemd-socket")
	}
	focus := []string{"by", "asset-zip", "task-zip", "ipu-price", "currency", "billing-account-id", "billing-account-name"}
	for _, c := range []struct {
		args  []string
		usage string
		want  []string
	}{
		{[]string{"--help"}, "usage: informatica_exporter [<flags>] <command> [<args> ...]", shared},
		{[]string{"serve", "--help"}, "usage: informatica_exporter serve [<flags>]", slices.Concat(shared, serve)},
		{[]string{"backfill", "--help"}, "usage: informatica_exporter backfill --output=OUTPUT [<flags>]", slices.Concat(shared, day)},
		{[]string{"focus", "--help"}, "usage: informatica_exporter focus --output=OUTPUT [<flags>]", slices.Concat(shared, day, focus)},
		{[]string{"help", "backfill"}, "usage: informatica_exporter backfill --output=OUTPUT [<flags>]", slices.Concat(shared, day)},
	} {
		out, code := runChild(t, t.TempDir(), c.args...)
		if code != 0 || !strings.HasPrefix(out, c.usage+"\n") {
			t.Errorf("%q: exit %d, want 0 and the usage line %q:\n%s", c.args, code, c.usage, out)
			continue
		}
		var got []string
		for _, m := range helpFlag.FindAllStringSubmatch(out, -1) {
			got = append(got, m[1])
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(c.want))
		if !slices.Equal(got, want) {
			t.Errorf("%q lists the flags\n  %v\nwant\n  %v\n%s", c.args, got, want, out)
		}
		if c.args[0] == "--help" {
			for _, command := range []string{"\nserve* [<flags>]\n", "\nbackfill --output=OUTPUT [<flags>]\n", "\nfocus --output=OUTPUT [<flags>]\n"} {
				if !strings.Contains(out, command) {
					t.Errorf("--help does not list the command %q:\n%s", strings.TrimSpace(command), out)
				}
			}
		}
	}
}

// TestServeIsTheDefaultCommand: serve's flags work without the word serve,
// before or after a shared flag.
func TestServeIsTheDefaultCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--web.listen-address=127.0.0.1:0", "--demo"},
		{"--log.level=debug", "--web.listen-address=127.0.0.1:0", "--demo"},
		{"serve", "--web.listen-address=127.0.0.1:0", "--demo"},
	} {
		logs := &syncBuffer{}
		stop := make(chan struct{})
		close(stop) // the exporter stops as soon as it has started
		if code := run(args, logs, hooks{stop: stop}); code != 0 || !strings.Contains(logs.String(), `msg="Demo mode: serving a simulated Informatica"`) {
			t.Errorf("%q: exit %d, want 0 serving the demo:\n%s", args, code, logs)
		}
	}
}

// TestFirstRunWithoutConfig: run with no arguments (or backfill without
// --config.file) in a folder without config.yml, the exporter exits 1 with
// an error that points to --demo and to config.example.yml.
func TestFirstRunWithoutConfig(t *testing.T) {
	for _, args := range [][]string{nil, {"backfill", "--output=-"}, {"focus", "--output=-"}} {
		out, code := runChild(t, t.TempDir(), args...)
		if code != 1 {
			t.Errorf("%q: exit %d, want 1:\n%s", args, code, out)
		}
		for _, want := range []string{"open config.yml: no such file or directory", "--demo", "copy config.example.yml to config.yml"} {
			if !strings.Contains(out, want) {
				t.Errorf("%q: the error does not say %q:\n%s", args, want, out)
			}
		}
	}
}

// TestCommandsDocDemo runs every demo line of docs/commands.md as written,
// each in a folder of its own: backfill and focus write their file, serve
// starts (and stops at once).
func TestCommandsDocDemo(t *testing.T) {
	doc := readFile(t, "docs/commands.md")
	var lines []string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		for _, line := range strings.Split(block[1], "\n") {
			if strings.HasPrefix(line, "./informatica_exporter ") && strings.Contains(line, " --demo") && !slices.Contains(lines, line) {
				lines = append(lines, line)
			}
		}
	}
	if len(lines) < 5 {
		t.Fatalf("docs/commands.md has %d demo lines: %q", len(lines), lines)
	}
	for _, line := range lines {
		args := strings.Fields(line)[1:]
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			if args[0] != "backfill" && args[0] != "focus" {
				logs := &syncBuffer{}
				stop := make(chan struct{})
				close(stop)
				if code := run(append(args, "--web.listen-address=127.0.0.1:0"), logs, hooks{stop: stop}); code != 0 {
					t.Errorf("%s: exit %d:\n%s", line, code, logs)
				}
				return
			}
			dir := t.TempDir()
			out, code := runChild(t, dir, args...)
			var output string
			for _, a := range args {
				if v, ok := strings.CutPrefix(a, "--output="); ok {
					output = v
				}
			}
			if code != 0 || len(readFile(t, filepath.Join(dir, output))) == 0 {
				t.Errorf("%s: exit %d, or an empty %s:\n%s", line, code, output, out)
			}
		})
	}
}

// TestGitignoreKeepsSecretsOut: the configuration a first run creates
// beside the clone's files, and password files, are never one git add away
// from a commit.
func TestGitignoreKeepsSecretsOut(t *testing.T) {
	patterns := strings.Split(readFile(t, ".gitignore"), "\n")
	for _, want := range []string{"/config.yml", "*.password", "password", "password.txt", "/secrets/"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".gitignore has no line %q", want)
		}
	}
}
