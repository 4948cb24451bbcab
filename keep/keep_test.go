package keep

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

var (
	jan1  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	jan31 = time.Date(2026, 1, 31, 23, 59, 59, 0, time.UTC)
)

func job(kind, id string, start, end time.Time) informatica.JobEvent {
	return informatica.JobEvent{Step: informatica.JobDownloaded, Kind: kind, JobID: id, Range: informatica.Range{Start: start, End: end}}
}

func TestName(t *testing.T) {
	t.Parallel()
	plus5 := time.FixedZone("+05", 5*3600)
	for _, c := range []struct {
		account string
		job     informatica.JobEvent
		want    string
	}{
		{"prod", job(informatica.KindSummary, "7Yb2Kq9F3xLw", jan1, jan31), "prod_summary_2026-01-01_2026-01-31_7Yb2Kq9F3xLw.zip"},
		// The range's UTC days, whatever zone its times are in: 00:30 at
		// +05 on 1 January is 19:30 UTC on 31 December; a year's last
		// second ends it.
		{
			"prod", job(informatica.KindAsset, "j1", time.Date(2026, 1, 1, 0, 30, 0, 0, plus5), time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)),
			"prod_asset_2025-12-31_2026-12-31_j1.zip",
		},
		{"../../etc/passwd", job(informatica.KindTask, "../x", jan1, jan31), "etc-passwd_task_2026-01-01_2026-01-31_x.zip"},
		{`C:\prod data_2`, job(informatica.KindProject, "a/b\\c", jan1, jan31), "C-prod-data-2_project_2026-01-01_2026-01-31_a-b-c.zip"},
		{".hidden..name.", job(informatica.KindSummary, "..", jan1, jan31), "hidden.name_summary_2026-01-01_2026-01-31_none.zip"},
		{"Société Générale", job(informatica.KindSummary, "id\x00\n\x1b[31m", jan1, jan31), "Soci-t-G-n-rale_summary_2026-01-01_2026-01-31_id-31m.zip"},
		{"bad\xff\xfeutf8", job(informatica.KindSummary, "", jan1, jan31), "bad-utf8_summary_2026-01-01_2026-01-31_none.zip"},
		{"--flag", job("", "-rf", jan1, jan31), "flag_none_2026-01-01_2026-01-31_rf.zip"},
		{
			strings.Repeat("a", 100), job(informatica.KindSummary, strings.Repeat("9", 100), jan1, jan31),
			strings.Repeat("a", maxAccountLen) + "_summary_2026-01-01_2026-01-31_" + strings.Repeat("9", maxJobIDLen) + ".zip",
		},
		// Cut at the limit, then trimmed: no part ends in '-'.
		{
			strings.Repeat("a", maxAccountLen-1) + "-b", job(informatica.KindSummary, "j", jan1, jan31),
			strings.Repeat("a", maxAccountLen-1) + "_summary_2026-01-01_2026-01-31_j.zip",
		},
	} {
		got := Name(c.account, c.job)
		if got != c.want {
			t.Errorf("Name(%q, %q) = %q, want %q", c.account, c.job.JobID, got, c.want)
		}
		if !NamePattern.MatchString(got) || filepath.Base(got) != got || strings.Contains(got, "..") ||
			!utf8.ValidString(got) || len(got) > 255 || strings.HasPrefix(got, ".") || strings.HasPrefix(got, "-") {
			t.Errorf("Name(%q, %q) = %q is not a safe name of a kept file", c.account, c.job.JobID, got)
		}
	}
}

// stepClock is a clock that moves on a minute each time it is read.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Minute)
	return c.now
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func zipOf(body string, j informatica.JobEvent) informatica.ExportZIP {
	return informatica.ExportZIP{Job: j, ZIP: strings.NewReader(body), Size: int64(len(body))}
}

func open(t *testing.T, opts Options) (*Keeper, *testkit.SyncBuffer) {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	opts.Logger = log.NewLogfmtLogger(logs)
	k, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return k, logs
}

// names lists the folder, hidden files included.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestKeepWritesWholeFiles: a kept ZIP is the bytes given, under its name,
// with the keeper's permissions and time, and nothing else is left in the
// folder.
func TestKeepWritesWholeFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "folder")
	clock := &stepClock{now: jan1}
	k, logs := open(t, Options{Dir: dir, MaxFiles: 10, Now: clock.Now})
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != DirMode&^umask(t) {
		t.Fatalf("the folder was not created with mode %v: %v, %v", DirMode, info, err)
	}
	body := "PK\x03\x04 an export"
	j := job(informatica.KindSummary, "job1", jan1, jan31)
	k.Keep("prod", zipOf(body, j))
	path := filepath.Join(dir, Name("prod", j))
	got, err := os.ReadFile(path)
	if err != nil || string(got) != body {
		t.Fatalf("kept file holds %q, %v; want %q", got, err, body)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != FileMode {
		t.Errorf("kept file has mode %v, want %v", info.Mode().Perm(), FileMode)
	}
	if want := jan1.Add(2 * time.Minute); !info.ModTime().Equal(want) { // Open's prune read the clock once
		t.Errorf("kept file's time %v, want the keeper's clock, %v", info.ModTime(), want)
	}
	if n := names(t, dir); !slices.Equal(n, []string{Name("prod", j)}) {
		t.Errorf("folder holds %v, want the one kept file", n)
	}
	if testutil.ToFloat64(k.written) != 1 || testutil.ToFloat64(k.files) != 1 || testutil.ToFloat64(k.bytes) != float64(len(body)) {
		t.Errorf("metrics: written %v, files %v, bytes %v", testutil.ToFloat64(k.written), testutil.ToFloat64(k.files), testutil.ToFloat64(k.bytes))
	}
	if strings.Contains(logs.String(), "level=warn") {
		t.Errorf("warnings logged:\n%s", logs)
	}
}

