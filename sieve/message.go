package sieve

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"

	"github.com/emersion/go-message/charset"
)

// HeaderField is one header field as it appears in the message: Name as
// written, Value unfolded (CRLF before folding white space removed) but
// otherwise raw, without the leading space after the colon.
type HeaderField struct {
	Name  string
	Value string
}

// Part is one MIME part of a message (RFC 5703 §3 walks these). Parts are
// listed in document order; Parts()[0] is the message itself.
type Part struct {
	// Header holds this part's own header fields (for Parts()[0], the message header).
	Header []HeaderField
	// ContentType is the lower-case "type/subtype" with RFC 2045 defaults applied.
	ContentType string
	// Params holds the Content-Type parameters with lower-case names.
	Params map[string]string
	// Body is the content with transfer encoding removed; for text/* parts it
	// is converted to UTF-8. Multipart containers have a nil Body.
	Body []byte
	// Prologue and Epilogue are the texts before the first and after the
	// last boundary of a multipart (RFC 5173 §5.2 matches them).
	Prologue, Epilogue []byte
	// Parent is the index of the enclosing part, -1 for the message itself.
	Parent int
	// Children lists the indexes of the direct sub-parts.
	Children []int
}

// Message is what the interpreter needs of a message. The pipeline adapts
// its parsed message to it; ParseMessage builds one from raw bytes.
type Message interface {
	// HeaderFields returns the top-level header fields in order.
	HeaderFields() []HeaderField
	// Size is the size of the whole message in octets (RFC 5228 §5.9).
	Size() int64
	// RawBody is the undecoded body after the header block (RFC 5173 :raw).
	RawBody() []byte
	// Parts returns the MIME structure (RFC 5173 :content, RFC 5703).
	Parts() []Part
}

type parsedMessage struct {
	size  int64
	raw   []byte
	parts []Part
}

func (m *parsedMessage) HeaderFields() []HeaderField { return m.parts[0].Header }
func (m *parsedMessage) Size() int64                 { return m.size }
func (m *parsedMessage) RawBody() []byte             { return m.raw }
func (m *parsedMessage) Parts() []Part               { return m.parts }

// ParseMessage builds a Message from RFC 5322 text. It is tolerant: a
// message without a header/body separator is all header, bad encodings are
// kept as they are. Nesting is limited to 20 levels.
func ParseMessage(raw []byte) Message {
	hdr, body := splitHeader(raw)
	m := &parsedMessage{size: int64(len(raw)), raw: body}
	m.addPart(hdr, body, -1, 0, "text/plain")
	return m
}

// ParseMessageParts is ParseMessage for a message held as its header
// section, the blank line that ends it included, and its body: the body
// is kept where it is, not copied.
func ParseMessageParts(header, body []byte) Message {
	hdr, rest := splitHeader(header)
	if len(rest) > 0 || !(bytes.HasSuffix(header, []byte("\n\n")) || bytes.HasSuffix(header, []byte("\n\r\n")) || string(header) == "\r\n" || string(header) == "\n") {
		// Not split where ParseMessage would split it.
		return ParseMessage(append(append([]byte(nil), header...), body...))
	}
	m := &parsedMessage{size: int64(len(header) + len(body)), raw: body}
	m.addPart(hdr, body, -1, 0, "text/plain")
	return m
}

func splitHeader(raw []byte) ([]HeaderField, []byte) {
	var fields []HeaderField
	// Values are unfolded into one buffer, converted to a string once and
	// sliced per field: linear in the header size however it is folded
	// (appending each continuation line to the field's string would copy
	// the value once per line).
	hdrLen := len(raw)
	if k := bytes.Index(raw, []byte("\n\r\n")); k >= 0 {
		hdrLen = k
	}
	if k := bytes.Index(raw[:hdrLen], []byte("\n\n")); k >= 0 {
		hdrLen = k
	}
	buf := make([]byte, 0, hdrLen)
	var bounds []int // start and end of each field's value in buf
	done := func() []HeaderField {
		if len(fields) == 0 {
			return nil
		}
		bounds = append(bounds, len(buf))
		all := string(buf)
		for k := range fields {
			fields[k].Value = all[bounds[2*k]:bounds[2*k+1]]
		}
		return fields
	}
	// unfold appends the value from raw[j] to the end of its field, line
	// breaks before white space removed, and returns where the next line starts.
	unfold := func(j int) int {
		for j < len(raw) {
			c := raw[j]
			j++
			if c != '\n' {
				buf = append(buf, c)
				continue
			}
			if n := len(buf); n > 0 && buf[n-1] == '\r' {
				buf = buf[:n-1]
			}
			if j == len(raw) || (raw[j] != ' ' && raw[j] != '\t') {
				return j
			}
		}
		if n := len(buf); n > 0 && buf[n-1] == '\r' {
			buf = buf[:n-1]
		}
		return j
	}
	i := 0
	for i < len(raw) {
		switch c := raw[i]; {
		case c == '\n':
			return done(), raw[i+1:]
		case c == '\r' && (i+1 == len(raw) || raw[i+1] == '\n'):
			return done(), raw[min(i+2, len(raw)):]
		case (c == ' ' || c == '\t') && len(fields) > 0:
			i = unfold(i)
			continue
		}
		next := len(raw)
		line := raw[i:]
		if end := bytes.IndexByte(line, '\n'); end >= 0 {
			line, next = line[:end], i+end+1
		}
		if c := bytes.IndexByte(line, ':'); c > 0 {
			if len(fields) > 0 {
				bounds = append(bounds, len(buf))
			}
			name := strings.TrimRight(string(line[:c]), " \t")
			fields = append(fields, HeaderField{Name: name})
			bounds = append(bounds, len(buf))
			j := i + c + 1
			for j < len(raw) && (raw[j] == ' ' || raw[j] == '\t') {
				j++
			}
			i = unfold(j)
			continue
		} else if len(fields) == 0 && c < 0 {
			// Not a header at all: treat everything as body.
			return nil, raw
		}
		i = next
	}
	return done(), nil
}

