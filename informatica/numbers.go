// Numbers as export files write them.

package informatica

// pow10 are the powers of ten that a float64 holds exactly.
var pow10 = [...]float64{
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
}

// parseDecimal parses the plain decimals that exports hold ("12", "-0.75",
// "1834.25") when the result is exact to compute: at most 2^53 as an
// integer and at most 22 decimals, so that one correctly rounded division
// gives what strconv.ParseFloat gives. Anything else reports false.
func parseDecimal(b []byte) (float64, bool) {
	neg := false
	if c := b[0]; c == '-' || c == '+' {
		neg = c == '-'
		b = b[1:]
	}
	var m uint64
	i := 0
	for ; i < len(b) && b[i]-'0' <= 9; i++ {
		m = m*10 + uint64(b[i]-'0')
	}
	digits, frac := i, 0
	if i < len(b) && b[i] == '.' {
		i++
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			m = m*10 + uint64(b[i]-'0')
		}
		frac = i - digits - 1
		digits += frac
	}
	if i != len(b) || digits == 0 || digits > 19 || m > 1<<53 || frac >= len(pow10) {
		return 0, false
	}
	f := float64(m) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true
}
