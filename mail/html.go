package mail

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// HTML holds the facts about one text/html part that SpamAssassin's html_*
// eval tests read (Mail::SpamAssassin::HTML). Counts are per part.
type HTML struct {
	// Tags counts start and end tags; TagsSeen counts tag names opened
	// when not already open.
	Tags, TagsSeen int
	// Elements and ElementsSeen count the same for known HTML elements.
	Elements, ElementsSeen int
	// Inside holds, per lower-case tag name, opens minus closes at the end
	// of the part (never below zero); a name present was seen.
	Inside map[string]int
	// ClosedHTML and ClosedBody report a </html> or </body>; ClosedExtra
	// counts end tags without a matching start tag.
	ClosedHTML, ClosedBody bool
	ClosedExtra            int
	// Images counts <img> tags; ImageArea sums width×height as
	// SpamAssassin estimates it.
	Images, ImageArea int
	// Title holds the text of each <title>.
	Title []string
	// Anchors holds the text of each <a> element.
	Anchors []string
	// URIs are the links found in attributes, in order, with the tag
	// that held them (href of a/area/link, src of img/frame/iframe/embed/
	// script/bgsound, action of form, background, base href, meta refresh).
	URIs []HTMLURI
	// Length is the length in characters of the HTML source (SpamAssassin's
	// "length"); HTMLLength that of the rendered text ("html_length"),
	// NonSpaceLength without white space ("non_space_len"). VisibleLength
	// and InvisibleLength split the rendered text by whether SpamAssassin
	// considers it shown (colour, size, display, visibility).
	Length, HTMLLength, NonSpaceLength int
	VisibleLength, InvisibleLength     int
	// Ratio is (source length − rendered length) / source length.
	Ratio float64
	// MinSize and MaxSize are the smallest and largest font sizes set
	// (3 is the default).
	MinSize, MaxSize int
	// Charsets lists charsets named by <meta http-equiv=Content-Type>.
	Charsets []string
	// Comments holds each comment as written ("<!-- ... -->"); Scripts
	// the content of each <script>.
	Comments, Scripts []string
	// Obfuscation counts words split across tags (SpamAssassin's
	// "obfuscation" counter).
	Obfuscation int
	// FontFaceBad, FormActionMailto, Embeds, FontLowContrast and
	// FontInvalidColor are SpamAssassin's html_test flags.
	FontFaceBad, FormActionMailto, Embeds, FontLowContrast, FontInvalidColor bool

	anchorKeys []string
}

// Test reports the html_test flags: "html" (always true), "font_face_bad",
// "form_action_mailto", "embeds", "font_low_contrast",
// "font_invalid_color". Unknown names are false.
func (h *HTML) Test(name string) bool {
	switch name {
	case "html":
		return true
	case "font_face_bad":
		return h.FontFaceBad
	case "form_action_mailto":
		return h.FormActionMailto
	case "embeds":
		return h.Embeds
	case "font_low_contrast":
		return h.FontLowContrast
	case "font_invalid_color":
		return h.FontInvalidColor
	}
	return false
}

// Value returns a numeric fact by SpamAssassin's name, for html_range and
// html_eval: "length", "html_length", "non_space_len", "ratio",
// "image_area", "min_size", "max_size", "closed_extra_ratio",
// "bad_tag_ratio", "non_element_ratio", "obfuscation_ratio". The ratios
// over tags are absent (false) when the part has no tags.
func (h *HTML) Value(name string) (float64, bool) {
	ratio := func(n, d int) (float64, bool) {
		if d == 0 {
			return 0, false
		}
		return float64(n) / float64(d), true
	}
	switch name {
	case "length":
		return float64(h.Length), true
	case "html_length":
		return float64(h.HTMLLength), true
	case "non_space_len":
		return float64(h.NonSpaceLength), true
	case "ratio":
		return h.Ratio, h.Length > 0
	case "image_area":
		return float64(h.ImageArea), true
	case "min_size":
		return float64(h.MinSize), true
	case "max_size":
		return float64(h.MaxSize), true
	case "closed_extra_ratio":
		return ratio(h.ClosedExtra, h.Tags)
	case "bad_tag_ratio":
		return ratio(h.Tags-h.Elements, h.Tags)
	case "non_element_ratio":
		return ratio(h.TagsSeen-h.ElementsSeen, h.TagsSeen)
	case "obfuscation_ratio":
		return ratio(h.Obfuscation, h.Tags)
	}
	return 0, false
}