func umask(t *testing.T) os.FileMode {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "probe")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	return 0o777 &^ info.Mode().Perm()
}

// failingReader serves n bytes, then fails.
type failingReader struct {
	body string
	n    int64
}

func (r failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.n {
		return 0, errors.New("device error")
	}
	p = p[:min(int64(len(p)), r.n-off)]
	return copy(p, r.body[off:]), nil
}

// TestKeepFailureLeavesNoPart: a ZIP that cannot be read whole is not kept
// at all: no part under its name, no temporary file, and a file kept
// before under that name stays as it was.
func TestKeepFailureLeavesNoPart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k, logs := open(t, Options{Dir: dir, MaxFiles: 10})
	j := job(informatica.KindSummary, "job1", jan1, jan31)
	k.Keep("prod", zipOf("the first download", j))
	body := strings.Repeat("x", 100000)
	k.Keep("prod", informatica.ExportZIP{Job: j, ZIP: failingReader{body: body, n: 50000}, Size: int64(len(body))})
	if n := names(t, dir); !slices.Equal(n, []string{Name("prod", j)}) {
		t.Errorf("folder holds %v, want the first file only", n)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, Name("prod", j))); string(got) != "the first download" {
		t.Errorf("the kept file was changed to %d bytes", len(got))
	}
	if f := testutil.ToFloat64(k.failures.WithLabelValues(opWrite)); f != 1 {
		t.Errorf("%v write failures counted, want 1", f)
	}
	if !strings.Contains(logs.String(), "level=warn") || !strings.Contains(logs.String(), "device error") {
		t.Errorf("the failure is not logged:\n%s", logs)
	}
}

// TestFailureLoggedOncePerCause: while the folder is gone, every ZIP
// fails to be kept: each is counted, one warning is logged for the cause,
// and, once keeping works again, the next failure is warned about anew.
func TestFailureLoggedOncePerCause(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keep")
	k, logs := open(t, Options{Dir: dir, MaxFiles: 10})
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		k.Keep("prod", zipOf("zip", job(informatica.KindSummary, "job"+string(rune('a'+i)), jan1, jan31)))
	}
	// Another cause: a ZIP that cannot be read.
	k.Keep("prod", informatica.ExportZIP{Job: job(informatica.KindAsset, "j", jan1, jan31), ZIP: failingReader{n: 0}, Size: 10})
	if f := testutil.ToFloat64(k.failures.WithLabelValues(opWrite)); f != 4 {
		t.Errorf("%v write failures counted, want 4", f)
	}
	if w := strings.Count(logs.String(), "level=warn"); w != 1 {
		t.Errorf("%d warnings for one cause, want 1 (the missing folder; the unreadable ZIP fails to create its file first):\n%s", w, logs)
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	k.Keep("prod", informatica.ExportZIP{Job: job(informatica.KindAsset, "j", jan1, jan31), ZIP: failingReader{n: 0}, Size: 10})
	if w := strings.Count(logs.String(), "level=warn"); w != 2 {
		t.Errorf("%d warnings, want 2: a new cause, an unreadable ZIP:\n%s", w, logs)
	}
	k.Keep("prod", zipOf("zip", job(informatica.KindSummary, "ok", jan1, jan31)))
	os.RemoveAll(dir)
	k.Keep("prod", zipOf("zip", job(informatica.KindSummary, "gone", jan1, jan31)))
	if w := strings.Count(logs.String(), "level=warn"); w != 3 {
		t.Errorf("%d warnings, want 3: the folder went missing again after a ZIP was kept:\n%s", w, logs)
	}
	if s := testutil.ToFloat64(k.written); s != 1 {
		t.Errorf("%v written, want 1", s)
	}
}

