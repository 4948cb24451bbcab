//go:build unix

package offline

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOutputKeepsDevicesPipesAndLinks: --output=/dev/null once renamed a
// regular file onto the device. A FIFO (read by another program) stays a
// FIFO and gets the data; a symbolic link stays a link and its file gets
// the data; a folder is refused.
func TestOutputKeepsDevicesPipesAndLinks(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	read := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			read <- err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		read <- string(b)
	}()
	write := func(text string) func(io.Writer) (int, error) {
		return func(w io.Writer) (int, error) { return io.WriteString(w, text) }
	}
	if _, err := writeOutput(fifo, write("through the pipe\n")); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(fifo); err != nil || info.Mode().Type() != os.ModeNamedPipe {
		// Its reader would wait for ever.
		t.Fatalf("after the write the FIFO is %v (%v), want a named pipe", info.Mode(), err)
	}
	if got := <-read; got != "through the pipe\n" {
		t.Errorf("the FIFO's reader got %q", got)
	}

	file := filepath.Join(dir, "real.om")
	if err := os.WriteFile(file, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.om")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	if _, err := writeOutput(link, write("new\n")); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode().Type() != os.ModeSymlink {
		t.Errorf("after the write the link is %v (%v), want a symbolic link", info.Mode(), err)
	}
	if got, err := os.ReadFile(file); err != nil || string(got) != "new\n" {
		t.Errorf("the linked file holds %q (%v), want the new output", got, err)
	}

	if _, err := writeOutput(dir, write("x")); err == nil {
		t.Error("writeOutput onto a folder succeeded")
	}
}
