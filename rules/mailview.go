package rules

import (
	"strings"

	"github.com/sluice-mail/sluice/mail"
)

// FromMail adapts a parsed message to Message with every optional
// capability rules reads: PartsMessage, HTMLMessage, HTMLPartsMessage and
// ParseFlagsMessage. The conversions are computed lazily, once per
// message; like *mail.Message the result is not safe for concurrent use.
//
// mail's header values end with "\n" (SpamAssassin's get()); Message's
// values do not, because the header rules add the newline when they join
// the values. The adapter removes it so that a rule anchored with "$"
// sees exactly SpamAssassin's "value\n".
func FromMail(m *mail.Message) Message {
	return &mailView{m: m}
}

// mailView is the adapter FromMail returns.
type mailView struct {
	m *mail.Message

	partsDone bool
	parts     []Part
	htmlDone  bool
	html      []HTMLFacts
}

func trimNL(vals []string) []string {
	if len(vals) == 0 {
		return vals
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.TrimSuffix(v, "\n")
	}
	return out
}

func (v *mailView) Header(name string, raw bool) []string { return trimNL(v.m.Header(name, raw)) }

// Alternatives makes mailView an AlternativesMessage.
func (v *mailView) Alternatives() [][]AltText {
	var out [][]AltText
	for _, p := range v.m.Parts() {
		if p.ContentType != "multipart/alternative" {
			continue
		}
		var alt []AltText
		var walk func(*mail.Part)
		walk = func(q *mail.Part) {
			if et := q.EffectiveType(); strings.HasPrefix(q.ContentType, "text/") && q.IsLeaf() && (et == "text/plain" || et == "text/html") {
				h := q.HTML()
				alt = append(alt, AltText{HTML: h != nil, Text: q.Rendered(), Image: h != nil && hasKey(h.Inside, "img")})
			}
			for _, c := range q.Children {
				walk(c)
			}
		}
		walk(p)
		out = append(out, alt)
	}
	return out
}

func hasKey(m map[string]int, k string) bool { _, ok := m[k]; return ok }

// ContentSummary makes mailView an AlternativesMessage; a child's
// descendants follow it depth first, as in Node::content_summary.
func (v *mailView) ContentSummary() []string {
	root := v.m.Root()
	out := []string{root.ContentType}
	var desc func(*mail.Part, *strings.Builder)
	desc = func(p *mail.Part, b *strings.Builder) {
		for _, c := range p.Children {
			b.WriteByte(',')
			b.WriteString(c.ContentType)
			desc(c, b)
		}
	}
	for _, c := range root.Children {
		var b strings.Builder
		b.WriteString(c.ContentType)
		desc(c, &b)
		out = append(out, b.String())
	}
	return out
}

// MIMEPartHeader makes mailView a MIMEPartsMessage.
func (v *mailView) MIMEPartHeader(name string, raw bool) [][]string {
	if name == "ALL" {
		all := trimNL(v.m.MIMEHeader("ALL", raw))
		out := make([][]string, len(all))
		for i, h := range all {
			out[i] = []string{h}
		}
		return out
	}
	ps := v.m.Parts()
	out := make([][]string, len(ps))
	for i, p := range ps {
		out[i] = trimNL(p.Header(name, raw))
	}
	return out
}

// AnchorMailtos makes mailView an AnchorMailtoMessage.
func (v *mailView) AnchorMailtos() []string { return v.m.AnchorMailtos() }

// SMTPSender makes mailView an EnvelopeMessage.
func (v *mailView) SMTPSender() (string, bool) { return v.m.SMTPSender() }
func (v *mailView) HasHeader(name string) bool { return v.m.HasHeader(name) }
func (v *mailView) Body() [][]byte             { return v.m.Body() }
func (v *mailView) RawBody() [][]byte          { return v.m.RawBody() }
func (v *mailView) Full() []byte               { return v.m.Full() }
func (v *mailView) URIs() []string             { return v.m.URIs() }
func (v *mailView) MIMEHeader(name string, raw bool) []string {
	return trimNL(v.m.MIMEHeader(name, raw))
}

