package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/keep"
)

// keptFile is the name of a kept export ZIP, in parts.
var keptFile = regexp.MustCompile(`^([A-Za-z0-9.-]+)_([a-z]+)_(\d{4}-\d{2}-\d{2})_(\d{4}-\d{2}-\d{2})_([A-Za-z0-9.-]+)\.zip$`)

// keptFiles lists a --keep-exports folder by kind, failing on any file
// that is not a kept ZIP of account or not readable by owner and group
// only.
func keptFiles(t *testing.T, dir, account string) map[string][]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range entries {
		m := keptFile.FindStringSubmatch(e.Name())
		if m == nil || m[1] != account {
			t.Errorf("%s: not a kept export ZIP of %s", e.Name(), account)
			continue
		}
		info, err := e.Info()
		if err != nil || info.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, %v; want -rw-r-----", e.Name(), info.Mode(), err)
		}
		out[m[2]] = append(out[m[2]], e.Name())
	}
	return out
}

// runCommand runs the exporter's command line to its end and returns its
// logs; it fails the test unless it exits with code.
func runCommand(t *testing.T, h hooks, code int, args ...string) string {
	t.Helper()
	logs := &syncBuffer{}
	if got := run(args, logs, h); got != code {
		t.Fatalf("%s exited %d, want %d:\n%s", strings.Join(args, " "), got, code, logs)
	}
	return logs.String()
}

// TestKeptExportsReadBack: serve keeps the ZIP of its summary export and
// of each breakdown's; backfill --zip reads the kept summary ZIP into the
// same samples as a backfill straight from Informatica, which keeps its own
// ZIP, read back the same again; focus keeps its SUMMARY and ASSET ZIPs.
func TestKeptExportsReadBack(t *testing.T) {
	t.Parallel()
	at := date(2027, 1, 15, 10, 0, 0)
	now := frozen(at)
	f := startFake(t, fake.Options{Now: now, Days: 60})
	dir := t.TempDir()
	config := writeConfig(t, dir, "1h", accountYAML("acme", f, "    breakdowns: [project_folder, asset, task]\n"))
	serveKept := filepath.Join(dir, "serve-kept")
	timer := &stepTimer{}
	p := startExporterWith(t, hooks{now: now, after: timer.after}, "--config.file="+config, "--keep-exports="+serveKept, "--log.level=debug")
	timer.allow(1)
	waitFor(t, time.Minute, "the summary and the breakdowns", func() bool {
		got := p.scrape()
		for _, b := range []string{"project_folder", "asset", "task"} {
			if got[key("informatica_exporter_last_breakdown_success_timestamp_seconds", "account", "acme", "breakdown", b)] == 0 {
				return false
			}
		}
		return got[key("informatica_up", "account", "acme")] == 1
	})
	got := p.scrape()
	p.assertNoSecrets(t, f)
	p.shutdown()
	byKind := keptFiles(t, serveKept, "acme")
	for _, secret := range append([]string{f.Password()}, f.SessionIDs()...) {
		for _, names := range byKind {
			if slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, secret) }) {
				t.Errorf("a kept file's name holds the secret %q: %v", secret, names)
			}
		}
	}
	for _, kind := range []string{"summary", "project", "asset", "task"} {
		if len(byKind[kind]) == 0 {
			t.Errorf("serve kept no %s export: %v", kind, byKind)
		}
	}
	if n := len(byKind["summary"]) + len(byKind["project"]) + len(byKind["asset"]) + len(byKind["task"]); got[key("informatica_exporter_keep_exports_written_total")] != float64(n) ||
		got[key("informatica_exporter_keep_exports_files")] != float64(n) {
		t.Errorf("%d ZIPs kept; /metrics says written %v, files %v", n,
			got[key("informatica_exporter_keep_exports_written_total")], got[key("informatica_exporter_keep_exports_files")])
	}
	if len(byKind["summary"]) != 1 {
		t.Fatalf("serve kept %d summary exports, want the first run's one: %v", len(byKind["summary"]), byKind["summary"])
	}
	summary := keptFile.FindStringSubmatch(byKind["summary"][0])
	if summary[4] != at.Format(time.DateOnly) || len(summary[5]) < 8 {
		t.Errorf("summary export kept as %s: want a range up to today, %s, and the job ID", summary[0], at.Format(time.DateOnly))
	}
	// Whole days only: the first day of the range the refresh asked for
	// starts at the time of day it ran.
	from, err := time.Parse(time.DateOnly, summary[3])
	if err != nil {
		t.Fatal(err)
	}
	days := []string{"--from=" + from.AddDate(0, 0, 1).Format(time.DateOnly), "--to=" + at.AddDate(0, 0, -1).Format(time.DateOnly)}

	fromServe := filepath.Join(dir, "from-serve.om")
	runCommand(t, hooks{now: now}, 0, append([]string{"backfill", "--zip=" + filepath.Join(serveKept, byKind["summary"][0]), "--output=" + fromServe}, days...)...)
	backfillKept := filepath.Join(dir, "backfill-kept")
	fromAPI := filepath.Join(dir, "from-api.om")
	runCommand(t, hooks{now: now}, 0, append([]string{"backfill", "--config.file=" + config, "--keep-exports=" + backfillKept, "--output=" + fromAPI}, days...)...)
	byKind = keptFiles(t, backfillKept, "acme")
	if len(byKind) != 1 || len(byKind["summary"]) != 1 {
		t.Fatalf("backfill kept %v, want one summary export", byKind)
	}
	fromBackfill := filepath.Join(dir, "from-backfill.om")
	runCommand(t, hooks{now: now}, 0, append([]string{"backfill", "--zip=" + filepath.Join(backfillKept, byKind["summary"][0]), "--output=" + fromBackfill}, days...)...)

	api := readFile(t, fromAPI)
	if strings.Count(api, "informatica_ipu_day_consumed_ipus{") < 100 {
		t.Fatalf("the backfill from Informatica holds too few samples to compare:\n%s", api)
	}
	for name, path := range map[string]string{"serve's kept ZIP": fromServe, "backfill's kept ZIP": fromBackfill} {
		if got := readFile(t, path); got != api {
			t.Errorf("backfill --zip of %s differs from the backfill from Informatica:\n%s\nwant\n%s", name, got, api)
		}
	}

	focusKept := filepath.Join(dir, "focus-kept")
	runCommand(t, hooks{now: now}, 0, append([]string{
		"focus", "--config.file=" + config, "--keep-exports=" + focusKept,
		"--by=asset", "--ipu-price=0.1", "--currency=EUR", "--output=" + filepath.Join(dir, "focus.csv"),
	}, days...)...)
	byKind = keptFiles(t, focusKept, "acme")
	if len(byKind) != 2 || len(byKind["summary"]) != 1 || len(byKind["asset"]) == 0 {
		t.Errorf("focus --by=asset kept %v, want a summary and the asset exports", byKind)
	}
}

