package sieve

import (
	"bytes"
	"mime"
	"strings"

	"github.com/sluice-mail/sluice/mail"
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

// Message is what the interpreter needs of a message. FromMail adapts a
// parsed mail.Message to it; ParseMessage parses raw bytes and adapts them.
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

// ParseOptions are the mail.Parse limits ParseMessage uses: the body is
// read whole and header values are not cut, so that Sieve sees what
// Pigeonhole sees. Nesting stops at 20 levels.
var parseOptions = mail.Options{MaxMessageScan: -1, MaxHeaderValue: 1 << 30}

// ParseMessage builds a Message from RFC 5322 text. It is tolerant, as
// mail.Parse is: a message without a header/body separator is all
// header, bad encodings are kept as they are.
func ParseMessage(raw []byte) Message {
	k := mail.HeaderLen(raw)
	return FromMail(mail.Parse(raw, parseOptions), raw[:k], raw[k:])
}

// ParseMessageParts is ParseMessage for a message held as its header
// section, the blank line that ends it included, and its body.
func ParseMessageParts(header, body []byte) Message {
	raw := append(append([]byte(nil), header...), body...)
	return FromMail(mail.Parse(raw, parseOptions), header, body)
}

// FromMail adapts pm, the parsed message, to Message without parsing it
// again. header and body are the message as Sieve is to see it: header
// is the header section, the blank line that ends it included, which may
// differ from pm's by fields added, removed or rewritten since pm was
// parsed (its fields are split again, the body is not walked again);
// body is the undecoded body (RFC 5173 :raw) and must be the body pm was
// parsed from. The MIME structure below the top-level header is pm's:
// what pm did not read (mail.Options.MaxMessageScan) Sieve does not see.
func FromMail(pm *mail.Message, header, body []byte) Message {
	m := &mailMessage{pm: pm, size: int64(len(header) + len(body)), raw: body}
	m.crlf = bytes.Contains(header, []byte("\r\n"))
	if len(body) == 0 && !bytes.HasSuffix(header, []byte("\n\n")) && !bytes.HasSuffix(header, []byte("\n\r\n")) && string(header) != "\r\n" && string(header) != "\n" {
		// No blank line ends the header: the message has no body at all
		// (RFC 5173 §5), which is not an empty one.
		m.raw = nil
	}
	var fields []mail.Field
	if bytes.Equal(header, pm.HeaderBytes()) && !pm.Truncated() {
		fields = pm.Root().Fields()
	} else {
		fields = mail.ParseHeader(header)
	}
	m.header = headerFields(fields, true)
	return m
}

// mailMessage is a mail.Message as Sieve sees it; its parts are built
// on first use.
type mailMessage struct {
	pm     *mail.Message
	size   int64
	raw    []byte
	crlf   bool // the message has CRLF line ends, which mail turned into LF
	header []HeaderField
	parts  []Part
}

func (m *mailMessage) HeaderFields() []HeaderField { return m.header }
func (m *mailMessage) Size() int64                 { return m.size }
func (m *mailMessage) RawBody() []byte             { return m.raw }

func (m *mailMessage) Parts() []Part {
	if m.parts == nil {
		m.addPart(m.pm.Root(), m.header, -1, "text/plain")
	}
	return m.parts
}

// headerFields converts mail's fields: values unfolded (the line break
// before folding white space removed), the white space after the colon
// dropped.
func headerFields(fs []mail.Field, top bool) []HeaderField {
	if len(fs) == 0 {
		return nil
	}
	out := make([]HeaderField, len(fs))
	for i := range fs {
		v := strings.TrimSuffix(fs[i].RawValue(), "\n")
		if top {
			v = strings.TrimLeft(v, " \t")
		}
		if strings.IndexByte(v, '\n') >= 0 {
			v = strings.ReplaceAll(v, "\n", "")
		}
		out[i] = HeaderField{Name: fs[i].Name, Value: strings.TrimSuffix(v, "\r")}
	}
	return out
}

func fieldValue(h []HeaderField, name string) (string, bool) {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// contentType reads a part's Content-Type as Pigeonhole does: the
// lower-case type/subtype and its parameters, defType when absent, and
// application/octet-stream when malformed.
func contentType(h []HeaderField, defType string) (string, map[string]string) {
	ct, params := defType, map[string]string{}
	v, ok := fieldValue(h, "Content-Type")
	if !ok {
		return ct, params
	}
	mt, ps, err := mime.ParseMediaType(v)
	switch {
	case err == nil && strings.Count(mt, "/") > 1:
		ct = "application/octet-stream"
	case err == nil && strings.Contains(mt, "/"):
		ct, params = strings.ToLower(mt), ps
	default:
		if i := strings.IndexByte(v, ';'); i > 0 || (err != nil && strings.Contains(v, "/")) {
			if i < 0 {
				i = len(v)
			}
			ct = strings.ToLower(strings.TrimSpace(v[:i]))
			if strings.Count(ct, "/") != 1 {
				ct = "application/octet-stream"
			}
		}
	}
	return ct, params
}

func (m *mailMessage) addPart(mp *mail.Part, h []HeaderField, parent int, defType string) {
	ct, params := contentType(h, defType)
	p := Part{Header: h, ContentType: ct, Params: params, Parent: parent}
	idx := len(m.parts)
	m.parts = append(m.parts, p)
	if parent >= 0 {
		m.parts[parent].Children = append(m.parts[parent].Children, idx)
	}
	switch {
	case mp.IsLeaf():
		m.parts[idx].Body = m.leafBody(mp, h, ct)
	case strings.HasPrefix(mp.ContentType, "multipart/"):
		m.parts[idx].Prologue, m.parts[idx].Epilogue = m.lineEnds(mp.Preamble()), m.lineEnds(mp.Epilogue())
		def := "text/plain"
		if ct == "multipart/digest" {
			def = "message/rfc822"
		}
		for _, c := range mp.Children {
			m.addPart(c, headerFields(c.Fields(), false), idx, def)
		}
	default:
		// message/rfc822: the enclosed message, whose header RFC 5173
		// :content matches.
		for _, c := range mp.Children {
			m.parts[idx].Body = m.lineEnds(c.HeaderBytes())
			m.addPart(c, headerFields(c.Fields(), true), idx, "text/plain")
		}
	}
}

// leafBody is the content of a leaf with the transfer encoding removed
// and, for text/*, converted to UTF-8; nil when the transfer encoding is
// unknown (the content is unavailable).
func (m *mailMessage) leafBody(mp *mail.Part, h []HeaderField, ct string) []byte {
	cte, _ := fieldValue(h, "Content-Transfer-Encoding")
	cte = strings.ToLower(strings.TrimSpace(cte))
	switch cte {
	case "", "7bit", "8bit", "binary", "quoted-printable", "base64":
	default:
		return nil
	}
	var b []byte
	if strings.HasPrefix(ct, "text/") {
		b = mp.Text()
	}
	if b == nil {
		b = mp.Decoded()
	}
	if cte == "base64" && !strings.HasPrefix(mp.ContentType, "text/") && !strings.HasPrefix(mp.ContentType, "message/") {
		// Decoded binary content is as sent; mail changed no line end.
		return b
	}
	return m.lineEnds(b)
}

// lineEnds gives text back the CRLF line ends mail turned into LF.
func (m *mailMessage) lineEnds(b []byte) []byte {
	if !m.crlf || bytes.IndexByte(b, '\n') < 0 {
		return b
	}
	out := make([]byte, 0, len(b)+bytes.Count(b, []byte("\n")))
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// decodeHeader decodes RFC 2047 encoded words; undecodable words stay as written.
func decodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	return mail.DecodeHeader(v, "")
}