// Texts returns the strings html_text_match searches: "title",
// "comment", "anchor", "script" or "uri" (the attribute links).
func (h *HTML) Texts(name string) []string {
	switch name {
	case "title":
		return h.Title
	case "comment":
		return h.Comments
	case "anchor":
		return h.Anchors
	case "script":
		return h.Scripts
	case "uri":
		out := make([]string, len(h.URIs))
		for i, u := range h.URIs {
			out[i] = u.URI
		}
		return out
	}
	return nil
}

// AnchorHrefs returns, parallel to Anchors, the href each <a> element
// was written with (trimmed, not resolved, "" when absent): the key
// under which SpamAssassin's uri_detail keeps that anchor's text.
func (h *HTML) AnchorHrefs() []string { return h.anchorKeys }

// HTMLURI is one link found in an HTML attribute.
type HTMLURI struct {
	// URI is the attribute value trimmed and resolved against <base>.
	URI string
	// Tag is the lower-case tag name that held it.
	Tag string
}

// knownElement lists SpamAssassin's %elements; with isTrick's tags they
// are the tags whose events affect rendering.
func knownElement(tag string) bool {
	switch tag {
	case "a", "abbr", "acronym", "address", "area", "b", "base", "bdo", "big", "blockquote", "body", "br",
		"button", "caption", "cite", "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em",
		"fieldset", "form", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "html", "i", "img", "input",
		"ins", "kbd", "label", "legend", "li", "link", "map", "meta", "noscript", "object", "ol", "optgroup",
		"option", "p", "param", "pre", "q", "samp", "script", "select", "small", "span", "strong", "style",
		"sub", "sup", "table", "tbody", "td", "textarea", "tfoot", "th", "thead", "title", "tr", "tt", "ul", "var",
		"applet", "basefont", "center", "dir", "font", "frame", "frameset", "iframe", "isindex", "menu",
		"noframes", "s", "strike", "u", "nobr", "x-sigsep", "x-tab":
		return true
	}
	return false
}

func isTrick(tag string) bool {
	switch tag {
	case "bgsound", "embed", "listing", "plaintext", "xmp":
		return true
	}
	return false
}

func textStyleElement(tag string) bool {
	switch tag {
	case "body", "font", "table", "tr", "th", "td", "big", "small", "basefont", "marquee", "span", "p", "div", "a":
		return true
	}
	return false
}

// textStyle is the rendering state SpamAssassin tracks per open element.
type textStyle struct {
	tag     string
	fg, bg  string
	size    int
	display string
	visible string
}

// chunk is one piece of rendered text.
type chunk struct {
	text       string
	whitespace bool
	invisible  bool
}

type htmlRenderer struct {
	// Open counts of the tags text() asks about, mirrored from inside.
	inScript, inStyle, inA, inTitleN int

	basefont int
	attrs    map[string]string
	h        *HTML
	chunks   []chunk
	styles   []textStyle
	inside   map[string]int
	base     string
}

// renderHTML renders src, UTF-8 HTML, to text the way SpamAssassin's
// HTML.pm does: script and style contents dropped, entities decoded,
// <br> and <div> a line break, <p>, <hr>, <blockquote>, <pre>, <title>
// (start or end) a paragraph break, table cells and list items a space.
// srcLen is the source's length in characters as HTML.pm's parse
// measured it (SpamAssassin's "length"), before "&nbsp;" became a space.
func renderHTML(src []byte, srcLen int) (all, visible, invisible []byte, h *HTML) {
	h = &HTML{}
	r := &htmlRenderer{h: h, inside: map[string]int{}}
	r.styles = []textStyle{{tag: "default", fg: "#000000", bg: "#ffffff", size: 3}}
	r.basefont = 3
	h.Inside = r.inside

	// SpamAssassin: "<tag/>" is "<tag>", curly double quotes are '"'.
	if bytes.Contains(src, []byte("\u201c")) || bytes.Contains(src, []byte("\u201d")) {
		src = bytes.ReplaceAll(src, []byte("\u201c"), []byte(`"`))
		src = bytes.ReplaceAll(src, []byte("\u201d"), []byte(`"`))
	}

	h.MinSize, h.MaxSize = 3, 3
	r.run(src, 0)
	return r.finish(srcLen)
}