// Parts returns the MIME leaves (SpamAssassin's find_parts(qr/./, 1)) with
// the media type of the container that holds each.
func (v *mailView) Parts() []Part {
	if v.partsDone {
		return v.parts
	}
	v.partsDone = true
	parent := map[*mail.Part]string{}
	for _, p := range v.m.Parts() {
		for _, c := range p.Children {
			parent[c] = p.ContentType
		}
	}
	leaves := v.m.Leaves()
	v.parts = make([]Part, 0, len(leaves))
	for _, p := range leaves {
		v.parts = append(v.parts, Part{
			ContentType: p.ContentType,
			Charset:     strings.ToLower(strings.TrimSpace(p.Charset)),
			Encoding:    strings.ToLower(strings.TrimSpace(p.Get("Content-Transfer-Encoding"))),
			Filename:    p.Name,
			Disposition: strings.ToLower(strings.TrimSpace(p.Get("Content-Disposition"))),
			Parent:      parent[p],
			Raw:         p.RawContent(),
			Decoded:     p.Decoded(),
		})
	}
	return v.parts
}

// ParseFlags returns SpamAssassin's parse flag names for what went
// irregular while parsing.
func (v *mailView) ParseFlags() []string {
	f := v.m.ParseFlags()
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{
		{f.MissingHeadBodySeparator, "missing_head_body_separator"},
		{f.MissingMIMEHeaders, "missing_mime_headers"},
		{f.MissingMIMEHeadBodySeparator, "missing_mime_head_body_separator"},
		{f.TruncatedHeader, "truncated_header"},
		{f.MIMEEpilogueExists, "mime_epilogue_exists"},
	} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return out
}

// HTMLParts converts the facts of every HTML part.
func (v *mailView) HTMLParts() []HTMLFacts {
	if !v.htmlDone {
		v.htmlDone = true
		for _, h := range v.m.HTML() {
			v.html = append(v.html, htmlFactsOf(h))
		}
	}
	return v.html
}

// HTMLFacts returns the facts of the last HTML part, the one SpamAssassin
// keeps as $pms->{html}; zero without HTML.
func (v *mailView) HTMLFacts() HTMLFacts {
	all := v.HTMLParts()
	if len(all) == 0 {
		return HTMLFacts{}
	}
	return all[len(all)-1]
}

// htmlValueNames are the numeric results of Mail::SpamAssassin::HTML that
// mail.HTML.Value answers; a name is absent when SpamAssassin leaves it
// undefined (ratios over no tags).
var htmlValueNames = [...]string{"length", "html_length", "non_space_len", "ratio", "image_area",
	"min_size", "max_size", "closed_extra_ratio", "bad_tag_ratio", "non_element_ratio", "obfuscation_ratio"}

// htmlTestNames are the boolean results html_test reads.
var htmlTestNames = [...]string{"html", "font_face_bad", "form_action_mailto", "embeds",
	"font_low_contrast", "font_invalid_color"}

// htmlFactsOf converts one part's mail.HTML into SpamAssassin's results
// hash (Mail::SpamAssassin::HTML::get_results).
func htmlFactsOf(h *mail.HTML) HTMLFacts {
	f := HTMLFacts{
		Values:  make(map[string]float64, len(htmlValueNames)+len(htmlTestNames)+1),
		Tags:    make(map[string]int, len(h.Inside)),
		Balance: make(map[string]int, len(h.Inside)),
		Text:    map[string][]string{},
	}
	for _, n := range htmlValueNames {
		if x, ok := h.Value(n); ok {
			f.Values[n] = x
		}
	}
	for _, n := range htmlTestNames {
		if h.Test(n) {
			f.Values[n] = 1
		}
	}
	// $html->{inside}: a key exists for every tag seen; its value is
	// opens minus closes.
	for tag, n := range h.Inside {
		f.Tags[tag] = 1
		f.Balance[tag] = n
	}
	for _, k := range []string{"title", "comment", "anchor", "script", "uri"} {
		if t := h.Texts(k); len(t) > 0 {
			f.Text[k] = t
		}
	}
	f.AnchorHrefs = h.AnchorHrefs()
	for _, u := range h.URIs {
		if u.Tag == "iframe" {
			f.Values["iframe_src"] = 1 // check_iframe_src: uri_detail types
		}
	}
	// html_charset_faraway: the <meta> charsets are mostly far from the
	// default locale (ok_locales en).
	bad, okay := 0, 0
	for _, cs := range h.Charsets {
		if farawayCharset(strings.ToLower(cs)) {
			bad++
		} else {
			okay++
		}
	}
	if bad > 0 && bad >= okay {
		f.Values["charset_faraway"] = 1
	}
	return f
}
