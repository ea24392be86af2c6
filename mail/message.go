package mail

import (
	"bytes"
	"strings"
)

// Options bound the work Parse does and carry what the message itself
// cannot tell. The zero value selects every default.
type Options struct {
	// MaxBodyScan is SpamAssassin's body_part_scan_size: the bytes of each
	// rendered text part kept for Body. Default 50000; negative means no limit.
	MaxBodyScan int
	// MaxRawBodyScan is rawbody_part_scan_size: the bytes of each decoded
	// text part kept for RawBody. Default 500000; negative means no limit.
	MaxRawBodyScan int
	// MaxHTMLScan is the bytes of each HTML part's source that are
	// rendered for Body, URIs and HTML. Default 1 MiB; negative means no
	// limit (SpamAssassin renders all of it, which costs seconds for
	// parts of many megabytes).
	MaxHTMLScan int
	// MaxHeaders is the number of header fields kept per header section
	// (the message's and each part's); further fields are skipped and
	// Message.Truncated reports it. Default 1000.
	MaxHeaders int
	// MaxHeaderValue is the bytes kept of one field value. Default 8192,
	// SpamAssassin's MAX_HEADER_VALUE_LENGTH.
	MaxHeaderValue int
	// MaxMIMEParts is the number of MIME parts parsed; the rest of the
	// message stays in the last part read. Default 1000.
	MaxMIMEParts int
	// MaxDepth is how deeply multiparts and message/rfc822 parts are
	// opened. Default 20, SpamAssassin's subparse limit.
	MaxDepth int
	// MaxMessageScan is the bytes of the body read at all: the MIME
	// structure, every part and Full come from the body's first
	// MaxMessageScan bytes (cut at a line end), so that the cost of a
	// message of many megabytes stays bounded. SpamAssassin has no such
	// limit, but spamc does not scan messages over 500 KB at all.
	// Default 4 MiB; negative means no limit.
	MaxMessageScan int
	// EnvelopeFrom is the SMTP MAIL FROM address, when known. It answers
	// the EnvelopeFrom pseudo-header; "<>" stands for the null
	// reverse-path (RFC 5321 §4.5.5) and yields an empty address.
	// When empty, EnvelopeFrom is derived from the header.
	EnvelopeFrom string
}

func (o Options) withDefaults() Options {
	if o.MaxBodyScan == 0 {
		o.MaxBodyScan = 50000
	}
	if o.MaxRawBodyScan == 0 {
		o.MaxRawBodyScan = 500000
	}
	if o.MaxMessageScan == 0 {
		o.MaxMessageScan = 4 << 20
	}
	if o.MaxHTMLScan == 0 {
		o.MaxHTMLScan = 1 << 20
	}
	if o.MaxHeaders <= 0 {
		o.MaxHeaders = 1000
	}
	if o.MaxHeaderValue <= 0 {
		o.MaxHeaderValue = 8192
	}
	if o.MaxMIMEParts <= 0 {
		o.MaxMIMEParts = 1000
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = 20
	}
	return o
}

// maxHeaderKey is SpamAssassin's MAX_HEADER_KEY_LENGTH.
const maxHeaderKey = 256

// maxAllHeaders is SpamAssassin's MAX_HEADER_LENGTH, the size cap of the
// ALL pseudo-header.
const maxAllHeaders = 65536

// Message is one parsed message. Create it with Parse. Its methods compute
// their results on first use and cache them: a Message is not safe for
// concurrent use, and the slices it returns must not be modified.
type Message struct {
	raw  []byte
	opts Options
	root *Part

	parts     []*Part // pre-order, root first
	leaves    []*Part
	truncated bool
	scanCut   bool // the body was longer than MaxMessageScan

	// Flags SpamAssassin's eval tests read.
	missingHeadBodySeparator     bool
	missingMIMEHeaders           bool
	missingMIMEHeadBodySeparator bool
	mimeEpilogueExists           bool
	mimePartLimitExceeded        bool
	mboxSep                      string

	bodyDone  bool
	body      [][]byte
	visible   [][]byte
	invisible [][]byte
	rawDone   bool
	rawBody   [][]byte
	hcache    map[string][]string // Header results by name ("\x00" prefix: raw)
	urisDone  bool
	uris      []string
	htmlDone  bool
	html      []*HTML
}

