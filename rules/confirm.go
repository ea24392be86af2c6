package rules

import (
	"bytes"
	"regexp/syntax"
	"sync"
	"sync/atomic"

	"github.com/dlclark/regexp2"
)

// startKind says where RE2 can look for the next place a backtracking
// rule may match, so that regexp2 tries only those places (anchored with
// \G) instead of scanning every position of the text itself: on texts of
// tens of kilobytes that scan is most of a confirmation's cost.
type startKind uint8

const (
	// startAny: no shortcut, regexp2 scans.
	startAny startKind = iota
	// startConsumes: every match of the RE2 pattern consumes a byte before
	// any empty-width assertion, so RE2 over text[p:] finds exactly the
	// match starts at or after p that it finds over the whole text.
	startConsumes
	// startLine: the pattern begins with a multi-line ^, so matches start
	// at line starts, and RE2 over text[p:] from a line start p sees the
	// same context there as over the whole text (\b, \B, ^), or more
	// matches (\A).
	startLine
)

// An anchored confirmation gives up on RE2 after maxAnchoredTries
// searches, or once its searches have read (about) four times the text:
// then regexp2 scans the rest as it would without the shortcut (or, for
// startLine, tries each line start), so a text with many candidates that
// fail costs little more than before.
const maxAnchoredTries = 256

// anchoredBT is the \G-anchored form of a backtracking program, and where
// its matches can start, built on first use.
type anchoredBT struct {
	once  sync.Once
	ready atomic.Bool // once has run
	start startKind
	re    *regexp2.Regexp
}

// anchored returns the \G-anchored program and the start kind of the RE2
// pattern re2pat; startAny (and nil) when there is no shortcut.
func (l *lazyBT) anchored(re2pat string) (*regexp2.Regexp, startKind) {
	a := &l.at
	a.once.Do(func() {
		defer a.ready.Store(true)
		k := startKindOf(re2pat)
		if k == startAny {
			return
		}
		re, err := regexp2.Compile(`\G(?:`+l.pat+`)`, l.opts)
		if err != nil {
			return
		}
		re.MatchTimeout = l.timeout
		a.re, a.start = re, k
	})
	return a.re, a.start
}

// startKindOf classifies an RE2 pattern (see startKind).
func startKindOf(pat string) startKind {
	re, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		return startAny
	}
	re = re.Simplify()
	if consumesFirst(re) {
		return startConsumes
	}
	// A leading multi-line ^, after empty groups.
	for re.Op == syntax.OpConcat || re.Op == syntax.OpCapture {
		if len(re.Sub) == 0 {
			return startAny
		}
		i := 0
		for i < len(re.Sub)-1 && re.Sub[i].Op == syntax.OpEmptyMatch {
			i++
		}
		re = re.Sub[i]
	}
	if re.Op == syntax.OpBeginLine {
		return startLine
	}
	return startAny
}

// consumesFirst reports whether every match of re consumes a byte before
// it evaluates any empty-width assertion.
func consumesFirst(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) > 0
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true
	case syntax.OpCapture, syntax.OpPlus:
		return consumesFirst(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min >= 1 && consumesFirst(re.Sub[0])
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if !consumesFirst(s) {
				return false
			}
		}
		return len(re.Sub) > 0
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if s.Op == syntax.OpEmptyMatch {
				continue
			}
			return consumesFirst(s)
		}
	}
	return false
}

// confirmAnchored counts the backtracking matches of r in text from the
// RE2 match at from, trying regexp2 only where RE2 finds that a match may
// start. It returns ok false when it handed over to a plain scan, with the
// matches counted so far and where the scan must go on.
func (st *evalState) confirmAnchored(r *rule, at *regexp2.Regexp, k startKind, text []byte, from int) (n, next int, ok bool) {
	pos := from
	read, limit := 0, 4*len(text)+4096
	for tries := 0; ; tries++ {
		m, err := at.FindRunesMatchStartingAt(st.runes, pos)
		if err != nil {
			st.skipped++
			return n, 0, true
		}
		p := pos + 1
		if m != nil {
			n++
			if !r.multiple || (r.maxhits > 0 && n >= r.maxhits) {
				return n, 0, true
			}
			p = m.Index + m.Length
			if m.Length == 0 {
				p++
			}
		}
		if p > len(text) {
			return n, 0, true
		}
		rescan := tries >= maxAnchoredTries || read > limit
		if st.expired() || (rescan && k != startLine) {
			return n, p, false
		}
		if k == startLine && p > 0 && text[p-1] != '\n' {
			i := bytes.IndexByte(text[p:], '\n')
			if i < 0 {
				return n, 0, true
			}
			p += i + 1
		}
		if rescan {
			// Every line start in turn: what regexp2's own scan would try,
			// without the positions in between.
			pos = p
			continue
		}
		loc := r.re.FindIndex(text[p:])
		if loc == nil {
			return n, 0, true
		}
		read += loc[1]
		pos = p + loc[0]
	}
}
