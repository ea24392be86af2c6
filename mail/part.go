package mail

import (
	"bytes"
	"mime"
	"strings"
)

// Field is one header field as received.
type Field struct {
	// Name is the field name as written, without trailing white space.
	Name string

	rawValue string // after the colon, LF line ends, ends with "\n"
	line     []byte // the whole field as received
	offset   int    // where line starts in its header section; -1 in a multipart's parts
	dec      string
	decDone  bool
}

// RawValue returns the value after the colon as received (line ends
// converted to LF, ending with "\n"), folding kept.
func (f *Field) RawValue() string { return f.rawValue }

// Raw returns the whole field as received: name, colon, value, folded
// lines and the line end, bytes unchanged.
func (f *Field) Raw() []byte { return f.line }

// Offset returns where the field starts in its header section (the
// message's HeaderBytes after any mbox line, or the section given to
// ParseHeader), or -1 for a field of a part inside a multipart.
func (f *Field) Offset() int { return f.offset }

// Value returns the decoded value without SpamAssassin's trailing
// newline: unfolded, trimmed and decoded per RFC 2047, as HeaderValues
// gives it.
func (f *Field) Value() string {
	if !f.decDone {
		f.dec = decodeHeader(unfoldTrim(f.rawValue), f.Name)
		f.decDone = true
	}
	return f.dec
}

// Unfolded returns the value as written, not decoded: its line breaks
// removed (RFC 5322 §2.2.3) and white space trimmed from both ends, for
// values compared byte for byte (Message-ID, DKIM tags, trace tokens).
func (f *Field) Unfolded() string {
	return strings.TrimSpace(strings.ReplaceAll(f.rawValue, "\n", ""))
}

// Part is one MIME entity: the message itself, a multipart, a
// message/rfc822 container or a leaf.
type Part struct {
	// ContentType is the lower-case media type as SpamAssassin sees it:
	// "text/plain" when absent, and for every text/* type except
	// text/html, text/calendar and text/x-vcard.
	ContentType string
	// Charset is the charset parameter of Content-Type, as written.
	Charset string
	// Name is the file name from Content-Disposition or Content-Type.
	Name string
	// Boundary is the multipart boundary in effect for this part.
	Boundary string
	// Children are the parts of a multipart, or the attached message of a
	// message/rfc822 part.
	Children []*Part

	msg         *Message
	container   bool // read as a multipart or message/rfc822: never a leaf
	fields      []Field
	index       map[string][]int
	headerBytes []byte
	body        []byte // content, transfer-encoded
	hasBody     bool

	decodedDone bool
	decoded_    []byte
	rendered    *rendering
	paramsDone  bool
	params      map[string]string
	// preamble and epilogue are a multipart's text before its first and
	// after its closing boundary line.
	preamble, epilogue []byte
}

// HeaderBytes returns the part's header section as received, the blank
// line that ends it included, when the part has one of its own: the
// message and the message a message/rfc822 part holds (nil for the parts
// of a multipart). Line ends are LF.
func (p *Part) HeaderBytes() []byte { return p.headerBytes }

// Preamble returns the text of a multipart before its first boundary
// line (RFC 2046 §5.1.1), nil for other parts. Line ends are LF.
func (p *Part) Preamble() []byte { return p.preamble }

// Epilogue returns the text of a multipart after its closing boundary
// line, nil for other parts. Line ends are LF.
func (p *Part) Epilogue() []byte { return p.epilogue }

// Fields returns the part's header fields in order.
func (p *Part) Fields() []Field { return p.fields }

// lookup returns the indexes of the fields named name (case-insensitive).
func (p *Part) lookup(name string) []int {
	if len(p.fields) <= 8 {
		var out []int
		for i := range p.fields {
			if strings.EqualFold(p.fields[i].Name, name) {
				out = append(out, i)
			}
		}
		return out
	}
	if p.index == nil {
		p.index = make(map[string][]int, len(p.fields))
		for i := range p.fields {
			k := strings.ToLower(p.fields[i].Name)
			p.index[k] = append(p.index[k], i)
		}
	}
	if idx, ok := p.index[name]; ok {
		return idx
	}
	return p.index[strings.ToLower(name)]
}

