package scoring

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// wrap breaks text into lines of at most width columns the way
// SpamAssassin's Util::wrap does: pieces are cut after each break point
// (isBreak reports whether a cut may follow byte i, keeping the byte);
// pieces are joined until the next would overflow, trailing whitespace is
// dropped at a cut, and later lines start with prefix. The first line
// starts with first. A tab counts as eight columns. With overflow false the
// next piece's length is checked before joining it (except for the first
// piece of a line, which is always taken).
func wrap(text, prefix, first string, width int, overflow bool, pieces []string) string {
	if first != "" && first != "0" {
		pieces = append([]string{first}, pieces...)
	}
	if len(pieces) == 0 {
		return ""
	}
	cols := func(s string) int { return len(s) + strings.Count(s, "\t")*7 }
	var out strings.Builder
	cur := []byte(pieces[0])
	curCols := cols(pieces[0])
	mod, fresh := false, false
	for _, next := range pieces[1:] {
		for {
			n := curCols
			if mod && !overflow {
				n += cols(next)
			}
			// A line holding only the prefix always takes a piece, or a
			// prefix wider than width would never end.
			if n <= width || fresh {
				cur = append(cur, next...)
				curCols += cols(next)
				mod, fresh = true, false
				break
			}
			out.WriteString(strings.TrimRight(string(cur), " \t\n\r\f\v"))
			out.WriteByte('\n')
			cur = append(cur[:0], prefix...)
			curCols = cols(prefix)
			mod, fresh = false, true
		}
	}
	out.Write(cur)
	return out.String()
}

// splitAfter splits s after every byte for which isBreak is true, as
// Perl's split(/((?<=[\s,]))/, $s) does: the pieces alternate with empty
// separators, and trailing empty fields are dropped.
func splitAfter(s string, isBreak func(byte) bool) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if isBreak(s[i]) && i+1 < len(s) {
			out = append(out, s[start:i+1], "")
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// splitWords splits s at each whitespace byte, keeping the separators as
// their own pieces, as Perl's split(/(\s)/, $s) does.
func splitWords(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			out = append(out, s[start:i], s[i:i+1])
			start = i + 1
		}
	}
	out = append(out, s[start:])
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v'
}

// foldField folds one added field's value as SpamAssassin's
// _process_header does with fold_headers on (RFC 5322 §2.2.3): a value with
// newlines keeps them, each followed by a tab; otherwise the line
// "X-Spam-Name: value" is wrapped at 79 columns after whitespace or commas,
// continuation lines starting with a tab.
func foldField(name, value string) string {
	value = strings.TrimRight(value, "\r\n")
	if strings.Contains(value, "\n") {
		return foldNewlines(value)
	}
	// "!!" stands in for ": " so that the name and value stay together.
	line := "X-Spam-" + name + "!!" + value
	w := wrap(line, "\t", "", 79, false, splitAfter(line, func(b byte) bool { return isSpace(b) || b == ',' }))
	w = dropBlankLines(w)
	if _, after, ok := strings.Cut(w, "!!"); ok {
		return after
	}
	return w
}

// foldNewlines replaces every run of whitespace holding a newline with a
// newline and a tab (Perl's s/\s*\n\s*/\n\t/g).
func foldNewlines(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) {
		if !isSpace(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		run := s[i:j]
		if k := strings.LastIndexByte(run, '\n'); k >= 0 {
			// \s*\n\s* is greedy: the first \s* runs to the last newline of
			// the run, so everything before it and after it goes.
			b.WriteString("\n\t")
		} else {
			b.WriteString(run)
		}
		i = j
	}
	return b.String()
}

// dropBlankLines removes lines made only of whitespace (bug 7672).
func dropBlankLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if strings.TrimLeft(l, " \t\r\f\v") == "\n" {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// mimeEncode encodes the non-ASCII stretches of a header value as RFC 2047
// encoded words (UTF-8, Q or B, whichever is shorter), line by line, as
// SpamAssassin's mime_encode_header does; printable ASCII passes through.
func mimeEncode(text string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if line == "" {
			continue
		}
		if printable(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")) && strings.HasSuffix(line, "\n") {
			b.WriteString(line)
			continue
		}
		// The suffix is the longest printable tail starting at the line's
		// start or at a blank; the prefix the longest printable head ending
		// in a blank.
		body, suffix := line, ""
		nl := ""
		if strings.HasSuffix(body, "\r\n") {
			body, nl = body[:len(body)-2], "\r\n"
		} else if strings.HasSuffix(body, "\n") {
			body, nl = body[:len(body)-1], "\n"
		}
		p := len(body)
		for p > 0 && isPrint(body[p-1]) {
			p--
		}
		cut := -1
		if p == 0 {
			cut = 0
		} else if k := strings.IndexAny(body[p:], " \t"); k >= 0 {
			cut = p + k
		}
		if cut >= 0 {
			body, suffix = body[:cut], body[cut:]+nl
		} else {
			suffix = nl
		}
		prefix := ""
		j := 0
		for j < len(body) && isPrint(body[j]) {
			j++
		}
		if j == len(body) {
			prefix = body
		} else {
			for k := j; k > 0; k-- {
				if body[k-1] == ' ' || body[k-1] == '\t' {
					prefix = body[:k]
					break
				}
			}
		}
		body = body[len(prefix):]
		if body == "" {
			b.WriteString(prefix + suffix)
			continue
		}
		n := 0
		for i := 0; i < len(body); i++ {
			c := body[i]
			if c == '=' || c == '?' || c == '_' || c < 0x20 || c >= 0x7f {
				n++
			}
		}
		b.WriteString(prefix)
		if float64(len(body)+2*n) <= float64(4*(len(body)+2))/3 {
			b.WriteString("=?UTF-8?Q?")
			for i := 0; i < len(body); i++ {
				c := body[i]
				switch {
				case c == ' ':
					b.WriteByte('_')
				case c == '=' || c == '?' || c == '_' || c < 0x20 || c >= 0x7f:
					fmt.Fprintf(&b, "=%02X", c)
				default:
					b.WriteByte(c)
				}
			}
		} else {
			b.WriteString("=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(body)))
		}
		b.WriteString("?=" + suffix)
	}
	return b.String()
}

func isPrint(c byte) bool { return c == '\t' || (c >= 0x20 && c <= 0x7e) }

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isPrint(s[i]) {
			return false
		}
	}
	return true
}
