package bayes

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Stopwords is a stop word list (bayes_stopword_xx): tokens it matches are
// not learned or scored. Its zero value matches nothing.
type Stopwords struct {
	re     *regexp.Regexp
	set    map[string]bool // the whole language of re, lower case; nil if infinite or large
	maxLen int             // the longest word in set, below 64 when set is not nil
	// lens has bit n set in [first][last] when set holds a word of n
	// bytes with that first and last byte (see edgeClass): most tokens
	// are rejected without a map lookup.
	lens [27][27]uint64
}

// NewStopwords compiles one bayes_stopword_xx value, anchored and
// case-insensitive as Bayes.pm parse_config compiles it
// ('^(?i)' . $re . '$'). The pattern is Go RE2 syntax over UTF-8 text:
// the English list of the stock rules compiles as it is; the lists written
// with Perl byte escapes (\xc3\xa5) or (?^: ...) groups do not translate
// and are rejected or mismatched, so only English is supported.
func NewStopwords(pattern string) (*Stopwords, error) {
	full := `^(?i)(?:` + strings.ReplaceAll(pattern, `\'`, `'`) + `)$`
	re, err := regexp.Compile(full)
	if err != nil {
		return nil, fmt.Errorf("bayes: stopwords: %w", err)
	}
	sw := &Stopwords{re: re}
	if t, err := syntax.Parse(full, syntax.Perl); err == nil {
		if words, ok := expand(t.Simplify(), 20000); ok && maxLen(words) < 64 {
			sw.set = make(map[string]bool, len(words))
			for _, w := range words {
				w = asciiLower(w)
				sw.set[w] = true
				sw.maxLen = max(sw.maxLen, len(w))
				if w != "" {
					sw.lens[edgeClass(w[0])][edgeClass(w[len(w)-1])] |= 1 << len(w)
				}
			}
		}
	}
	return sw, nil
}

// Match reports whether tok is a stop word.
func (s *Stopwords) Match(tok string) bool { return s.match([]byte(tok)) }

func (s *Stopwords) match(tok []byte) bool {
	if s == nil || s.re == nil {
		return false
	}
	// Perl's (?i) on a byte string folds ASCII only; Go's folds Unicode.
	// Folding only ASCII here keeps Perl's answer.
	if s.set != nil {
		if len(tok) > s.maxLen || len(tok) == 0 {
			return len(tok) == 0 && s.set[""]
		}
		if s.lens[edgeClass(tok[0])][edgeClass(tok[len(tok)-1])]&(1<<len(tok)) == 0 {
			return false
		}
		if hasUpper(tok) {
			var buf [32]byte
			tok = appendLower(buf[:0], tok)
		}
		return s.set[string(tok)]
	}
	return isASCII(tok) && s.re.Match(tok)
}

func maxLen(words []string) int {
	n := 0
	for _, w := range words {
		n = max(n, len(w))
	}
	return n
}

// edgeClass is 0 to 25 for an ASCII letter of either case, 26 for any
// other byte.
func edgeClass(c byte) int {
	if c |= 0x20; c >= 'a' && c <= 'z' {
		return int(c - 'a')
	}
	return 26
}

// expand lists every string a finite regular expression matches, up to
// limit of them; ok is false when there are more or the expression is not
// finite.
func expand(re *syntax.Regexp, limit int) (out []string, ok bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine:
		return []string{""}, true
	case syntax.OpLiteral:
		return []string{string(re.Rune)}, true
	case syntax.OpCapture:
		return expand(re.Sub[0], limit)
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) >= limit {
					return nil, false
				}
				out = append(out, string(r))
			}
		}
		return out, true
	case syntax.OpQuest:
		sub, ok := expand(re.Sub[0], limit)
		return append([]string{""}, sub...), ok
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			sub, ok := expand(s, limit-len(out))
			if !ok {
				return nil, false
			}
			out = append(out, sub...)
		}
		return out, true
	case syntax.OpConcat:
		out = []string{""}
		for _, s := range re.Sub {
			sub, ok := expand(s, limit)
			if !ok || len(out)*len(sub) > limit {
				return nil, false
			}
			next := make([]string, 0, len(out)*len(sub))
			for _, a := range out {
				for _, b := range sub {
					next = append(next, a+b)
				}
			}
			out = next
		}
		return out, true
	}
	return nil, false
}