// TestKeepExportsFailureKeepsRefreshing: when the folder goes away, the
// refreshes go on and succeed; the failures are counted on /metrics and
// warned about once.
func TestKeepExportsFailureKeepsRefreshing(t *testing.T) {
	t.Parallel()
	now := frozen(date(2027, 3, 1, 0, 0, 30))
	f := startFake(t, fake.Options{Now: now})
	dir := t.TempDir()
	config := writeConfig(t, dir, "1h", accountYAML("acme", f, ""))
	kept := filepath.Join(dir, "kept")
	timer := &stepTimer{}
	p := startExporterWith(t, hooks{now: now, after: timer.after}, "--config.file="+config, "--keep-exports="+kept, "--log.level=debug")
	timer.allow(1)
	refreshes := key("informatica_exporter_refreshes_total", "account", "acme")
	failures := key("informatica_exporter_keep_exports_failures_total", "op", "write")
	waitForUp(t, p, "acme")
	if n := len(keptFiles(t, kept, "acme")["summary"]); n != 1 {
		t.Fatalf("%d summary exports kept, want 1", n)
	}
	if err := os.RemoveAll(kept); err != nil {
		t.Fatal(err)
	}
	for run := 2; run <= 3; run++ {
		timer.allow(run)
		var got map[string]float64
		waitFor(t, time.Minute, "the next refresh", func() bool {
			got = p.scrape()
			return got[refreshes] == float64(run)
		})
		if got[key("informatica_up", "account", "acme")] != 1 || got[failures] != float64(run-1) {
			t.Errorf("after run %d: up %v, keep failures %v; want up, and %d failures", run,
				got[key("informatica_up", "account", "acme")], got[failures], run-1)
		}
	}
	if warned := p.logs.Lines("level=warn", "Cannot keep an export ZIP"); len(warned) != 1 {
		t.Errorf("%d warnings for one cause, want 1:\n%s", len(warned), p.logs)
	}
	p.assertNoSecrets(t, f)
}

