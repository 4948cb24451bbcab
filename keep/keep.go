// Package keep keeps the export ZIPs downloaded from Informatica in a
// folder, for audit and for the commands' --zip: one file per export job,
// named by account, kind and range, written whole or not at all, and
// bounded by count and age.
package keep

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
)

// Permissions: an export holds the orgs' names and usage, business data
// but no credential. Files are readable by the owner and its group (say,
// an audit or backup job), by no one else; a folder the keeper creates
// likewise.
const (
	FileMode os.FileMode = 0o640
	DirMode  os.FileMode = 0o750
)

// NamePattern matches the names of kept files,
// <account>_<kind>_<from>_<to>_<job ID>.zip (no part holds '_', so a name
// splits back into its parts): only files it matches are ever removed.
var NamePattern = regexp.MustCompile(`^[A-Za-z0-9.-]+_[A-Za-z0-9.-]+_\d{4}-\d{2}-\d{2}_\d{4}-\d{2}-\d{2}_[A-Za-z0-9.-]+\.zip$`)

// Files being written are named tempPrefix*tempSuffix, hidden, and
// renamed once whole. One left behind by a crash is removed once older than
// staleTemp; a younger one may be another process' write in flight.
const (
	tempPrefix = ".informatica-export-"
	tempSuffix = ".tmp"
	staleTemp  = time.Hour
)

// Longest parts of a name, in bytes: the whole stays far below the 255
// bytes file systems allow.
const (
	maxAccountLen = 64
	maxKindLen    = 32
	maxJobIDLen   = 64
)

// Name is the file name an export job's ZIP is kept under: account, kind,
// the first and last UTC day of its range, and its job ID, e.g.
// prod_summary_2026-01-01_2026-01-31_7Yb2Kq9F3xLw.zip. Each part is made
// safe (see safe), so no name reaches outside the folder.
func Name(account string, job informatica.JobEvent) string {
	return fmt.Sprintf("%s_%s_%s_%s_%s.zip",
		safe(account, maxAccountLen), safe(job.Kind, maxKindLen),
		job.Range.Start.UTC().Format(time.DateOnly), job.Range.End.UTC().Format(time.DateOnly),
		safe(job.JobID, maxJobIDLen))
}

// safe makes s a part of a file name: ASCII letters, digits, '.' and '-'
// are kept, anything else (path separators, '_', spaces, control
// characters, other scripts, invalid UTF-8) becomes '-'; a run of '.' and
// '-' shrinks to its first, so there is no "..", and none leads or ends the
// part, so it is never hidden or taken for a flag. It is at most max bytes;
// "none" when nothing is left.
func safe(s string, maxLen int) string {
	var b strings.Builder
	var last rune
	for _, r := range s {
		if !safeRune(r) {
			r = '-'
		}
		if (r == '.' || r == '-') && (last == '.' || last == '-') {
			continue
		}
		if b.Len() == maxLen {
			break
		}
		b.WriteRune(r)
		last = r
	}
	out := strings.Trim(b.String(), ".-")
	if out == "" {
		return "none"
	}
	return out
}

// safeRune reports whether r stays as it is in a part of a name.
func safeRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.'
}

// Options configure a Keeper.
type Options struct {
	Dir string
	// MaxFiles is the most kept files the folder holds; the oldest go
	// first. 0: no bound by count.
	MaxFiles int
	// MaxAge is how long a kept file stays. 0: no bound by age.
	MaxAge time.Duration
	// Now is the keeper's clock, default time.Now: a kept file's time,
	// and its age, are on it.
	Now    func() time.Time
	Logger log.Logger
}

// Keeper writes export ZIPs into a folder. It is safe for concurrent use.
type Keeper struct {
	opts Options

	mu sync.Mutex
	// logged holds the causes of failure logged at warn since the last
	// success: each is logged there once.
	logged map[string]bool

	written  prometheus.Counter
	failures *prometheus.CounterVec
	files    prometheus.Gauge
	bytes    prometheus.Gauge
}

// Open checks that opts.Dir is a folder the keeper can write to, creating
// it if missing, and applies the bounds to the files already there.
func Open(opts Options) (*Keeper, error) {
	switch {
	case opts.Dir == "":
		return nil, errors.New("no folder given")
	case opts.MaxFiles < 0:
		return nil, fmt.Errorf("the most files to keep, %d, is negative", opts.MaxFiles)
	case opts.MaxAge < 0:
		return nil, fmt.Errorf("the longest time to keep a file, %s, is negative", opts.MaxAge)
	case opts.MaxFiles == 0 && opts.MaxAge == 0:
		return nil, errors.New("no bound: give the most files or the longest time to keep")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if err := os.MkdirAll(opts.Dir, DirMode); err != nil {
		return nil, err
	}
	// Writing a file is the one test of write access that holds on every
	// system, ACLs and read-only mounts included.
	probe, err := os.CreateTemp(opts.Dir, tempPrefix+"*"+tempSuffix)
	if err != nil {
		return nil, fmt.Errorf("cannot write to %s: %w", opts.Dir, err)
	}
	probe.Close()
	if err := os.Remove(probe.Name()); err != nil {
		return nil, fmt.Errorf("cannot remove from %s: %w", opts.Dir, err)
	}
	k := &Keeper{
		opts:   opts,
		logged: map[string]bool{},
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "informatica_exporter_keep_exports_written_total",
			Help: "Export ZIPs written to the --keep-exports folder.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "informatica_exporter_keep_exports_failures_total",
			Help: "Failures of the --keep-exports folder, by operation: write (a ZIP not kept) or remove (an old one not removed).",
		}, []string{"op"}),
		files: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "informatica_exporter_keep_exports_files",
			Help: "Kept export ZIPs in the --keep-exports folder, after the bounds were last applied.",
		}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "informatica_exporter_keep_exports_bytes",
			Help: "Size of the kept export ZIPs in the --keep-exports folder, after the bounds were last applied.",
		}),
	}
	for _, op := range []string{opWrite, opRemove} {
		k.failures.WithLabelValues(op)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.prune(); err != nil {
		return nil, err
	}
	return k, nil
}

