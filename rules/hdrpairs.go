package rules

// Exact Go checks for stock rules whose backreference needs regexp2 and
// whose literal is in (nearly) every message, so that regexp2 ran on
// every message: the rules that capture an address (or a part of one, or
// a name) from one header field and look for it again later —
// __TO_EQ_FROM_*, __SUBJ_HAS_FROM_1, __SUBJ_HAS_TO_1/2,
// __PDS_TO_BRAND_SUBJECT over ALL, __FROM_NAME_IN_MSG over the full
// message — and __SPOOFED_URL (rawbody), a link whose text is a URL the
// href does not begin. regexp2 tried each line of the gap (or each tag)
// for each way to capture.
//
// A check is chosen by the rule's regexp2 pattern, character for
// character: a rule file that changes the pattern falls back to regexp2.
// Each check decides whether the pattern matches anywhere in the text —
// all a rule that is not tflags multiple asks — the way regexp2 reads it:
// the text's bytes widened to runes, (?i) folding both sides with
// unicode.ToLower, \s the RE2 class [\t\n\f\r ]. TestHdrPairsAgree
// compares each with its regexp2 program on every corpus message's header
// and on mutations of them.

import "bytes"

// pairLoc says where the second field may hold the captured text.
type pairLoc uint8

const (
	// locAngle: (?:[^\n]{0,80}<)?\1 — at the value's start or after any
	// '<' at most 80 bytes into it.
	locAngle pairLoc = iota
	// locAt: [^\n]+@\1 — after any '@' that is not the value's first byte.
	locAt
	// locAny: [^\n]{0,100}\1 — at any of the value's first 101 offsets.
	locAny
)

// pairSpec describes one rule of the shape
//
//	\nNAME1:SEP (?:[^\n<]{0,80}<)? (CAP) END (?:[^\n]{1,N}\n+)* NAME2:SEP LOC \1 \d*? TAIL
//
// where SEP is a space or \s+, and the capture is preceded by a first '<'
// (optional) or a first '@' (required).
type pairSpec struct {
	name1, name2 string // lower case, with the colon: "\nfrom:", "to:"
	ws1, ws2     bool   // \s+ after the name; else one space
	at1          bool   // [^\n@]{0,80}@ before the capture; else (?:[^\n<]{0,80}<)?
	capEx        string // bytes the capture excludes besides \n and \s ('>' always)
	atEnd        bool   // capture then @[^\n\s]+>?\n+; else >?\n+
	minCap       int    // nn: the capture is lazy {minCap,80} then \d* before '@'; 0: +
	maxLine      int    // the gap's lines are at most this long
	loc          pairLoc
	digits       bool // \d* between \1 and the tail
	tail         func(c byte) bool
}

