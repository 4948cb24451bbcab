package collector

// crc32Combine returns the CRC-32 (IEEE) of a then b from the CRC-32 of a,
// that of b and the length of b, as zlib's crc32_combine does: the scrape
// puts the checksum of the gzip body together from the checksums of the
// encoded families instead of reading them all again.
func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1
	}
	var even, odd [32]uint32
	odd[0] = 0xedb88320 // the reflected polynomial
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		gf2Square(&even, &odd)
		if len2&1 != 0 {
			crc1 = gf2Times(&even, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2Square(&odd, &even)
		if len2&1 != 0 {
			crc1 = gf2Times(&odd, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

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

// crc32Shift is what appending n bytes does to the CRC-32 of what came
// before them: crc32Combine(c1, c2, n) == crc32Shift(n).apply(c1) ^ c2.
// Worked out once per encoded family, it makes combining 32 XORs.
type crc32Shift [32]uint32

func newCRC32Shift(len2 int64) *crc32Shift {
	var m crc32Shift
	for n := range m {
		m[n] = 1 << n
	}
	if len2 <= 0 {
		return &m
	}
	var even, odd [32]uint32
	odd[0] = 0xedb88320
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
