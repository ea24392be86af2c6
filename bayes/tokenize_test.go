package bayes

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

// TestTokenizeLine checks _tokenize_line cases worked out by hand from
// Bayes.pm and confirmed by calling SpamAssassin 4.0.1's _tokenize_line.
func TestTokenizeLine(t *testing.T) {
	tests := []struct {
		in     string
		prefix string
		region int
		want   []string
	}{
		// Title Case at the start of a line is lowered; "Kitty." is
		// trimmed, then decomposed into its lower-case form.
		{"Hello Kitty.", "", regionBody, []string{"hello", "kitty", "Kitty"}},
		// After a full stop only the first match is lowered: the pattern
		// runs to the next capital, and "and", "more" are stop words.
		{"Some Title Here. Next Sentence goes. And More", "", regionBody, []string{"some", "title", "Title", "here", "Here", "next", "sentence", "Sentence", "goes"}},
		{"FREE!!! money", "", regionBody, []string{"FREE", "free!!!", "free", "FREE!!!", "money"}},
		// Long tokens keep seven characters; headers likewise, URIs not.
		{"abcdefghijklmnopq", "", regionBody, []string{"sk:abcdefg"}},
		{"abcdefghijklmnopq", "H*x:", regionHeader, []string{"H*x:sk:abcdefg"}},
		{"abcdefghijklmnopq", "", regionURI, []string{"abcdefghijklmnopq"}},
		// ... but not when a '*' marks a composite token.
		{"U*abcdefghijklmnopq", "H*F:", regionHeader, []string{"H*F:U*abcdefghijklmnopq"}},
		{"www.example.com", "", regionBody, []string{"UD:www.example.com", "UD:example.com", "UD:com", "wwwexamplecom", "www.example.com"}},
		{"joe@example.com", "", regionBody, []string{"U*joe", "D*example.com", "D*com", "joeexamplecom", "joe@example.com"}},
		// "--" between words splits; the separator alone trims to nothing.
		{"word---next", "", regionBody, []string{"word", "next"}},
		{"wait...what", "", regionBody, []string{"wait", "what"}},
		// Stop words, one- and two-byte tokens go.
		{"the cat is here", "", regionBody, []string{"cat", "here"}},
		{"xy The cat", "", regionBody, []string{"cat"}},
		// Tabs and other punctuation are separators.
		{"red\tgreen;blue(x)", "", regionBody, []string{"red", "green", "blue"}},
		// Long 8-bit runs become their 3- and 4-byte UTF-8 characters
		// (each kept once: want lists distinct tokens, first found first).
		{"中文中文中文", "I*:", regionBody, []string{"I*:u8:中", "I*:u8:文"}},
		// A short 8-bit token stays whole, decomposed to its ASCII letters.
		{"café", "", regionBody, []string{"caf", "café"}},
		// Bytes \x80-\xA0 alone are separators; \xA1-\xFF alone are kept.
		{"abc\x85def \xe9t\xe9", "", regionBody, []string{"abc", "def", "t", "\xe9t\xe9"}},
	}
	for _, tt := range tests {
		tz := tokenizer{cfg: &Config{MaxTokenLength: 15, Stopwords: stopwordsEN}, seen: map[string]struct{}{}}
		tz.line([]byte(tt.in), []byte(tt.prefix), tt.region)
		if got := tz.texts; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("line(%q, %q, %d) = %q, want %q", tt.in, tt.prefix, tt.region, got, tt.want)
		}
	}
}

