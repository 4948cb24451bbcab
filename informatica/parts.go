package informatica

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	kflate "github.com/klauspost/compress/flate"
)

// Parts receives the rows of an export read in parts at the same time (see
// ReadUsageZIPParts).
type Parts interface {
	// Part returns the function that gets the rows of a part: chunk of
	// entry, both counted from 0 in file order. It is called from the
	// goroutine that reads the part, which then calls the function for
	// each row of the part, in file order; parts are read concurrently.
	Part(entry, chunk int) func(*UsageRow) error
	// Join is called once every part of the ZIP has been read without
	// error, before ReadUsageZIPParts returns.
	Join()
}

// ReadUsageZIPParts reads the CSV files of an export ZIP as ReadUsageZIP
// does, on every core: the entries (one per meter) are inflated and read
// at the same time, each its own part; an export of fewer entries than
// cores (one combined CSV) is cut, as it is inflated, at record boundaries
// into chunks of about a MiB that are read at the same time. Rows of one
// part reach its function in file order; parts are told apart by their
// entry and chunk, so that the caller can join them in file order. Errors
// are those ReadUsageZIP returns: the first in file order, with its file
// and line.
func ReadUsageZIPParts(r io.ReaderAt, size int64, limits Limits, parts Parts) (int, error) {
	return readUsageZIPParts(r, size, limits, parts, nil)
}

// readUsageZIPParts is ReadUsageZIPParts, passing warnings to warn.
func readUsageZIPParts(r io.ReaderAt, size int64, limits Limits, parts Parts, warn func(string, ...any)) (int, error) {
	entries, err := openZIP(r, size, limits)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	p := &partReader{
		entries: entries,
		budget:  &inflateBudget{},
		parts:   parts,
		workers: partWorkers(),
		results: map[partKey]partResult{},
		warn:    newWarnings(warn),
	}
	p.budget.left.Store(limits.MaxUncompressedBytes)
	p.stop.Store(math.MaxInt64)
	if len(entries) >= p.workers || p.workers == 1 {
		p.readEntries()
	} else {
		p.readChunks()
	}
	rows, err := p.outcome()
	if err == nil {
		parts.Join()
	}
	return rows, err
}

// partKey orders the parts of an export: entry, then chunk.
type partKey int64

func key(entry, chunk int) partKey { return partKey(entry)<<32 | partKey(chunk) }

type partResult struct {
	rows int
	err  error
}

type partReader struct {
	entries []*zip.File
	budget  *inflateBudget
	parts   Parts
	workers int
	warn    *warnings
	// stop is the key of the first part in file order that failed: parts
	// after it stop reading.
	stop atomic.Int64

	mu      sync.Mutex
	results map[partKey]partResult
}

var errStopped = errors.New("stopped: an earlier part failed")

func (p *partReader) done(k partKey, rows int, err error) {
	p.mu.Lock()
	p.results[k] = partResult{rows, err}
	p.mu.Unlock()
	if err != nil && !errors.Is(err, errStopped) {
		for {
			s := p.stop.Load()
			if int64(k) >= s || p.stop.CompareAndSwap(s, int64(k)) {
				break
			}
		}
	}
}

func (p *partReader) stopped(k partKey) bool { return int64(k) > p.stop.Load() }

// fn is the function of part k: the caller's, stopped once an earlier part
// has failed.
func (p *partReader) fn(k partKey, entry, chunk int) func(*UsageRow) error {
	fn := p.parts.Part(entry, chunk)
	n := 0
	return func(r *UsageRow) error {
		if n++; n&255 == 0 && p.stopped(k) {
			return errStopped
		}
		return fn(r)
	}
}

// outcome adds up the rows of the parts in file order up to the first that
// failed, and returns its error.
func (p *partReader) outcome() (int, error) {
	keys := make([]partKey, 0, len(p.results))
	for k := range p.results {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rows := 0
	for _, k := range keys {
		res := p.results[k]
		rows += res.rows
		if res.err != nil {
			if errors.Is(res.err, errStopped) {
				// Cannot be the first: a failed part stopped it.
				continue
			}
			return rows, res.err
		}
	}
	return rows, nil
}

// readEntries reads whole entries on every core, each into a part of its
// own.
func (p *partReader) readEntries() {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(p.workers, len(p.entries)) {
		wg.Go(func() {
			state := newCSVState(p.warn)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(p.entries) {
					return
				}
				k := key(i, 0)
				if p.stopped(k) {
					p.done(k, 0, errStopped)
					continue
				}
				f := p.entries[i]
				rc, err := f.Open()
				if err != nil {
					p.done(k, 0, &ZIPError{Entry: ValidUTF8(f.Name), Err: err})
					continue
				}
				er := &entryReader{r: rc, name: ValidUTF8(f.Name), budget: p.budget}
				n, err := state.read(er.name, er, p.fn(k, i, 0))
				rc.Close()
				p.done(k, n, err)
			}
		})
	}
	wg.Wait()
}

// chunkBytes is about the size of a chunk of a combined CSV.
var chunkBytes = 1 << 20 // a variable for the tests

