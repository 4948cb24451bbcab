package collector

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestCRC32Shift: the CRC-32 of a then b, put together from theirs, is
// that of the bytes one after the other, whatever their lengths (empty
// included).
func TestCRC32Shift(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for k := range 100 {
		a, b := random(rng.IntN(3000)), random(rng.IntN(70000))
		switch k {
		case 0:
			a = nil
		case 1:
			b = nil
		}
		want := crc32.ChecksumIEEE(append(append([]byte{}, a...), b...))
		if got := newCRC32Shift(int64(len(b))).apply(crc32.ChecksumIEEE(a)) ^ crc32.ChecksumIEEE(b); got != want {
			t.Fatalf("shift: %08x, want %08x (len %d, %d)", got, want, len(a), len(b))
		}
	}
}