// Parse parses raw, a message as received (CRLF or LF line ends, an
// optional leading mbox "From " line). It never fails: whatever the input,
// the result answers every method. raw is kept, not copied.
func Parse(raw []byte, opts Options) *Message {
	m := &Message{raw: raw, opts: opts.withDefaults()}
	data := raw
	if len(data) > 5 && bytes.HasPrefix(data, []byte("From ")) {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			nl = len(data) - 1
		}
		m.mboxSep = string(data[:nl+1])
		data = data[nl+1:]
	}
	crlf := bytes.Contains(data, []byte("\r\n"))
	root := &Part{msg: m}
	body, hdrEnd := m.parseTopHeader(root, data, crlf)
	root.headerBytes = data[:hdrEnd]
	if max := m.opts.MaxMessageScan; max > 0 && len(body) > max {
		cut := bytes.LastIndexByte(body[:max], '\n') + 1
		if cut == 0 {
			cut = max
		}
		body = body[:cut]
		m.raw = raw[:len(raw)-len(data)+hdrEnd+cut]
		m.scanCut = true
	}
	if crlf {
		body = squashCRLF(body)
	}
	body = squashBlankLines(body)
	m.root = root
	m.walk(root, body, m.opts.MaxDepth, true, "")
	m.collect(root)
	return m
}

// HeaderLen returns the length of raw's header section as Parse splits
// it: a leading mbox "From " line and the blank line that ends the header
// included. What follows is the body.
func HeaderLen(raw []byte) int {
	data := raw
	if len(data) > 5 && bytes.HasPrefix(data, []byte("From ")) {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			nl = len(data) - 1
		}
		data = data[nl+1:]
	}
	m := &Message{opts: Options{}.withDefaults()}
	_, n := m.parseTopHeader(&Part{msg: m}, data, false)
	return len(raw) - len(data) + n
}

// ParseHeader splits a header section (what HeaderLen measures, the
// blank line that ends it included or not) into its fields, as Parse
// splits a message's header: for callers that changed a parsed message's
// header and need its fields again without parsing the body. Field values
// are not cut short.
func ParseHeader(section []byte) []Field {
	m := &Message{opts: Options{MaxHeaders: 1 << 30, MaxHeaderValue: 1 << 30}.withDefaults()}
	p := &Part{msg: m}
	m.parseTopHeader(p, section, bytes.Contains(section, []byte("\r\n")))
	return p.fields
}

// squashCRLF converts CRLF line ends to LF, as SpamAssassin does before
// reading MIME structure.
func squashCRLF(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			return append(out, b...)
		}
		out = append(out, b[:i]...)
		out = append(out, '\n')
		b = b[i+2:]
	}
}

// maxBlankLines is how many blank lines in a row SpamAssassin keeps.
const maxBlankLines = 20

// squashBlankLines shortens every run of more than 20 white-space-only
// lines to 20, as SpamAssassin does against padding.
func squashBlankLines(b []byte) []byte {
	run, long := 0, false
	for pos := 0; pos < len(b); {
		line := nextLine(b, pos)
		pos += len(line)
		if len(bytes.TrimSpace(line)) == 0 {
			run++
			if run > maxBlankLines {
				long = true
				break
			}
		} else {
			run = 0
		}
	}
	if !long {
		return b
	}
	// Like SpamAssassin, keep the first blank line of a long run and the
	// last 19.
	out := make([]byte, 0, len(b))
	for pos := 0; pos < len(b); {
		line := nextLine(b, pos)
		if len(bytes.TrimSpace(line)) != 0 {
			out = append(out, line...)
			pos += len(line)
			continue
		}
		var starts []int
		q := pos
		for q < len(b) {
			l := nextLine(b, q)
			if len(bytes.TrimSpace(l)) != 0 {
				break
			}
			starts = append(starts, q)
			q += len(l)
		}
		if len(starts) > maxBlankLines {
			out = append(out, b[pos:starts[1]]...)
			out = append(out, b[starts[len(starts)-maxBlankLines+1]:q]...)
		} else {
			out = append(out, b[pos:q]...)
		}
		pos = q
	}
	return out
}

// isFieldNameLine reports whether line starts like a header field:
// printable ASCII except ":" then optional WSP and a colon (RFC 5322 §3.6.8,
// with the obsolete WSP before the colon).
func isFieldNameLine(line []byte) bool {
	i := 0
	for i < len(line) && line[i] >= 0x21 && line[i] <= 0x7e && line[i] != ':' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i < len(line) && line[i] == ':'
}

