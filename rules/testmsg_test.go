package rules

import (
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"mime"
	"mime/quotedprintable"
	"regexp"
	"strings"
)

// testMessage is a minimal, test-only Message: a lenient header split, a
// MIME walk with transfer decoding, crude HTML rendering. The mail package
// provides the real one.
type testMessage struct {
	full    []byte
	fields  []testField
	parts   []testPart
	body    [][]byte
	rawBody [][]byte
	uris    []string
}

type testField struct{ name, raw string }

type testPart struct {
	fields []testField
	parent string
	raw    []byte
	ctype  string
	text   []byte
}

func splitHeader(b []byte) ([]testField, []byte) {
	var fields []testField
	lines := bytes.SplitAfter(b, []byte("\n"))
	i := 0
	for ; i < len(lines); i++ {
		l := strings.TrimRight(string(lines[i]), "\r\n")
		if l == "" {
			i++
			break
		}
		if (l[0] == ' ' || l[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].raw += "\n" + l
			continue
		}
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		fields = append(fields, testField{name: strings.TrimSpace(name), raw: strings.TrimLeft(val, " \t")})
	}
	return fields, bytes.Join(lines[i:], nil)
}

func decodeWords(s string) string {
	d := mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}
	if v, err := d.DecodeHeader(s); err == nil {
		return v
	}
	return s
}

func fieldValues(fields []testField, name string, raw bool) []string {
	var out []string
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			v := f.raw
			if !raw {
				v = decodeWords(strings.ReplaceAll(v, "\n", ""))
			}
			out = append(out, v)
		}
	}
	return out
}

var (
	tagRE = regexp.MustCompile(`(?s)<[^>]*>`)
	uriRE = regexp.MustCompile(`(?i)(?:https?://|www\.|mailto:)[^\s"'<>()]+`)
)

func newTestMessage(full []byte) *testMessage {
	m := &testMessage{full: full}
	var body []byte
	m.fields, body = splitHeader(full)
	m.walk(m.fields, body, 0, "")
	m.body = append(m.body, []byte(strings.Join(m.Header("Subject", false), " ")))
	for _, p := range m.parts {
		if !strings.HasPrefix(p.ctype, "text/") {
			continue
		}
		m.rawBody = append(m.rawBody, p.text)
		text := string(p.text)
		for _, u := range uriRE.FindAllString(text, -1) {
			m.uris = append(m.uris, u)
		}
		if strings.Contains(p.ctype, "html") {
			text = html.UnescapeString(tagRE.ReplaceAllString(text, " "))
		}
		for _, para := range regexp.MustCompile(`\n\s*\n`).Split(strings.ReplaceAll(text, "\r", ""), -1) {
			para = strings.Join(strings.Fields(para), " ")
			if para != "" {
				m.body = append(m.body, []byte(para))
			}
		}
	}
	return m
}

func (m *testMessage) walk(fields []testField, body []byte, depth int, parent string) {
	ct := "text/plain"
	if v := fieldValues(fields, "Content-Type", false); len(v) > 0 {
		ct = v[0]
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	}
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && depth < 10 {
		sep := []byte("--" + params["boundary"])
		chunks := bytes.Split(body, sep)
		for _, c := range chunks[1:] {
			if bytes.HasPrefix(c, []byte("--")) {
				break
			}
			c = bytes.TrimLeft(c, "\r\n")
			f, b := splitHeader(c)
			m.walk(f, b, depth+1, mt)
		}
		return
	}
	enc := ""
	if v := fieldValues(fields, "Content-Transfer-Encoding", false); len(v) > 0 {
		enc = strings.ToLower(strings.TrimSpace(v[0]))
	}
	raw := body
	switch enc {
	case "base64":
		clean := strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, string(body))
		if d, err := base64.StdEncoding.DecodeString(strings.TrimRight(clean, "=") + strings.Repeat("=", (4-len(strings.TrimRight(clean, "="))%4)%4)); err == nil {
			body = d
		}
	case "quoted-printable":
		if d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err == nil || len(d) > 0 {
			body = d
		}
	}
	m.parts = append(m.parts, testPart{fields: fields, parent: parent, raw: raw, ctype: mt, text: body})
}

func (m *testMessage) Header(name string, raw bool) []string {
	switch name {
	case "ALL":
		var out []string
		for _, f := range m.fields {
			v := f.raw
			if !raw {
				v = decodeWords(strings.ReplaceAll(v, "\n", ""))
			}
			out = append(out, f.name+": "+v)
		}
		return out
	case "ToCc":
		return append(fieldValues(m.fields, "To", raw), fieldValues(m.fields, "Cc", raw)...)
	case "MESSAGEID":
		return append(fieldValues(m.fields, "Message-Id", raw), fieldValues(m.fields, "Resent-Message-Id", raw)...)
	case "EnvelopeFrom":
		rp := fieldValues(m.fields, "Return-Path", false)
		if len(rp) > 0 {
			return []string{strings.Trim(strings.TrimSpace(rp[0]), "<>")}
		}
		return nil
	}
	return fieldValues(m.fields, name, raw)
}

func (m *testMessage) HasHeader(name string) bool { return len(m.Header(name, true)) > 0 }
func (m *testMessage) Body() [][]byte             { return m.body }
func (m *testMessage) RawBody() [][]byte          { return m.rawBody }
func (m *testMessage) Full() []byte               { return m.full }
func (m *testMessage) URIs() []string             { return m.uris }
func (m *testMessage) MIMEHeader(name string, raw bool) []string {
	var out []string
	for _, p := range m.parts {
		out = append(out, fieldValues(p.fields, name, raw)...)
	}
	return out
}

var testHTMLTagRE = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)`)

// HTMLFacts gives the few HTML facts the test message can tell cheaply.
func (m *testMessage) HTMLFacts() HTMLFacts {
	f := HTMLFacts{Values: map[string]float64{}, Tags: map[string]int{}, Balance: map[string]int{}, Text: map[string][]string{}}
	for _, p := range m.parts {
		if p.ctype != "text/html" {
			continue
		}
		f.Values["html"] = 1
		for _, t := range testHTMLTagRE.FindAllStringSubmatch(string(p.text), -1) {
			name := strings.ToLower(t[2])
			if t[1] == "" {
				f.Tags[name]++
				f.Balance[name]++
			} else {
				f.Balance[name]--
			}
		}
		text := html.UnescapeString(tagRE.ReplaceAllString(string(p.text), " "))
		f.Values["length"] += float64(len(text))
		f.Values["non_space_len"] += float64(len(strings.Join(strings.Fields(text), "")))
	}
	if f.Values["html"] == 0 {
		return HTMLFacts{}
	}
	return f
}

// Parts gives the leaf parts the test message found.
func (m *testMessage) Parts() []Part {
	var out []Part
	for _, p := range m.parts {
		enc := ""
		if v := fieldValues(p.fields, "Content-Transfer-Encoding", false); len(v) > 0 {
			enc = strings.ToLower(strings.TrimSpace(v[0]))
		}
		cs, fn := "", ""
		if v := fieldValues(p.fields, "Content-Type", false); len(v) > 0 {
			if _, params, err := mime.ParseMediaType(v[0]); err == nil {
				cs, fn = strings.ToLower(params["charset"]), params["name"]
			}
		}
		out = append(out, Part{ContentType: p.ctype, Charset: cs, Encoding: enc, Filename: fn, Parent: p.parent, Decoded: p.text, Raw: p.raw})
	}
	return out
}
