package collector

// crc32Shift is what appending n bytes does to the CRC-32 (IEEE) of what
// came before them: the CRC-32 of a then b is
// newCRC32Shift(len(b)).apply(crc(a)) ^ crc(b), as zlib's crc32_combine
// works it out. A gzip scrape puts the checksum of its body together from
// the checksums of the encoded families this way instead of reading them
// all again; worked out once per encoded family, combining is 32 XORs.
type crc32Shift [32]uint32

func newCRC32Shift(len2 int64) *crc32Shift {
	var m crc32Shift
	for n := range m {
		m[n] = 1 << n
	}
	if len2 <= 0 {
		return &m
	}
	// odd is the operator for one zero bit, even for two, then each is
	// squared in turn: 4, 8, 16... zero bits, one byte per step from
	// even's first use on.
	var even, odd [32]uint32
	odd[0] = 0xedb88320 // the reflected polynomial
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd)
	gf2Square(&odd, &even)
	times := func(x *[32]uint32) {
		for n := range m {
			m[n] = gf2Times(x, m[n])
		}
	}
	for {
		gf2Square(&even, &odd)
		if len2&1 != 0 {
			times(&even)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2Square(&odd, &even)
		if len2&1 != 0 {
			times(&odd)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return &m
}

func (m *crc32Shift) apply(crc uint32) uint32 { return gf2Times((*[32]uint32)(m), crc) }

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}
