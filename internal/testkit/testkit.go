// Package testkit holds the helpers the test suites of several packages
// share. Only tests import it.
package testkit

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// SyncBuffer collects the output of a logger or a process that writes while
// the test reads.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the lines written so far that contain every one of parts.
func (b *SyncBuffer) Lines(parts ...string) []string {
	return LinesWith(b.String(), parts...)
}

// LinesWith returns the lines of text that contain every one of parts.
func LinesWith(text string, parts ...string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		match := line != ""
		for _, p := range parts {
			match = match && strings.Contains(line, p)
		}
		if match {
			out = append(out, line)
		}
	}
	return out
}

// WriteFile writes content to dir/name, readable by its owner only, and
// returns the path.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// RequireProgram finds a program a test needs, from Debian package pkg.
// Outside CI a missing one skips the test, loudly; in CI (.ci/run installs
// them all) it fails it.
func RequireProgram(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI must run every test: install Debian's %s package (.ci/run does)", name, pkg)
	}
	t.Skipf("SKIPPED: %s is not installed (apt-get install %s); this test did not run", name, pkg)
	return ""
}

// RSSKiB reads a field of /proc/self/status, in KiB.
func RSSKiB(t testing.TB, field string) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
