package bayes

import (
	"bytes"
	"cmp"
	"slices"
	"sort"
	"strings"

	"github.com/sluice-mail/sluice/mail"
)

// Token regions of Bayes.pm _tokenize_line: headers, body text, URIs.
const (
	regionHeader = 0
	regionBody   = 1
	regionURI    = 2
)

// Caps on the tokens taken from each source (Bayes.pm tokenize).
const (
	maxBodyTokens   = 50000
	maxURITokens    = 10000
	maxInvizTokens  = 50000
	maxHeaderTokens = 10000
)

// invizPrefix is ADD_INVIZ_TOKENS_I_PREFIX: tokens from invisible HTML text.
const invizPrefix = "I*:"

// stopwordsEN is bayes_stopword_en as the stock rules ship it
// (60_bayes_stopwords.cf, SpamAssassin 4.0), the default of
// bayes_stopword_languages.
var stopwordsEN = mustStopwords(`(?:a(?:ble|l(?:ready|l)|n[dy]|re)|b(?:ecause|oth)|c(?:an|ome)|e(?:ach|mail|ven)|f(?:ew|irst|or|rom)|give|h(?:a(?:ve|s)|ttp)|i(?:n(?:formation|to)|t\'s)|just|know|l(?:ike|o(?:ng|ok))|m(?:a(?:de|il(?:(?:ing|to))?|ke|ny)|o(?:re|st)|uch)|n(?:eed|o[tw]|umber)|o(?:ff|n(?:ly|e)|ut|wn)|p(?:eople|lace)|right|s(?:ame|ee|uch)|t(?:h(?:at|is|rough|e)|ime)|using|w(?:eb|h(?:ere|y)|ith(?:out)?|or(?:ld|k))|y(?:ears?|ou(?:(?:\'re|r))?))`)

func mustStopwords(p string) *Stopwords {
	s, err := NewStopwords(p)
	if err != nil {
		panic(err)
	}
	return s
}

// Tokenize returns the distinct tokens of msg as SpamAssassin's Bayes.pm
// tokenize computes them, keyed by their stored hash, with the token text.
// meta holds SpamAssassin's metadata pseudo-headers ("X-Spam-Relays-Untrusted:
// [ ip=... ]\n", "X-AuthorDomain: ...") that the rule engine derives from the
// Received chain; nil tokenizes without them.
// Of texts whose hashes collide, the greatest stands for the token.
func Tokenize(msg *mail.Message, meta []string, cfg Config) map[Token]string {
	cfg = cfg.withDefaults()
	tz := tokenizer{cfg: &cfg, seen: make(map[string]struct{}, 256)}
	tz.message(msg, meta)
	out := make(map[Token]string, len(tz.texts))
	for _, t := range tz.texts {
		k := HashToken(t)
		if old, ok := out[k]; !ok || t > old {
			out[k] = t
		}
	}
	return out
}

// tokenize is Tokenize as two slices in step: the distinct tokens in byte
// order, which keeps a B+tree store's lookups local, and their texts.
func tokenize(msg *mail.Message, meta []string, cfg Config) ([]Token, []string) {
	cfg = cfg.withDefaults()
	tz := tokenizer{cfg: &cfg, seen: make(map[string]struct{}, 256)}
	tz.message(msg, meta)
	return tz.sorted()
}

