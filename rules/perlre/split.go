package perlre

import (
	"fmt"
	"strings"
)

// Split splits a Perl match operator as rule files write it —
// /re/flags, m{re}flags, m!re!flags, m#re#flags or any other m-delimiter —
// into its pattern, its flags and the text after it.
func Split(s string) (pattern, flags, rest string, err error) {
	if s == "" {
		return "", "", "", fmt.Errorf("%w: empty pattern", ErrRegex)
	}
	i := 0
	var open, closing byte
	switch {
	case s[0] == '/':
		open, closing = '/', '/'
		i = 1
	case s[0] == 'm' && len(s) > 1 && !isAlnum(s[1]) && s[1] != ' ' && s[1] != '\t' && s[1] != '_':
		open = s[1]
		switch open {
		case '{':
			closing = '}'
		case '(':
			closing = ')'
		case '[':
			closing = ']'
		case '<':
			closing = '>'
		default:
			closing = open
		}
		i = 2
	default:
		return "", "", "", fmt.Errorf("%w: pattern must start with / or m followed by a delimiter", ErrRegex)
	}
	depth := 0
	start := i
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			i++
			continue
		}
		if open != closing && c == open {
			depth++
			continue
		}
		if c == closing {
			if depth > 0 {
				depth--
				continue
			}
			pattern = s[start:i]
			j := i + 1
			for j < len(s) && isAlpha(s[j]) {
				j++
			}
			flags = s[i+1 : j]
			for _, f := range flags {
				if !strings.ContainsRune("imsxgoadlupn", f) {
					return "", "", "", fmt.Errorf("%w: unknown flag %q", ErrRegex, f)
				}
			}
			return pattern, flags, s[j:], nil
		}
	}
	return "", "", "", fmt.Errorf("%w: missing closing delimiter %q", ErrRegex, closing)
}
