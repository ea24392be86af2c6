package pipeline

import (
	"bytes"
	"io"
	"net"
	"strings"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/scoring"
)

// parse parses m once for every per-message step, with the spam stage's
// parser options when it is configured, and returns the parse.
func (p *Pipeline) parse(m *Message) *mail.Message {
	if m.Parsed != nil {
		return m.Parsed
	}
	start := p.cfg.Now()
	var opts mail.Options
	if s := p.cfg.Spam; s != nil {
		opts = s.Parse
	}
	if opts.EnvelopeFrom == "" {
		opts.EnvelopeFrom = m.Env.MailFrom
	}
	raw := m.Raw
	if p.cfg.Spam == nil && p.cfg.Sieve == nil && p.cfg.Auth == nil {
		// No stage reads the body (plain delivery): the header alone is
		// parsed, for the log's ids and the trace fields. The message
		// written out is m.Header and m.Body, never the parse.
		raw = m.Raw[:len(m.Raw)-len(m.Body)]
	}
	m.Parsed = mail.Parse(raw, opts)
	msgID, queueID := identify(m.Parsed.Root().Fields())
	m.MessageID = msgID
	if m.QueueID == "" {
		m.QueueID = queueID
	}
	if mt := p.cfg.Metrics; mt != nil {
		mt.ObserveStage("parse", p.cfg.Now().Sub(start))
	}
	return m.Parsed
}

// editHeader returns m's header under edit, the per-message steps' edits
// applied so far, or nil where they work on bytes instead: a header
// section that does not end with its blank line or follows an mbox line,
// which only scoring.Apply's byte-wise rewrite reproduces as SpamAssassin
// does.
func (p *Pipeline) editHeader(m *Message) *mail.Header {
	if m.edits != nil {
		return m.edits
	}
	pm := p.parse(m)
	if pm.MboxSeparator() != "" || !bytes.Equal(pm.HeaderBytes(), m.Header) ||
		!(bytes.HasSuffix(m.Header, []byte("\n\n")) || bytes.HasSuffix(m.Header, []byte("\n\r\n"))) {
		return nil
	}
	m.edits = pm.EditHeader()
	return m.edits
}

// renderHeader writes the edits of the per-message steps into m.Header,
// once, before anything reads the outgoing message.
func (m *Message) renderHeader() {
	if m.edits != nil {
		m.Header = m.edits.Bytes()
		m.edits = nil
	}
}

// editSpamHeaders adds SpamAssassin's fields and rewrites for v to m's
// header edits; where report_safe replaces the message, or the header
// must be rewritten as bytes, scoring.ApplyParts rewrites m.Header and
// m.Body after the edits so far are rendered.
func (p *Pipeline) editSpamHeaders(m *Message, v scoring.Verdict, conf rules.Config) {
	opt := p.cfg.Spam.Scoring
	if h := p.editHeader(m); h != nil {
		fields := h.Fields()
		head := m.Header
		if len(fields) > 0 {
			head = fields[0].Raw()
		}
		if e, ok := scoring.Edits(fields, scoring.CRLF(head, m.Body), v, conf, opt); ok {
			h.Edit(e)
			return
		}
	}
	m.renderHeader()
	m.Header, m.Body = scoring.ApplyParts(m.Header, m.Body, v, conf, opt)
}

// identify returns the Message-ID and the queue ID our MTA wrote into the
// topmost Received field ("by mx (Postfix) with ESMTP id 4Xyz..."), both
// for log lines only.
func identify(fields []mail.Field) (msgID, queueID string) {
	for i := range fields {
		f := &fields[i]
		switch {
		case msgID == "" && strings.EqualFold(f.Name, "Message-ID"):
			msgID = f.Unfolded()
		case queueID == "" && strings.EqualFold(f.Name, "Received"):
			queueID = receivedID(f.Value())
		}
	}
	return msgID, queueID
}

// receivedID extracts the "id" clause of a Received field value (RFC 5321
// §4.4); only the first (topmost) Received is consulted.
func receivedID(v string) string {
	f := strings.Fields(v)
	for i := 0; i+1 < len(f); i++ {
		if strings.EqualFold(f[i], "id") {
			return strings.TrimRight(f[i+1], ";")
		}
	}
	return ""
}

// receivedClient reads the client our own MTA recorded in the topmost
// Received field, "from HELO (NAME [IP])", for when the MTA did not pass it
// with XFORWARD. The topmost field is the one our MTA wrote, so it can be
// trusted as far as our MTA can.
func receivedClient(fields []mail.Field) (net.IP, string) {
	var v string
	for i := range fields {
		if strings.EqualFold(fields[i].Name, "Received") {
			v = fields[i].Value()
			break
		}
	}
	f := strings.Fields(v)
	if len(f) < 2 || !strings.EqualFold(f[0], "from") {
		return nil, ""
	}
	helo := f[1]
	lb, rb := strings.IndexByte(v, '['), strings.IndexByte(v, ']')
	if lb < 0 || rb < lb {
		return nil, helo
	}
	addr := strings.TrimPrefix(strings.TrimPrefix(v[lb+1:rb], "IPv6:"), "ipv6:")
	return net.ParseIP(addr), helo
}

// newMultiReader reads the parts one after the other without copying them.
func newMultiReader(parts [][]byte) io.Reader {
	rs := make([]io.Reader, 0, len(parts))
	for _, p := range parts {
		if len(p) > 0 {
			rs = append(rs, bytes.NewReader(p))
		}
	}
	return io.MultiReader(rs...)
}