// csvChunk is a part of an entry that begins at a record boundary.
type csvChunk struct {
	entry, chunk int
	name         string
	header       []byte // the entry's header record, for chunks after the first
	line         int    // the line the chunk begins on
	buf          *[]byte
	data         []byte
	rest         io.Reader // the rest of the entry, when no boundary was found
	done         chan struct{}
}

// readChunks inflates the entries one after the other on one goroutine,
// cuts them into chunks at record boundaries, and reads the chunks on every
// core.
func (p *partReader) readChunks() {
	chunks := make(chan *csvChunk, p.workers)
	pool := make(chan *[]byte, p.workers+2)
	for range cap(pool) {
		b := make([]byte, chunkBytes)
		pool <- &b
	}
	var wg sync.WaitGroup
	for range p.workers {
		wg.Go(func() {
			state := newCSVState(p.warn)
			for c := range chunks {
				p.readChunk(state, c)
				if c.buf != nil {
					pool <- c.buf
				}
				if c.done != nil {
					close(c.done)
				}
			}
		})
	}
	for i, f := range p.entries {
		if !p.cutEntry(i, f, chunks, pool) {
			break
		}
	}
	close(chunks)
	wg.Wait()
}

func (p *partReader) readChunk(state *csvState, c *csvChunk) {
	k := key(c.entry, c.chunk)
	if p.stopped(k) {
		p.done(k, 0, errStopped)
		return
	}
	fn := p.fn(k, c.entry, c.chunk)
	if c.chunk == 0 {
		state.rr.resetParts(c.data, c.rest)
		n, err := state.readFile(c.name, fn)
		p.done(k, n, err)
		return
	}
	n, err := state.readAfter(c.name, c.header, c.line, c.data, c.rest, fn)
	p.done(k, n, err)
}

// cutEntry inflates entry i and sends it in chunks; it reports whether to
// go on with the next entry.
func (p *partReader) cutEntry(i int, f *zip.File, chunks chan<- *csvChunk, pool chan *[]byte) bool {
	name := ValidUTF8(f.Name)
	rc, err := f.Open()
	if err != nil {
		p.done(key(i, 0), 0, &ZIPError{Entry: name, Err: err})
		return false
	}
	defer rc.Close()
	r := &entryReader{r: rc, name: name, budget: p.budget}
	var header []byte
	var carry []byte
	line := 1
	for chunk := 0; ; chunk++ {
		if p.stopped(key(i, chunk)) {
			return false
		}
		bp := <-pool
		buf := append((*bp)[:0], carry...)
		var readErr error
		ended := false
		cut := -1
		for {
			n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					readErr = err
				}
				ended, cut = true, len(buf)
				break
			}
			start := 0
			if header == nil {
				// The first chunk holds the header: the others need it.
				h := firstBoundary(buf)
				if h < 0 {
					if !p.grow(&buf) {
						break
					}
					continue
				}
				header = bytes.Clone(buf[:h])
				start = h
			}
			if cut = lastBoundary(buf, start); cut > start {
				break
			}
			cut = -1
			if !p.grow(&buf) {
				break
			}
		}
		c := &csvChunk{entry: i, chunk: chunk, name: name, header: header, line: line}
		if cut < 0 {
			// No record ends in reach: the rest of the entry is one part,
			// read from the inflater as it goes, as ReadUsageZIP reads it.
			c.data, c.rest, c.done = buf, r, make(chan struct{})
			chunks <- c
			<-c.done
			*bp = (*bp)[:0]
			pool <- bp
			return !p.stopped(key(i, chunk))
		}
		// The carry stays in the chunk's buffer until the next chunk has
		// copied it: the buffer comes back to the pool only after that
		// chunk's records are read.
		c.data, carry = buf[:cut], buf[cut:]
		if cap(buf) == chunkBytes {
			c.buf = bp
		} else {
			*bp = (*bp)[:0]
			pool <- bp
		}
		line += bytes.Count(c.data, newline)
		if readErr != nil {
			// The chunk's records are read first, then the failure: it
			// belongs to the part after them.
			c.rest = &failedReader{readErr}
			chunks <- c
			return false
		}
		chunks <- c
		if ended {
			return true
		}
	}
}

// grow doubles a chunk that holds no whole record, up to what one record
// may take; it reports false beyond that.
func (p *partReader) grow(buf *[]byte) bool {
	if cap(*buf) >= 2*maxRecordBytes {
		return false
	}
	g := make([]byte, len(*buf), 2*cap(*buf))
	copy(g, *buf)
	*buf = g
	return true
}

type failedReader struct{ err error }

func (f *failedReader) Read([]byte) (int, error) { return 0, f.err }

// klauspostDecompressor inflates with github.com/klauspost/compress, about
// 1.4 times as fast as compress/flate on the same entries (BENCHMARKS.md).
func klauspostDecompressor(r io.Reader) io.ReadCloser { return kflate.NewReader(r) }

// partWorkers is how many parts are read at once; tests change it.
var partWorkers = func() int { return runtime.GOMAXPROCS(0) }
