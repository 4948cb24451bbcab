package informatica

import (
	"strings"
	"testing"
)

func TestRedactSecrets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, secret, text, want string
		cut                      bool
	}{
		{"raw twice", "s3cret", "a s3cret b s3cret", "a [REDACTED] b [REDACTED]", false},
		{"overlapping", "abababab", "xababababab", "x[REDACTED]", false},
		{"JSON short escapes", `a"b\c/d`, `x a\"b\\c\/d y`, "x [REDACTED] y", false},
		{"JSON upper and lower hex", "é<", `\u00E9\u003c`, "[REDACTED]", false},
		{"surrogate pair", "p📈", `\u0070\ud83d\udcc8!`, "[REDACTED]!", false},
		{"percent, mixed case", "a b+c", "a%20b%2bc|a+b%2Bc", "[REDACTED]|[REDACTED]", false},
		{"percent, Windows-1252", "é", "x %E9 y", "x [REDACTED] y", false},
		{"HTML, named and numeric", `'"&`, "&#39;&quot;&amp;|&#x27;&#34;&AMP;", "[REDACTED]|[REDACTED]", false},
		{"two layers", `a"b`, `a\\\"b`, "[REDACTED]", false},
		{"URL in JSON", "a/b", `a%2Fb and a\u002Fb`, "[REDACTED] and [REDACTED]", false},
		{"cut", "s3cret-Pa55", "tail s3cr", "tail [REDACTED]", true},
		{"cut, encoded", "s3cret-Pa55", `tail \u0073\u0033c`, "tail [REDACTED]", true},
		{"not cut", "s3cret-Pa55", "tail s3cr", "tail s3cr", false},
		{"cut, too short to tell", "s3cret-Pa55", "tail s3", "tail s3", true},
		{"nothing", "s3cret", "nothing to see", "nothing to see", false},
		// Shorter than minSubstringSecret: whole tokens only.
		{"short, inside words", "p", "unexpected EOF; pp; p2; 2p; ép", "unexpected EOF; pp; p2; 2p; ép", false},
		{"short, as tokens", "p", "password p; pw=p&x; \"p\"; (p)", "password [REDACTED]; pw=[REDACTED]&x; \"[REDACTED]\"; ([REDACTED])", false},
		{"short, at the ends", "p", "p", "[REDACTED]", false},
		{"short, token only once decoded", "p", `pw=\u0070, pw=%70&, pw=&#112;.`, "pw=[REDACTED], pw=[REDACTED]&, pw=[REDACTED].", false},
		{"short, decoded into a word", "p", `unex%70ected, unex\u0070ected`, `unex%70ected, unex\u0070ected`, false},
		{"short, punctuation at an end", "p!", "ap!b (p!b)", "ap!b ([REDACTED]b)", false},
		{"short, non-ASCII letters", "é1", "xé1 é1", "xé1 [REDACTED]", false},
		{"short, cut at a token", "abcdef", "tail abc", "tail [REDACTED]", true},
		{"short, cut inside a word", "abcdef", "tail xabc", "tail xabc", true},
		{"seven characters", "abcdefg", "xabcdefgx abcdefg", "xabcdefgx [REDACTED]", false},
		{"eight characters, anywhere", "abcdefgh", "xabcdefghx abcdefgh", "x[REDACTED]x [REDACTED]", false},
		{"long, inside a word", "s3cret-Pa55w0rd", "xxs3cret-Pa55w0rdyy", "xx[REDACTED]yy", false},
	} {
		if got := redactSecrets(tc.text, secretNeedles(tc.secret), tc.cut); got != tc.want {
			t.Errorf("%s: redactSecrets(%q) = %q, want %q", tc.name, tc.text, got, tc.want)
		}
	}
}

// BenchmarkRedactSecrets is redaction of a large error page with a
// password and many session IDs to look for: the worst an error costs.
func BenchmarkRedactSecrets(b *testing.B) {
	needles := secretNeedles(`p"a\ss&w<o>rd'é+/ `)
	for i := range maxIssued {
		needles = append(needles, secretNeedles(strings.Repeat(string(rune('A'+i%26)), 22))...)
	}
	page := strings.Repeat(`<p class="x">Error &amp; more: a%20b \"quoted\" \u00e9</p>`+"\n", 64<<10/64)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		redactSecrets(page, needles, true)
	}
}
