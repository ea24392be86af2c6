package sieve

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// RFC 4790 §9.2 i;ascii-casemap folds only ASCII letters.
func foldByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = foldByte(b[j])
			}
			return string(b)
		}
	}
	return s
}

// numericKey implements RFC 4790 §9.1 i;ascii-numeric: the leading digits
// as a number; a string not starting with a digit is positive infinity.
func numericKey(s string) (digits string, inf bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return "", true
	}
	d := strings.TrimLeft(s[:i], "0")
	return d, false
}

// compareValues orders a and b under comparator cmp: -1, 0 or 1.
func compareValues(cmp, a, b string) int {
	switch cmp {
	case "i;ascii-numeric":
		da, ia := numericKey(a)
		db, ib := numericKey(b)
		switch {
		case ia && ib:
			return 0
		case ia:
			return 1
		case ib:
			return -1
		}
		if len(da) != len(db) {
			if len(da) < len(db) {
				return -1
			}
			return 1
		}
		return strings.Compare(da, db)
	case "i;octet":
		return strings.Compare(a, b)
	default:
		return strings.Compare(asciiLower(a), asciiLower(b))
	}
}

func equalValues(cmp, a, b string) bool {
	switch cmp {
	case "i;octet":
		return a == b
	case "i;ascii-numeric":
		return compareValues(cmp, a, b) == 0
	default:
		return strings.EqualFold(a, b) && asciiLower(a) == asciiLower(b)
	}
}

func containsValue(cmp, hay, needle string) bool {
	if cmp == "i;octet" {
		return strings.Contains(hay, needle)
	}
	return strings.Contains(asciiLower(hay), asciiLower(needle))
}

func relational(op string, c int) bool {
	switch op {
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	}
	return false
}

// globToken is one element of a compiled :matches pattern.
type globToken struct {
	star bool
	// lit is a literal run; '?' positions are marked in any.
	lit []byte
	any []bool
}

func compileGlob(pat string, fold bool) []globToken {
	var toks []globToken
	cur := globToken{}
	flush := func() {
		if len(cur.lit) > 0 {
			toks = append(toks, cur)
			cur = globToken{}
		}
	}
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch c {
		case '*':
			flush()
			toks = append(toks, globToken{star: true})
			continue
		case '?':
			cur.lit = append(cur.lit, 0)
			cur.any = append(cur.any, true)
			continue
		case '\\':
			if i+1 < len(pat) {
				i++
				c = pat[i]
			}
		}
		if fold {
			c = foldByte(c)
		}
		cur.lit = append(cur.lit, c)
		cur.any = append(cur.any, false)
	}
	flush()
	return toks
}

// matchSegment tries literal token t at s[i:]; '?' consumes one UTF-8
// character. It returns the end offset and the captures of the '?'s.
func matchSegment(t *globToken, s string, i int, fold bool, caps *[]string) (int, bool) {
	start := len(*caps)
	for k := 0; k < len(t.lit); k++ {
		if i >= len(s) {
			*caps = (*caps)[:start]
			return 0, false
		}
		if t.any[k] {
			_, sz := utf8.DecodeRuneInString(s[i:])
			if caps != nil {
				*caps = append(*caps, s[i:i+sz])
			}
			i += sz
			continue
		}
		c := s[i]
		if fold {
			c = foldByte(c)
		}
		if c != t.lit[k] {
			*caps = (*caps)[:start]
			return 0, false
		}
		i++
	}
	return i, true
}

// globMatch implements RFC 5228 §2.7.1 :matches with RFC 5229 §3.2 match
// values: each '*' matches as little as possible except that the pattern
// must consume the whole string. Each literal segment is searched for at
// its earliest position, which is optimal for globs and keeps the cost at
// O(len(s)·len(pattern)) without backtracking.
func globMatch(toks []globToken, s string, fold bool, wantCaps bool) (bool, []string) {
	var caps []string
	i := 0
	n := len(toks)
	for k := 0; k < n; k++ {
		t := &toks[k]
		if !t.star {
			end, ok := matchSegment(t, s, i, fold, &caps)
			if !ok {
				return false, nil
			}
			i = end
			continue
		}
		// Collapse consecutive stars: the first captures everything, the rest "".
		stars := 1
		for k+1 < n && toks[k+1].star {
			stars++
			k++
		}
		// In a run of stars the earlier ones match as little as possible ("").
		for x := 1; x < stars; x++ {
			caps = append(caps, "")
		}
		if k+1 == n {
			caps = append(caps, s[i:])
			return true, caps
		}
		next := &toks[k+1]
		if k+2 == n {
			// Last literal segment: it must end the string. Count its length in
			// characters by matching it backwards from candidate positions.
			for j := i; j <= len(s); j++ {
				if j > i && j < len(s) && !utf8.RuneStart(s[j]) {
					continue
				}
				mark := len(caps)
				caps = append(caps, s[i:j])
				end, ok := matchSegment(next, s, j, fold, &caps)
				if ok && end == len(s) {
					return true, caps
				}
				caps = caps[:mark]
			}
			return false, nil
		}
		found := false
		for j := i; j <= len(s); j++ {
			if j > i && j < len(s) && !utf8.RuneStart(s[j]) {
				continue
			}
			mark := len(caps)
			caps = append(caps, s[i:j])
			end, ok := matchSegment(next, s, j, fold, &caps)
			if ok {
				i = end
				found = true
				k++
				break
			}
			caps = caps[:mark]
		}
		if !found {
			return false, nil
		}
	}
	if i != len(s) {
		return false, nil
	}
	if !wantCaps {
		return true, nil
	}
	return true, caps
}

// regexCache compiles each distinct :regex key once per script run.
type regexCache map[string]*regexpT

// compileRegex translates a POSIX extended regex (draft-ietf-sieve-regex-01)
// to Go's RE2 syntax; RE2 runs in linear time.
func compileRegex(pat string, fold bool) (*regexp.Regexp, error) {
	prefix := "(?s)"
	if fold {
		prefix = "(?si)"
	}
	return regexp.Compile(prefix + pat)
}

// quoteWildcard escapes the :matches metacharacters (RFC 5229 §4.1 :quotewildcard).
// The result stops short of limit bytes rather than split an escape.
func quoteWildcard(s string, limit int) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		esc := s[i] == '*' || s[i] == '?' || s[i] == '\\'
		if limit > 0 && (b.Len()+1 > limit || (esc && b.Len()+2 > limit)) {
			break
		}
		if esc {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

type regexpT = regexp.Regexp