// run tokenizes src. The tokenizer reads the content of iframe, noembed,
// noframes, noscript, xmp and plaintext as raw text, while SpamAssassin's
// HTML::Parser sees markup there: such content is tokenized again.
func (r *htmlRenderer) run(src []byte, depth int) {
	h := r.h
	z := html.NewTokenizer(bytes.NewReader(src))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return
		case html.TextToken:
			r.text(unescapeEntities(z.Raw()))
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			var attrs map[string]string
			if hasAttr {
				// One map serves every tag: tag() does not keep it.
				if r.attrs == nil {
					r.attrs = make(map[string]string, 8)
				}
				clear(r.attrs)
				attrs = r.attrs
				raw := z.Raw()
				for {
					k, v, more := z.TagAttr()
					if _, dup := attrs[string(k)]; !dup {
						val := string(v)
						if val == "" && bareAttr(raw, k) {
							// HTML::Parser gives a bare attribute its own name.
							val = string(k)
						}
						attrs[string(k)] = val
					}
					if !more {
						break
					}
				}
			}
			r.tag(tag, attrs, 1)
			if tt != html.StartTagToken {
				continue
			}
			switch tag {
			case "script", "style":
				if z.Next() == html.TextToken {
					if tag == "script" {
						h.Scripts = append(h.Scripts, string(z.Raw()))
					}
				} else if name, _ := z.TagName(); len(name) > 0 {
					r.tag(string(name), nil, -1)
				}
			case "iframe", "xmp", "plaintext", "noembed", "noframes", "noscript":
				if z.Next() != html.TextToken {
					// An end tag right away: handle it.
					if name, _ := z.TagName(); len(name) > 0 {
						r.tag(string(name), nil, -1)
					}
					continue
				}
				raw := z.Raw()
				switch {
				case tag == "iframe" || tag == "xmp" || tag == "plaintext":
					// HTML::Parser reads these as CDATA: literal text.
					r.text(string(raw))
				case depth < 8:
					// HTML::Parser sees markup in noscript and friends.
					r.run(append([]byte(nil), raw...), depth+1)
				default:
					r.text(string(raw))
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			r.tag(string(name), nil, -1)
		case html.DoctypeToken:
			// HTML::Parser reports <!DOCTYPE ...> as a declaration, which
			// SpamAssassin counts as a tag and an element.
			h.Elements++
			h.Tags++
			r.inside["!doctype"] = 0
		case html.CommentToken:
			if len(h.Comments) < 10000 {
				h.Comments = append(h.Comments, string(z.Raw()))
			}
			// An unterminated "<!--" runs to the end for the HTML5
			// tokenizer; HTML::Parser ends it at the next ">".
			if raw := z.Raw(); !bytes.HasSuffix(raw, []byte("-->")) && bytes.HasPrefix(raw, []byte("<!--")) {
				if gt := bytes.IndexByte(raw[4:], '>'); gt >= 0 && depth < 8 {
					r.run(append([]byte(nil), raw[4+gt+1:]...), depth+1)
				}
			}
		}
	}
}

func (r *htmlRenderer) finish(srcLen int) (all, visible, invisible []byte, h *HTML) {
	var a, v, inv bytes.Buffer
	for _, c := range r.chunks {
		a.WriteString(c.text)
		if c.invisible {
			inv.WriteString(c.text)
		} else {
			v.WriteString(c.text)
		}
	}
	h = r.h
	all, visible, invisible = a.Bytes(), v.Bytes(), inv.Bytes()
	h.Length = srcLen
	h.HTMLLength = utf8.RuneCount(all)
	space := 0
	for _, c := range all {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' {
			space++
		}
	}
	h.NonSpaceLength = h.HTMLLength - space
	h.VisibleLength = utf8.RuneCount(visible)
	h.InvisibleLength = utf8.RuneCount(invisible)
	if srcLen > 0 {
		h.Ratio = float64(srcLen-h.HTMLLength) / float64(srcLen)
	}
	return all, visible, invisible, h
}

