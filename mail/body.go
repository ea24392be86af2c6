package mail

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// maxBodyLine is SpamAssassin's MAX_BODY_LINE_LENGTH: body paragraphs are
// cut into pieces no longer than this.
const maxBodyLine = 2048

// maxURILength is SpamAssassin's MAX_URI_LENGTH.
const maxURILength = 8192

// rendering caches what a text part renders to.
type rendering struct {
	text      []byte // charset-decoded content, UTF-8
	rendered  []byte // text, or HTML rendered to text
	visible   []byte
	invisible []byte
	html      *HTML
	// wide mirrors Perl's UTF8 flag on SpamAssassin's rendered string:
	// set when the part held 8-bit bytes (and was decoded) or an HTML
	// character reference produced a code point above U+00FF.
	wide bool
}

// render decodes and, for HTML, renders the part once (SpamAssassin's
// Node::rendered). Non-text parts render to nothing.
func (p *Part) render() *rendering {
	if p.rendered != nil {
		return p.rendered
	}
	r := &rendering{}
	p.rendered = r
	t := p.EffectiveType()
	if t != "text/plain" && t != "text/html" {
		return r
	}
	cs := p.Charset
	if cs == "" {
		cs = "us-ascii"
	}
	// Only what can reach Body is decoded: a plain part's first
	// MaxBodyScan characters (at most 4 bytes each, plus SpamAssassin's
	// 1 KB look-ahead), an HTML part's first MaxHTMLScan bytes.
	o := p.msg.opts
	limit := -1
	if t == "text/html" {
		limit = o.MaxHTMLScan
	} else if o.MaxBodyScan > 0 {
		limit = 4 * (o.MaxBodyScan + 1025)
	}
	d := p.decodedPrefix(limit)
	r.text = toUTF8(d, cs, false)
	// Perl's string is a character string once decoded: 8-bit input, or
	// 7-bit input in ISO-2022-JP, UTF-7 and the like.
	r.wide = !isASCII(d) || !asciiCompatible(cs)
	if t == "text/html" && len(r.text) > 0 {
		// SpamAssassin turns "&nbsp;" into a plain space before parsing,
		// after HTML.pm's parse measured the source's {length}.
		src := r.text
		srcLen := utf8.RuneCount(src)
		if bytes.Contains(src, []byte("&nbsp;")) {
			src = bytes.ReplaceAll(src, []byte("&nbsp;"), []byte(" "))
		}
		r.rendered, r.visible, r.invisible, r.html = renderHTML(src, srcLen)
		if !r.wide {
			r.wide = hasRuneAbove(r.rendered, 0xff)
		}
		if r.wide {
			// Perl counts Unicode white space in a character string.
			space := 0
			for _, c := range string(r.rendered) {
				if unicode.IsSpace(c) {
					space++
				}
			}
			r.html.NonSpaceLength = r.html.HTMLLength - space
		}
		return r
	}
	r.rendered, r.visible = r.text, r.text
	return r
}

// Rendered returns the part's text as SpamAssassin renders it for body
// rules: UTF-8, HTML turned into text; nil for non-text parts.
func (p *Part) Rendered() []byte {
	t := p.EffectiveType()
	if t != "text/plain" && t != "text/html" {
		return nil
	}
	return p.render().rendered
}

// HTML returns the facts about a text/html part, or nil.
func (p *Part) HTML() *HTML {
	if p.EffectiveType() != "text/html" {
		return nil
	}
	return p.render().html
}

// HTML returns the facts of every non-empty text/html leaf, in order
// (SpamAssassin's html_all metadata). SpamAssassin's single "html"
// metadata is the first element.
func (m *Message) HTML() []*HTML {
	if !m.htmlDone {
		m.htmlDone = true
		for _, p := range m.leaves {
			if h := p.HTML(); h != nil {
				m.html = append(m.html, h)
			}
		}
	}
	return m.html
}

// truncateAt cuts b after limit bytes, preferring to end just after one of
// the separators found within 1024 bytes past the limit (SpamAssassin's
// body_part_scan_size handling).
func truncateAt(b []byte, limit int, seps string) []byte {
	if limit <= 0 || len(b) <= limit {
		return b
	}
	for i := 0; i < len(seps); i++ {
		if j := bytes.IndexByte(b[limit:], seps[i]); j >= 0 && j <= 1024 {
			return b[:limit+j+1]
		}
	}
	return b[:limit]
}

