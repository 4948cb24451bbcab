// Splitting CSV text into records, and nothing else: no header, no types.
// The readers above it (table.go) find columns by name and type the cells.

package informatica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// maxRecordBytes bounds one CSV record. A summary row is a few hundred
// bytes; a record this long is an unterminated quote swallowing the file,
// which is reported rather than buffered whole.
const maxRecordBytes = 4 << 20

// recordReader splits CSV text into records. It reads what encoding/csv
// reads with LazyQuotes and any number of fields per record, field for field
// (csv_fuzz_test.go checks that), but returns the fields as slices of its
// own buffer instead of allocating strings: they are valid until the next
// call to next.
//
// The rules, all encoding/csv's: records end at \n; \r\n counts as \n, in
// quoted fields too; a \r before the end of the input is dropped; empty
// lines are skipped but counted; a field that starts with a quote runs to
// the next quote that is followed by a comma, a line end or the end of the
// input, with "" standing for one quote and any other quote kept as it is;
// a quote inside an unquoted field is an ordinary character.
type recordReader struct {
	r        io.Reader
	buf      []byte // own, or the whole input (resetParts)
	own      []byte // the reader's buffer
	pos, end int    // unread input is buf[pos:end]
	eof      bool   // r has no more input
	err      error  // r failed
	line     int    // the line buf[pos] is on
	fields   []span
	dirty    []int32 // fields to undo "" and \r\n in
}

// field returns field k of the current record.
func (rr *recordReader) field(k int) []byte {
	f := rr.fields[k]
	return rr.buf[f.start:f.end:f.end]
}

func (rr *recordReader) reset(r io.Reader) {
	if rr.own == nil {
		rr.own = make([]byte, 64<<10)
	}
	rr.buf = rr.own
	rr.r, rr.pos, rr.end, rr.eof, rr.err, rr.line = r, 0, 0, false, nil, 1
}

// resetParts makes data then rest the input; without rest, data is the
// whole input and is read where it is, with no copy into the reader's
// buffer (the chunks of a combined export are already in memory).
func (rr *recordReader) resetParts(data []byte, rest io.Reader) {
	if rest != nil {
		rr.reset(io.MultiReader(bytes.NewReader(data), rest))
		return
	}
	rr.buf = data
	rr.r, rr.pos, rr.end, rr.eof, rr.err, rr.line = nil, 0, len(data), true, nil, 1
	// encoding/csv drops a \r that ends the input, as fill does.
	if rr.end > 0 && data[rr.end-1] == '\r' {
		rr.end--
	}
}

func (rr *recordReader) skipBOM() error {
	for rr.end-rr.pos < len(utf8BOM) && !rr.eof {
		if err := rr.fill(); err != nil {
			return err
		}
	}
	if bytes.HasPrefix(rr.buf[rr.pos:rr.end], utf8BOM) {
		rr.pos += len(utf8BOM)
	}
	return nil
}

// errRecordTooLong is what a record over maxRecordBytes is.
var errRecordTooLong = fmt.Errorf("row is longer than %d bytes (an unterminated quote?)", maxRecordBytes)

// wrap turns a reader failure into the error a CSV reader returns: a record
// too long names its line; a failure of the underlying reader (a corrupt ZIP
// entry) goes through unchanged.
func (rr *recordReader) wrap(file string, line int, err error) error {
	if errors.Is(err, errRecordTooLong) {
		return &CSVError{File: file, Line: line, Err: err}
	}
	return err
}

// fill moves the unread input to the start of the buffer and reads more
// after it, growing the buffer when the unread input fills it.
func (rr *recordReader) fill() error {
	if rr.err != nil {
		return rr.err
	}
	if rr.pos > 0 {
		rr.end = copy(rr.buf, rr.buf[rr.pos:rr.end])
		rr.pos = 0
	}
	if rr.end == len(rr.buf) {
		if len(rr.buf) >= maxRecordBytes {
			return errRecordTooLong
		}
		grown := make([]byte, 2*len(rr.buf))
		copy(grown, rr.buf[:rr.end])
		rr.buf, rr.own = grown, grown
	}
	// Read until the buffer is full, so that a reader that delivers a few
	// bytes at a time does not make parse start over for every few bytes.
	// A failure is reported once the records read before it are.
	for empty, start := 0, rr.end; rr.end < len(rr.buf); {
		n, err := rr.r.Read(rr.buf[rr.end:])
		rr.end += n
		switch {
		case err == io.EOF:
			rr.eof = true
			// encoding/csv drops a \r that ends the input.
			if rr.end > rr.pos && rr.buf[rr.end-1] == '\r' {
				rr.end--
			}
			return nil
		case err != nil:
			rr.err = err
			if rr.end > start {
				return nil
			}
			return err
		case n == 0:
			if empty++; empty == 100 {
				rr.err = io.ErrNoProgress
				return rr.err
			}
		}
	}
	return nil
}