func (r *htmlRenderer) tag(tag string, attrs map[string]string, num int) {
	h := r.h
	known := knownElement(tag)
	namespace := strings.HasPrefix(tag, "o:") || (strings.HasPrefix(tag, "st") && strings.Contains(tag, ":"))
	n, open := r.inside[tag]
	if known || namespace {
		h.Elements++
		if !open {
			h.ElementsSeen++
		}
	}
	h.Tags++
	if !open {
		h.TagsSeen++
	}
	n += num
	if n < 0 {
		n = 0
		h.ClosedExtra++
	}
	r.inside[tag] = n
	switch tag {
	case "script":
		r.inScript = n
	case "style":
		r.inStyle = n
	case "a":
		r.inA = n
	case "title":
		r.inTitleN = n
	}
	if namespace || !(known || isTrick(tag)) {
		return
	}
	if textStyleElement(tag) {
		r.textStyle(tag, attrs, num)
	}
	switch tag {
	case "br", "div":
		r.display("\n", true)
	case "li", "th", "td", "dt", "dd", "embed", "h1", "h2", "h3", "h4", "h5", "h6":
		r.display(" ", true)
	case "p", "hr", "blockquote", "pre", "listing", "plaintext", "xmp", "title":
		r.display("\n\n", true)
	}
	if num == 1 {
		r.uri(tag, attrs)
		r.tests(tag, attrs)
	} else {
		switch tag {
		case "html":
			h.ClosedHTML = true
		case "body":
			h.ClosedBody = true
		}
	}
}

func (r *htmlRenderer) push(tag, uri string) {
	uri = strings.TrimFunc(uri, func(c rune) bool {
		return c == 0xa0 || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
	})
	if len(uri) > maxURILength {
		uri = uri[:maxURILength]
	}
	if uri == "" {
		return
	}
	if !(hasPrefixFoldString(uri, "data:") || hasPrefixFoldString(uri, "mailto:") || hasPrefixFoldString(uri, "file:") || hasPrefixFoldString(uri, "cid:") || hasPrefixFoldString(uri, "tel:")) {
		uri = targetURI(r.base, uri)
		if uri == "" {
			return
		}
	}
	r.h.URIs = append(r.h.URIs, HTMLURI{URI: uri, Tag: tag})
}

func (r *htmlRenderer) uri(tag string, attrs map[string]string) {
	if attrs == nil {
		return
	}
	switch tag {
	case "body", "table", "tr", "td":
		if v, ok := attrs["background"]; ok {
			r.push(tag, v)
		}
	case "a", "area", "link":
		href, ok := attrs["href"]
		if !ok {
			for k, v := range attrs {
				if strings.HasSuffix(k, "/href") {
					href, ok = v, true
				}
			}
		}
		if ok {
			r.push(tag, strings.ReplaceAll(href, "\uFEFF", ""))
		}
		if v, ok := attrs["data-saferedirecturl"]; ok {
			r.push(tag, v)
		}
	case "img", "frame", "iframe", "embed", "script", "bgsound":
		src, ok := attrs["src"]
		if !ok {
			for k, v := range attrs {
				if strings.HasSuffix(k, "/src") {
					src, ok = v, true
				}
			}
		}
		if ok {
			r.push(tag, src)
		}
	case "form":
		if v, ok := attrs["action"]; ok {
			r.push(tag, v)
		}
	case "base":
		v := strings.TrimSpace(attrs["href"])
		if v == "" {
			return
		}
		r.push(tag, v)
		lc := strings.ToLower(v)
		if strings.HasPrefix(lc, "http:") || strings.HasPrefix(lc, "https:") || strings.HasPrefix(lc, "ftp:") {
			v = baseDir(v)
			if !strings.HasSuffix(v, "/") {
				v += "/"
			}
			r.base = v
		}
	case "meta":
		if strings.Contains(strings.ToLower(attrs["http-equiv"]), "refresh") {
			c := attrs["content"]
			lc := strings.ToLower(c)
			if i := strings.Index(lc, "url"); i >= 0 {
				rest := strings.TrimLeft(c[i+3:], " \t")
				if strings.HasPrefix(rest, "=") {
					rest = strings.TrimLeft(rest[1:], " \t")
					if j := strings.IndexByte(rest, ';'); j >= 0 {
						rest = rest[:j]
					}
					r.push(tag, strings.TrimSpace(rest))
				}
			}
		}
	}
}

