package collector

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func TestCRC32Combine(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 200 {
		a := make([]byte, rng.IntN(5000))
		b := make([]byte, rng.IntN(5000))
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := crc32.ChecksumIEEE(append(append([]byte{}, a...), b...))
		if got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b))); got != want {
			t.Fatalf("crc32Combine = %08x, want %08x (len %d, %d)", got, want, len(a), len(b))
		}
	}
}

func TestCRC32Shift(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for range 100 {
		a, b := make([]byte, rng.IntN(3000)), make([]byte, rng.IntN(70000))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := crc32.ChecksumIEEE(append(append([]byte{}, a...), b...))
		if got := newCRC32Shift(int64(len(b))).apply(crc32.ChecksumIEEE(a)) ^ crc32.ChecksumIEEE(b); got != want {
			t.Fatalf("shift: %08x, want %08x", got, want)
		}
	}
}