// next reads the next record into fields and returns the line it starts
// on, or io.EOF after the last record.
func (rr *recordReader) next() (int, error) {
	for {
		line, done, err := rr.parse()
		if done || err != nil {
			return line, err
		}
		if rr.eof {
			panic("csv: record reader wants input after the end")
		}
		if err := rr.fill(); err != nil {
			return line, err
		}
	}
}

// parse splits the record at buf[pos:] into fields. When the buffered input
// ends before the record does, it reports done false, having changed
// nothing, and is called again once more input is buffered.
func (rr *recordReader) parse() (line int, done bool, err error) {
	buf, end, eof := rr.buf[:rr.end], rr.end, rr.eof
	i, line := rr.pos, rr.line
	// Skip empty lines.
	for {
		switch {
		case i < end && buf[i] == '\n':
			i++
			line++
			continue
		case i+1 < end && buf[i] == '\r' && buf[i+1] == '\n':
			i += 2
			line++
			continue
		case i+1 == end && buf[i] == '\r' && !eof:
			return line, false, nil
		}
		break
	}
	if i == end {
		if !eof {
			return line, false, nil
		}
		rr.pos, rr.line = i, line
		return line, true, io.EOF
	}
	if i-rr.pos > 0 {
		// Keep the skipped lines out of the next attempt's work.
		rr.pos, rr.line = i, line
	}
	fields, dirty := rr.fields[:0], rr.dirty[:0]
	newlines := 0
	nl := -1 // the next \n at or after i, or end at the end of the input
	for {
		if i < end && buf[i] == '"' {
			// A quoted field: find its closing quote.
			start := i + 1
			j := start
			d := false
			for {
				k := bytes.IndexByte(buf[j:end], '"')
				if k < 0 {
					if !eof {
						return line, false, nil
					}
					// The input ends inside the quotes: the field is the rest.
					newlines += bytes.Count(buf[start:end], newline)
					fields, dirty = append(fields, span{int32(start), int32(end)}), append(dirty, int32(len(fields)))
					i = end
					goto record
				}
				q := j + k
				if q+1 == end && !eof {
					return line, false, nil
				}
				c := byte('\n') // the end of the input ends the record
				if q+1 < end {
					c = buf[q+1]
				}
				switch c {
				case '"':
					d = true
					j = q + 2
					continue
				case ',':
					i = q + 2
					nl = -1
				case '\n':
					newlines++
					i = min(q+2, end)
				case '\r':
					if q+2 == end && !eof {
						return line, false, nil
					}
					if q+2 < end && buf[q+2] == '\n' {
						newlines++
						i = q + 3
						break
					}
					d = true
					j = q + 1
					continue
				default:
					// A bare quote inside the quotes is kept as it is.
					j = q + 1
					continue
				}
				if n := bytes.Count(buf[start:q], newline); n > 0 {
					newlines += n
					d = true // a \r\n among them is undone
				}
				if d {
					dirty = append(dirty, int32(len(fields)))
				}
				fields = append(fields, span{int32(start), int32(q)})
				if c == ',' {
					break
				}
				goto record
			}
			continue
		}
		// Unquoted fields: up to the next comma on this line, or the end of
		// the line.
		if nl < i {
			if k := bytes.IndexByte(buf[i:end], '\n'); k >= 0 {
				nl = i + k
			} else if eof {
				nl = end
			} else {
				return line, false, nil
			}
		}
		var quoted int
		fields, i, quoted = splitLine(rr.buf, i, nl, fields)
		if quoted >= 0 {
			i = quoted
			continue
		}
		f := span{int32(i), int32(nl)}
		if nl < end {
			if nl > i && buf[nl-1] == '\r' {
				f.end--
			}
			newlines++
			i = nl + 1
		} else {
			i = end
		}
		fields = append(fields, f)
		goto record
	}
record:
	for _, k := range dirty {
		f := &fields[k]
		f.end = f.start + int32(len(unquote(buf[f.start:f.end])))
	}
	rr.fields, rr.dirty = fields, dirty
	rr.pos, rr.line = i, line+newlines
	return line, true, nil
}