func (r *htmlRenderer) tests(tag string, attrs map[string]string) {
	h := r.h
	switch tag {
	case "font":
		if f, ok := attrs["face"]; ok && !goodFontFace(f) {
			h.FontFaceBad = true
		}
	case "img":
		h.Images++
		if r.inA > 0 && len(h.Anchors) > 0 {
			h.Anchors[len(h.Anchors)-1] += "<img>\n"
		}
		w, okw := attrs["width"]
		ht, okh := attrs["height"]
		if okw && okh {
			wi := dim(w, 8)
			hi := dim(ht, 6)
			if wi <= 0 {
				wi = 200
			}
			if hi <= 0 {
				hi = 200
			}
			h.ImageArea += wi * hi
		}
	case "form":
		if strings.Contains(strings.ToLower(attrs["action"]), "mailto:") {
			h.FormActionMailto = true
		}
	case "object", "embed":
		h.Embeds = true
	case "a":
		h.Anchors = append(h.Anchors, "")
		// SpamAssassin keys anchor text by the href as written (trimmed,
		// not resolved, "" when absent), and that key joins its URI list.
		href := strings.TrimFunc(attrs["href"], func(c rune) bool {
			return c == 0xa0 || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
		})
		if len(href) > maxURILength {
			href = href[:maxURILength]
		}
		h.anchorKeys = append(h.anchorKeys, href)
	case "title":
		h.Title = append(h.Title, "")
	case "meta":
		if strings.Contains(strings.ToLower(attrs["http-equiv"]), "content-type") {
			c := attrs["content"]
			if cs := paramValue(c, "charset", false); cs != "" {
				h.Charsets = append(h.Charsets, cs)
			}
		}
	}
}

// invisible reports whether text under the current style is hidden, as
// SpamAssassin's html_font_invisible decides: same or nearly the same
// colour as the background, an invalid colour, size 1 or less,
// display:none or visibility:hidden.
func (r *htmlRenderer) invisible() bool {
	s := r.styles[len(r.styles)-1]
	last6 := func(x string) string {
		if len(x) > 6 {
			return x[len(x)-6:]
		}
		return x
	}
	if last6(s.fg) == last6(s.bg) {
		r.h.FontLowContrast = true
		return true
	}
	if len(s.fg) == 7 && len(s.bg) == 7 && s.fg[0] == '#' && s.bg[0] == '#' && isHex(s.fg[1:]) && isHex(s.bg[1:]) {
		p := func(x string) float64 { v, _ := strconv.ParseUint(x, 16, 8); return float64(v) }
		dr := 0.2126 * (p(s.fg[1:3]) - p(s.bg[1:3]))
		dg := 0.7152 * (p(s.fg[3:5]) - p(s.bg[3:5]))
		db := 0.0722 * (p(s.fg[5:7]) - p(s.bg[5:7]))
		if dr*dr+dg*dg+db*db < 144 {
			r.h.FontLowContrast = true
			return true
		}
	}
	if s.fg == "invalid" || s.bg == "invalid" {
		r.h.FontInvalidColor = true
		return true
	}
	return s.size <= 1 || strings.EqualFold(s.display, "none") || strings.EqualFold(s.visible, "hidden")
}

func isPunctOrSpace(c byte) bool {
	return c <= 0x20 || (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e)
}

func (r *htmlRenderer) text(t string) {
	if r.inScript > 0 || r.inStyle > 0 {
		return
	}
	h := r.h
	if r.inA > 0 && len(h.Anchors) > 0 {
		h.Anchors[len(h.Anchors)-1] += t
	}
	if r.inTitleN > 0 && len(h.Title) > 0 {
		h.Title[len(h.Title)-1] += t
	}
	inv := false
	if strings.TrimFunc(t, func(c rune) bool {
		return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0xa0
	}) != "" {
		inv = r.invisible()
	}
	if n := len(r.chunks); n > 0 && t != "" {
		last := r.chunks[n-1].text
		if last != "" && !isPunctOrSpace(t[0]) && !isPunctOrSpace(last[len(last)-1]) {
			h.Obfuscation++
		}
	}
	r.displayText(t, inv)
}

// display adds a break (SpamAssassin's whitespace display_text): the
// previous visible text loses a trailing space.
func (r *htmlRenderer) display(s string, _ bool) {
	if n := len(r.chunks); n > 0 && !r.chunks[n-1].whitespace && !r.chunks[n-1].invisible {
		r.chunks[n-1].text = strings.TrimSuffix(r.chunks[n-1].text, " ")
	}
	r.chunks = append(r.chunks, chunk{text: s, whitespace: true})
}

