package mail

import (
	"bytes"
	"html"
	"strconv"
	"strings"
	"unicode/utf8"
)

// HTMLText renders src, UTF-8 HTML, to text the way Dovecot's lib-mail
// (mail-html2text.c) does for Pigeonhole's body :text and extracttext:
// a tag becomes one space, comments, <script> and <style> contents are
// dropped, <![CDATA[...]]> is kept, entities are decoded, and the text
// between tags is kept byte for byte, white space included. This is not
// the rendering the rules see (Part.HTMLText, SpamAssassin's HTML.pm
// semantics, which collapses white space and breaks paragraphs); the two
// disagree on purpose, each matching the program whose verdicts sluice
// reproduces.
//
// Like Dovecot it is a small state machine, not an HTML parser: a '<'
// starts a tag whatever follows, a broken entity ('&' not followed by a
// ';' within nine bytes) loses its '&', an unknown entity is dropped, and
// what is left unfinished at the end (an open tag, comment or entity) is
// dropped.
func HTMLText(src []byte) []byte {
	out := make([]byte, 0, len(src))
	state := htStateText
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch state {
		case htStateText:
			switch c {
			case '<':
				n, next := htmlTagStart(src[i+1:])
				if n == 0 {
					return out
				}
				state = next
				i += n - 1
			case '&':
				var n int
				out, n = htmlEntity(out, src[i+1:])
				if n == 0 {
					return out
				}
				i += n - 1
			default:
				out = append(out, c)
			}
		case htStateTag:
			switch c {
			case '"':
				state = htStateDQuoted
			case '\'':
				state = htStateSQuoted
			case '>':
				state = htStateText
				out = htmlSpace(out)
			}
		case htStateDQuoted, htStateSQuoted:
			quote := byte('"')
			if state == htStateSQuoted {
				quote = '\''
			}
			switch c {
			case quote:
				state = htStateTag
			case '\\':
				i++ // the escaped byte, whatever it is
			}
		case htStateComment:
			if c == '-' {
				if i+1 == len(src) {
					return out
				}
				if src[i+1] == '-' {
					state = htStateCommentEnd
					i++
				}
			}
		case htStateCommentEnd:
			if c == '>' {
				state = htStateText
			} else if !htmlSpaceByte(c) {
				state = htStateComment
			}
		case htStateScript, htStateStyle:
			end := "</script>"
			if state == htStateStyle {
				end = "</style>"
			}
			if c == '<' && hasPrefixFold(src, i, end) {
				out = htmlSpace(out)
				state = htStateText
				i += len(end) - 1
			}
		case htStateCDATA:
			if c == ']' {
				rest := src[i:min(len(src), i+3)]
				if bytes.HasPrefix([]byte("]]>"), rest) {
					if len(rest) < 3 {
						return out // unfinished at the end
					}
					state = htStateText
					i += 2
					continue
				}
			}
			out = append(out, c)
		}
	}
	return out
}

// The states of HTMLText.
const (
	htStateText = iota
	htStateTag
	htStateDQuoted
	htStateSQuoted
	htStateComment
	htStateCommentEnd
	htStateScript
	htStateStyle
	htStateCDATA
)

// htmlTagStart reads what follows a '<' and returns how many bytes, the
// '<' included, HTMLText moves past, and the state it enters; 0 when the
// tag name runs to the end of src.
func htmlTagStart(s []byte) (int, int) {
	named := func(name string) bool {
		return len(s) > len(name) && hasPrefixFold(s, 0, name) && (htmlSpaceByte(s[len(name)]) || s[len(name)] == '>')
	}
	switch {
	case bytes.HasPrefix(s, []byte("!--")):
		return 4, htStateComment
	case named("script"):
		return 8, htStateScript
	case named("style"):
		return 7, htStateStyle
	case hasPrefixFold(s, 0, "![cdata["):
		return 9, htStateCDATA
	}
	if len(s) < 12 && bytes.IndexFunc(s, func(r rune) bool { return r < utf8.RuneSelf && (htmlSpaceByte(byte(r)) || r == '>') }) < 0 {
		return 0, htStateText
	}
	return 1, htStateTag
}

// htmlEntity decodes the entity after a '&' in s into out. It returns how
// many bytes, the '&' included, HTMLText moves past: 1 for a broken
// entity (the '&' alone is lost), 0 when no ';' comes before the end.
func htmlEntity(out, s []byte) ([]byte, int) {
	end := -1
	for i, c := range s {
		if htmlSpaceByte(c) || i >= 10 {
			return out, 1
		}
		if c == ';' {
			end = i
			break
		}
	}
	if end < 0 {
		return out, 0
	}
	name := string(s[:end])
	if r, ok := entityRune(name); ok {
		out = utf8.AppendRune(out, r)
	}
	return out, end + 2
}

// entityRune is the character an entity name (without '&' and ';')
// stands for: a named entity, matched regardless of case as Dovecot's
// table is, or a decimal or hexadecimal character reference.
func entityRune(name string) (rune, bool) {
	if strings.HasPrefix(name, "#") {
		num, base := name[1:], 10
		if strings.HasPrefix(num, "x") {
			num, base = num[1:], 16
		}
		v, err := strconv.ParseUint(num, base, 32)
		if err != nil || !utf8.ValidRune(rune(v)) {
			return 0, false
		}
		return rune(v), true
	}
	for _, n := range []string{name, strings.ToLower(name)} {
		if name == "" {
			break
		}
		if s := html.UnescapeString("&" + n + ";"); s != "&"+n+";" {
			r, size := utf8.DecodeRuneInString(s)
			if size == len(s) {
				return r, true
			}
		}
	}
	return 0, false
}

// htmlSpace appends the one space a tag becomes, unless the text is empty
// or already ends in white space (Dovecot 2.3, as Debian 12 ships it).
func htmlSpace(out []byte) []byte {
	if len(out) > 0 && !htmlSpaceByte(out[len(out)-1]) {
		out = append(out, ' ')
	}
	return out
}

func htmlSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
