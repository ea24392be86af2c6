package scoring

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
)

// message is a raw message split the way SpamAssassin splits it.
type message struct {
	mbox   string   // a leading mbox "From " line, kept as is
	lines  []string // header lines, each with its line break
	sep    string   // the blank line ending the header, "" when missing
	body   []byte   // everything after the header
	crlf   bool     // the message uses CRLF line endings
	header []byte   // the raw header block (lines and sep)
	orig   []byte   // the message after the mbox line
}

// parseMessage splits raw into header lines and body. The header ends at
// the first empty line, at a line starting with "--" (a MIME boundary), or
// at the fourth line that is neither a field nor a continuation.
func parseMessage(raw []byte) *message {
	m := &message{}
	rest := raw
	if mboxLine(rest) {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			i = len(rest) - 1
		}
		m.mbox, rest = string(rest[:i+1]), rest[i+1:]
		if !strings.HasSuffix(m.mbox, "\n") {
			m.mbox += "\n"
		}
	}
	m.crlf = crlfEnds(rest, rest)

	bad, off := 0, 0
	for off < len(rest) {
		end := bytes.IndexByte(rest[off:], '\n')
		if end < 0 {
			end = len(rest)
		} else {
			end += off + 1
		}
		line := string(rest[off:end])
		if line == "\n" || line == "\r\n" {
			m.sep = line
			off = end
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			if strings.HasPrefix(line, "--") {
				break
			}
			if !fieldLine(line) {
				if bad++; bad > 3 {
					break
				}
			}
		}
		if !strings.HasSuffix(line, "\n") {
			line += "\n" // the last field of a message without a body
		}
		m.lines = append(m.lines, line)
		off = end
	}
	m.orig = rest
	m.header = rest[:off]
	m.body = rest[off:]
	return m
}

// crlfEnds reports whether the first line of head or the last line of
// tail ends with CRLF: SpamAssassin's test for a CRLF message (bug 4363).
func crlfEnds(head, tail []byte) bool {
	first := head
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i+1]
	}
	last := bytes.TrimSuffix(tail, []byte("\n"))
	if i := bytes.LastIndexByte(last, '\n'); i >= 0 {
		last = tail[i+1:]
	} else {
		last = tail
	}
	return bytes.Contains(first, []byte("\r\n")) || bytes.Contains(last, []byte("\r\n"))
}

// mboxLine reports whether raw starts with an mbox "From " separator
// rather than a From field written with blanks before its colon
// (SpamAssassin's /^From\s+(?!:)/).
func mboxLine(raw []byte) bool {
	if !bytes.HasPrefix(raw, []byte("From")) {
		return false
	}
	n := 4
	for n < len(raw) && isSpace(raw[n]) {
		n++
	}
	return n > 5 || (n == 5 && (n == len(raw) || raw[n] != ':'))
}