// nextLine returns the line of b starting at pos, newline included.
func nextLine(b []byte, pos int) []byte {
	nl := bytes.IndexByte(b[pos:], '\n')
	if nl < 0 {
		return b[pos:]
	}
	return b[pos : pos+nl+1]
}

func isBlankLine(line []byte) bool {
	return len(line) == 0 || line[0] == '\n' || (line[0] == '\r' && (len(line) == 1 || line[1] == '\n'))
}

// parseTopHeader reads the message header section into p, as
// SpamAssassin's Message::new does, and returns the body and the length of
// the header section in data.
func (m *Message) parseTopHeader(p *Part, data []byte, crlf bool) ([]byte, int) {
	pos := 0
	errs := 0
	start := -1 // start of the field being collected
	finish := func(end int) {
		if start >= 0 {
			m.addField(p, data[start:end], start, crlf, true)
		}
		start = -1
	}
	for pos < len(data) {
		line := nextLine(data, pos)
		if line[0] == ' ' || line[0] == '\t' {
			if start < 0 {
				start = pos // a header starting with a continuation
			}
			pos += len(line)
			continue
		}
		finish(pos)
		if isBlankLine(line) {
			return data[pos+len(line):], pos + len(line)
		}
		if len(line) >= 2 && line[0] == '-' && line[1] == '-' {
			// A MIME boundary: the blank line is missing.
			m.missingHeadBodySeparator = true
			return data[pos:], pos
		}
		if !isFieldNameLine(line) {
			errs++
			if errs > 3 {
				m.missingHeadBodySeparator = true
				return data[pos:], pos
			}
		}
		start = pos
		pos += len(line)
	}
	finish(pos)
	m.missingHeadBodySeparator = true
	return nil, len(data)
}

// addField stores one raw header field (name, colon, value, folded lines)
// in p, found at offset in its header section. top selects SpamAssassin's top-level value form (white space after
// the colon kept); MIME part fields drop it.
func (m *Message) addField(p *Part, line []byte, offset int, crlf, top bool) {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return
	}
	if len(p.fields) >= m.opts.MaxHeaders {
		m.truncated = true
		return
	}
	name := bytes.TrimRight(line[:colon], " \t")
	if len(name) > maxHeaderKey {
		name = name[:maxHeaderKey]
		m.truncated = true
	}
	value := line[colon+1:]
	if !top {
		value = bytes.TrimLeft(value, " \t\r\n")
	}
	var v string
	if crlf && bytes.IndexByte(value, '\r') >= 0 {
		v = string(squashCRLF(value))
	} else {
		v = string(value)
	}
	if len(v) > m.opts.MaxHeaderValue {
		v = v[:m.opts.MaxHeaderValue]
		m.truncated = true
	}
	p.fields = append(p.fields, Field{Name: string(name), rawValue: v, line: line, offset: offset})
}

// collect records every part in pre-order and the leaves.
func (m *Message) collect(p *Part) {
	m.parts = append(m.parts, p)
	if p.IsLeaf() {
		m.leaves = append(m.leaves, p)
		return
	}
	for _, c := range p.Children {
		m.collect(c)
	}
}

// Full returns the message exactly as given to Parse (SpamAssassin's
// "full" rules match it whole), cut like the body to
// Options.MaxMessageScan.
func (m *Message) Full() []byte { return m.raw }

// ScanCut reports whether the body was longer than Options.MaxMessageScan,
// so that only its beginning was parsed.
func (m *Message) ScanCut() bool { return m.scanCut }

// Truncated reports whether a limit of Options cut anything: header fields,
// header values or MIME parts.
func (m *Message) Truncated() bool { return m.truncated || m.mimePartLimitExceeded }

// ParseFlags are the irregularities SpamAssassin's check_msg_parse_flags
// eval tests.
type ParseFlags struct {
	// MissingHeadBodySeparator: the header section did not end with a
	// blank line.
	MissingHeadBodySeparator bool
	// MissingMIMEHeaders: a line right after a boundary is not a field.
	MissingMIMEHeaders bool
	// MissingMIMEHeadBodySeparator: a part's fields run straight into text.
	MissingMIMEHeadBodySeparator bool
	// TruncatedHeader: a field was dropped or cut (Options limits).
	TruncatedHeader bool
	// MIMEPartLimitExceeded: more parts than Options.MaxMIMEParts.
	MIMEPartLimitExceeded bool
	// MIMEEpilogueExists: text after a closing boundary.
	MIMEEpilogueExists bool
}

