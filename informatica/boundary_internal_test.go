package informatica

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestBoundaryFindsRecordEnds: every end firstBoundary and lastBoundary
// find is where recordReader ends a record.
func TestBoundaryFindsRecordEnds(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 500 {
		data := randomCSV(rng, rng.IntN(40), false)
		if len(data) >= 60<<10 {
			continue
		}
		var rr recordReader
		rr.reset(bytes.NewReader(data))
		ends := map[int]bool{0: true}
		for {
			if _, err := rr.next(); err != nil {
				break
			}
			ends[rr.pos] = true
		}
		// Blank lines end nothing but begin records all the same.
		for start := range ends {
			if start == len(data) {
				continue
			}
			for n := start + 1; n <= len(data); n++ {
				if e := lastBoundary(data[:n], start); e >= 0 && !endsAt(ends, data, e) {
					t.Fatalf("round %d: lastBoundary(data[:%d], %d) = %d, not a record end\n%q", round, n, start, e, data[start:n])
				}
			}
		}
	}
}

// endsAt reports whether e is a record end or follows one with blank lines.
func endsAt(ends map[int]bool, data []byte, e int) bool {
	for e > 0 && !ends[e] {
		if data[e-1] != '\n' {
			return false
		}
		e--
		if e > 0 && data[e-1] == '\r' {
			e--
		}
		if ends[e] {
			return true
		}
	}
	return ends[e]
}
