//go:build unix

package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestReloadNeverBlocksScrapes adds an account whose stored state the
// reload cannot finish reading: the state file is a named pipe that the test
// writes only once it has scraped. While the reload restores, /metrics,
// /-/ready and the landing page answer from the running configuration.
func TestReloadNeverBlocksScrapes(t *testing.T) {
	f1 := startFake(t, fake.Options{})
	f2 := startFake(t, fake.Options{})
	dir := t.TempDir()
	storage := filepath.Join(dir, "storage")
	if err := os.Mkdir(storage, 0o700); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, dir, "1h", accountYAML("one", f1, ""))
	p := startExporter(t, nil, "--config.file="+path, "--storage.path="+storage)
	waitForUp(t, p, "one")

	pipe := filepath.Join(storage, "two.state.json.gz")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Fatal(err)
	}
	// Opening the pipe for writing waits until the reload opens it to read.
	restoring := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(pipe, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
		}
		restoring <- w
	}()
	writeConfig(t, dir, "1h", accountYAML("one", f1, ""), accountYAML("two", f2, ""))
	reloaded := make(chan int, 1)
	go func() {
		code, _ := httpDo(t, http.MethodPost, p.url+"/-/reload")
		reloaded <- code
	}()
	var w *os.File
	select {
	case w = <-restoring:
	case <-time.After(patience):
		t.Fatal("the reload did not read the stored state")
	}

	// A request that waits for the reload never answers while the pipe is
	// open: patience only bounds how long the failing test hangs.
	answered := make(chan string, 1)
	go func() {
		for _, path := range []string{"/metrics", "/-/ready", "/"} {
			resp, err := http.Get(p.url + path)
			if err != nil {
				answered <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				answered <- path + ": " + resp.Status
				return
			}
			if path == "/metrics" && !strings.Contains(string(body), `informatica_up{account="one"} 1`) {
				answered <- "account one is not served"
				return
			}
		}
		answered <- ""
	}()
	select {
	case msg := <-answered:
		if msg != "" {
			t.Errorf("during the reload: %s", msg)
		}
	case <-time.After(patience):
		t.Error("a scrape during the reload did not answer")
	}

	// A damaged state is a warning and an empty start: the reload ends.
	w.Write([]byte("not a state file"))
	w.Close()
	if code := <-reloaded; code != http.StatusOK {
		t.Errorf("reload = %d", code)
	}
	waitForUp(t, p, "two")
}