// TestKeepExportsBadFolder: a folder that cannot be written to, or no
// bound, stops each command at once, saying why.
func TestKeepExportsBadFolder(t *testing.T) {
	t.Parallel()
	file := writeFile(t, t.TempDir(), "not-a-folder", "")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--demo", "--web.listen-address=127.0.0.1:0", "--keep-exports=" + file}, 1, "not a directory"},
		{[]string{"backfill", "--zip=" + file, "--output=-", "--keep-exports=" + filepath.Join(file, "sub")}, 1, "not a directory"},
		{[]string{"focus", "--output=-", "--keep-exports=" + t.TempDir(), "--keep-exports.max-files=0", "--keep-exports.max-age=0"}, 2, "needs a bound"},
		{[]string{"--demo", "--keep-exports=" + t.TempDir(), "--keep-exports.max-files=-1"}, 2, "negative"},
		{[]string{"--demo", "--keep-exports=" + t.TempDir(), "--keep-exports.max-age=soon"}, 2, "soon"},
	} {
		logs := runCommand(t, hooks{}, c.code, c.args...)
		if !strings.Contains(logs, c.want) || !slices.ContainsFunc(strings.Split(logs, "\n"), func(l string) bool {
			return strings.Contains(l, "keep-exports") && strings.Contains(l, c.want)
		}) {
			t.Errorf("%v: the error does not name --keep-exports and %q:\n%s", c.args, c.want, logs)
		}
	}
}

// TestKeepExportsDoc: docs/keep-exports.md states the defaults, the kinds,
// the name pattern and the metrics of the code.
func TestKeepExportsDoc(t *testing.T) {
	t.Parallel()
	doc := readFile(t, "docs/keep-exports.md")
	want := []string{
		fmt.Sprintf("| `%s`", defaultKeepFiles), fmt.Sprintf("| `%s`", defaultKeepAge),
		"\n" + keep.NamePattern.String() + "\n",
		fmt.Sprintf("`%#o`", keep.FileMode), fmt.Sprintf("`%#o`", keep.DirMode),
	}
	for _, kind := range []string{informatica.KindSummary, informatica.KindAsset, informatica.KindProject, informatica.KindTask} {
		want = append(want, "`"+kind+"`")
	}
	k, err := keep.Open(keep.Options{Dir: t.TempDir(), MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(k)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 4 {
		t.Errorf("the keeper has %d metric families, the doc's table 4", len(families))
	}
	for _, mf := range families {
		want = append(want, "| `"+mf.GetName())
	}
	for _, w := range want {
		if !strings.Contains(doc, w) {
			t.Errorf("docs/keep-exports.md does not say %q", w)
		}
	}
}

// TestKeepExportsDocDemo runs the demo lines of docs/keep-exports.md as a
// shell would, in a folder of their own, each process on the same frozen
// clock: the backfill keeps its ZIP, the second backfill reads it back into
// the same file.
func TestKeepExportsDocDemo(t *testing.T) {
	t.Parallel()
	doc := readFile(t, "docs/keep-exports.md")
	_, rest, ok := strings.Cut(doc, "<!-- keep-exports-demo")
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(rest)
	if !ok || block == nil {
		t.Fatal("docs/keep-exports.md has no demo block after its keep-exports-demo marker")
	}
	dir := t.TempDir()
	now := time.Now().UTC().Format(time.RFC3339)
	var ran, compared int
	for _, line := range strings.Split(strings.TrimSpace(block[1]), "\n") {
		fields := strings.Fields(line)
		switch fields[0] {
		case "./informatica_exporter":
			var args []string
			for _, a := range fields[1:] {
				if strings.Contains(a, "*") { // the shell's glob
					matches, _ := filepath.Glob(filepath.Join(dir, a))
					if len(matches) != 1 {
						t.Fatalf("%s: %s matches %v, want one file", line, a, matches)
					}
					a, _ = filepath.Rel(dir, matches[0])
				}
				args = append(args, a)
			}
			raw, _ := json.Marshal(args)
			cmd := exec.Command(os.Args[0])
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw), childNowEnv+"="+now)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", line, err, out)
			}
			ran++
		case "cmp":
			a, b := readFile(t, filepath.Join(dir, fields[1])), readFile(t, filepath.Join(dir, fields[2]))
			if a != b || !strings.Contains(a, "informatica_ipu_day_consumed_ipus{") {
				t.Errorf("%s: the files differ or hold no sample", line)
			}
			compared++
		}
	}
	if ran != 2 || compared != 1 {
		t.Errorf("ran %d commands and %d comparisons of the doc's demo, want 2 and 1", ran, compared)
	}
}