// hdrPairChecks maps a regexp2 pattern to its exact check.
func hdrPairChecks() map[string]func([]byte) bool {
	tailAngle := func(c byte) bool { return c == '>' || c == ',' || isRE2Space(c) }
	tailColon := func(c byte) bool { return c == ':' || tailAngle(c) }
	tailAt := func(c byte) bool { return c == '@' || tailAngle(c) }
	notAlnum := func(c byte) bool { return !isASCIIAlnum(c) }
	specs := map[string]pairSpec{
		`(?ism)\x0aFrom:\ (?:[^\x0a<]{0,80}<)?([^\x0a\s>]+)>?\x0a+(?:[^\x0a]{1,100}\x0a+)*To:\ (?:[^\x0a]{0,80}<)?\1[>,\s\x0a]`: {
			name1: "\nfrom:", name2: "to:", maxLine: 100, loc: locAngle, tail: tailAngle},
		`(?ism)\x0aTo:\ (?:[^\x0a<]{0,80}<)?([^\x0a\s>]+)>?\x0a+(?:[^\x0a]{1,100}\x0a+)*From:\ (?:[^\x0a]{0,80}<)?\1[>,\s\x0a]`: {
			name1: "\nto:", name2: "from:", maxLine: 100, loc: locAngle, tail: tailAngle},
		`(?ism)\x0aFrom:\ [^\x0a@]{0,80}@([^\x0a\s>]+)>?\x0a+(?:[^\x0a]{1,100}\x0a+)*To:\ [^\x0a]+@\1[>,\s\x0a]`: {
			name1: "\nfrom:", name2: "to:", at1: true, maxLine: 100, loc: locAt, tail: tailAngle},
		`(?ism)\x0aTo:\ [^\x0a@]{0,80}@([^\x0a\s>]+)>?\x0a+(?:[^\x0a]{1,100}\x0a+)*From:\ [^\x0a]+@\1[>,\s\x0a]`: {
			name1: "\nto:", name2: "from:", at1: true, maxLine: 100, loc: locAt, tail: tailAngle},
		`(?ism)\x0aFrom:\s+(?:[^\x0a<]{0,80}<)?([^\x0a\s@>]+)@[^\x0a\s]+>?\x0a+(?:[^\x0a]{1,100}\x0a+)*To:\s+(?:[^\x0a]{0,80}<)?\1[@>,\s\x0a]`: {
			name1: "\nfrom:", name2: "to:", ws1: true, ws2: true, capEx: "@", atEnd: true, maxLine: 100, loc: locAngle, tail: tailAt},
		`(?ism)\x0aTo:\s+(?:[^\x0a<]{0,80}<)?([^\x0a\s@>]+)@[^\x0a\s]+>?\x0a+(?:[^\x0a]{1,100}\x0a+)*From:\s+(?:[^\x0a]{0,80}<)?\1[@>,\s\x0a]`: {
			name1: "\nto:", name2: "from:", ws1: true, ws2: true, capEx: "@", atEnd: true, maxLine: 100, loc: locAngle, tail: tailAt},
		`(?ism)\x0aFrom:\s+(?:[^\x0a<]{0,80}<)?([^\x0a\s@>]{4,80}?)\d*@[^\x0a\s]+>?\x0a+(?:[^\x0a]{1,100}\x0a+)*To:\s+(?:[^\x0a]{0,80}<)?\1\d*[@>,\s\x0a]`: {
			name1: "\nfrom:", name2: "to:", ws1: true, ws2: true, capEx: "@", atEnd: true, minCap: 4, maxLine: 100, loc: locAngle, digits: true, tail: tailAt},
		`(?ism)\x0aTo:\s+(?:[^\x0a<]{0,80}<)?([^\x0a\s@>]{4,80}?)\d*@[^\x0a\s]+>?\x0a+(?:[^\x0a]{1,100}\x0a+)*From:\s+(?:[^\x0a]{0,80}<)?\1\d*[@>,\s\x0a]`: {
			name1: "\nto:", name2: "from:", ws1: true, ws2: true, capEx: "@", atEnd: true, minCap: 4, maxLine: 100, loc: locAngle, digits: true, tail: tailAt},
		`(?ism)\x0aFrom:\ (?:[^\x0a<]{0,80}<)?([^\x0a\s>]+)>?\x0a+(?:[^\x0a]{1,100}\x0a+)*Subject:\ [^\x0a]{0,100}\1[>,:\s\x0a]`: {
			name1: "\nfrom:", name2: "subject:", maxLine: 100, loc: locAny, tail: tailColon},
		`(?ism)\x0aTo:\ (?:[^\x0a<]{0,80}<)?([^\x0a\s>,]+)>?\x0a+(?:[^\x0a]{1,200}\x0a+)*Subject:\ [^\x0a]{0,100}\1[^a-z0-9]`: {
			name1: "\nto:", name2: "subject:", capEx: ",", maxLine: 200, loc: locAny, tail: notAlnum},
	}
	m := map[string]func([]byte) bool{}
	for pat, s := range specs {
		m[pat] = s.match
	}
	m[`(?ism)\x0aReceived:[^\x0a]{0,200}\ for\ <?([^\x0a\s>;]+)>?;(?:[^\x0a]+\x0a+)*Subject:\ [^\x0a]{0,100}\1[^a-z0-9]`] = matchRcvdForSubject
	m[`(?sm)^From:\s+([^<]\S+\s\S+)\s(?=.{1,2048}^\1\x0d?$)`] = matchFromNameInMsg
	m[`(?i)<a\s[^>]{0,2048}(?:(?<=[0-9A-Za-z_])(?![0-9A-Za-z_])|(?<![0-9A-Za-z_])(?=[0-9A-Za-z_]))href=(?:3D)?.?(https?:[^>"'# ]{8,29}[^>"'# :/?&=])[^>]{0,2048}>(?:[^<]{0,1024}<(?!/a)[^>]{1,1024}>){0,99}\s{0,10}(?!\1)https?[^\w<]{1,3}[^<]{5}`] = matchSpoofedURL
	m[`(?ism)^To:\s+<?[^@]+@([^.]+)\.(?:[^\x0a]+\x0a+)*^Subject:\ "?\1(?:(?<=[0-9A-Za-z_])(?![0-9A-Za-z_])|(?<![0-9A-Za-z_])(?=[0-9A-Za-z_]))`] = matchToBrandSubject
	return m
}