func fieldValue(h []HeaderField, name string) (string, bool) {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

func (m *parsedMessage) addPart(h []HeaderField, body []byte, parent, depth int, defType string) int {
	p := Part{Header: h, ContentType: defType, Params: map[string]string{}, Parent: parent}
	if v, ok := fieldValue(h, "Content-Type"); ok {
		if mt, params, err := mime.ParseMediaType(v); err == nil && strings.Count(mt, "/") > 1 {
			p.ContentType = "application/octet-stream"
		} else if err == nil && strings.Contains(mt, "/") {
			p.ContentType = strings.ToLower(mt)
			p.Params = params
		} else if i := strings.IndexByte(v, ';'); i > 0 || (err != nil && strings.Contains(v, "/")) {
			if i < 0 {
				i = len(v)
			}
			p.ContentType = strings.ToLower(strings.TrimSpace(v[:i]))
			if strings.Count(p.ContentType, "/") != 1 {
				p.ContentType = "application/octet-stream"
			}
		}
	}
	idx := len(m.parts)
	m.parts = append(m.parts, p)
	if parent >= 0 {
		m.parts[parent].Children = append(m.parts[parent].Children, idx)
	}
	switch {
	case strings.HasPrefix(p.ContentType, "multipart/") && p.Params["boundary"] != "" && depth < 20:
		def := "text/plain"
		if p.ContentType == "multipart/digest" {
			def = "message/rfc822"
		}
		subs, pro, epi := splitMultipart(body, p.Params["boundary"])
		m.parts[idx].Prologue, m.parts[idx].Epilogue = pro, epi
		for _, sub := range subs {
			sh, sb := splitHeader(sub)
			m.addPart(sh, sb, idx, depth+1, def)
		}
	case p.ContentType == "message/rfc822" && depth < 20:
		m.parts[idx].Body = body
		sh, sb := splitHeader(body)
		m.addPart(sh, sb, idx, depth+1, "text/plain")
	default:
		m.parts[idx].Body = decodeBody(h, body, p.ContentType, p.Params["charset"])
	}
	return idx
}

// splitMultipart returns the body parts between RFC 2046 §5.1.1 boundary lines.
func splitMultipart(body []byte, boundary string) (parts [][]byte, prologue, epilogue []byte) {
	delim := []byte("--" + boundary)
	start := -1
	i := 0
	for i <= len(body) {
		end := bytes.IndexByte(body[i:], '\n')
		lineEnd := len(body)
		next := len(body) + 1
		if end >= 0 {
			lineEnd = i + end
			next = lineEnd + 1
		}
		line := bytes.TrimRight(body[i:lineEnd], " \t\r")
		if bytes.HasPrefix(line, delim) {
			rest := line[len(delim):]
			if len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
				if start < 0 {
					prologue = body[:i]
				}
				if start >= 0 {
					// The CRLF before the boundary belongs to the boundary.
					p := body[start:i]
					p = bytes.TrimSuffix(p, []byte("\n"))
					p = bytes.TrimSuffix(p, []byte("\r"))
					parts = append(parts, p)
				}
				if len(rest) == 2 {
					if next < len(body) {
						epilogue = body[next:]
					}
					return parts, prologue, epilogue
				}
				start = next
				if start > len(body) {
					start = len(body)
				}
			}
		}
		i = next
	}
	if start >= 0 && start < len(body) {
		parts = append(parts, body[start:])
	}
	if start < 0 {
		prologue = body
	}
	return parts, prologue, epilogue
}

func decodeBody(h []HeaderField, body []byte, ctype, cs string) []byte {
	cte, _ := fieldValue(h, "Content-Transfer-Encoding")
	var out []byte
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil && len(b) == 0 {
			b = body
		}
		out = b
	case "", "7bit", "8bit", "binary":
		out = body
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		b := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(b, clean)
		if err != nil {
			n2, err2 := base64.RawStdEncoding.Decode(b, bytes.TrimRight(clean, "="))
			if err2 == nil {
				n = n2
			}
		}
		out = b[:n]
	default:
		// An unknown transfer encoding cannot be decoded; the content is unavailable.
		return nil
	}
	if strings.HasPrefix(ctype, "text/") && cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		if r, err := charset.Reader(cs, bytes.NewReader(out)); err == nil {
			if b, err := io.ReadAll(r); err == nil {
				out = b
			}
		}
	}
	return out
}

// decodeHeader decodes RFC 2047 encoded words; undecodable words stay as written.
func decodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d := mime.WordDecoder{CharsetReader: charset.Reader}
	s, err := d.DecodeHeader(v)
	if err != nil {
		return v
	}
	return s
}
