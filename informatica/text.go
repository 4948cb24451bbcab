package informatica

import (
	"unicode/utf8"
)

// ValidUTF8 returns s as valid UTF-8. Valid UTF-8 comes back as it is,
// without a copy. In anything else, valid UTF-8 sequences are kept and every
// other byte is decoded on its own as Windows-1252: Informatica's text is
// UTF-8, but names typed into older tools reach it as Windows-1252 (or
// Latin-1, its subset), and "Soci\xe9t\xe9" means "Société", not
// "Soci\uFFFDt\uFFFD". The five bytes Windows-1252 leaves undefined become
// U+FFFD.
//
// Every string this package hands out that came from Informatica has been
// through ValidUTF8; the exporter uses it for text of its own.
func ValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string(appendValidUTF8(make([]byte, 0, len(s)+len(s)/2), s))
}

// validUTF8Bytes is ValidUTF8 for a byte slice, which it returns as it is
// when it is valid.
func validUTF8Bytes(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return appendValidUTF8(make([]byte, 0, len(b)+len(b)/2), string(b))
}

// appendValidUTF8 appends s to dst, decoding the bytes that are not part of
// a valid UTF-8 sequence as Windows-1252.
func appendValidUTF8(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			// Bytes below 0x80 are always valid, so b >= 0x80 here.
			r = windows1252(s[i])
		}
		dst = utf8.AppendRune(dst, r)
		i += n
	}
	return dst
}

// windows1252 decodes a byte of 0x80 or more as Windows-1252. Above 0x9F it
// agrees with Latin-1, which is Unicode's first 256 code points; only the 32
// bytes from 0x80 need a table.
func windows1252(b byte) rune {
	if b >= 0xA0 {
		return rune(b)
	}
	return windows1252High[b-0x80]
}

// windows1252High is Windows-1252 from 0x80 to 0x9F, as the WHATWG Encoding
// standard and Microsoft's best-fit table define it, with U+FFFD for the
// five bytes it leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D).
var windows1252High = [32]rune{
	'€', '\uFFFD', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\uFFFD', 'Ž', '\uFFFD',
	'\uFFFD', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\uFFFD', 'ž', 'Ÿ',
}

// encodeWindows1252 returns s encoded as Windows-1252, and false when s has
// a character Windows-1252 cannot encode. Redaction uses it to find secrets
// a server echoes in that encoding.
func encodeWindows1252(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < 0x80 || (r >= 0xA0 && r <= 0xFF):
			out = append(out, byte(r))
		default:
			b, ok := windows1252Byte(r)
			if !ok {
				return nil, false
			}
			out = append(out, b)
		}
	}
	return out, true
}

// windows1252Byte finds the byte from 0x80 to 0x9F that encodes r.
func windows1252Byte(r rune) (byte, bool) {
	if r == utf8.RuneError {
		return 0, false
	}
	for i, c := range windows1252High {
		if c == r {
			return byte(0x80 + i), true
		}
	}
	return 0, false
}
