package informatica

import (
	"bytes"
	"html"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// redactedMarker stands where a secret was; it has no angle brackets, which
// Shorten would strip as markup.
const redactedMarker = "[REDACTED]"

// maxEscapeLayers is how many layers of escaping redaction sees through: a
// JSON string inside a JSON error message, say, or a URL-encoded form
// quoted in an HTML page.
const maxEscapeLayers = 2

// minSubstringSecret is the length, in characters, from which a secret is
// redacted wherever it occurs, inside a word too. A shorter secret is
// redacted only where it stands as a whole token, not next to a letter or
// a digit: a one-letter password would otherwise turn "unexpected EOF"
// into "unex[REDACTED]ected EOF", and a short one occurs inside ordinary
// words by chance, while a server echoing it quotes it as a token of its
// own ("password p", "pw=p&", "\"p\""). 8 is the shortest password NIST
// SP 800-63B allows; session IDs (22 characters) and callback URLs are
// longer, so this changes matching only for a short password or a short
// callback URL path.
const minSubstringSecret = 8

// needle is one form of a secret to look for in decoded text.
type needle struct {
	text []byte
	// wholeStart and wholeEnd, set for a short secret that starts or ends
	// with a letter or a digit, mean that a match must not have one right
	// before or after it.
	wholeStart, wholeEnd bool
}

// secretNeedles returns what to look for in decoded text to find secret:
// the secret itself; with spaces as '+', as URL query encoding writes them
// (its "+" is kept as '+' by the decoding below, so "+" and "%2B" both
// match); and in Windows-1252, for a server that percent-encodes in it.
// A secret shorter than minSubstringSecret matches only as a whole token.
func secretNeedles(secret string) []needle {
	if secret == "" {
		return nil
	}
	valid := ValidUTF8(secret)
	forms := []string{secret, valid, strings.ReplaceAll(valid, " ", "+")}
	if cp, ok := encodeWindows1252(valid); ok {
		forms = append(forms, string(cp), strings.ReplaceAll(string(cp), " ", "+"))
	}
	slices.Sort(forms)
	forms = slices.Compact(forms)
	var wholeStart, wholeEnd bool
	if utf8.RuneCountInString(valid) < minSubstringSecret {
		first, _ := utf8.DecodeRuneInString(valid)
		last, _ := utf8.DecodeLastRuneInString(valid)
		wholeStart, wholeEnd = isWordRune(first), isWordRune(last)
	}
	needles := make([]needle, len(forms))
	for i, f := range forms {
		needles[i] = needle{text: []byte(f), wholeStart: wholeStart, wholeEnd: wholeEnd}
	}
	return needles
}

// isWordRune reports whether r is a letter or a digit: what a token
// boundary must not have on its other side.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// boundedAt reports whether text[start:end] has no letter or digit beside
// it where n asks for a token boundary.
func (n needle) boundedAt(text []byte, start, end int) bool {
	if n.wholeStart && start > 0 {
		if r, _ := utf8.DecodeLastRune(text[:start]); isWordRune(r) {
			return false
		}
	}
	if n.wholeEnd && end < len(text) {
		if r, _ := utf8.DecodeRune(text[end:]); isWordRune(r) {
			return false
		}
	}
	return true
}

// redactSecrets replaces every occurrence of a needle in text with
// redactedMarker: raw, or written with JSON string escapes (\" \\ \/ and
// \uXXXX of any character), percent-encoding (upper or lower hex) or HTML
// character references (&quot; &#34; &#x22; ...), in any mix, up to
// maxEscapeLayers layers deep. A server may echo a secret in any of these,
// and an error message must not carry it in any. When cut is set, text is
// the start of something longer, and a secret's start at its end is
// redacted too.
func redactSecrets(text string, needles []needle, cut bool) string {
	if len(needles) == 0 || text == "" {
		return text
	}
	src := []byte(text)
	var found []textRange
	f := finder{needles: needles, cut: cut, found: &found}
	f.find(src, nil, 0)
	if len(found) == 0 {
		return text
	}
	return replaceRanges(text, found)
}

// textRange is text[start:end] of the original text.
type textRange struct{ start, end int }

// minCutSecret is the shortest start of a secret at the end of a cut text
// that is redacted: shorter ones would blank ordinary words, and tell
// little.
const minCutSecret = 3

// finder looks for needles in a text and its decodings.
type finder struct {
	needles []needle
	cut     bool
	found   *[]textRange
}

// find records where the needles occur in text, and in each decoding of
// text. origin maps text's bytes to the original text's: byte i of text
// came from origin[i]; nil means text is the original.
func (f *finder) find(text []byte, origin []textRange, layer int) {
	at := func(i int) textRange {
		if origin == nil {
			return textRange{i, i + 1}
		}
		return origin[i]
	}
	for _, n := range f.needles {
		for from := 0; ; {
			k := bytes.Index(text[from:], n.text)
			if k < 0 {
				break
			}
			k += from
			if n.boundedAt(text, k, k+len(n.text)) {
				*f.found = append(*f.found, textRange{at(k).start, at(k + len(n.text) - 1).end})
			}
			from = k + 1
		}
		if f.cut {
			if k := cutStart(text, n); k >= 0 {
				*f.found = append(*f.found, textRange{at(k).start, at(len(text) - 1).end})
			}
		}
	}
	if layer == maxEscapeLayers {
		return
	}
	for _, d := range decoders {
		if bytes.IndexByte(text, d.lead) < 0 {
			continue
		}
		out, outOrigin := decodeLayer(text, at, d.token)
		if outOrigin != nil {
			f.find(out, outOrigin, layer+1)
		}
	}
}

// cutStart returns where text ends with a start of n at least
// minCutSecret bytes long, at a token boundary where n asks for one, or -1.
func cutStart(text []byte, n needle) int {
	for k := max(len(text)-len(n.text)+1, 0); k <= len(text)-minCutSecret; k++ {
		if text[k] == n.text[0] && bytes.HasPrefix(n.text, text[k:]) && n.boundedAt(text, k, len(text)) {
			return k
		}
	}
	return -1
}

// decoder undoes one kind of escaping. token decodes the escape sequence at
// text[i], which starts with lead, appending its text to out; it returns
// how many bytes the sequence is, or 0 when text[i] starts none.
type decoder struct {
	lead  byte
	token func(text []byte, i int, out []byte) ([]byte, int)
}

var decoders = []decoder{
	{'\\', jsonEscape},
	{'%', percentEscape},
	{'&', htmlReference},
}

// decodeLayer decodes every escape sequence in text, and returns the result
// with the original range each of its bytes came from; a nil origin when
// nothing was decoded.
func decodeLayer(text []byte, at func(int) textRange, token func([]byte, int, []byte) ([]byte, int)) ([]byte, []textRange) {
	out := make([]byte, 0, len(text))
	origin := make([]textRange, 0, len(text))
	decoded := false
	for i := 0; i < len(text); {
		before := len(out)
		var n int
		out, n = token(text, i, out)
		if n == 0 {
			out = append(out, text[i])
			n = 1
		} else {
			decoded = true
		}
		r := textRange{at(i).start, at(i + n - 1).end}
		for range len(out) - before {
			origin = append(origin, r)
		}
		i += n
	}
	if !decoded {
		return nil, nil
	}
	return out, origin
}

// jsonEscape decodes a JSON string escape: \" \\ \/ \b \f \n \r \t and
// \uXXXX, surrogate pairs included.
func jsonEscape(text []byte, i int, out []byte) ([]byte, int) {
	if text[i] != '\\' || i+1 >= len(text) {
		return out, 0
	}
	switch c := text[i+1]; c {
	case '"', '\\', '/':
		return append(out, c), 2
	case 'b':
		return append(out, '\b'), 2
	case 'f':
		return append(out, '\f'), 2
	case 'n':
		return append(out, '\n'), 2
	case 'r':
		return append(out, '\r'), 2
	case 't':
		return append(out, '\t'), 2
	case 'u':
		r, ok := hex4(text[i+2:])
		if !ok {
			return out, 0
		}
		n := 6
		if utf16.IsSurrogate(r) && i+12 <= len(text) && text[i+6] == '\\' && text[i+7] == 'u' {
			if low, ok := hex4(text[i+8:]); ok {
				if pair := utf16.DecodeRune(r, low); pair != utf8.RuneError {
					r, n = pair, 12
				}
			}
		}
		return utf8.AppendRune(out, r), n
	}
	return out, 0
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		v, ok := hexDigit(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// percentEscape decodes %XX, in either case. A '+' stays '+': the needles
// carry the query form of a space instead (see secretNeedles), so that a
// path-encoded '+' matches too.
func percentEscape(text []byte, i int, out []byte) ([]byte, int) {
	if text[i] != '%' || i+2 >= len(text) {
		return out, 0
	}
	hi, ok1 := hexDigit(text[i+1])
	lo, ok2 := hexDigit(text[i+2])
	if !ok1 || !ok2 {
		return out, 0
	}
	return append(out, hi<<4|lo), 3
}

// maxReference bounds an HTML character reference, "&CounterClockwiseContourIntegral;"
// being the longest named one.
const maxReference = 40

// htmlReference decodes a character reference: named (&quot;), decimal
// (&#34;) or hexadecimal (&#x22;).
func htmlReference(text []byte, i int, out []byte) ([]byte, int) {
	if text[i] != '&' {
		return out, 0
	}
	end := bytes.IndexByte(text[i+1:min(i+maxReference, len(text))], ';')
	if end < 0 || !isReferenceName(text[i+1:i+1+end]) {
		return out, 0
	}
	ref := string(text[i : i+end+2])
	s := html.UnescapeString(ref)
	if s == ref {
		return out, 0
	}
	return append(out, s...), len(ref)
}

// isReferenceName reports whether name can stand between '&' and ';' of a
// character reference: letters and digits, with a leading '#'. Without
// this check, "&, x=&#112;" would decode as one reference, and a secret
// in it would take the text before along when redacted.
func isReferenceName(name []byte) bool {
	name = bytes.TrimPrefix(name, []byte("#"))
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// replaceRanges replaces the ranges of text, which may overlap, with
// redactedMarker.
func replaceRanges(text string, found []textRange) string {
	slices.SortFunc(found, func(a, b textRange) int { return a.start - b.start })
	var b strings.Builder
	next := 0
	for i := 0; i < len(found); {
		r := found[i]
		for i++; i < len(found) && found[i].start <= r.end; i++ {
			r.end = max(r.end, found[i].end)
		}
		b.WriteString(text[next:r.start])
		b.WriteString(redactedMarker)
		next = r.end
	}
	b.WriteString(text[next:])
	return b.String()
}
