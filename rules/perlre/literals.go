package perlre

import (
	"bytes"
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
)

// litInfo describes the literals of a regex node: exact is the complete set
// of strings it matches (when small and known), alts a set of strings one
// of which every match contains. All are ASCII lower-cased.
type litInfo struct {
	exact []string
	alts  []string
}

const maxLitAlts = 24

func (l litInfo) ok() bool { return quality(l.alts) >= 3 }

// quality is the length of the shortest alternative, 0 for none.
func quality(alts []string) int {
	if len(alts) == 0 {
		return 0
	}
	q := len(alts[0])
	for _, a := range alts[1:] {
		q = min(q, len(a))
	}
	return q
}

// better reports whether candidate a is a better prefilter than b.
func better(a, b []string) bool {
	qa, qb := quality(a), quality(b)
	if qa < 3 {
		return false
	}
	if qb < 3 {
		return true
	}
	if min(qa, 8) != min(qb, 8) {
		return qa > qb
	}
	return len(a) < len(b)
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func runesToBytes(rs []rune) (string, bool) {
	b := make([]byte, len(rs))
	for i, r := range rs {
		if r > 0xff {
			return "", false
		}
		b[i] = byte(r)
	}
	return lowerASCII(string(b)), true
}

func dedup(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func litsOf(re *syntax.Regexp) litInfo {
	switch re.Op {
	case syntax.OpLiteral:
		s, ok := runesToBytes(re.Rune)
		if !ok {
			return litInfo{}
		}
		return litInfo{exact: []string{s}, alts: []string{s}}
	case syntax.OpCharClass:
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if lo > 0xff {
				continue
			}
			hi = min(hi, 0xff)
			if hi-lo > 8 {
				return litInfo{}
			}
			for r := lo; r <= hi; r++ {
				set = append(set, lowerASCII(string([]byte{byte(r)})))
			}
		}
		set = dedup(set)
		if len(set) == 0 || len(set) > 4 {
			return litInfo{}
		}
		return litInfo{exact: set}
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return litInfo{exact: []string{""}}
	case syntax.OpCapture:
		return litsOf(re.Sub[0])
	case syntax.OpPlus:
		l := litsOf(re.Sub[0])
		return litInfo{alts: pick(l)}
	case syntax.OpRepeat:
		if re.Min == 0 {
			return litInfo{}
		}
		l := litsOf(re.Sub[0])
		if re.Min == 1 && re.Max == 1 {
			return l
		}
		return litInfo{alts: pick(l)}
	case syntax.OpAlternate:
		var exact, alts []string
		exactOK, altsOK := true, true
		for _, sub := range re.Sub {
			l := litsOf(sub)
			if l.exact == nil {
				exactOK = false
			}
			exact = append(exact, l.exact...)
			b := pick(l)
			if quality(b) < 3 {
				altsOK = false
			}
			alts = append(alts, b...)
		}
		out := litInfo{exact: capped(dedup(exact), exactOK)}
		if altsOK {
			out.alts = capped(dedup(alts), true)
		}
		return out
	case syntax.OpConcat:
		var best []string
		cur := []string{""}
		allExact := true
		flush := func() {
			if c := dedup(cur); better(c, best) {
				best = c
			}
		}
		for _, sub := range re.Sub {
			l := litsOf(sub)
			if l.exact == nil {
				allExact = false
				flush()
				cur = []string{""}
				if better(l.alts, best) {
					best = l.alts
				}
				continue
			}
			if len(cur)*len(l.exact) > maxLitAlts {
				allExact = false
				flush()
				cur = l.exact
				continue
			}
			next := make([]string, 0, len(cur)*len(l.exact))
			for _, a := range cur {
				for _, b := range l.exact {
					next = append(next, a+b)
				}
			}
			cur = next
		}
		flush()
		out := litInfo{alts: best}
		if allExact {
			out.exact = dedup(cur)
		}
		return out
	}
	return litInfo{}
}

func capped(s []string, ok bool) []string {
	if !ok || len(s) > maxLitAlts {
		return nil
	}
	return s
}

func pick(l litInfo) []string {
	if better(l.exact, l.alts) {
		return l.exact
	}
	return l.alts
}

// ContainsFold reports whether text contains lit (lower case) ignoring ASCII case.
func ContainsFold(text, lit string) bool { return containsFold(text, lit, strings.IndexByte) }

// ContainsFoldBytes is ContainsFold for a byte slice.
func ContainsFoldBytes(text []byte, lit string) bool { return containsFold(text, lit, bytes.IndexByte) }

func containsFold[T ~string | ~[]byte](text T, lit string, index func(T, byte) int) bool {
	if len(lit) == 0 {
		return true
	}
	c0 := lit[0]
	up := byte(unicode.ToUpper(rune(c0)))
	for i := 0; i+len(lit) <= len(text); i++ {
		c := text[i]
		if c != c0 && c != up {
			j := index(text[i:], c0)
			k := -1
			if up != c0 {
				k = index(text[i:], up)
			}
			if j < 0 && k < 0 {
				return false
			}
			if j < 0 || (k >= 0 && k < j) {
				j = k
			}
			i += j
			if i+len(lit) > len(text) {
				return false
			}
		}
		if equalFoldASCII(text[i:i+len(lit)], lit) {
			return true
		}
	}
	return false
}

func equalFoldASCII[T ~string | ~[]byte](s T, lower string) bool {
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 32
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// RequiredLiterals returns lower-cased strings of at least 3 bytes one of
// which every match of the RE2 pattern contains, or nil.
func RequiredLiterals(pat string) []string {
	re, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		return nil
	}
	l := litsOf(re.Simplify())
	if !l.ok() {
		return nil
	}
	return l.alts
}

// CheckRE2 checks a pattern against RE2's limits before RE2 sees it (RE2
// logs its parse errors to stderr): Go's parser, and the product of nested
// repeat counts, which RE2 caps at 1000.
func CheckRE2(pat string) error {
	re, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		return err
	}
	if repeatProduct(re) > 1000 {
		return fmt.Errorf("%w: nested repeat counts over 1000", ErrRegex)
	}
	return nil
}

func repeatProduct(re *syntax.Regexp) int {
	inner := 1
	for _, s := range re.Sub {
		inner = max(inner, repeatProduct(s))
	}
	if re.Op == syntax.OpRepeat {
		n := re.Max
		if n < 0 {
			n = re.Min
		}
		return max(n, 1) * inner
	}
	return inner
}
