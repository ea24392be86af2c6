package mail

import (
	"strings"
)

// noEncodedWords lists the fields whose values SpamAssassin never
// RFC 2047-decodes (Node::_decode_header): structured fields where an
// "=?" is data, not an encoded-word. name is compared case-insensitively.
func noEncodedWords(name string) bool {
	for _, n := range []string{"received", "message-id", "resent-message-id", "date", "resent-date",
		"mime-version", "references", "in-reply-to"} {
		if len(n) == len(name) && hasPrefixFoldString(name, n) {
			return true
		}
	}
	return hasPrefixFoldString(name, "list-")
}

// DecodeHeader decodes an unfolded header field value to UTF-8 the way
// SpamAssassin does: remaining line breaks are removed, raw 8-bit bytes
// are taken as UTF-8 when valid and as Windows-1252 otherwise, and RFC 2047
// encoded-words are decoded (RFC 2047 §6.2: white space between adjacent
// encoded-words is dropped). lcName is the field name; fields
// such as Received and Message-ID are not searched for encoded-words.
// Broken encoded-words are left as they are; unknown charsets fall back to
// Windows-1252. It never fails.
func DecodeHeader(value, lcName string) string {
	return decodeHeader(value, lcName)
}

// decodeHeader is DecodeHeader with the field name in any case.
func decodeHeader(value, name string) string {
	lcName := name
	if value == "" {
		return ""
	}
	if strings.IndexByte(value, '\n') >= 0 || strings.IndexByte(value, '\r') >= 0 {
		var b strings.Builder
		b.Grow(len(value))
		for i := 0; i < len(value); i++ {
			c := value[i]
			if c == '\n' {
				if i+1 < len(value) && value[i+1] == '\t' {
					b.WriteByte(' ')
					i++
				}
				continue
			}
			if c == '\r' && i+1 < len(value) && value[i+1] == '\n' {
				continue
			}
			b.WriteByte(c)
		}
		value = b.String()
	}
	if !isASCIIString(value) {
		value = string(toUTF8([]byte(value), "utf-8", false))
	}
	if noEncodedWords(lcName) || !strings.Contains(value, "=?") {
		return value
	}
	return decodeEncodedWords(value)
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// encodedWord is one parsed "=?charset?enc?text?=" token.
type encodedWord struct {
	charset string
	enc     byte
	text    string
	end     int // index just past "?="
}

// parseEncodedWord parses an encoded-word at s[i:] using SpamAssassin's
// relaxed grammar: =?[A-Za-z0-9*_-]+?[bBqQ]?[^?]*?= (RFC 2047 §2 allows
// more charset characters; in practice this is what mailers emit).
func parseEncodedWord(s string, i int) (encodedWord, bool) {
	if i+2 > len(s) || s[i] != '=' || s[i+1] != '?' {
		return encodedWord{}, false
	}
	j := i + 2
	for j < len(s) {
		c := s[j]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '*' || c == '_' || c == '-' {
			j++
			continue
		}
		break
	}
	if j == i+2 || j+3 > len(s) || s[j] != '?' {
		return encodedWord{}, false
	}
	enc := s[j+1] | 0x20
	if (enc != 'b' && enc != 'q') || s[j+2] != '?' {
		return encodedWord{}, false
	}
	k := strings.IndexByte(s[j+3:], '?')
	if k < 0 {
		return encodedWord{}, false
	}
	k += j + 3
	if k+1 >= len(s) || s[k+1] != '=' {
		return encodedWord{}, false
	}
	return encodedWord{charset: s[i+2 : j], enc: enc, text: s[j+3 : k], end: k + 2}, true
}

func decodeWordText(w encodedWord) []byte {
	if w.enc == 'b' {
		return decodeBase64([]byte(w.text))
	}
	// RFC 2047 §4.2: "_" stands for space in the Q encoding.
	q := []byte(w.text)
	for i, c := range q {
		if c == '_' {
			q[i] = ' '
		}
	}
	return decodeQP(q)
}

// decodeEncodedWords replaces every encoded-word in s by its UTF-8 text.
// Adjacent encoded-words in the same charset are joined before charset
// decoding, so multi-byte characters split across words survive.
func decodeEncodedWords(s string) string {
	var out strings.Builder
	out.Grow(len(s))
	var pend []byte
	var pendCharset string
	flush := func() {
		if pendCharset != "" {
			out.Write(toUTF8(pend, pendCharset, true))
		}
		pend = pend[:0]
		pendCharset = ""
	}
	i := 0
	for i < len(s) {
		if w, ok := parseEncodedWord(s, i); ok {
			cs := strings.ToLower(w.charset)
			if cs != pendCharset {
				flush()
				pendCharset = cs
			}
			pend = append(pend, decodeWordText(w)...)
			i = w.end
			// Skip white space before a following encoded-word.
			j := i
			for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n') {
				j++
			}
			if j > i {
				if _, ok := parseEncodedWord(s, j); ok {
					i = j
				}
			}
			continue
		}
		flush()
		next := strings.Index(s[i+1:], "=?")
		if next < 0 {
			out.WriteString(s[i:])
			break
		}
		out.WriteString(s[i : i+1+next])
		i += 1 + next
	}
	flush()
	return out.String()
}