// The operations whose failures are counted.
const (
	opWrite  = "write"
	opRemove = "remove"
)

// Dir is the folder the keeper writes to.
func (k *Keeper) Dir() string { return k.opts.Dir }

// Keep writes z into the folder under Name(account, z.Job), then removes
// what the bounds no longer allow. A failure is logged, at warn once per
// cause until a ZIP is kept again, and counted; it never reaches the
// caller, whose export goes on.
func (k *Keeper) Keep(account string, z informatica.ExportZIP) {
	name := Name(account, z.Job)
	logger := log.With(k.opts.Logger, "account", account, "job_id", z.Job.JobID, "kind", z.Job.Kind)
	err := k.write(name, z)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.failures.WithLabelValues(opWrite).Inc()
		k.warnOnce(logger, "Cannot keep an export ZIP in --keep-exports; the export goes on without it", err)
		return
	}
	k.written.Inc()
	clear(k.logged)
	level.Debug(logger).Log("msg", "Export ZIP kept", "file", filepath.Join(k.opts.Dir, name), "bytes", z.Size)
	if err := k.prune(); err != nil {
		k.warnOnce(logger, "Cannot apply the --keep-exports bounds", err)
	}
}

// write copies z into the folder under a temporary name, then renames it
// to name: the folder never holds part of a ZIP under a kept name.
func (k *Keeper) write(name string, z informatica.ExportZIP) (err error) {
	f, err := os.CreateTemp(k.opts.Dir, tempPrefix+"*"+tempSuffix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, io.NewSectionReader(z.ZIP, 0, z.Size)); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Chmod(FileMode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	// A kept file's time is the keeper's clock, which its age is
	// measured on.
	now := k.opts.Now()
	if err := os.Chtimes(f.Name(), now, now); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(k.opts.Dir, name))
}

// keptFile is a file of the folder that keptName matches.
type keptFile struct {
	name string
	mod  time.Time
	size int64
}

// prune removes the kept files beyond MaxFiles, oldest first, and those
// older than MaxAge, and temporary files a crash left. It counts and logs
// each file it fails to remove, and returns an error only when the folder
// cannot be read. k.mu must be held.
func (k *Keeper) prune() error {
	entries, err := os.ReadDir(k.opts.Dir)
	if err != nil {
		return err
	}
	var kept []keptFile
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name := e.Name()
		isTemp := strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix)
		if !NamePattern.MatchString(name) && !isTemp {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if isTemp {
			// Temporary files have the system's time, not the keeper's
			// clock.
			if time.Since(info.ModTime()) > staleTemp {
				k.remove(name)
			}
			continue
		}
		kept = append(kept, keptFile{name: name, mod: info.ModTime(), size: info.Size()})
	}
	slices.SortFunc(kept, func(a, b keptFile) int {
		if c := a.mod.Compare(b.mod); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	now := k.opts.Now()
	var files, bytes int64
	for i, f := range kept {
		tooMany := k.opts.MaxFiles > 0 && len(kept)-i > k.opts.MaxFiles
		tooOld := k.opts.MaxAge > 0 && now.Sub(f.mod) > k.opts.MaxAge
		if (tooMany || tooOld) && k.remove(f.name) {
			continue
		}
		files++
		bytes += f.size
	}
	k.files.Set(float64(files))
	k.bytes.Set(float64(bytes))
	return nil
}

// remove removes a file of the folder and reports whether it is gone; a
// failure is counted and logged. k.mu must be held.
func (k *Keeper) remove(name string) bool {
	err := os.Remove(filepath.Join(k.opts.Dir, name))
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return true
	}
	k.failures.WithLabelValues(opRemove).Inc()
	k.warnOnce(k.opts.Logger, "Cannot remove an old file from --keep-exports", err)
	return false
}

// warnOnce logs msg and err at warn the first time its cause is seen since
// the last success, and at debug after. k.mu must be held.
func (k *Keeper) warnOnce(logger log.Logger, msg string, err error) {
	c := msg + ": " + cause(err)
	lvl := level.Debug
	if !k.logged[c] {
		k.logged[c] = true
		lvl = level.Warn
	}
	lvl(logger).Log("msg", msg, "dir", k.opts.Dir, "err", err)
}

// cause is what tells failures apart for the log: the system's error
// number (no space left, permission denied, read-only file system), else
// the error's type.
func cause(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + fmt.Sprintf("%T", pe.Err)
	}
	return fmt.Sprintf("%T", err)
}

// Describe makes the keeper, with Collect, a prometheus.Collector of its
// counts.
func (k *Keeper) Describe(ch chan<- *prometheus.Desc) {
	k.written.Describe(ch)
	k.failures.Describe(ch)
	k.files.Describe(ch)
	k.bytes.Describe(ch)
}

// Collect reports the keeper's counts.
func (k *Keeper) Collect(ch chan<- prometheus.Metric) {
	k.written.Collect(ch)
	k.failures.Collect(ch)
	k.files.Collect(ch)
	k.bytes.Collect(ch)
}