// message records the tokens of msg from the configured sources.
func (tz *tokenizer) message(msg *mail.Message, meta []string) {
	src := tz.cfg.TokenSources
	// Each cap counts the tokens of its source, repeats included, and is
	// checked after each line, as Bayes.pm checks the length of its list.
	if src.Visible {
		tz.n = 0
		for _, line := range msg.VisibleBody() {
			tz.line(line, nil, regionBody)
			if tz.n >= maxBodyTokens {
				break
			}
		}
	}
	if src.URI {
		tz.n = 0
		for _, u := range msg.URIs() {
			tz.in = append(tz.in[:0], u...)
			tz.line(tz.in, nil, regionURI)
			if tz.n >= maxURITokens {
				break
			}
		}
	}
	if src.Invisible {
		tz.n = 0
		for _, line := range msg.InvisibleBody() {
			tz.line(line, []byte(invizPrefix), regionBody)
			if tz.n >= maxInvizTokens {
				break
			}
		}
	}
	if src.Header {
		hdrs := tz.headers(msg, meta)
		// Perl walks the hash in random order; sorting makes the cap
		// deterministic and changes nothing below it.
		names := make([]string, 0, len(hdrs))
		for n := range hdrs {
			names = append(names, n)
		}
		sort.Strings(names)
		tz.n = 0
		var prefix []byte
		for _, n := range names {
			prefix = append(append(append(prefix[:0], 'H'), n...), ':')
			tz.in = append(tz.in[:0], hdrs[n]...)
			tz.line(tz.in, prefix, regionHeader)
			if tz.n >= maxHeaderTokens {
				break
			}
		}
	}
}

// sorted hashes the distinct texts and sorts them by hash. Of texts whose
// hashes collide, the greatest stands for the token, as in Tokenize.
func (tz *tokenizer) sorted() ([]Token, []string) {
	type hashed struct {
		key  uint64 // the Token, big-endian: sorts as its bytes do
		text string
	}
	hs := make([]hashed, len(tz.texts))
	for i, t := range tz.texts {
		h := HashToken(t)
		hs[i] = hashed{key: uint64(h[0])<<32 | uint64(h[1])<<24 | uint64(h[2])<<16 | uint64(h[3])<<8 | uint64(h[4]), text: t}
	}
	slices.SortFunc(hs, func(a, b hashed) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.text, b.text)
	})
	keys := make([]Token, 0, len(hs))
	texts := make([]string, 0, len(hs))
	for i, h := range hs {
		if i+1 < len(hs) && hs[i+1].key == h.key {
			continue
		}
		k := h.key
		keys = append(keys, Token{byte(k >> 32), byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)})
		texts = append(texts, h.text)
	}
	return keys, texts
}

// tokenizer is the state of one Tokenize call: the distinct tokens found
// so far, and buffers reused from line to line and token to token so that
// only a new distinct token allocates.
type tokenizer struct {
	cfg *Config
	// n counts the tokens of the current source, repeats included.
	n int
	// seen holds the distinct token texts, texts the same in the order
	// first found.
	seen  map[string]struct{}
	texts []string
	// in holds a line that is not a []byte already; a and b are the line
	// as clean and the substitutions after it leave it; tok is the token
	// text being built, skip a long token's "sk:" form.
	in, a, b, tok, skip []byte
}

// add records one token.
func (tz *tokenizer) add(t []byte) {
	tz.n++
	if len(t) == 0 {
		return
	}
	if _, ok := tz.seen[string(t)]; ok {
		return
	}
	s := string(t)
	tz.seen[s] = struct{}{}
	tz.texts = append(tz.texts, s)
}

// add2 records the token made of the two parts.
func (tz *tokenizer) add2(p, q []byte) {
	tz.tok = append(append(tz.tok[:0], p...), q...)
	tz.add(tz.tok)
}

// clean is the first substitution of _tokenize_line (SpamAssassin bug
// 7130): runs of [-A-Za-z0-9,@*!_'"$. ], UTF-8 sequences and single bytes
// \xA1-\xFF are kept, every other byte becomes a space. It appends the
// result to dst.
func clean(dst, s []byte) []byte {
	cont := func(i int) bool { return i < len(s) && s[i] >= 0x80 && s[i] <= 0xBF }
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isTokenByte(c):
			dst = append(dst, c)
			i++
		case c < 0x80:
			dst = append(dst, ' ')
			i++
		case c >= 0xC0 && c <= 0xDF && cont(i+1):
			dst = append(dst, s[i:i+2]...)
			i += 2
		case c >= 0xE0 && c <= 0xEF && cont(i+1) && cont(i+2):
			dst = append(dst, s[i:i+3]...)
			i += 3
		case c >= 0xF0 && c <= 0xF4 && cont(i+1) && cont(i+2) && cont(i+3):
			dst = append(dst, s[i:i+4]...)
			i += 4
		case c >= 0xA1:
			dst = append(dst, c)
			i++
		default:
			dst = append(dst, ' ')
			i++
		}
	}
	return dst
}