// ParseFlags returns what went irregular while parsing.
func (m *Message) ParseFlags() ParseFlags {
	return ParseFlags{
		MissingHeadBodySeparator:     m.missingHeadBodySeparator,
		MissingMIMEHeaders:           m.missingMIMEHeaders,
		MissingMIMEHeadBodySeparator: m.missingMIMEHeadBodySeparator,
		TruncatedHeader:              m.truncated,
		MIMEPartLimitExceeded:        m.mimePartLimitExceeded,
		MIMEEpilogueExists:           m.mimeEpilogueExists,
	}
}

// MissingHeadBodySeparator reports that the header section did not end
// with a blank line (SpamAssassin's missing_head_body_separator).
func (m *Message) MissingHeadBodySeparator() bool { return m.missingHeadBodySeparator }

// MissingMIMEHeaders reports a MIME part without header fields after its
// boundary (SpamAssassin's missing_mime_headers).
func (m *Message) MissingMIMEHeaders() bool { return m.missingMIMEHeaders }

// MboxSeparator returns the leading mbox "From " line, if any, newline
// included.
func (m *Message) MboxSeparator() string { return m.mboxSep }

// HeaderBytes returns the raw header section of the message, the blank
// line that ends it included (SpamAssassin's pristine header).
func (m *Message) HeaderBytes() []byte { return m.root.headerBytes }

// Root returns the top-level part: the message's own header and content.
func (m *Message) Root() *Part { return m.root }

// Parts returns every MIME part in pre-order, the root first: multiparts,
// message/rfc822 containers (whose child is the attached message) and
// leaves.
func (m *Message) Parts() []*Part { return m.parts }

// Leaves returns the parts that have no children, in message order
// (SpamAssassin's find_parts(qr/./, 1)).
func (m *Message) Leaves() []*Part { return m.leaves }

// HasHeader reports whether the message has at least one field of that
// name (case-insensitive), for SpamAssassin's "exists:" rules.
// Pseudo-headers are present when they have a value.
func (m *Message) HasHeader(name string) bool {
	switch name {
	case "ALL", "MESSAGEID":
		return len(m.Header(name, true)) > 0
	}
	if strings.EqualFold(name, "ToCc") || strings.EqualFold(name, "EnvelopeFrom") {
		return len(m.Header(name, true)) > 0
	}
	return len(m.root.lookup(name)) > 0
}

// Header returns the values of every field with that name
// (case-insensitive), in message order, as SpamAssassin's
// PerMsgStatus::get does in list context. Each value ends with "\n", as
// in SpamAssassin: join them with "" to build the string a header rule
// matches.
//
// Decoded values (raw false) are unfolded (a line break and the white space
// after it become one space), trimmed and decoded per RFC 2047 to UTF-8.
// Raw values are the bytes after the colon as received (CRLF as LF),
// leading white space and folding kept, as SpamAssassin's ":raw" gives
// them; for ToCc and MESSAGEID raw values are unfolded, as in SpamAssassin.
//
// Pseudo-headers: "ALL" returns every field as "Name: value\n" (raw: each
// field as received, folding kept); "ToCc" the To then Cc values;
// "MESSAGEID" the non-empty X-Message-Id, Resent-Message-Id,
// X-Original-Message-ID and Message-Id values; "EnvelopeFrom" the envelope
// sender without "\n" (Options.EnvelopeFrom, else the first address of
// X-Envelope-From, Envelope-Sender or Return-Path that does not follow a
// Received field).
func (m *Message) Header(name string, raw bool) []string {
	key := name
	if raw {
		key = "\x00" + name
	}
	if v, ok := m.hcache[key]; ok {
		return v
	}
	v := m.header(name, raw)
	if m.hcache == nil {
		m.hcache = make(map[string][]string, 16)
	}
	m.hcache[key] = v
	return v
}

