package informatica

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync/atomic"
)

// ZIPError is a fault in the archive itself rather than in the CSV rows it
// holds: not a ZIP, corrupt, too large, or without a CSV file.
type ZIPError struct {
	Entry string // empty when the archive as a whole is at fault
	Err   error
}

func (e *ZIPError) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("ZIP archive: %v", e.Err)
	}
	return fmt.Sprintf("ZIP entry %q: %v", e.Entry, e.Err)
}

func (e *ZIPError) Unwrap() error { return e.Err }

// ReadUsageZIP reads every CSV file in an export ZIP, in archive order, and
// calls fn for each usage row. Informatica sends one file per meter, or one
// file when combinedMeterUsage is TRUE; both read the same way. Entries that
// are not .csv files are skipped. The inflated size of all entries together
// is bounded by limits.MaxUncompressedBytes, whatever their headers claim.
func ReadUsageZIP(r io.ReaderAt, size int64, limits Limits, fn func(*UsageRow) error) (int, error) {
	return readUsageZIP(r, size, limits, fn, nil)
}

// readUsageZIP is ReadUsageZIP, passing warnings to warn.
func readUsageZIP(r io.ReaderAt, size int64, limits Limits, fn func(*UsageRow) error, warn func(string, ...any)) (int, error) {
	// The files share one read buffer and one set of strings.
	state := newCSVState(newWarnings(warn))
	return readZIP(r, size, limits, func(name string, r io.Reader) (int, error) {
		return state.read(name, r, fn)
	})
}