func isTokenByte(c byte) bool { return tokenBytes[c] }

// tokenBytes is the class [-A-Za-z0-9,@*!_'"$. ] of clean.
var tokenBytes = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte(`,@*!_'"$. -`) {
		t[c] = true
	}
	return t
}()

// isWordByte is Perl's \w on a byte string: ASCII only.
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// line is _tokenize_line: it records the tokens of s, each with prefix in
// front.
func (tz *tokenizer) line(s, prefix []byte, region int) {
	a := clean(tz.a[:0], s)
	b := tz.b[:0]
	// Split "..." and "--" between words, keeping the separator as a token.
	if bytes.Contains(a, []byte("...")) {
		if out, ok := splitRuns(b, a, '.', 3, 6); ok {
			a, b = out, a[:0]
		}
	}
	if bytes.Contains(a, []byte("--")) {
		if out, ok := splitRuns(b, a, '-', 2, 6); ok {
			a, b = out, a[:0]
		}
	}
	if region == regionBody || region == regionURI {
		if out, ok := lowerTitleCase(b, a); ok { // IGNORE_TITLE_CASE
			a, b = out, a[:0]
		}
	}
	for f := range bytes.SplitSeq(a, []byte(" ")) {
		if len(f) > 0 {
			tz.token(f, prefix, region)
		}
	}
	tz.a, tz.b = a, b
}

// splitRuns is s/(\w)(C{min,max})(\w)/$1 $2 $3/g for the byte C. When it
// matches, it appends the result to dst and returns it with ok true.
func splitRuns(dst, s []byte, c byte, min, max int) (out []byte, ok bool) {
	out = dst
	last := 0
	for i := 0; i+1 < len(s); i++ {
		if !isWordByte(s[i]) || s[i+1] != c {
			continue
		}
		j := i + 1
		for j < len(s) && s[j] == c {
			j++
		}
		n := j - i - 1
		if n < min || n > max || j >= len(s) || !isWordByte(s[j]) {
			i = j - 1
			continue
		}
		out = append(out, s[last:i+1]...)
		out = append(out, ' ')
		out = append(out, s[i+1:j]...)
		out = append(out, ' ', s[j])
		last = j + 1
		ok = true
		i = j // the closing \w is taken: it cannot open the next match
	}
	if !ok {
		return s, false
	}
	return append(out, s[last:]...), true
}

