package perlre

import (
	"regexp/syntax"
	"strings"
)

// LitSet matches an RE2 pattern that denotes a small finite set of
// non-empty byte strings and asserts nothing (no anchors, no \b): such a
// pattern matches where one of its strings occurs, so plain byte
// comparisons in Go find its matches without a call into RE2. The strings
// are kept in the pattern's priority order, so the match chosen at a
// position is the one RE2's leftmost-first search chooses.
type LitSet struct {
	strs  []litStr
	first [256][]int32 // first byte → indices into strs, in priority order
}

// litStr is one string of a LitSet; where fold is set, b holds a lower-case
// ASCII letter that matches either case.
type litStr struct {
	b    []byte
	fold []bool
}

func (s litStr) cat(t litStr) litStr {
	return litStr{b: append(append([]byte{}, s.b...), t.b...), fold: append(append([]bool{}, s.fold...), t.fold...)}
}

// maxLitSet caps the strings of a LitSet, and maxLitClass the characters
// of one class: bigger patterns are left to RE2. Patterns longer than
// maxLitPattern are not parsed at all: every Load (a cached one too) asks
// for every rule, and the stock rules' longest literal set is 157 bytes
// where their ReplaceTags expansions, 100 KB and more, cost 70 ms to parse.
const (
	maxLitSet     = 256
	maxLitClass   = 64
	maxLitPattern = 1024
)

// NewLitSet returns the LitSet of an RE2 pattern (as go-re2's Latin-1 mode
// reads it: \xHH is one byte), or false when the pattern is not a small
// set of non-empty literal strings.
func NewLitSet(pat string) (*LitSet, bool) {
	if len(pat) > maxLitPattern || !mayBeLitSet(pat) {
		return nil, false
	}
	re, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		return nil, false
	}
	strs, ok := expand(re.Simplify())
	if !ok || len(strs) == 0 {
		return nil, false
	}
	ls := &LitSet{}
	for _, s := range strs {
		if len(s.b) == 0 {
			return nil, false
		}
		k := int32(len(ls.strs))
		ls.strs = append(ls.strs, s)
		c := s.b[0]
		ls.first[c] = append(ls.first[c], k)
		if s.fold[0] && c-32 != c {
			ls.first[c-32] = append(ls.first[c-32], k)
		}
	}
	return ls, true
}

// mayBeLitSet rejects, without parsing, patterns with a repeat, any
// character, an anchor or a class escape outside a character class
// (conservatively: inside one too), and raw non-ASCII bytes, which Go's
// parser reads as UTF-8 and RE2's Latin-1 mode as one character each.
func mayBeLitSet(pat string) bool {
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; {
		case c >= 0x80:
			return false
		case c == '\\':
			i++
			if i < len(pat) && strings.IndexByte("bBsSwWdDAzZpPQCN", pat[i]) >= 0 {
				return false
			}
		case strings.IndexByte("*+.^${", c) >= 0:
			return false
		case c == '?' && (i == 0 || pat[i-1] != '('):
			return false
		}
	}
	return true
}

// expand lists the strings re matches, in priority order, or false.
func expand(re *syntax.Regexp) ([]litStr, bool) {
	fold := re.Flags&syntax.FoldCase != 0
	switch re.Op {
	case syntax.OpLiteral:
		out := litStr{}
		for _, r := range re.Rune {
			switch {
			case fold && (r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z'):
				out.b = append(out.b, byte(r)|0x20)
				out.fold = append(out.fold, true)
			case fold && r >= 0x80:
				// Go's parser keeps [\xc9\xe9] and (?i)\xe9 alike as a
				// folded literal; RE2's Latin-1 mode folds only ASCII.
				return nil, false
			case r <= 0xff:
				out.b = append(out.b, byte(r))
				out.fold = append(out.fold, false)
			default:
				return nil, false
			}
		}
		return []litStr{out}, true
	case syntax.OpCharClass:
		var out []litStr
		n := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], min(re.Rune[i+1], 0xff)
			for r := lo; r <= hi; r++ {
				if n++; n > maxLitClass || fold && r >= 0x80 {
					return nil, false
				}
				out = append(out, litStr{b: []byte{byte(r)}, fold: []bool{false}})
			}
		}
		return out, len(out) > 0
	case syntax.OpCapture:
		return expand(re.Sub[0])
	case syntax.OpEmptyMatch:
		return []litStr{{}}, true
	case syntax.OpAlternate:
		var out []litStr
		for _, sub := range re.Sub {
			s, ok := expand(sub)
			if !ok || len(out)+len(s) > maxLitSet {
				return nil, false
			}
			out = append(out, s...)
		}
		return out, true
	case syntax.OpConcat:
		out := []litStr{{}}
		for _, sub := range re.Sub {
			s, ok := expand(sub)
			if !ok || len(out)*len(s) > maxLitSet {
				return nil, false
			}
			next := make([]litStr, 0, len(out)*len(s))
			for _, a := range out {
				for _, b := range s {
					next = append(next, a.cat(b))
				}
			}
			out = next
		}
		return out, true
	}
	// Repeats, any-character, anchors and word boundaries: left to RE2.
	return nil, false
}

// at returns the length of the highest-priority string at text[i:], or 0.
func at[T ~string | ~[]byte](ls *LitSet, text T, i int) int {
next:
	for _, k := range ls.first[text[i]] {
		s := &ls.strs[k]
		if len(text)-i < len(s.b) {
			continue
		}
		for j, c := range s.b {
			t := text[i+j]
			if s.fold[j] {
				t |= 0x20
			}
			if t != c {
				continue next
			}
		}
		return len(s.b)
	}
	return 0
}

// Match reports whether one of the strings occurs in text.
func (ls *LitSet) Match(text []byte) bool {
	_, n := find(ls, text)
	return n > 0
}

// MatchString is Match over a string.
func (ls *LitSet) MatchString(text string) bool {
	_, n := find(ls, text)
	return n > 0
}

// FindIndex returns the leftmost match, as regexp's FindIndex.
func (ls *LitSet) FindIndex(text []byte) []int {
	if i, n := find(ls, text); n > 0 {
		return []int{i, i + n}
	}
	return nil
}

// find returns the start and length of the leftmost match; length 0 for none.
func find[T ~string | ~[]byte](ls *LitSet, text T) (int, int) {
	first := &ls.first
	for i := 0; i < len(text); i++ {
		if len(first[text[i]]) == 0 {
			continue
		}
		if n := at(ls, text, i); n > 0 {
			return i, n
		}
	}
	return 0, 0
}

// Count returns the number of successive non-overlapping matches in text,
// as len(FindAllIndex(text, n)) of the pattern; n < 0 means no limit.
func (ls *LitSet) Count(text []byte, n int) int {
	c := 0
	first := &ls.first
	for i := 0; i < len(text) && c != n; {
		if len(first[text[i]]) == 0 {
			i++
			continue
		}
		if l := at(ls, text, i); l > 0 {
			c++
			i += l
			continue
		}
		i++
	}
	return c
}

// FindAllIndex returns the successive non-overlapping matches, at most n
// of them (all if n < 0), as regexp's FindAllIndex.
func (ls *LitSet) FindAllIndex(text []byte, n int) [][]int {
	var out [][]int
	for i := 0; i < len(text) && len(out) != n; i++ {
		if len(ls.first[text[i]]) == 0 {
			continue
		}
		if l := at(ls, text, i); l > 0 {
			out = append(out, []int{i, i + l})
			i += l - 1
		}
	}
	return out
}