// readZIP calls read for every CSV file in an export ZIP, in archive order.
func readZIP(r io.ReaderAt, size int64, limits Limits, read func(name string, r io.Reader) (int, error)) (int, error) {
	entries, err := openZIP(r, size, limits)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	budget := &inflateBudget{}
	budget.left.Store(limits.MaxUncompressedBytes)
	ra := newReadAhead(entries, budget)
	defer ra.close()
	rows := 0
	for i, f := range entries {
		n, err := read(ValidUTF8(f.Name), ra.entry(i))
		rows += n
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// openZIP returns the CSV entries of an export ZIP, in archive order; none
// for an archive without entries. Entries inflate with klauspost/compress.
func openZIP(r io.ReaderAt, size int64, limits Limits) ([]*zip.File, error) {
	zr, err := zip.NewReader(r, size)
	// ErrInsecurePath only warns about entry names; nothing is written to
	// disk, so such an archive is as readable as any other.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, &ZIPError{Err: err}
	}
	zr.RegisterDecompressor(zip.Deflate, klauspostDecompressor)
	if limits.MaxZIPEntries > 0 && len(zr.File) > limits.MaxZIPEntries {
		return nil, &ZIPError{Err: fmt.Errorf("%d entries, more than the limit of %d", len(zr.File), limits.MaxZIPEntries)}
	}
	var entries []*zip.File
	for _, f := range zr.File {
		if isUsageCSV(f) {
			entries = append(entries, f)
		}
	}
	if len(zr.File) == 0 {
		// An export of a range without usage: no file, no rows. Whether
		// that is news or a fault is the caller's to judge.
		return nil, nil
	}
	if len(entries) == 0 {
		return nil, &ZIPError{Err: fmt.Errorf("no .csv file among %d entries", len(zr.File))}
	}
	return entries, nil
}

func isUsageCSV(f *zip.File) bool {
	name := f.Name
	base := path.Base(name)
	return !f.FileInfo().IsDir() &&
		strings.EqualFold(path.Ext(base), ".csv") &&
		!strings.HasPrefix(name, "__MACOSX/") &&
		!strings.HasPrefix(base, "._")
}

// readAhead inflates the entries of an export, one after the other, on a
// goroutine of its own, a few chunks ahead of the parser, so that inflating
// and parsing run on two cores at once: a parse then takes about as long as
// the inflating alone. Its memory is the chunks, whatever the size of the
// export.
type readAhead struct {
	full, free chan *chunk
	cur        *chunk
	off        int
	stop       chan struct{} // closed by close: the reader is done
	stopped    chan struct{} // closed by the goroutine as it ends
}

// chunk is the next part of entry: buf[:n], then err. The last chunk of an
// entry has end set, and err nil when the entry was read whole.
type chunk struct {
	entry int
	buf   []byte
	n     int
	end   bool
	err   error
}

const (
	readAheadChunks = 4
	readAheadSize   = 64 << 10
)

func newReadAhead(entries []*zip.File, budget *inflateBudget) *readAhead {
	ra := &readAhead{
		full:    make(chan *chunk, readAheadChunks),
		free:    make(chan *chunk, readAheadChunks),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	for range readAheadChunks {
		ra.free <- &chunk{buf: make([]byte, readAheadSize)}
	}
	go ra.inflate(entries, budget)
	return ra
}

func (ra *readAhead) inflate(entries []*zip.File, budget *inflateBudget) {
	defer close(ra.stopped)
	for i, f := range entries {
		if !ra.inflateEntry(i, f, budget) {
			return
		}
	}
}

// inflateEntry sends one entry in chunks, and reports whether to go on.
func (ra *readAhead) inflateEntry(i int, f *zip.File, budget *inflateBudget) bool {
	rc, err := f.Open()
	if err != nil {
		ra.full <- &chunk{entry: i, end: true, err: &ZIPError{Entry: ValidUTF8(f.Name), Err: err}}
		return false
	}
	defer rc.Close()
	r := &entryReader{r: rc, name: ValidUTF8(f.Name), budget: budget}
	for {
		var c *chunk
		select {
		case c = <-ra.free:
		case <-ra.stop:
			return false
		}
		c.entry = i
		c.n, c.err = io.ReadFull(r, c.buf)
		c.end = c.err != nil
		if errors.Is(c.err, io.EOF) || errors.Is(c.err, io.ErrUnexpectedEOF) {
			c.err = nil
		}
		ra.full <- c // never blocks: the channel has room for every chunk
		if c.end {
			return c.err == nil
		}
	}
}

// entry returns a reader of entry i, which must be read after entry i-1 and
// up to its end.
func (ra *readAhead) entry(i int) io.Reader { return &entryStream{ra: ra, entry: i} }

type entryStream struct {
	ra    *readAhead
	entry int
}

// Read returns what the goroutine inflated of the entry, in order, and then
// io.EOF or its error.
func (s *entryStream) Read(p []byte) (int, error) {
	ra := s.ra
	for ra.cur == nil || ra.off == ra.cur.n {
		if c := ra.cur; c != nil && c.entry == s.entry && c.end {
			if c.err != nil {
				return 0, c.err
			}
			return 0, io.EOF
		}
		if ra.cur != nil {
			ra.free <- ra.cur
		}
		ra.cur, ra.off = <-ra.full, 0
		if ra.cur.entry != s.entry {
			panic("informatica: ZIP entries read out of order")
		}
	}
	n := copy(p, ra.cur.buf[ra.off:ra.cur.n])
	ra.off += n
	return n, nil
}

// close stops the goroutine and waits for it, so that no entry is still
// being inflated once ReadUsageZIP returns.
func (ra *readAhead) close() {
	close(ra.stop)
	<-ra.stopped
}

// inflateBudget is shared by all entries of one archive, so that many small
// entries cannot add up past the limit. Entries inflated at the same time
// may each overrun it by one read.
type inflateBudget struct{ left atomic.Int64 }

// entryReader counts inflated bytes against the budget and marks every read
// failure as a ZIPError, so that a corrupt archive is told apart from bad CSV.
type entryReader struct {
	r      io.Reader
	name   string
	budget *inflateBudget
}

func (e *entryReader) Read(p []byte) (int, error) {
	left := e.budget.left.Load()
	if left <= 0 {
		// The budget may end exactly where the entry does.
		var probe [1]byte
		if n, err := e.r.Read(probe[:]); n == 0 && err == io.EOF {
			return 0, io.EOF
		}
		return 0, &ZIPError{Entry: e.name, Err: errors.New("inflates past the limit on uncompressed export size")}
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := e.r.Read(p)
	e.budget.left.Add(-int64(n))
	if err != nil && err != io.EOF {
		err = &ZIPError{Entry: e.name, Err: err}
	}
	return n, err
}