// Body returns what SpamAssassin's body rules match, one paragraph per
// element: the decoded Subject (or an empty line) first, then the text
// of every leaf, each text/plain or text/html part decoded to UTF-8 (HTML
// rendered to text, invisible text included), parts separated by a line
// break. White space is normalised: a blank line separates paragraphs,
// every other run of white space is one space. Each paragraph ends with
// "\n" and is at most 2048 bytes; longer ones are split at a space.
// Each part contributes at most Options.MaxBodyScan bytes.
func (m *Message) Body() [][]byte {
	if !m.bodyDone {
		m.bodyDone = true
		m.body = m.bodyText(renderAll)
	}
	return m.body
}

// VisibleBody is Body with only the HTML text SpamAssassin considers
// visible (get_visible_rendered_body_text_array).
func (m *Message) VisibleBody() [][]byte {
	if m.visible == nil {
		m.visible = m.bodyText(renderVisible)
	}
	return m.visible
}

// InvisibleBody holds only the HTML text SpamAssassin considers hidden
// (get_invisible_rendered_body_text_array); its first line is empty
// instead of the Subject.
func (m *Message) InvisibleBody() [][]byte {
	if m.invisible == nil {
		m.invisible = m.bodyText(renderInvisible)
	}
	return m.invisible
}

const (
	renderAll = iota
	renderVisible
	renderInvisible
)

// bodyText is SpamAssassin's get_body_text_array_common.
func (m *Message) bodyText(kind int) [][]byte {
	var text []byte
	wide := false
	for i, p := range m.leaves {
		if i > 0 {
			text = append(text, '\n')
		}
		t := p.EffectiveType()
		if t != "text/plain" && t != "text/html" {
			continue
		}
		r := p.render()
		wide = wide || r.wide
		var rnd []byte
		switch kind {
		case renderAll:
			rnd = r.rendered
		case renderVisible:
			rnd = r.visible
		default:
			rnd = r.invisible
		}
		if m.opts.MaxBodyScan > 0 {
			limit := m.opts.MaxBodyScan
			if r.wide {
				// Perl counts characters of a decoded string.
				limit = runeOffset(rnd, limit)
			}
			rnd = truncateAt(rnd, limit, "\n ")
		}
		text = append(text, rnd...)
	}
	if !wide && !isASCII(text) {
		// Perl kept the text as bytes: characters U+0080..U+00FF from
		// character references stay single Latin-1 bytes.
		text = latin1(text)
	}
	norm := normalizeWhitespace(text, wide)
	var all []byte
	if kind != renderInvisible && len(m.root.lookup("Subject")) > 0 {
		subj := m.root.Get("Subject")
		all = make([]byte, 0, len(subj)+1+len(norm))
		all = append(all, subj...)
		all = append(all, '\n')
	} else if kind != renderInvisible {
		all = make([]byte, 0, 1+len(norm))
		all = append(all, '\n')
	}
	all = append(all, norm...)
	if len(all) == 0 {
		return [][]byte{}
	}
	return splitShortLines(all)
}

// normalizeWhitespace applies SpamAssassin's body white-space rules: a run
// of white space holding two or more line breaks becomes one "\n"; any
// other run of white space becomes one space. White space is ASCII only
// unless wide (Perl's \s on a character string matches Unicode spaces).
func normalizeWhitespace(b []byte, wide bool) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		var size int
		isSpace := false
		if c < utf8.RuneSelf || !wide {
			size = 1
			isSpace = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
		} else {
			var r rune
			r, size = utf8.DecodeRune(b[i:])
			isSpace = r != utf8.RuneError && unicode.IsSpace(r)
		}
		if c == 0 {
			// SpamAssassin marks paragraph breaks with NUL and turns every
			// NUL into a line break afterwards.
			out = append(out, '\n')
			i++
			continue
		}
		if !isSpace {
			out = append(out, b[i:i+size]...)
			i += size
			continue
		}
		// A white-space run: two or more line breaks make a paragraph break.
		nl, first, last := 0, -1, -1
		j := i
		for j < len(b) {
			d := b[j]
			if d < utf8.RuneSelf {
				if d == '\n' {
					nl++
					if first < 0 {
						first = j
					}
					last = j
				} else if !(d == ' ' || d == '\t' || d == '\r' || d == '\f' || d == '\v') {
					break
				}
				j++
				continue
			}
			if !wide {
				break
			}
			r, sz := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError || !unicode.IsSpace(r) {
				break
			}
			j += sz
		}
		if nl >= 2 {
			// Perl: s/\n+\s*\n+/\x00/ then s/\s+/ /: white space before the
			// first and after the last newline stays one space each.
			if first > i {
				out = append(out, ' ')
			}
			out = append(out, '\n')
			if last+1 < j {
				out = append(out, ' ')
			}
		} else {
			out = append(out, ' ')
		}
		i = j
	}
	return out
}