func TestPreChew(t *testing.T) {
	tests := []struct {
		name string
		f    func(string) string
		in   string
		want string
	}{
		{"received", preChewReceived, " from mx.example.com (mx.example.com [192.0.2.7]) by mail.example.org (Postfix) with ESMTP id 4F2A1B3C; Tue, 6 Aug 2002 06:48:09 -0400 (EDT)",
			"   mx.example.com (mx.example.com [192.0.2 ip*192.0.2.7 ]) by mail.example.org (Postfix)      ; "},
		{"message-id", preChewMessageID, " <20020801123456.ABCDEF1234@mail.example.com>", " mail example com "},
		{"content-type", preChewContentType, ` multipart/alternative; boundary="----=_NextPart_000_0012_01C2"`,
			` multipart/alternative;   ----=_ NHxtPHrt _ HHH _ HHHH _ HHHH`},
		{"from", preChewAddrHeader, ` "Start Now" <startnow@hotmail.com>`, `N*Start N*Now U*startnow D*hotmail.com D*com`},
	}
	for _, tt := range tests {
		if got := tt.f(tt.in); got != tt.want {
			t.Errorf("%s(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestTokenizeHeaders(t *testing.T) {
	raw := "Received: from a.example (a.example [192.0.2.1]) by b.example\n" +
		"Received: from c.example by d.example\n" +
		"Received: from e.example by f.example\n" +
		"From: Joe <joe@example.com>\n" +
		"To: ann@example.org\n" +
		"Subject: not tokenized from the header\n" +
		"Date: Tue, 6 Aug 2002 06:48:09 -0400\n" +
		"X-Mailer: FooMail 1.0\n" +
		"List-Id: <dropped.example.com>\n" +
		"X-Upstream: dropped\n" +
		// Presence-only fields give the value "1", which is too short to
		// be a token: in effect they are ignored, as in SpamAssassin.
		"DKIM-Signature: v=1; a=rsa-sha256; lots of hapaxes\n" +
		"\n" +
		"Body text.\n"
	cfg := DefaultConfig()
	cfg.IgnoreHeaders = map[string]bool{"x-upstream": true}
	toks := Tokenize(mail.Parse([]byte(raw), mail.Options{}), []string{"X-Spam-Relays-Untrusted: [ ip=192.0.2.1 rdns=a.example helo=a.example ]\n"}, cfg)
	var got []string
	for _, s := range toks {
		if strings.HasPrefix(s, "H") {
			got = append(got, s)
		}
	}
	sort.Strings(got)
	want := []string{
		"H*Ad:D*com", "H*Ad:D*example.com", "H*Ad:D*example.org", "H*Ad:D*org", "H*Ad:N*Joe", "H*Ad:U*ann", "H*Ad:U*joe",
		"H*F:D*com", "H*F:D*example.com", "H*F:N*Joe", "H*F:U*joe",
		"H*RU:192.0.2.1", "H*RU:a.example",
		"H*UA:1.0", "H*UA:FooMail", "H*r:c.example", "H*r:d.example", "H*r:e.example", "H*r:f.example",
		"H*x:1.0", "H*x:FooMail",
		"HTo:D*example.org", "HTo:D*org", "HTo:U*ann",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("header tokens = %q\nwant %q", got, want)
	}
}

func TestMessageIDs(t *testing.T) {
	m := mail.Parse([]byte("To: a@example.com\nDate: x\nMessage-Id: <abc@example.com>\n\nhi\n"), mail.Options{})
	ids := MessageIDs(m)
	// sha1_hex("a@example.com\n\x00x\n\x00" . sha1_hex("hi\n")).
	want := []string{"59101c3a47b1dbfcb431a777a02ec441a95564bd@sa_generated", "abc@example.com"}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("MessageIDs = %q, want %q", ids, want)
	}
}

// TestHandMatchersAgreeWithRegexp checks the hand-written scanners used on
// the hot path against the Perl expressions they replace (Go's regexp
// picks the same leftmost-first match as Perl's backtracking here).
func TestHandMatchersAgreeWithRegexp(t *testing.T) {
	dots := regexp.MustCompile(`(\w)(\.{3,6})(\w)`)
	dashes := regexp.MustCompile(`(\w)(\-{2,6})(\w)`)
	title := regexp.MustCompile(`(?:^|\.\s+)([A-Z])([^A-Z]+)(?:\s|$)`)
	titleRef := func(s []byte) []byte {
		var out []byte
		last := 0
		for _, m := range title.FindAllSubmatchIndex(s, -1) {
			out = append(out, s[last:m[0]]...)
			out = append(out, ' ', s[m[2]]+'a'-'A')
			out = append(out, s[m[4]:m[5]]...)
			out = append(out, ' ')
			last = m[1]
		}
		return append(out, s[last:]...)
	}
	alphabet := []byte("aZ. -x_.B\xe9")
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		b := make([]byte, rnd.IntN(16))
		for j := range b {
			b[j] = alphabet[rnd.IntN(len(alphabet))]
		}
		if got, _ := splitRuns(nil, b, '.', 3, 6); !bytes.Equal(got, dots.ReplaceAll(b, []byte("$1 $2 $3"))) {
			t.Fatalf("splitRuns(%q, '.') = %q, want %q", b, got, dots.ReplaceAll(b, []byte("$1 $2 $3")))
		}
		if got, _ := splitRuns(nil, b, '-', 2, 6); !bytes.Equal(got, dashes.ReplaceAll(b, []byte("$1 $2 $3"))) {
			t.Fatalf("splitRuns(%q, '-') = %q, want %q", b, got, dashes.ReplaceAll(b, []byte("$1 $2 $3")))
		}
		if got, _ := lowerTitleCase(nil, b); !bytes.Equal(got, titleRef(b)) {
			t.Fatalf("lowerTitleCase(%q) = %q, want %q", b, got, titleRef(b))
		}
	}
}

func TestReplaceWordsAgreesWithRegexp(t *testing.T) {
	re := regexp.MustCompile(`\b(?:with|from|for|SMTP|ESMTP)\b`)
	parts := []string{"with", "from", "for", "SMTP", "ESMTP", " ", "x", ".", "_", "fo", "E", "1"}
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rnd.IntN(8); n > 0; n-- {
			b.WriteString(parts[rnd.IntN(len(parts))])
		}
		s := b.String()
		if got, want := replaceWords(s, rcvdNoise, " "), re.ReplaceAllString(s, " "); got != want {
			t.Fatalf("replaceWords(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestReplaceIPsAgreesWithRegexp(t *testing.T) {
	re := regexp.MustCompile(`\b(\d{1,3}\.)(\d{1,3}\.)(\d{1,3})(\.\d{1,3})\b`)
	parts := []string{"1", "12", "123", "1234", ".", ".", " ", "a", "_", "[", "\xe9", "192.168.1.2"}
	rnd := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 50000; i++ {
		var b strings.Builder
		for n := rnd.IntN(12); n > 0; n-- {
			b.WriteString(parts[rnd.IntN(len(parts))])
		}
		s := b.String()
		if got, want := replaceIPs(s), re.ReplaceAllString(s, "$1$2$3 ip*$1$2$3$4 "); got != want {
			t.Fatalf("replaceIPs(%q) = %q, want %q", s, got, want)
		}
	}
}