// lowerTitleCase lower-cases a Title Case word at the start of the line or
// after a full stop: s/(?:^|\.\s+)([A-Z])([^A-Z]+)(?:\s|$)/' '.lc($1).$2.' '/ge,
// matched the way Perl's backtracking matches it. When it matches, it
// appends the result to dst and returns it with ok true.
func lowerTitleCase(dst, s []byte) (out []byte, ok bool) {
	out = dst
	last := 0
	for p := 0; p < len(s); p++ {
		q := -1 // the capital
		if p == 0 && isUpper(s[0]) {
			q = 0
		} else if s[p] == '.' {
			k := p + 1
			for k < len(s) && isSpace(s[k]) {
				k++
			}
			if k > p+1 && k < len(s) && isUpper(s[k]) {
				q = k
			}
		} else {
			// Skip to the next full stop.
			k := bytes.IndexByte(s[p:], '.')
			if k < 0 {
				break
			}
			p += k - 1
			continue
		}
		if q < 0 {
			continue
		}
		r := q + 1 // end of the [^A-Z]+ run
		for r < len(s) && !isUpper(s[r]) {
			r++
		}
		// Greedy run, backing off until \s or $ follows.
		e, end := -1, -1
		for k := r; k >= q+2; k-- {
			if k == len(s) {
				e, end = k, k
				break
			}
			if isSpace(s[k]) {
				e, end = k, k+1
				break
			}
		}
		if e < 0 {
			continue
		}
		out = append(out, s[last:p]...)
		out = append(out, ' ', s[q]+('a'-'A'))
		out = append(out, s[q+1:e]...)
		out = append(out, ' ')
		last = end
		ok = true
		p = end - 1
	}
	if !ok {
		return s, false
	}
	return append(out, s[last:]...), true
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

func trimEdge(c byte) bool { return c == '-' || c == '\'' || c == '"' || c == '.' || c == ',' }

// Prefixes of the tokens _tokenize_line derives.
var (
	udPrefix   = []byte("UD:")
	u8Prefix   = []byte("u8:")
	skipPrefix = []byte("sk:")
	userPrefix = []byte("U*")
	domPrefix  = []byte("D*")
)

// token runs the per-token part of _tokenize_line.
func (tz *tokenizer) token(tok, prefix []byte, region int) {
	for len(tok) > 0 && trimEdge(tok[0]) {
		tok = tok[1:]
	}
	for len(tok) > 0 && trimEdge(tok[len(tok)-1]) {
		tok = tok[:len(tok)-1]
	}
	// Tokens of one or two bytes are in the grey area and only slow
	// things down; three-byte ones are kept.
	n := len(tok)
	if n < 3 {
		return
	}
	if tz.cfg.Stopwords.match(tok) {
		return
	}
	body := region == regionBody || region == regionURI
	if body {
		if hasMailAddr(tok) { // CHEW_BODY_MAILADDRS
			tz.mailAddr(tok)
		} else if hasDomainDot(tok) { // CHEW_BODY_URIS
			tz.add2(udPrefix, tok)
			for bit := tok; ; {
				i := bytes.IndexByte(bit, '.')
				if i <= 0 || i == len(bit)-1 {
					break
				}
				bit = bit[i+1:]
				tz.add2(udPrefix, bit)
			}
		}
	}
	// A '*' marks a composite token such as "HTo:D*net": never shortened.
	if n > tz.cfg.MaxTokenLength && bytes.IndexByte(tok, '*') < 0 {
		// TOKENIZE_LONG_8BIT_SEQS_AS_UTF8_CHARS (bug 7135): keep the 3-
		// and 4-byte UTF-8 sequences, drop the 2-byte ones.
		if hasTwoContinuation(tok) && tz.longUTF8Seqs(tok, prefix) {
			return
		}
		// HDRS_ and BODY_TOKENIZE_LONG_TOKENS_AS_SKIPS; URIs are kept whole.
		if region == regionHeader || region == regionBody {
			if i := skipLen(tok); i > 0 {
				tz.skip = append(append(tz.skip[:0], skipPrefix...), tok[:i]...)
				tok = tz.skip
			}
		}
	}
	if body { // DECOMPOSE_BODY_TOKENS
		nonWord := hasNonWord(tok)
		if nonWord {
			tz.tok = appendStripNonWord(append(tz.tok[:0], prefix...), tok)
			tz.add(tz.tok)
		}
		if hasUpper(tok) {
			tz.tok = appendLower(append(tz.tok[:0], prefix...), tok)
			tz.add(tz.tok)
			if nonWord {
				tz.tok = appendStripNonWord(append(tz.tok[:0], prefix...), tok)
				lower(tz.tok[len(prefix):])
				tz.add(tz.tok)
			}
		}
	}
	tz.add2(prefix, tok)
}

func isASCII[S ~string | ~[]byte](s S) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// hasMailAddr is /\S\@\S/.
func hasMailAddr(s []byte) bool {
	for i := 1; i+1 < len(s); i++ {
		if s[i] == '@' && !isSpace(s[i-1]) && !isSpace(s[i+1]) {
			return true
		}
	}
	return false
}

// hasDomainDot is /\S\.[a-z]/i.
func hasDomainDot(s []byte) bool {
	for i := 1; i+1 < len(s); i++ {
		c := s[i+1] | 0x20
		if s[i] == '.' && !isSpace(s[i-1]) && c >= 'a' && c <= 'z' {
			return true
		}
	}
	return false
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// hasTwoContinuation is /[\x80-\xBF]{2}/.
func hasTwoContinuation(s []byte) bool {
	for i := 0; i+1 < len(s); i++ {
		if isCont(s[i]) && isCont(s[i+1]) {
			return true
		}
	}
	return false
}

func isCont(c byte) bool { return c >= 0x80 && c <= 0xBF }

// longUTF8Seqs records prefix+"u8:"+q for each match q of
// /((?:[\xE0-\xEF]|[\xF0-\xF4][\x80-\xBF])[\x80-\xBF]{2})/g and reports
// whether there was one.
func (tz *tokenizer) longUTF8Seqs(s, prefix []byte) bool {
	found := false
	for i := 0; i < len(s); {
		c := s[i]
		n := 0
		if c >= 0xE0 && c <= 0xEF && i+2 < len(s) && isCont(s[i+1]) && isCont(s[i+2]) {
			n = 3
		} else if c >= 0xF0 && c <= 0xF4 && i+3 < len(s) && isCont(s[i+1]) && isCont(s[i+2]) && isCont(s[i+3]) {
			n = 4
		}
		if n == 0 {
			i++
			continue
		}
		tz.tok = append(append(append(tz.tok[:0], prefix...), u8Prefix...), s[i:i+n]...)
		tz.add(tz.tok)
		found = true
		i += n
	}
	return found
}

// skipLen is the length of the first seven characters (UTF-8 sequences or
// bytes) of a long token, which becomes "sk:" + those when at least two
// bytes follow (SpamAssassin bug 7141); 0 when the token stays unchanged.
func skipLen(s []byte) int {
	i := 0
	for k := 0; k < 7; k++ {
		if i >= len(s) {
			return 0
		}
		i += charLen(s, i)
	}
	if len(s)-i < 2 {
		return 0
	}
	return i
}

// charLen is the length of the alternation in the bug 7141 pattern at i:
// [\x00-\x7F\xF5-\xFF] | [\xC0-\xDF][\x80-\xBF] | [\xE0-\xEF][\x80-\xBF]{2}
// | [\xF0-\xF4][\x80-\xBF]{3} | .
func charLen(s []byte, i int) int {
	c := s[i]
	ok := func(n int) bool {
		for j := 1; j < n; j++ {
			if i+j >= len(s) || !isCont(s[i+j]) {
				return false
			}
		}
		return true
	}
	switch {
	case c <= 0x7F || c >= 0xF5:
		return 1
	case c >= 0xC0 && c <= 0xDF && ok(2):
		return 2
	case c >= 0xE0 && c <= 0xEF && ok(3):
		return 3
	case c >= 0xF0 && c <= 0xF4 && ok(4):
		return 4
	}
	return 1
}

// hasNonWord is /[^\w:\*]/.
func hasNonWord(s []byte) bool {
	for _, c := range s {
		if !isWordByte(c) && c != ':' && c != '*' {
			return true
		}
	}
	return false
}

// appendStripNonWord appends s with s/[^\w:\*]//g applied to dst.
func appendStripNonWord(dst, s []byte) []byte {
	for _, c := range s {
		if isWordByte(c) || c == ':' || c == '*' {
			dst = append(dst, c)
		}
	}
	return dst
}

func hasUpper[S ~string | ~[]byte](s S) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// asciiLower is Perl's lc on a byte string.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// appendLower appends lc(s) to dst.
func appendLower(dst, s []byte) []byte {
	n := len(dst)
	dst = append(dst, s...)
	lower(dst[n:])
	return dst
}

// lower is lc on b in place.
func lower(b []byte) {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}