// splitShortLines splits text into lines (each keeping its "\n"), cutting
// lines longer than 2048 bytes at the last space within the limit
// (SpamAssassin's split_into_array_of_short_lines).
func splitShortLines(text []byte) [][]byte {
	n := bytes.Count(text, []byte{'\n'}) + 1
	out := make([][]byte, 0, n)
	for len(text) > 0 {
		nl := bytes.IndexByte(text, '\n')
		var line []byte
		if nl < 0 {
			line, text = text, nil
		} else {
			line, text = text[:nl+1], text[nl+1:]
		}
		for len(line) > maxBodyLine {
			k := bytes.LastIndexByte(line[:maxBodyLine+1], ' ') + 1
			if k == 0 {
				k = maxBodyLine
			}
			out = append(out, line[:k:k])
			line = line[k:]
		}
		out = append(out, line)
	}
	return out
}

// RawBody returns what SpamAssassin's rawbody rules match: every text/*
// and message/* leaf except text/calendar, transfer-decoded but neither
// charset-converted nor rendered, cut to Options.MaxRawBodyScan bytes per
// part and split into chunks of 2048 to 4096 bytes, at a line break,
// ">" or space when possible.
func (m *Message) RawBody() [][]byte {
	if m.rawDone {
		return m.rawBody
	}
	m.rawDone = true
	m.rawBody = [][]byte{}
	for _, p := range m.leaves {
		t := p.EffectiveType()
		if !(hasTypePrefix(t, "text") || hasTypePrefix(t, "message")) || p.ContentType == "text/calendar" {
			continue
		}
		limit := -1
		if m.opts.MaxRawBodyScan > 0 {
			limit = m.opts.MaxRawBodyScan + 1025
		}
		d := p.decodedPrefix(limit)
		if m.opts.MaxRawBodyScan > 0 {
			d = truncateAt(d, m.opts.MaxRawBodyScan, "\n> ")
		}
		m.rawBody = append(m.rawBody, splitShortParagraphs(d)...)
	}
	return m.rawBody
}

// hasTypePrefix matches SpamAssassin's /^(?:text|message)\b/.
func hasTypePrefix(t, prefix string) bool {
	return len(t) >= len(prefix) && t[:len(prefix)] == prefix && isWordEnd(t, len(prefix))
}

// splitShortParagraphs is SpamAssassin's split_into_array_of_short_paragraphs.
func splitShortParagraphs(b []byte) [][]byte {
	if len(b) <= maxBodyLine {
		return [][]byte{b}
	}
	var out [][]byte
	ofs := 0
	for len(b)-ofs > 2*maxBodyLine {
		j := -1
		for _, sep := range []byte{'\n', '>', ' '} {
			k := bytes.IndexByte(b[ofs+maxBodyLine:], sep)
			if k >= 0 {
				k += ofs + maxBodyLine
				if k-ofs+1 <= 2*maxBodyLine {
					j = k
					break
				}
			}
		}
		if j < 0 {
			j = ofs + maxBodyLine
		}
		out = append(out, b[ofs:j+1:j+1])
		ofs = j + 1
	}
	if ofs < len(b) {
		out = append(out, b[ofs:])
	}
	return out
}

func hasRuneAbove(b []byte, max rune) bool {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, sz := utf8.DecodeRune(b[i:])
		if r > max {
			return true
		}
		i += sz
	}
	return false
}

// latin1 rewrites UTF-8 sequences of U+0080..U+00FF as single bytes.
func latin1(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			out = append(out, b[i])
			i++
			continue
		}
		r, sz := utf8.DecodeRune(b[i:])
		if r <= 0xff && sz > 1 {
			out = append(out, byte(r))
		} else {
			out = append(out, b[i:i+sz]...)
		}
		i += sz
	}
	return out
}

// runeOffset returns the byte offset of the n-th rune of b, or len(b).
func runeOffset(b []byte, n int) int {
	if n >= len(b) {
		return len(b)
	}
	i := 0
	for k := 0; k < n && i < len(b); k++ {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		_, sz := utf8.DecodeRune(b[i:])
		i += sz
	}
	return i
}