// TestBoundByCount: past MaxFiles the oldest kept files go, whatever their
// names, and no file the keeper did not name is touched.
func TestBoundByCount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	foreign := []string{
		"notes.txt", "prod_summary.zip", "prod_summary_2026-01-01_2026-01-31_x.zip.bak",
		"my_export_2026-01-01_2026-01-31_x.ZIP", "a_b_c_2026-01-01_2026-01-31_x.zip",
	}
	for _, n := range foreign {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		// Older than anything kept.
		os.Chtimes(filepath.Join(dir, n), jan1.AddDate(-5, 0, 0), jan1.AddDate(-5, 0, 0))
	}
	// A folder with a kept file's name is not a kept file either.
	os.Mkdir(filepath.Join(dir, "z_summary_2020-01-01_2020-01-02_d.zip"), 0o750)
	clock := &stepClock{now: jan1}
	k, _ := open(t, Options{Dir: dir, MaxFiles: 3, Now: clock.Now})
	var kept []string
	// Accounts in reverse order of name, so that time, not the name, is
	// what makes a file the oldest.
	for i, account := range []string{"z", "y", "x", "w", "v"} {
		j := job(informatica.KindSummary, "job", jan1.AddDate(0, 0, i), jan31)
		k.Keep(account, zipOf("zip", j))
		kept = append(kept, Name(account, j))
	}
	want := append(slices.Clone(foreign), "z_summary_2020-01-01_2020-01-02_d.zip")
	want = append(want, kept[2:]...)
	slices.Sort(want)
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("folder holds\n%v\nwant\n%v", got, want)
	}
	if f := testutil.ToFloat64(k.files); f != 3 {
		t.Errorf("files gauge %v, want 3", f)
	}
}

// TestBoundByAge: kept files older than MaxAge go, at the next ZIP kept and
// at Open, where files of an earlier run are bounded before anything is
// kept; stale temporary files of a crash go, a fresh one stays.
func TestBoundByAge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &stepClock{now: jan1}
	k, _ := open(t, Options{Dir: dir, MaxAge: 24 * time.Hour, Now: clock.Now})
	old := job(informatica.KindSummary, "old", jan1, jan31)
	k.Keep("prod", zipOf("zip", old))
	clock.advance(23 * time.Hour)
	young := job(informatica.KindSummary, "young", jan1, jan31)
	k.Keep("prod", zipOf("zip", young))
	clock.advance(2 * time.Hour) // old is 25h old, young 2h
	newest := job(informatica.KindSummary, "newest", jan1, jan31)
	k.Keep("prod", zipOf("zip", newest))
	if got, want := names(t, dir), []string{Name("prod", newest), Name("prod", young)}; !slices.Equal(got, want) {
		t.Errorf("folder holds %v, want %v", got, want)
	}

	stale := filepath.Join(dir, tempPrefix+"123"+tempSuffix)
	fresh := filepath.Join(dir, tempPrefix+"456"+tempSuffix)
	os.WriteFile(stale, []byte("part"), 0o600)
	os.WriteFile(fresh, []byte("part"), 0o600)
	long := time.Now().Add(-2 * staleTemp)
	os.Chtimes(stale, long, long)
	// A restart two days later: Open bounds what the last run kept.
	clock.advance(48 * time.Hour)
	k2, _ := open(t, Options{Dir: dir, MaxAge: 24 * time.Hour, Now: clock.Now})
	if got, want := names(t, dir), []string{filepath.Base(fresh)}; !slices.Equal(got, want) {
		t.Errorf("after Open, folder holds %v, want %v", got, want)
	}
	if f := testutil.ToFloat64(k2.files); f != 0 {
		t.Errorf("files gauge %v, want 0", f)
	}
}

// TestConcurrentKeeps: accounts refresh at once; every ZIP is kept whole
// and the count bound holds.
func TestConcurrentKeeps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k, _ := open(t, Options{Dir: dir, MaxFiles: 50})
	body := strings.Repeat("z", 1<<16)
	var wg sync.WaitGroup
	for a := range 8 {
		wg.Go(func() {
			for i := range 10 {
				k.Keep("acct"+string(rune('a'+a)), zipOf(body, job(informatica.KindSummary, "j"+string(rune('a'+i)), jan1, jan31)))
			}
		})
	}
	wg.Wait()
	got := names(t, dir)
	if len(got) != 50 {
		t.Errorf("%d files kept, want 50", len(got))
	}
	for _, n := range got {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil || !bytes.Equal(b, []byte(body)) || !NamePattern.MatchString(n) {
			t.Errorf("%s: %d bytes, %v", n, len(b), err)
		}
	}
	if w := testutil.ToFloat64(k.written); w != 80 {
		t.Errorf("%v written, want 80", w)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	for _, c := range []struct {
		name string
		opts Options
		want string
	}{
		{"no folder", Options{MaxFiles: 1}, "no folder"},
		{"a file", Options{Dir: file, MaxFiles: 1}, "not a directory"},
		{"under a file", Options{Dir: filepath.Join(file, "keep"), MaxFiles: 1}, "not a directory"},
		{"no bound", Options{Dir: t.TempDir()}, "no bound"},
		{"negative count", Options{Dir: t.TempDir(), MaxFiles: -1}, "negative"},
		{"negative age", Options{Dir: t.TempDir(), MaxAge: -time.Hour}, "negative"},
	} {
		_, err := Open(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Open returned %v, want an error saying %q", c.name, err, c.want)
		}
	}
}