// displayText adds text with runs of ASCII white space collapsed to one
// space; after a break, a leading space is dropped.
func (r *htmlRenderer) displayText(t string, inv bool) {
	var b strings.Builder
	b.Grow(len(t))
	sp := false
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
			sp = true
			continue
		}
		if sp {
			b.WriteByte(' ')
			sp = false
		}
		b.WriteByte(c)
	}
	if sp {
		b.WriteByte(' ')
	}
	s := b.String()
	if n := len(r.chunks); n > 0 && !inv && r.chunks[n-1].whitespace {
		s = strings.TrimPrefix(s, " ")
	}
	r.chunks = append(r.chunks, chunk{text: s, invisible: inv})
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := unhex(s[i]); !ok {
			return false
		}
	}
	return true
}

// unescapeEntities decodes character references the way HTML::Parser
// does for SpamAssassin: a numeric reference is that code point (no
// HTML5 remapping of 128–159), named references per the HTML tables.
func unescapeEntities(b []byte) string {
	i := bytes.IndexByte(b, '&')
	if i < 0 {
		return string(b)
	}
	var out strings.Builder
	out.Grow(len(b))
	for {
		out.Write(b[:i])
		b = b[i:]
		n := 1
		if len(b) > 2 && b[1] == '#' {
			j := 2
			base := 10
			if b[j] == 'x' || b[j] == 'X' {
				base = 16
				j++
			}
			k := j
			for k < len(b) && k-j < 8 {
				c := b[k]
				if c >= '0' && c <= '9' || (base == 16 && (c|0x20) >= 'a' && (c|0x20) <= 'f') {
					k++
					continue
				}
				break
			}
			if k > j {
				v, err := strconv.ParseUint(string(b[j:k]), base, 32)
				if err == nil && v > 0 && v <= 0x10ffff && !(v >= 0xd800 && v <= 0xdfff) {
					out.WriteRune(rune(v))
					if k < len(b) && b[k] == ';' {
						k++
					}
					n = k
					b = b[n:]
					goto next
				}
			}
		} else if len(b) > 1 {
			k := 1
			for k < len(b) && k < 33 && (b[k] >= 'a' && b[k] <= 'z' || b[k] >= 'A' && b[k] <= 'Z' || b[k] >= '0' && b[k] <= '9') {
				k++
			}
			if k > 1 {
				end := k
				if k < len(b) && b[k] == ';' {
					end = k + 1
				}
				ref := string(b[:end])
				if u := html.UnescapeString(ref); u != ref {
					out.WriteString(u)
					b = b[end:]
					goto next
				}
			}
		}
		out.WriteByte('&')
		b = b[1:]
	next:
		i = bytes.IndexByte(b, '&')
		if i < 0 {
			out.Write(b)
			return out.String()
		}
	}
}

// baseDir drops a trailing "name.ext" from a base URL as SpamAssassin's
// s@^([a-z]+:/{0,2}[^/]+/.*?)[^/\.]+\.[^/\.]{2,4}$@$1@i does.
func baseDir(v string) string {
	c := strings.IndexByte(v, ':')
	if c <= 0 {
		return v
	}
	p := c + 1
	for k := 0; k < 2 && p < len(v) && v[p] == '/'; k++ {
		p++
	}
	slash := strings.IndexByte(v[p:], '/')
	if slash <= 0 {
		return v
	}
	minStart := p + slash + 1 // the file name starts after the host's "/"
	d := strings.LastIndexByte(v, '.')
	if d < minStart || len(v)-d-1 < 2 || len(v)-d-1 > 4 || strings.IndexByte(v[d+1:], '/') >= 0 {
		return v
	}
	n := d
	for n > minStart && v[n-1] != '/' && v[n-1] != '.' {
		n--
	}
	if n == d {
		return v
	}
	return v[:n]
}

// bareAttr reports whether attribute key (lower case) appears in the raw
// tag without "=".
func bareAttr(raw, key []byte) bool {
	low := bytes.ToLower(raw)
	for from := 0; ; {
		i := bytes.Index(low[from:], key)
		if i < 0 {
			return false
		}
		i += from
		from = i + len(key)
		if i == 0 || !isSpaceByte(low[i-1]) {
			continue
		}
		j := from
		for j < len(low) && isSpaceByte(low[j]) {
			j++
		}
		return j >= len(low) || low[j] != '='
	}
}