// fieldLine reports whether line starts with a field name and a colon
// (RFC 5322 §3.6.8 ftext, with obsolete blanks before the colon).
func fieldLine(line string) bool {
	i := 0
	for i < len(line) && line[i] >= 33 && line[i] <= 126 && line[i] != ':' {
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

// hasPrefixFold reports whether s starts with prefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// fields returns the values of every field called name in the header,
// each with its continuation lines and final line break, as
// SpamAssassin's get_pristine_header returns them (leading blanks after
// the colon dropped).
func (m *message) fields(name string) []string {
	var out []string
	for i := 0; i < len(m.lines); i++ {
		l := m.lines[i]
		if !hasPrefixFold(l, name) {
			continue
		}
		rest := strings.TrimLeft(l[len(name):], " \t")
		if !strings.HasPrefix(rest, ":") {
			continue
		}
		// A builder, not +=, so that a field folded into many lines costs
		// linear time.
		var v strings.Builder
		v.WriteString(strings.TrimLeft(rest[1:], " \t"))
		for i+1 < len(m.lines) && (m.lines[i+1][0] == ' ' || m.lines[i+1][0] == '\t') {
			i++
			v.WriteString(m.lines[i])
		}
		s := v.String()
		if !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		out = append(out, s)
	}
	return out
}

// headerValue returns the unfolded values of a field, one per line, for
// _HEADER(NAME)_.
func (m *message) headerValue(name string) string {
	vals := m.fields(name)
	for i, v := range vals {
		v = strings.TrimRight(v, "\r\n")
		v = strings.NewReplacer("\r\n ", " ", "\r\n\t", "\t", "\n ", " ", "\n\t", "\t").Replace(v)
		vals[i] = v
	}
	return strings.Join(vals, "\n")
}

// eol converts every LF or CRLF of s to the message's line ending.
func (m *message) eol(s string) string {
	if !m.crlf {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// isSpamField reports whether line starts an X-Spam-* field.
func isSpamField(line string) bool { return hasPrefixFold(line, "X-Spam-") }

// Apply returns the message to deliver for a verdict. Every incoming
// X-Spam-* field is removed and ours (Headers) are added at the top of the
// header, after a leading Return-Path (SpamAssassin bug 3409). For spam,
// rewrite_header templates are applied to the raw Subject, From and To
// lines (the original kept as X-Spam-Prev-*), and with report_safe 1 or 2
// the original message is attached, unchanged, to a new message holding
// SpamAssassin's report (as message/rfc822, or text/plain with 2). The
// message's line endings are kept; the body is never touched.
func Apply(raw []byte, v Verdict, conf rules.Config, opt Options) []byte {
	opt = withContact(opt, conf)
	m := parseMessage(raw)
	t := newTagger(&v, &opt)
	t.header = m.headerValue
	if v.Spam && conf.ReportSafe != 0 {
		return reportSafe(raw, m, t, conf, opt)
	}
	hdr := rewriteHeaders(m, t, conf)
	out := make([]byte, 0, len(hdr)+len(m.body))
	return append(append(out, hdr...), m.body...)
}

// ApplyParts is Apply for a message held as its header section (the
// blank line that ends it included) and its body, so that a large body
// is not copied: it returns the new header section and the body, which
// is body itself unless report_safe replaced it. A header that does not
// end with its blank line is joined to the body and handled by Apply.
func ApplyParts(header, body []byte, v Verdict, conf rules.Config, opt Options) (newHeader, newBody []byte) {
	if !editable(header) || (v.Spam && conf.ReportSafe != 0) {
		out := Apply(append(append([]byte(nil), header...), body...), v, conf, opt)
		return out, nil
	}
	fields := mail.ParseHeader(header)
	e, _ := Edits(fields, CRLF(header, body), v, conf, opt)
	h := mail.NewHeader(header, fields)
	h.Edit(e)
	return h.Bytes(), body
}

// withContact fills opt.ReportContact from the rule files' report_contact
// when the caller set none.
func withContact(opt Options, conf rules.Config) Options {
	if opt.ReportContact == "" {
		opt.ReportContact = conf.ReportContact
	}
	return opt
}

// rewriteHeaders is Apply without report_safe: it returns the new header
// section (the mbox line first, if any); the body is kept.
func rewriteHeaders(m *message, t *tagger, conf rules.Config) []byte {
	lines := make([]string, 0, len(m.lines)+8)
	for i := 0; i < len(m.lines); i++ {
		if isSpamField(m.lines[i]) {
			for i+1 < len(m.lines) && (m.lines[i+1][0] == ' ' || m.lines[i+1][0] == '\t') {
				i++
			}
			continue
		}
		lines = append(lines, m.lines[i])
	}
	sep := m.sep
	if n := len(lines); sep == "" && n > 0 && strings.TrimSpace(lines[n-1]) == "" {
		// A header that runs into a MIME boundary may end in a blank
		// continuation line; SpamAssassin takes it for the separator.
		sep, lines = lines[n-1], lines[:n-1]
	}
	if t.v.Spam {
		lines = rewriteLines(lines, m, t, conf)
	} else if _, ok := rewriteTmpl(conf, "Subject"); ok && m.fields("Subject") == nil {
		// SpamAssassin creates an empty Subject for ham too when it would
		// rewrite one.
		lines = append(lines, "Subject: \n")
	}
	var b strings.Builder
	b.Grow(len(m.header) + 1024)
	i := 0
	if len(lines) > 0 && hasPrefixFold(lines[0], "Return-Path:") {
		b.WriteString(lines[0])
		for i = 1; i < len(lines) && (lines[i][0] == ' ' || lines[i][0] == '\t'); i++ {
			b.WriteString(lines[i])
		}
	}
	for _, f := range headers(t, conf) {
		b.WriteString(f.Name + ": " + f.Value + "\n")
	}
	for _, l := range lines[i:] {
		b.WriteString(l)
	}
	b.WriteString(sep)
	out := make([]byte, 0, len(m.mbox)+b.Len()+64)
	out = append(out, m.mbox...)
	return append(out, m.eol(b.String())...)
}

// rewriteLines applies rewrite_header to the Subject, From and To lines
// of a spam, creating a Subject when there is none.
func rewriteLines(lines []string, m *message, t *tagger, conf rules.Config) []string {
	created := false
	if _, ok := rewriteTmpl(conf, "Subject"); ok && m.fields("Subject") == nil {
		lines = append(lines, "Subject: \n")
		created = true
	}
	n := len(lines)
	for i := 0; i < n; i++ {
		l := lines[i]
		tag, ok := rewriteTag(l, t, conf)
		if !ok {
			continue
		}
		if created {
			lines = append(lines, "X-Spam-Prev-Subject: (nonexistent)\n")
		} else {
			lines = append(lines, "X-Spam-Prev-"+l)
		}
		lines[i] = prependTag(l, tag)
	}
	return lines
}

// rewriteTag returns the tag rewrite_header puts into line when it starts
// a From, Subject or To field with a template: the expanded template, in
// parentheses for From and To, which are comments there.
func rewriteTag(line string, t *tagger, conf rules.Config) (string, bool) {
	var name string
	for _, h := range []string{"From:", "Subject:", "To:"} {
		if hasPrefixFold(line, h) {
			name = h[:len(h)-1]
		}
	}
	tmpl, ok := rewriteTmpl(conf, name)
	if name == "" || !ok {
		return "", false
	}
	tag := strings.ReplaceAll(t.expand(rewriteTemplate(name, tmpl)), "\n", " ")
	if name != "Subject" {
		tag = "(" + tag + ")"
	}
	return tag, true
}

// rewriteTmpl returns the rewrite_header template for a field; an empty
// one means no rewrite, as in SpamAssassin.
func rewriteTmpl(conf rules.Config, name string) (string, bool) {
	tmpl, ok := conf.RewriteHeader[name]
	return tmpl, ok && strings.TrimSpace(tmpl) != ""
}

// rewriteTemplate applies rewrite_header's rule that From and To tags are
// comments: parentheses become brackets.
func rewriteTemplate(name, tmpl string) string {
	if name == "Subject" {
		return tmpl
	}
	return strings.NewReplacer("(", "[", ")", "]").Replace(tmpl)
}

// prependTag puts tag right after the field name of line, once: a tag
// already there (followed by a space) is not repeated.
func prependTag(line, tag string) string {
	colon := strings.IndexByte(line, ':')
	head, rest := line[:colon+1], strings.TrimLeft(line[colon+1:], " \t")
	if hasPrefixFold(rest, tag+" ") {
		rest = rest[len(tag)+1:]
	}
	return head + " " + tag + " " + rest
}

// reportSafe wraps a spam under SpamAssassin's report
// (rewrite_report_safe): a new header copying From, To, Cc, Subject, Date
// and Message-Id, the X-Spam-* fields, and a multipart/mixed body with the
// report and the untouched original.
func reportSafe(raw []byte, m *message, t *tagger, conf rules.Config, opt Options) []byte {
	last := func(name string) (string, bool) {
		vals := m.fields(name)
		if len(vals) == 0 {
			return "", false
		}
		return vals[len(vals)-1], true
	}
	from, hasFrom := last("From")
	to, hasTo := last("To")
	cc, hasCc := last("Cc")
	subject, hasSubject := last("Subject")
	date, hasDate := last("Date")
	msgid, hasMsgid := last("Message-Id")

	if tmpl, ok := rewriteTmpl(conf, "Subject"); ok {
		if !hasSubject {
			subject, hasSubject = "\n", true
		}
		tag := strings.ReplaceAll(t.expand(tmpl), "\n", " ")
		subject = tag + " " + strings.TrimPrefix(subject, tag+" ")
	}
	comment := func(val string, has bool, name string, drop string) (string, bool) {
		tmpl, ok := rewriteTmpl(conf, name)
		if !ok {
			return val, has
		}
		if !has {
			val = "\n"
		}
		tag := strings.ReplaceAll(t.expand(rewriteTemplate(name, tmpl)), "\n", drop)
		// Perl's $ matches before a final newline.
		body, nl := val, ""
		if strings.HasSuffix(body, "\n") {
			body, nl = body[:len(body)-1], "\n"
		}
		body = strings.TrimSuffix(body, "\t("+tag+")")
		return body + "\t(" + tag + ")" + nl, true
	}
	to, hasTo = comment(to, hasTo, "To", " ")
	from, hasFrom = comment(from, hasFrom, "From", "")

	report := t.expand(reportTemplate(opt.ReportTemplate, conf.ReportTemplate, DefaultReport))
	report = strings.TrimRight(report, "\n") + "\n\n"

	var h strings.Builder
	product := opt.Product
	if product == "" {
		product = "sluice"
	}
	fmt.Fprintf(&h, "Received: from localhost by %s\n\twith %s (version %s);\n\t%s\n",
		t.host, product, opt.Version, rfc822Date(t.now))
	for _, f := range []struct {
		name, val string
		ok        bool
	}{{"From", from, hasFrom}, {"To", to, hasTo}, {"Cc", cc, hasCc}, {"Subject", subject, hasSubject},
		{"Date", date, hasDate}, {"Message-Id", msgid, hasMsgid}} {
		if f.ok {
			h.WriteString(f.name + ": " + f.val)
		}
	}
	for _, f := range headers(t, conf) {
		h.WriteString(f.Name + ": " + f.Value + "\n")
	}

	boundary := makeBoundary(raw, t, opt.Rand)
	disposition := "inline"
	if ct := m.fields("Content-Type"); len(ct) > 0 && !containsFold(ct[len(ct)-1], "text/plain") {
		disposition = "attachment"
		report += t.expand(reportTemplate(opt.UnsafeReportTemplate, conf.UnsafeReportTemplate, DefaultUnsafeReport))
	}
	typ := "message/rfc822"
	if conf.ReportSafe > 1 {
		typ = "text/plain"
	}
	fmt.Fprintf(&h, "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"%s\"\n\n"+
		"This is a multi-part message in MIME format.\n\n"+
		"--%s\nContent-Type: text/plain; charset=UTF-8\nContent-Disposition: inline\nContent-Transfer-Encoding: 8bit\n\n"+
		"%s\n\n"+
		"--%s\nContent-Type: %s; x-spam-type=original\nContent-Description: original message before SpamAssassin\n"+
		"Content-Disposition: %s\nContent-Transfer-Encoding: 8bit\n\n",
		boundary, boundary, report, boundary, typ, disposition)

	trailer := m.eol("\n--" + boundary + "--\n\n")
	out := make([]byte, 0, len(m.mbox)+h.Len()+len(raw)+len(trailer)+64)
	out = append(out, m.mbox...)
	out = append(out, m.eol(h.String())...)
	out = append(out, m.orig...)
	return append(out, trailer...)
}

// reportTemplate returns the first template set: Options', the rule
// files', the default.
func reportTemplate(tmpls ...string) string {
	for _, t := range tmpls[:len(tmpls)-1] {
		if t != "" {
			return t
		}
	}
	return tmpls[len(tmpls)-1]
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// makeBoundary returns SpamAssassin's MIME boundary: time and a random
// number in hex, lengthened until no line of the original is the boundary
// (RFC 2046 §5.1.1: it must not occur in the encapsulated text).
func makeBoundary(raw []byte, t *tagger, r io.Reader) string {
	if r == nil {
		r = rand.Reader
	}
	rnd := func() uint32 {
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0
		}
		return binary.BigEndian.Uint32(b[:])
	}
	b := fmt.Sprintf("----------=_%08X.%08X", uint32(t.now.Unix()), rnd())
	for boundaryIn(raw, b) {
		b += fmt.Sprintf("/%08X", rnd())
	}
	return b
}

// boundaryIn reports whether raw holds the delimiter "--"+b anywhere
// (stricter than SpamAssassin, which looks for lines equal to b).
func boundaryIn(raw []byte, b string) bool {
	return bytes.Contains(raw, []byte("--"+b))
}