func (m *Message) header(name string, raw bool) []string {
	switch name {
	case "ALL":
		return m.allHeaders(raw)
	case "MESSAGEID":
		var out []string
		for _, n := range []string{"X-Message-Id", "Resent-Message-Id", "X-Original-Message-ID", "Message-Id"} {
			for _, v := range m.root.headerSA(n, raw) {
				if v != "" && v != "\n" {
					out = append(out, v)
				}
			}
		}
		return out
	}
	switch {
	case strings.EqualFold(name, "ToCc"):
		to := m.root.headerSA("To", raw)
		cc := m.root.headerSA("Cc", raw)
		if len(cc) == 0 {
			return to
		}
		out := make([]string, 0, len(to)+len(cc))
		return append(append(out, to...), cc...)
	case strings.EqualFold(name, "EnvelopeFrom"):
		if e, ok := m.envelopeFrom(); ok {
			return []string{e}
		}
		return nil
	}
	return m.root.Header(name, raw)
}

// HeaderValues returns the decoded values of every field with that name,
// in message order, without SpamAssassin's trailing newline: the form
// Sieve's header test (RFC 5228 §5.7) and most Go callers want.
func (m *Message) HeaderValues(name string) []string {
	idx := m.root.lookup(name)
	if len(idx) == 0 {
		return nil
	}
	out := make([]string, len(idx))
	for j, i := range idx {
		out[j] = m.root.decoded(&m.root.fields[i])
	}
	return out
}

func (m *Message) allHeaders(raw bool) []string {
	out := make([]string, 0, len(m.root.fields))
	size := 0
	for i := range m.root.fields {
		f := &m.root.fields[i]
		var s string
		if raw {
			s = string(f.line)
		} else {
			s = f.Name + ": " + m.root.decoded(f) + "\n"
			size += len(s)
			if size > maxAllHeaders {
				break
			}
		}
		out = append(out, s)
	}
	return out
}

// SMTPSender returns Options.EnvelopeFrom without its angle brackets (""
// for the null sender "<>"); ok is false when the caller gave none.
func (m *Message) SMTPSender() (addr string, ok bool) {
	e := m.opts.EnvelopeFrom
	if e == "" {
		return "", false
	}
	if e == "<>" {
		return "", true
	}
	return strings.TrimSuffix(strings.TrimPrefix(e, "<"), ">"), true
}

// envelopeFrom follows PerMsgStatus::get_envelope_from without the relay
// analysis, which belongs to the rule engine.
func (m *Message) envelopeFrom() (string, bool) {
	if e, ok := m.SMTPSender(); ok {
		return e, true
	}
	if xs := m.root.lookup("x-sender"); len(xs) > 0 {
		if a := HeaderAddr(m.root.fields[xs[0]].rawValue); len(a) > 0 && strings.Contains(a[0], "@") {
			for _, v := range m.root.Header("Received", true) {
				if strings.Contains(v, "(fetchmail") {
					return "", false
				}
			}
		}
	}
	firstReceived := -1
	if r := m.root.lookup("received"); len(r) > 0 {
		firstReceived = r[0]
	}
	for _, n := range []string{"x-envelope-from", "envelope-sender", "return-path"} {
		idx := m.root.lookup(n)
		if len(idx) == 0 {
			continue
		}
		a := HeaderAddr(m.root.fields[idx[0]].rawValue)
		if len(a) == 0 {
			continue
		}
		// A field below a Received field was not added by our MTA.
		after := false
		for _, i := range idx {
			if firstReceived >= 0 && i > firstReceived {
				after = true
				break
			}
		}
		if after {
			if n == "x-envelope-from" {
				return "", false
			}
			continue
		}
		return a[0], true
	}
	return "", false
}

// MIMEHeader returns the values of that field in the header of every MIME
// part (the message's own header included), in part order: what
// SpamAssassin's mimeheader rules match one part at a time. Values end
// with "\n" as in Header; name "ALL" gives each part's whole header as one
// string.
func (m *Message) MIMEHeader(name string, raw bool) []string {
	var out []string
	for _, p := range m.parts {
		if name == "ALL" {
			var b strings.Builder
			for i := range p.fields {
				f := &p.fields[i]
				b.WriteString(f.Name)
				b.WriteString(": ")
				if raw {
					b.WriteString(unfoldRaw(f.rawValue))
				} else {
					b.WriteString(p.decoded(f))
					b.WriteByte('\n')
				}
			}
			out = append(out, b.String())
			continue
		}
		out = append(out, p.Header(name, raw)...)
	}
	return out
}