// Header returns the values of the part's fields named name, decoded or
// raw, each ending in "\n" (see Message.Header). Raw values are as
// received, folding kept (SpamAssassin's raw_header).
func (p *Part) Header(name string, raw bool) []string {
	idx := p.lookup(name)
	if len(idx) == 0 {
		return nil
	}
	out := make([]string, len(idx))
	for j, i := range idx {
		f := &p.fields[i]
		if raw {
			out[j] = f.rawValue
		} else {
			out[j] = p.decoded(f) + "\n"
		}
	}
	return out
}

// Get returns the last decoded value of the field, without the trailing
// newline, or "" (SpamAssassin's scalar get_header).
func (p *Part) Get(name string) string {
	idx := p.lookup(name)
	if len(idx) == 0 {
		return ""
	}
	return p.decoded(&p.fields[idx[len(idx)-1]])
}

// decoded returns f's value unfolded, trimmed and RFC 2047-decoded.
func (p *Part) decoded(f *Field) string { return f.Value() }

// unfoldTrim applies RFC 5322 §2.2.3 unfolding as SpamAssassin does
// (a newline and the blanks after it become one space) and trims.
func unfoldTrim(v string) string {
	v = strings.TrimSpace(v)
	if strings.IndexByte(v, '\n') < 0 {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\n' && i+1 < len(v) && (v[i+1] == ' ' || v[i+1] == '\t') {
			b.WriteByte(' ')
			for i+1 < len(v) && (v[i+1] == ' ' || v[i+1] == '\t') {
				i++
			}
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// unfoldRaw replaces each line break followed by white space with one
// space, keeping everything else (SpamAssassin's raw get_header).
func unfoldRaw(v string) string {
	i := strings.IndexByte(v, '\n')
	if i < 0 || i == len(v)-1 {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' && i+1 < len(v) && v[i+1] == '\n' {
			continue
		}
		if c == '\n' && i+1 < len(v) && isSpaceByte(v[i+1]) {
			b.WriteByte(' ')
			for i+1 < len(v) && isSpaceByte(v[i+1]) {
				i++
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// IsLeaf reports whether the part holds content rather than other parts.
// A multipart with no parts at all is not a leaf (as in SpamAssassin).
func (p *Part) IsLeaf() bool { return !p.container && len(p.Children) == 0 }

// Params returns the Content-Type parameters (lower-case names), RFC 2231
// continuations joined when the field is well formed.
func (p *Part) Params() map[string]string {
	if !p.paramsDone {
		p.paramsDone = true
		ct := p.Get("Content-Type")
		if ct != "" {
			if _, params, err := mime.ParseMediaType(ct); err == nil || len(params) > 0 {
				p.params = params
			}
		}
	}
	return p.params
}

// Disposition returns the lower-case Content-Disposition type ("inline",
// "attachment") or "".
func (p *Part) Disposition() string {
	d := p.Get("Content-Disposition")
	if i := strings.IndexByte(d, ';'); i >= 0 {
		d = d[:i]
	}
	return strings.ToLower(strings.TrimSpace(d))
}

// IsAttachment reports whether the part is meant as an attachment: a
// Content-Disposition of "attachment", or a file name on a part that is
// not inline.
func (p *Part) IsAttachment() bool {
	d := p.Disposition()
	return d == "attachment" || (p.Name != "" && d != "inline")
}

// EffectiveType is ContentType, except that a part whose file name ends
// in .htm, .html or .shtml is text/html (SpamAssassin's effective_type).
func (p *Part) EffectiveType() string {
	n := strings.ToLower(p.Name)
	if strings.HasSuffix(n, ".html") || strings.HasSuffix(n, ".htm") || strings.HasSuffix(n, ".shtml") || strings.HasSuffix(n, ".shtm") {
		return "text/html"
	}
	return p.ContentType
}

// RawContent returns the leaf's content as received, before transfer
// decoding (nil for containers).
func (p *Part) RawContent() []byte { return p.body }

// Decoded returns the leaf's content with the Content-Transfer-Encoding
// undone (base64, quoted-printable; others as is). For text and message
// types CRLF becomes LF. Containers return nil.
func (p *Part) Decoded() []byte {
	if p.decodedDone {
		return p.decoded_
	}
	p.decodedDone = true
	if !p.hasBody {
		return nil
	}
	cte := strings.ToLower(strings.TrimSpace(p.Get("Content-Transfer-Encoding")))
	switch cte {
	case "quoted-printable":
		p.decoded_ = crlfToLF(decodeQP(p.body))
	case "base64":
		d := decodeBase64(p.body)
		if strings.HasPrefix(p.ContentType, "text/") || strings.HasPrefix(p.ContentType, "message/") {
			d = crlfToLF(d)
		}
		p.decoded_ = d
	default:
		p.decoded_ = p.body
	}
	return p.decoded_
}

func crlfToLF(b []byte) []byte {
	if bytes.Index(b, []byte("\r\n")) < 0 {
		return b
	}
	return squashCRLF(b)
}

// Text returns the leaf's decoded content converted to UTF-8 from its
// charset (SpamAssassin's normalize_charset), or nil for non-text parts.
func (p *Part) Text() []byte {
	t := p.EffectiveType()
	if !strings.HasPrefix(t, "text/") {
		return nil
	}
	cs := p.Charset
	if cs == "" {
		cs = "us-ascii"
	}
	return toUTF8(p.Decoded(), cs, false)
}

// decodedPrefix returns at least the first n bytes of the decoded content
// (all of it when n < 0 or the content is short), decoding no more of a
// large part than needed.
func (p *Part) decodedPrefix(n int) []byte {
	if n < 0 || p.decodedDone || !p.hasBody {
		return p.Decoded()
	}
	// Raw bytes needed for n decoded bytes: base64 takes 4 per 3 plus line
	// breaks, quoted-printable at most 3 per byte.
	need := n + 4096
	switch strings.ToLower(strings.TrimSpace(p.Get("Content-Transfer-Encoding"))) {
	case "base64":
		need = 2*n + 4096
	case "quoted-printable":
		need = 3*n + 4096
	}
	if need >= len(p.body) {
		return p.Decoded()
	}
	q := &Part{ContentType: p.ContentType, msg: p.msg, fields: p.fields, body: p.body[:need], hasBody: true}
	return q.Decoded()
}

// parseContentType follows SpamAssassin's Util::parse_content_type: it
// returns the media type (normalised as Part.ContentType documents), the
// boundary, charset and name parameters, and whether the field was absent.
func parseContentType(ct string) (typ, boundary, charset, name string, missing bool) {
	if ct == "" {
		missing = true
		ct = "text/plain; charset=us-ascii"
	}
	boundary = paramValue(ct, "boundary", true)
	charset = paramValue(ct, "charset", false)
	name = paramValue(ct, "name", false)
	if name == "" {
		name = paramValue(ct, "filename", false)
	}
	if name == "" {
		name = rfc2231Name(ct)
	}
	t := strings.TrimLeft(ct, " \t\r\n")
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = t[:i]
	}
	// Only "something/something" up to white space counts.
	if i := strings.IndexByte(t, '/'); i >= 0 {
		j := i + 1
		for j < len(t) && t[j] != '/' && !isSpaceByte(t[j]) {
			j++
		}
		t = t[:j]
	}
	t = strings.ToLower(t)
	if t == "" {
		missing = true
	}
	if t == "" || (strings.HasPrefix(t, "text") && isWordEnd(t, 4) && t != "text/x-vcard" && t != "text/calendar" && t != "text/html") {
		t = "text/plain"
	}
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c <= 0x20 || c >= 0x7f || c == '"' || c == '(' || c == ')' || c == ',' || (c >= ':' && c <= '@') || (c >= '[' && c <= ']') {
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), boundary, charset, name, missing
}

func isWordEnd(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	c := s[i]
	return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c >= 'A' && c <= 'Z')
}

// paramValue finds "name=value" in a header value the relaxed way
// SpamAssassin's regexes do: name preceded by a non-word character,
// optional quotes, value up to ";" (or, for the boundary, up to a quote,
// space or ";").
func paramValue(s, name string, isBoundary bool) string {
	ls := strings.ToLower(s)
	from := 0
	for {
		i := strings.Index(ls[from:], name)
		if i < 0 {
			return ""
		}
		i += from
		from = i + len(name)
		if i > 0 && !isWordEnd(ls, i-1) {
			continue
		}
		j := i + len(name)
		for j < len(s) && isSpaceByte(s[j]) {
			j++
		}
		if j >= len(s) || s[j] != '=' {
			continue
		}
		j++
		for j < len(s) && isSpaceByte(s[j]) {
			j++
		}
		if isBoundary {
			if j < len(s) && s[j] == '"' {
				k := strings.IndexByte(s[j+1:], '"')
				if k < 0 {
					return s[j+1:]
				}
				if k == 0 {
					continue
				}
				return s[j+1 : j+1+k]
			}
			k := j
			for k < len(s) && s[k] != '"' && s[k] != ';' && !isSpaceByte(s[k]) {
				k++
			}
			if k == j {
				continue
			}
			return s[j:k]
		}
		if j < len(s) && (s[j] == '"' || s[j] == '\'') {
			j++
		}
		k := strings.IndexByte(s[j:], ';')
		var v string
		if k < 0 {
			v = s[j:]
		} else {
			v = s[j : j+k]
		}
		v = strings.TrimRight(v, " \t\r\n")
		v = strings.TrimRight(v, "\"'")
		return v
	}
}

// rfc2231Name joins name*0, name*1, ... continuations (RFC 2231 §3).
func rfc2231Name(ct string) string {
	if !strings.Contains(strings.ToLower(ct), "name*0") {
		return ""
	}
	var parts []string
	for n := 0; n < 100; n++ {
		key := "name*" + itoa(n)
		v := paramValue(ct, key, false)
		if v == "" {
			v = paramValue(ct, key+"*", false)
		}
		if v == "" {
			break
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, "")
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// isBoundaryLine reports whether line is "--boundary" or "--boundary--"
// followed only by white space (RFC 2046 §5.1.1), and whether it is the
// closing one.
func isBoundaryLine(line []byte, boundary string) (ok, last bool) {
	if len(line) < 2+len(boundary) || line[0] != '-' || line[1] != '-' || string(line[2:2+len(boundary)]) != boundary {
		return false, false
	}
	rest := line[2+len(boundary):]
	if len(rest) >= 2 && rest[0] == '-' && rest[1] == '-' {
		if len(bytes.TrimSpace(rest[2:])) == 0 {
			return true, true
		}
	}
	return len(bytes.TrimSpace(rest)) == 0, false
}

// walk fills p from its content the way SpamAssassin's parse_body,
// _parse_multipart and _parse_normal do. depth counts down the nesting
// still allowed.
func (m *Message) walk(p *Part, body []byte, depth int, top bool, inherited string) {
	typ, boundary, _, _, _ := parseContentType(p.Get("Content-Type"))
	if boundary == "" {
		boundary = inherited
	}
	if p.ContentType == "" {
		p.ContentType = typ
	}
	if strings.HasPrefix(p.ContentType, "multipart/") && boundary != "" && depth > 0 && len(m.parts)+len(p.Children) < m.opts.MaxMIMEParts {
		p.Boundary = boundary
		p.container = true
		padded := false
		if top && len(body) > 0 {
			// SpamAssassin: a multipart body not starting with its boundary
			// gets a blank line in front, so text before any boundary never
			// reads as part headers.
			first := nextLine(body, 0)
			if ok, _ := isBoundaryLine(first, boundary); !ok && len(bytes.TrimSpace(first)) > 0 && bytes.IndexByte(body, '\n') < len(body)-1 {
				body = append([]byte("\n"), body...)
				padded = true
			}
		}
		m.walkMultipart(p, body, boundary, depth-1)
		if padded && len(p.preamble) > 0 {
			p.preamble = p.preamble[1:]
		}
		return
	}
	m.leaf(p, body, boundary, depth)
}

func (m *Message) leaf(p *Part, body []byte, boundary string, depth int) {
	typ, _, charset, name, missing := parseContentType(p.Get("Content-Type"))
	if !missing {
		if !strings.HasPrefix(typ, "multipart/") || boundary != "" {
			p.ContentType = typ
		} else {
			p.ContentType = "text/plain"
		}
	}
	p.Charset = charset
	disp := p.Get("Content-Disposition")
	if n := paramValue(disp, "name", false); n != "" {
		p.Name = n
	} else if n := paramValue(disp, "filename", false); n != "" {
		p.Name = n
	} else {
		p.Name = name
	}
	p.Boundary = boundary
	p.body = body
	p.hasBody = true
	if (p.ContentType == "message/rfc822" || p.ContentType == "message/global") && depth > 0 && m.partCount() < m.opts.MaxMIMEParts {
		d := p.Decoded()
		if len(d) == 0 {
			return
		}
		child := &Part{msg: m}
		crlf := bytes.Contains(d, []byte("\r\n"))
		cbody, hdrEnd := m.parseTopHeader(child, d, crlf)
		child.headerBytes = d[:hdrEnd]
		if crlf {
			cbody = squashCRLF(cbody)
		}
		p.Children = append(p.Children, child)
		p.container = true
		p.hasBody = false
		p.body = nil
		p.decoded_ = nil
		m.walk(child, cbody, depth-1, true, "")
	}
}

// partCount counts parts created so far; parts are registered in m.parts
// only after the walk, so this walks the tree.
func (m *Message) partCount() int {
	n := 0
	var count func(*Part)
	count = func(p *Part) {
		n++
		for _, c := range p.Children {
			count(c)
		}
	}
	if m.root != nil {
		count(m.root)
	}
	return n
}

// walkMultipart splits a multipart body at its boundary lines
// (RFC 2046 §5.1.1), tolerating a missing first or last boundary, parts
// without headers and one level of a nested multipart reusing the same
// boundary.
func (m *Message) walkMultipart(p *Part, body []byte, boundary string, depth int) {
	pos := 0
	// Skip the preamble, up to and including the first boundary line.
	for q := 0; q < len(body); {
		line := nextLine(body, q)
		if ok, _ := isBoundaryLine(line, boundary); ok {
			p.preamble = body[:q]
			pos = q + len(line)
			if pos < len(body) && !isFieldNameLine(nextLine(body, pos)) {
				m.missingMIMEHeaders = true
			}
			break
		}
		q += len(line)
	}
	budget := m.opts.MaxMIMEParts - m.partCount()
	var cur *Part
	inBody := false
	hdrStart := -1
	bodyStart := -1
	nested := false
	flushHeader := func(end int) {
		if hdrStart >= 0 {
			m.addField(cur, body[hdrStart:end], -1, false, false)
			hdrStart = -1
		}
	}
	finishPart := func(end int) {
		flushHeader(end)
		var content []byte
		if bodyStart >= 0 && end > bodyStart {
			content = body[bodyStart:end]
		} else {
			content = []byte{}
		}
		typ, pb, _, _, missing := parseContentType(cur.Get("Content-Type"))
		cur.ContentType = typ
		if missing && p.ContentType == "multipart/digest" {
			// RFC 2046 §5.1.5: digest parts default to message/rfc822.
			cur.ContentType = "message/rfc822"
		}
		if pb == "" {
			pb = boundary
		}
		p.Children = append(p.Children, cur)
		m.walkChild(cur, content, pb, depth)
	}
	for pos < len(body) {
		if cur == nil {
			if budget <= 0 {
				m.mimePartLimitExceeded = true
				return
			}
			budget--
			cur = &Part{msg: m}
			inBody, hdrStart, bodyStart, nested = false, -1, -1, false
		}
		line := nextLine(body, pos)
		isB, isLast := false, false
		if len(line) >= 2 && line[0] == '-' && line[1] == '-' {
			isB, isLast = isBoundaryLine(line, boundary)
			if isB && nested {
				isB = false
				if isLast {
					nested = false
				}
			}
		}
		lastLine := pos+len(line) >= len(body)
		if isB {
			// The line break before a boundary belongs to the boundary.
			end := pos
			if end > 0 && body[end-1] == '\n' && (bodyStart < 0 || end > bodyStart) {
				end--
			}
			if bodyStart < 0 {
				flushHeader(pos)
				bodyStart = pos
				end = pos
			}
			finishPart(end)
			cur = nil
			pos += len(line)
			if isLast {
				p.epilogue = body[pos:]
				// SpamAssassin flags an epilogue holding more than dots
				// and white space.
				for _, c := range body[pos:] {
					if !isSpaceByte(c) && c != '.' {
						m.mimeEpilogueExists = true
						break
					}
				}
				return
			}
			if pos < len(body) && !isFieldNameLine(nextLine(body, pos)) {
				m.missingMIMEHeaders = true
			}
			continue
		}
		if !inBody {
			switch {
			case isFieldNameLine(line):
				flushHeader(pos)
				hdrStart = pos
			case (line[0] == ' ' || line[0] == '\t') && hdrStart >= 0:
			default:
				isCT := false
				if hdrStart >= 0 {
					isCT = bytes.HasPrefix(bytes.ToLower(body[hdrStart:min(hdrStart+13, len(body))]), []byte("content-type:"))
				}
				flushHeader(pos)
				if isCT {
					if _, nb, _, _, _ := parseContentType(cur.Get("Content-Type")); nb != "" && nb == boundary {
						nested = true
					}
				}
				inBody = true
				if isBlankLine(line) {
					bodyStart = pos + len(line)
				} else {
					bodyStart = pos
					m.missingMIMEHeadBodySeparator = true
				}
			}
			pos += len(line)
			if lastLine {
				if bodyStart < 0 {
					flushHeader(pos)
					bodyStart = pos
				}
				finishPart(pos)
				cur = nil
			}
			continue
		}
		pos += len(line)
		if lastLine {
			finishPart(pos)
			cur = nil
		}
	}
	if cur != nil {
		if bodyStart < 0 {
			flushHeader(len(body))
			bodyStart = len(body)
		}
		finishPart(len(body))
	}
}

// walkChild parses one part of a multipart.
func (m *Message) walkChild(p *Part, content []byte, boundary string, depth int) {
	if strings.HasPrefix(p.ContentType, "multipart/") && boundary != "" && depth > 0 {
		p.Boundary = boundary
		p.container = true
		m.walkMultipart(p, content, boundary, depth-1)
		return
	}
	m.leaf(p, content, boundary, depth)
}

// headerUnfoldedRaw returns raw values with each line break and the white
// space after it replaced by one space (SpamAssassin's get_header(name, 1)).
func (p *Part) headerUnfoldedRaw(name string) []string {
	vs := p.Header(name, true)
	for i, v := range vs {
		vs[i] = unfoldRaw(v)
	}
	return vs
}

// headerSA returns decoded values, or unfolded raw ones.
func (p *Part) headerSA(name string, raw bool) []string {
	if raw {
		return p.headerUnfoldedRaw(name)
	}
	return p.Header(name, false)
}