// splitLine appends the fields of buf[i:nl], a line or its end, to fields,
// up to the last one or to one that starts with a quote. It returns the
// start of that field, and where it starts again when that one is quoted,
// or -1. It looks for commas eight bytes at a time, and may read past nl
// within buf.
func splitLine(buf []byte, i, nl int, fields []span) ([]span, int, int) {
	const low7, commas = 0x7F7F7F7F7F7F7F7F, 0x2C2C2C2C2C2C2C2C
	if i < nl && buf[i] == '"' {
		return fields, i, i
	}
	start := i
	for j := i; j < nl; j += 8 {
		var t uint64 // the high bit of byte k is set when buf[j+k] is a comma
		if j+8 <= len(buf) {
			x := binary.LittleEndian.Uint64(buf[j:]) ^ commas
			t = ^((x&low7 + low7) | x | low7)
			if n := nl - j; n < 8 {
				t &= 1<<(8*n) - 1
			}
		} else {
			for k := 0; k < 8 && j+k < nl; k++ {
				if buf[j+k] == ',' {
					t |= 0x80 << (8 * k)
				}
			}
		}
		for ; t != 0; t &= t - 1 {
			c := j + bits.TrailingZeros64(t)>>3
			fields = append(fields, span{int32(start), int32(c)})
			start = c + 1
			if start < nl && buf[start] == '"' {
				return fields, start, start
			}
		}
	}
	return fields, start, -1
}

var newline = []byte{'\n'}

// span is a field of the current record: buf[start:end].
type span struct{ start, end int32 }

// unquote undoes "" and \r\n in a quoted field's text, in place.
func unquote(b []byte) []byte {
	w := 0
	for r := 0; r < len(b); r++ {
		c := b[r]
		if r+1 < len(b) && (c == '"' && b[r+1] == '"' || c == '\r' && b[r+1] == '\n') {
			c = b[r+1]
			r++
		}
		b[w] = c
		w++
	}
	return b[:w]
}

// firstBoundary returns the end of the first record of buf, which begins at
// a record boundary, or -1 when buf does not hold a whole record.
func firstBoundary(buf []byte) int { return boundary(buf, 0, true) }

// lastBoundary returns the end of the last whole record of buf[start:],
// where a record begins, or -1 when there is none.
func lastBoundary(buf []byte, start int) int { return boundary(buf, start, false) }

// boundary finds record ends as recordReader reads them (encoding/csv with
// LazyQuotes): a \n ends a record unless it lies in a quoted field, and a
// field is quoted when it begins with a quote; inside, "" is a quote, and
// a quote not followed by a comma or a line end is kept as it is.
func boundary(buf []byte, i int, first bool) int {
	last := -1
	lineStart := i
	for i < len(buf) {
		q := bytes.IndexByte(buf[i:], '"')
		if q < 0 {
			if first {
				if k := bytes.IndexByte(buf[i:], '\n'); k >= 0 {
					return i + k + 1
				}
				return last
			}
			if k := bytes.LastIndexByte(buf[i:], '\n'); k >= 0 {
				return i + k + 1
			}
			return last
		}
		q += i
		if first {
			if k := bytes.IndexByte(buf[i:q], '\n'); k >= 0 {
				return i + k + 1
			}
		} else if k := bytes.LastIndexByte(buf[i:q], '\n'); k >= 0 {
			last = i + k + 1
			lineStart = last
		}
		if q != lineStart && buf[q-1] != ',' && buf[q-1] != '\n' {
			// A quote inside an unquoted field is text.
			i = q + 1
			continue
		}
		// A quoted field: find where it ends.
		j := q + 1
		for {
			k := bytes.IndexByte(buf[j:], '"')
			if k < 0 {
				return last
			}
			cq := j + k
			if cq+1 >= len(buf) {
				return last
			}
			switch buf[cq+1] {
			case '"':
				j = cq + 2
				continue
			case ',':
				i = cq + 2
			case '\n':
				i = cq + 2
				if first {
					return i
				}
				last, lineStart = i, i
			case '\r':
				if cq+2 >= len(buf) {
					return last
				}
				if buf[cq+2] != '\n' {
					j = cq + 1
					continue
				}
				i = cq + 3
				if first {
					return i
				}
				last, lineStart = i, i
			default:
				j = cq + 1
				continue
			}
			break
		}
	}
	return last
}