// attachHdrPairs gives the rules whose confirmation has an exact Go check
// that check.
func (rs *Ruleset) attachHdrPairs() {
	var checks map[string]func([]byte) bool
	for _, r := range rs.rules {
		if r.bt == nil || r.multiple || r.inactive != "" {
			continue
		}
		if checks == nil {
			checks = hdrPairChecks()
		}
		r.goCheck = checks[r.bt.pat]
	}
}

// isRE2Space reports whether c is in RE2's \s, which regexp2's RE2 mode uses.
func isRE2Space(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func isASCIIAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isASCIIDigit(c byte) bool { return c >= '0' && c <= '9' }

// foldByte is unicode.ToLower of the byte widened to a rune, as regexp2
// folds under (?i): ASCII letters and Latin-1's À–Þ but ×.
func foldByte(c byte) byte {
	if c >= 'A' && c <= 'Z' || c >= 0xc0 && c <= 0xde && c != 0xd7 {
		return c + 0x20
	}
	return c
}

// hasFoldPrefix reports whether text[at:] begins with lit (lower case).
func hasFoldPrefix(text []byte, at int, lit string) bool {
	if at < 0 || len(text)-at < len(lit) {
		return false
	}
	for i := 0; i < len(lit); i++ {
		if foldByte(text[at+i]) != lit[i] {
			return false
		}
	}
	return true
}

// eqFoldAt reports whether text[at:] begins with v, folded.
func eqFoldAt(text []byte, at int, v []byte) bool {
	if len(text)-at < len(v) {
		return false
	}
	for i, c := range v {
		if foldByte(text[at+i]) != foldByte(c) {
			return false
		}
	}
	return true
}

// lineEnd is the index of the '\n' ending the line at p, or len(text).
func lineEnd(text []byte, p int) int {
	if i := bytes.IndexByte(text[p:], '\n'); i >= 0 {
		return p + i
	}
	return len(text)
}

// afterSep is where the value after a name ending at q starts: after one
// space, or after a run of at least one \s (which may span lines); -1
// when there is none.
func afterSep(text []byte, q int, ws bool) int {
	if q >= len(text) {
		return -1
	}
	if !ws {
		if text[q] != ' ' {
			return -1
		}
		return q + 1
	}
	if !isRE2Space(text[q]) {
		return -1
	}
	for q < len(text) && isRE2Space(text[q]) {
		q++
	}
	return q
}

// match reports whether the pattern s describes matches text.
func (s *pairSpec) match(text []byte) bool {
	for p := 0; p < len(text); {
		i := bytes.IndexByte(text[p:], '\n')
		if i < 0 {
			return false
		}
		p += i
		if hasFoldPrefix(text, p, s.name1) && s.fromField(text, p+len(s.name1)) {
			return true
		}
		p++
	}
	return false
}

// fromField tries every capture of the first field whose name ends at q.
func (s *pairSpec) fromField(text []byte, q int) bool {
	r := afterSep(text, q, s.ws1)
	if r < 0 {
		return false
	}
	// The starts the prefix allows: a first '<' (or '@') on r's line at
	// most 80 bytes on; with '<', also r itself.
	mark := byte('<')
	if s.at1 {
		mark = '@'
	}
	var starts [2]int
	n := 0
	if !s.at1 {
		starts[n], n = r, n+1
	}
	for x := r; x < len(text) && x-r <= 80; x++ {
		if text[x] == '\n' {
			break
		}
		if text[x] == mark {
			starts[n], n = x+1, n+1
			break
		}
	}
	for _, st := range starts[:n] {
		if s.capture(text, st) {
			return true
		}
	}
	return false
}

// excluded reports whether the capture class excludes c.
func (s *pairSpec) excluded(c byte) bool {
	return c == '\n' || c == '>' || isRE2Space(c) || (len(s.capEx) > 0 && bytes.IndexByte([]byte(s.capEx), c) >= 0)
}

// capture tries the captures starting at st.
func (s *pairSpec) capture(text []byte, st int) bool {
	e := st
	for e < len(text) && !s.excluded(text[e]) {
		e++
	}
	if e == st {
		return false
	}
	var nl int // the '\n' after the first field
	if s.atEnd {
		if e >= len(text) || text[e] != '@' {
			return false
		}
		f := e + 1
		for f < len(text) && text[f] != '\n' && !isRE2Space(text[f]) {
			f++
		}
		if f == e+1 || f >= len(text) || text[f] != '\n' {
			return false
		}
		nl = f
	} else {
		switch {
		case e < len(text) && text[e] == '\n':
			nl = e
		case e+1 < len(text) && text[e] == '>' && text[e+1] == '\n':
			nl = e + 1
		default:
			return false
		}
	}
	if s.minCap == 0 {
		return s.gap(text, nl+1, text[st:e])
	}
	// {minCap,80}? then \d*: any length whose rest up to '@' is digits.
	for n := s.minCap; n <= 80 && st+n <= e; n++ {
		digits := true
		for _, c := range text[st+n : e] {
			if !isASCIIDigit(c) {
				digits = false
				break
			}
		}
		if digits && s.gap(text, nl+1, text[st:st+n]) {
			return true
		}
	}
	return false
}

// gap tries the second field at each line start from p the gap reaches:
// \n+ then (?:[^\n]{1,maxLine}\n+)*.
func (s *pairSpec) gap(text []byte, p int, v []byte) bool {
	for p < len(text) {
		if text[p] == '\n' {
			p++
			continue
		}
		if hasFoldPrefix(text, p, s.name2) && s.second(text, p+len(s.name2), v) {
			return true
		}
		e := lineEnd(text, p)
		if e-p > s.maxLine || e == len(text) {
			return false
		}
		p = e + 1
	}
	return false
}

// second reports whether the field whose name ends at q holds v where
// the pattern looks for it.
func (s *pairSpec) second(text []byte, q int, v []byte) bool {
	r := afterSep(text, q, s.ws2)
	if r < 0 {
		return false
	}
	eol := lineEnd(text, r)
	switch s.loc {
	case locAngle:
		if s.at(text, r, v) {
			return true
		}
		for x := r; x < eol && x-r <= 80; x++ {
			if text[x] == '<' && s.at(text, x+1, v) {
				return true
			}
		}
	case locAt:
		for x := r + 1; x < eol; x++ {
			if text[x] == '@' && s.at(text, x+1, v) {
				return true
			}
		}
	case locAny:
		for x := r; x <= eol && x-r <= 100; x++ {
			if s.at(text, x, v) {
				return true
			}
		}
	}
	return false
}

// at reports whether v (folded), then the tail, is at text[a:].
func (s *pairSpec) at(text []byte, a int, v []byte) bool {
	if !eqFoldAt(text, a, v) {
		return false
	}
	a += len(v)
	if s.digits {
		for a < len(text) && isASCIIDigit(text[a]) {
			a++
		}
	}
	return a < len(text) && s.tail(text[a])
}

// matchRcvdForSubject is
//
//	\nReceived:[^\n]{0,200} for <?([^\n\s>;]+)>?;(?:[^\n]+\n+)*Subject: [^\n]{0,100}\1[^a-z0-9]
//
// (__SUBJ_HAS_TO_2).
func matchRcvdForSubject(text []byte) bool {
	subj := &pairSpec{name2: "subject:", loc: locAny, tail: func(c byte) bool { return !isASCIIAlnum(c) }}
	excl := func(c byte) bool { return c == '\n' || c == '>' || c == ';' || isRE2Space(c) }
	for p := 0; p < len(text); p++ {
		i := bytes.IndexByte(text[p:], '\n')
		if i < 0 {
			return false
		}
		p += i
		if !hasFoldPrefix(text, p, "\nreceived:") {
			continue
		}
		q := p + len("\nreceived:")
		eol := lineEnd(text, q)
		for f := q; f <= eol && f-q <= 200; f++ {
			if !hasFoldPrefix(text, f, " for ") {
				continue
			}
			r := f + len(" for ")
			starts := []int{r}
			if r < len(text) && text[r] == '<' {
				starts = append(starts, r+1)
			}
			for _, st := range starts {
				e := st
				for e < len(text) && !excl(text[e]) {
					e++
				}
				if e == st {
					continue
				}
				var k int
				switch {
				case e < len(text) && text[e] == ';':
					k = e + 1
				case e+1 < len(text) && text[e] == '>' && text[e+1] == ';':
					k = e + 2
				default:
					continue
				}
				v := text[st:e]
				// Zero iterations: Subject right after the ';'.
				if hasFoldPrefix(text, k, "subject:") && subj.second(text, k+len("subject:"), v) {
					return true
				}
				// One or more: the rest of the line, then whole lines.
				if k >= len(text) || text[k] == '\n' {
					continue
				}
				e2 := lineEnd(text, k)
				if e2 == len(text) {
					continue
				}
				if subj.anyLine(text, e2+1, v) {
					return true
				}
			}
		}
	}
	return false
}

// anyLine tries the second field at every non-empty line start from p,
// the lines unbounded: \n+(?:[^\n]+\n+)*.
func (s *pairSpec) anyLine(text []byte, p int, v []byte) bool {
	for p < len(text) {
		if text[p] == '\n' {
			p++
			continue
		}
		if hasFoldPrefix(text, p, s.name2) && s.second(text, p+len(s.name2), v) {
			return true
		}
		e := lineEnd(text, p)
		if e == len(text) {
			return false
		}
		p = e + 1
	}
	return false
}

// matchToBrandSubject is (multi-line ^)
//
//	^To:\s+<?[^@]+@([^.]+)\.(?:[^\n]+\n+)*^Subject: "?\1\b
//
// (__PDS_TO_BRAND_SUBJECT).
func matchToBrandSubject(text []byte) bool {
	for t := 0; t < len(text); {
		if hasFoldPrefix(text, t, "to:") && toBrand(text, t) {
			return true
		}
		i := bytes.IndexByte(text[t:], '\n')
		if i < 0 {
			return false
		}
		t += i + 1
	}
	return false
}

// toBrand tries the To field at line start t.
func toBrand(text []byte, t int) bool {
	q := t + len("to:")
	if q >= len(text) || !isRE2Space(text[q]) {
		return false
	}
	// \s+<?[^@]+ reaches the first '@' after the first \s, with at least
	// one byte between.
	a := bytes.IndexByte(text[q+1:], '@')
	if a < 1 {
		return false
	}
	a += q + 1
	d := bytes.IndexByte(text[a+1:], '.')
	if d < 1 {
		return false
	}
	d += a + 1
	v := text[a+1 : d]
	// The gap needs one iteration: the '.' is not a line start.
	if d+1 >= len(text) || text[d+1] == '\n' {
		return false
	}
	p := lineEnd(text, d+1)
	if p == len(text) {
		return false
	}
	for p++; p < len(text); {
		if text[p] == '\n' {
			p++
			continue
		}
		if hasFoldPrefix(text, p, "subject: ") {
			s := p + len("subject: ")
			if brandAt(text, s, v) || (s < len(text) && text[s] == '"' && brandAt(text, s+1, v)) {
				return true
			}
		}
		e := lineEnd(text, p)
		if e == len(text) {
			return false
		}
		p = e + 1
	}
	return false
}

// brandAt reports whether v (folded) is at text[a:] and ends at a word
// boundary.
func brandAt(text []byte, a int, v []byte) bool {
	if !eqFoldAt(text, a, v) {
		return false
	}
	x := a + len(v)
	after := x < len(text) && isWordByte(text[x])
	return isWordByte(text[x-1]) != after
}

func isWordByte(c byte) bool { return c == '_' || isASCIIAlnum(c) }

// matchFromNameInMsg is (?sm)
//
//	^From:\s+([^<]\S+\s\S+)\s(?=.{1,2048}^\1\r?$)
//
// (__FROM_NAME_IN_MSG, a full rule): a two-word From name that is a line
// of its own within the next 2 KB.
func matchFromNameInMsg(text []byte) bool {
	for p := 0; p < len(text); {
		if bytes.HasPrefix(text[p:], []byte("From:")) && fromNameAt(text, p+len("From:")) {
			return true
		}
		i := bytes.IndexByte(text[p:], '\n')
		if i < 0 {
			return false
		}
		p += i + 1
	}
	return false
}

// fromNameAt tries the name after the "From:" that ends at q.
func fromNameAt(text []byte, q int) bool {
	r := q
	for r < len(text) && isRE2Space(text[r]) {
		r++
	}
	if r == q {
		return false
	}
	// [^<] is the first byte after \s+, or the run's last \s when \s+
	// leaves it: the \S+ after it needs a non-space.
	var starts []int
	if r < len(text) && text[r] != '<' {
		starts = append(starts, r)
	}
	if r-q >= 2 {
		starts = append(starts, r-1)
	}
	word := func(s int) int { // the end of the \S+ at s; s when none
		e := s
		for e < len(text) && !isRE2Space(text[e]) {
			e++
		}
		return e
	}
	for _, a := range starts {
		e1 := word(a + 1)
		if e1 == a+1 || e1 >= len(text) {
			continue
		}
		e2 := word(e1 + 1)
		if e2 == e1+1 || e2 >= len(text) {
			continue
		}
		if nameLineAfter(text, e2+1, text[a:e2]) {
			return true
		}
	}
	return false
}

// nameLineAfter reports whether a line starting 1 to 2048 bytes after l
// is v, then an optional \r, then the line's end.
func nameLineAfter(text []byte, l int, v []byte) bool {
	end := min(l+2048, len(text)) // the last line start's '\n' is before it
	for i := l; i < end; i++ {
		j := bytes.IndexByte(text[i:end], '\n')
		if j < 0 {
			return false
		}
		i += j
		p := i + 1
		if bytes.HasPrefix(text[p:], v) {
			x := p + len(v)
			if x == len(text) || text[x] == '\n' || text[x] == '\r' && (x+1 == len(text) || text[x+1] == '\n') {
				return true
			}
		}
	}
	return false
}

// matchSpoofedURL is (?i)
//
//	<a\s[^>]{0,2048}\bhref=(?:3D)?.?(https?:[^>"'# ]{8,29}[^>"'# :/?&=])[^>]{0,2048}>
//	(?:[^<]{0,1024}<(?!/a)[^>]{1,1024}>){0,99}\s{0,10}(?!\1)https?[^\w<]{1,3}[^<]{5}
//
// (__SPOOFED_URL, rawbody): a link whose text is a URL that does not
// begin with the link's href. Everything but the backreference is forced
// once the tag is: the tag ends at its first '>', each tag after it at
// its first '<' and '>', so the places the link text may start are few,
// and the match needs one href capture that one of them does not begin
// with.
func matchSpoofedURL(text []byte) bool {
	for p := 0; p+3 <= len(text); p++ {
		i := bytes.IndexByte(text[p:], '<')
		if i < 0 {
			return false
		}
		p += i
		if p+3 > len(text) || foldByte(text[p+1]) != 'a' || !isRE2Space(text[p+2]) {
			continue
		}
		if spoofedTag(text, p) {
			return true
		}
	}
	return false
}

// spoofedTag tries the <a tag at t.
func spoofedTag(text []byte, t int) bool {
	body := t + 3
	e0 := bytes.IndexByte(text[body:], '>')
	if e0 < 0 {
		return false
	}
	e0 += body // the first '>': href= is before it, .? may be it
	var caps [][2]int
	for h := body; h < e0 && h-body <= 2048; h++ {
		if !hasFoldPrefix(text, h, "href=") || isWordByte(text[h-1]) {
			continue
		}
		j := h + 5
		starts := []int{j}
		if j < len(text) && text[j] != '\n' {
			starts = append(starts, j+1)
		}
		if hasFoldPrefix(text, j, "3d") {
			starts = append(starts, j+2)
			if j+2 < len(text) && text[j+2] != '\n' {
				starts = append(starts, j+3)
			}
		}
		for _, c := range starts {
			caps = appendSpoofCaps(caps, text, c)
		}
	}
	for _, c := range caps {
		if spoofedLink(text, c[0], c[1]) {
			return true
		}
	}
	return false
}

// spoofedLink reports whether, after the tag the capture text[c:end]
// ends in (within 2048 bytes), or after one of the up to 99 tags that
// follow it (not </a>), then up to 10 spaces, a link text starts that
// does not begin with the capture.
func spoofedLink(text []byte, c, end int) bool {
	e := bytes.IndexByte(text[end:], '>')
	if e < 0 || e > 2048 {
		return false
	}
	v := text[c:end]
	x := end + e + 1
	for n := 0; ; n++ {
		s := x
		for s < len(text) && s-x < 10 && isRE2Space(text[s]) {
			s++
		}
		if spoofSuffix(text, s) && !eqFoldAt(text, s, v) {
			return true
		}
		if n == 99 {
			return false
		}
		y := bytes.IndexByte(text[x:], '<')
		if y < 0 || y > 1024 {
			return false
		}
		y += x
		if y+2 < len(text) && text[y+1] == '/' && foldByte(text[y+2]) == 'a' {
			return false
		}
		z := bytes.IndexByte(text[y+1:], '>')
		if z < 1 || z > 1024 {
			return false
		}
		x = y + 1 + z + 1
	}
}

// appendSpoofCaps appends the href captures https?:[^>"'# ]{8,29}[^>"'# :/?&=]
// starting at c, as start and end.
func appendSpoofCaps(caps [][2]int, text []byte, c int) [][2]int {
	if !hasFoldPrefix(text, c, "http") {
		return caps
	}
	b := c + 4
	if b < len(text) && foldByte(text[b]) == 's' {
		b++
	}
	if b >= len(text) || text[b] != ':' {
		return caps
	}
	b++
	for m := 0; m <= 29 && b+m < len(text); m++ {
		ch := text[b+m]
		if m >= 8 && bytes.IndexByte([]byte(`>"'# :/?&=`), ch) < 0 {
			caps = append(caps, [2]int{c, b + m + 1})
		}
		if ch == '>' || ch == '"' || ch == '\'' || ch == '#' || ch == ' ' {
			break
		}
	}
	return caps
}

// spoofSuffix reports whether https?[^\w<]{1,3}[^<]{5} matches at s.
func spoofSuffix(text []byte, s int) bool {
	if !hasFoldPrefix(text, s, "http") {
		return false
	}
	a := s + 4
	if a < len(text) && foldByte(text[a]) == 's' {
		a++
	}
	for k := 1; k <= 3; k++ {
		c := a + k - 1
		if c >= len(text) || text[c] == '<' || isWordByte(text[c]) {
			return false
		}
		if c+6 <= len(text) && bytes.IndexByte(text[c+1:c+6], '<') < 0 {
			return true
		}
	}
	return false
}
