package mail

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDecodeHeader(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"subject", "plain text", "plain text"},
		{"subject", "=?utf-8?B?SGVsbG8gV29ybGQ=?=", "Hello World"},
		{"subject", "=?ISO-8859-1?Q?caf=E9_au_lait?=", "café au lait"},
		{"subject", "=?utf-8?q?a?= =?utf-8?q?b?=", "ab"}, // RFC 2047 §6.2: space between words dropped
		{"subject", "=?utf-8?q?a?=  x =?utf-8?q?b?=", "a  x b"},
		{"subject", "=?utf-8?B?4pyI?= =?utf-8?B?77iP?=", "✈️"},
		// A multi-byte character split across two words of one charset.
		{"subject", "=?utf-8?B?8J+Y?= =?utf-8?B?gA==?=", "😀"},
		{"subject", "=?koi8-r?B?8NLJ18XU?=", "Привет"},
		{"subject", "=?windows-1251?Q?=CF=F0=E8?=", "При"},
		{"subject", "=?iso-2022-jp?B?GyRCJEskWyRzJDQbKEI=?=", "にほんご"},
		{"subject", "=?gb2312?B?xOO6ww==?=", "你好"},
		// Bogus charsets fall back to Windows-1252.
		{"subject", "=?default?Q?caf=E9?=", "café"},
		{"subject", "=?x-unknown?B?Y2Fm6Q==?=", "café"},
		{"subject", "=?utf-8*en?Q?hi?=", "hi"}, // RFC 2231 language suffix
		// Broken encoded-words stay as they are.
		{"subject", "=?utf-8?B?broken", "=?utf-8?B?broken"},
		{"subject", "=?utf-8?X?abc?=", "=?utf-8?X?abc?="},
		{"subject", "=??Q?abc?=", "=??Q?abc?="},
		{"subject", "a =?utf-8?Q?=ZZ?= b", "a =ZZ b"},
		{"subject", "=?utf-8?B?!!!?=", ""},
		// Raw 8-bit bytes: UTF-8 when valid, else Windows-1252.
		{"subject", "caf\xc3\xa9", "café"},
		{"subject", "caf\xe9 \x80", "café €"},
		// Structured fields are not searched for encoded-words.
		{"received", "from =?utf-8?q?x?= by y", "from =?utf-8?q?x?= by y"},
		{"message-id", "<=?utf-8?q?x?=@y>", "<=?utf-8?q?x?=@y>"},
		{"list-id", "=?utf-8?q?x?=", "=?utf-8?q?x?="},
		// Remaining line breaks are removed, a folded tab becomes a space.
		{"subject", "a\n\tb", "a b"},
		{"subject", "a\r\nb", "ab"},
	}
	for _, tt := range tests {
		if got := DecodeHeader(tt.in, tt.name); got != tt.want {
			t.Errorf("DecodeHeader(%q, %q) = %q, want %q", tt.in, tt.name, got, tt.want)
		}
	}
}

func TestHeaderFolding(t *testing.T) {
	raw := "Subject: first\n   second\n\tthird\nX-Empty:\nTo: a@b.example,\n c@d.example\nsubject: again\n\nbody\n"
	m := Parse([]byte(raw), Options{})
	if got, want := m.Header("Subject", false), []string{"first second third\n", "again\n"}; !slices.Equal(got, want) {
		t.Errorf("Header(Subject) = %q, want %q", got, want)
	}
	if got, want := m.Header("subject", true), []string{" first\n   second\n\tthird\n", " again\n"}; !slices.Equal(got, want) {
		t.Errorf("Header(subject, raw) = %q, want %q", got, want)
	}
	if got, want := m.Header("X-Empty", false), []string{"\n"}; !slices.Equal(got, want) {
		t.Errorf("Header(X-Empty) = %q, want %q", got, want)
	}
	if got, want := m.Header("ToCc", true), []string{" a@b.example, c@d.example\n"}; !slices.Equal(got, want) {
		t.Errorf("Header(ToCc, raw) = %q, want %q", got, want)
	}
	if !m.HasHeader("x-empty") || m.HasHeader("X-Missing") {
		t.Errorf("HasHeader(x-empty), HasHeader(X-Missing) = %v, %v; want true, false", m.HasHeader("x-empty"), m.HasHeader("X-Missing"))
	}
	if got, want := m.HeaderValues("SUBJECT"), []string{"first second third", "again"}; !slices.Equal(got, want) {
		t.Errorf("HeaderValues(SUBJECT) = %q, want %q", got, want)
	}
	if got := m.Header("X-Missing", false); got != nil {
		t.Errorf("Header(X-Missing) = %q, want nil", got)
	}
}

func TestCRLF(t *testing.T) {
	raw := "Subject: a\r\n b\r\nContent-Type: text/plain\r\n\r\nline one\r\nline two\r\n"
	m := Parse([]byte(raw), Options{})
	if got, want := m.Header("Subject", false), []string{"a b\n"}; !slices.Equal(got, want) {
		t.Errorf("Header(Subject) = %q, want %q", got, want)
	}
	if got, want := strs(m.RawBody()), []string{"line one\nline two\n"}; !slices.Equal(got, want) {
		t.Errorf("RawBody() = %q, want %q", got, want)
	}
	if !bytes.Equal(m.Full(), []byte(raw)) {
		t.Errorf("Full() changed the message")
	}
}

func TestPseudoHeaders(t *testing.T) {
	raw := "Return-Path: <bounce@list.example>\n" +
		"Received: from x by y\n" +
		"Message-Id: <1@a.example>\n" +
		"Resent-Message-Id: <2@a.example>\n" +
		"To: =?utf-8?q?J=C3=B6rg?= <j@a.example>\n" +
		"Cc: c@a.example\n" +
		"Subject: hi\n\nbody\n"
	m := Parse([]byte(raw), Options{})
	if got, want := m.Header("ToCc", false), []string{"Jörg <j@a.example>\n", "c@a.example\n"}; !slices.Equal(got, want) {
		t.Errorf("Header(ToCc) = %q, want %q", got, want)
	}
	if got, want := m.Header("MESSAGEID", false), []string{"<2@a.example>\n", "<1@a.example>\n"}; !slices.Equal(got, want) {
		t.Errorf("Header(MESSAGEID) = %q, want %q", got, want)
	}
	if got, want := m.Header("EnvelopeFrom", false), []string{"bounce@list.example"}; !slices.Equal(got, want) {
		t.Errorf("Header(EnvelopeFrom) = %q, want %q", got, want)
	}
	all := m.Header("ALL", false)
	if len(all) != 7 || all[4] != "To: Jörg <j@a.example>\n" || all[6] != "Subject: hi\n" {
		t.Errorf("Header(ALL) = %q, want 7 fields with To decoded", all)
	}
	if got := strings.Join(m.Header("ALL", true), ""); got != string(m.HeaderBytes()[:len(m.HeaderBytes())-1]) {
		t.Errorf("Header(ALL, raw) = %q, want the header section %q", got, m.HeaderBytes())
	}
	m = Parse([]byte(raw), Options{EnvelopeFrom: "<>"})
	if got, want := m.Header("EnvelopeFrom", false), []string{""}; !slices.Equal(got, want) {
		t.Errorf("Header(EnvelopeFrom) with null sender = %q, want %q", got, want)
	}
	// A Return-Path below a Received field was not added by our MTA.
	m = Parse([]byte("Received: from x\nReturn-Path: <a@b.example>\n\n"), Options{})
	if got := m.Header("EnvelopeFrom", false); got != nil {
		t.Errorf("Header(EnvelopeFrom) below Received = %q, want nil", got)
	}
}

func TestBody(t *testing.T) {
	raw := "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n\n" +
		"First   paragraph\nstill first.\n\n\n  Second\tone.\n"
	m := Parse([]byte(raw), Options{})
	want := []string{"Grüße\n", "First paragraph still first.\n", " Second one. "}
	if got := strs(m.Body()); !slices.Equal(got, want) {
		t.Errorf("Body() = %q, want %q", got, want)
	}
	// No Subject: an empty first line.
	m = Parse([]byte("From: a@b.example\n\nx\n"), Options{})
	if got, want := strs(m.Body()), []string{"\n", "x "}; !slices.Equal(got, want) {
		t.Errorf("Body() without Subject = %q, want %q", got, want)
	}
	// Long paragraphs are cut at a space before 2048 bytes.
	long := strings.Repeat("word ", 1000)
	m = Parse([]byte("Subject: s\n\n"+long), Options{})
	for _, p := range m.Body() {
		if len(p) > 2048 {
			t.Fatalf("Body() paragraph of %d bytes, want <= 2048", len(p))
		}
	}
	// body_part_scan_size.
	m = Parse([]byte("Subject: s\n\n"+strings.Repeat("a", 10000)), Options{MaxBodyScan: 100})
	if got := len(bytes.Join(m.Body(), nil)); got > 200 {
		t.Errorf("Body() with MaxBodyScan 100 holds %d bytes", got)
	}
}

func TestMultipart(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		types    []string
		rawBody  []string
		bodyHas  string
		missingH bool
	}{
		{
			name: "missing final boundary",
			raw: "Content-Type: multipart/alternative; boundary=\"b1\"\n\n" +
				"preamble\n--b1\nContent-Type: text/plain\n\nplain part\n--b1\nContent-Type: text/html\n\n<p>html part</p>\n",
			types:   []string{"multipart/alternative", "text/plain", "text/html"},
			rawBody: []string{"plain part", "<p>html part</p>\n"},
			bodyHas: "html part",
		},
		{
			name:    "boundary never appears",
			raw:     "Content-Type: multipart/mixed; boundary=zzz\n\nJust text\nover lines.\n",
			types:   []string{"multipart/mixed", "text/plain"},
			rawBody: []string{"Just text\nover lines.\n"},
			bodyHas: "Just text over lines.",
		},
		{
			name:    "multipart without boundary parameter",
			raw:     "Content-Type: multipart/mixed\n\nsome text\n",
			types:   []string{"text/plain"},
			rawBody: []string{"some text\n"},
		},
		{
			name:     "part without headers",
			raw:      "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nno headers here\n--b\nbroken: yes\nstill text\n--b--\nepilogue\n",
			types:    []string{"multipart/mixed", "text/plain", "text/plain"},
			rawBody:  []string{"no headers here", "still text"},
			missingH: true,
		},
		{
			name:     "digest defaults to message/rfc822",
			raw:      "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: inner one\n\ninner body\n--d--\n",
			types:    []string{"multipart/digest", "message/rfc822", "text/plain"},
			rawBody:  []string{"inner body"},
			missingH: true, // the blank line right after the boundary
		},
		{
			name:  "nested multipart reusing the boundary",
			raw:   "Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: text/plain\n\ninner\n--a--\n--a--\n",
			types: []string{"multipart/mixed", "multipart/alternative", "text/plain"},
		},
		{
			name:    "attachment skipped by rawbody",
			raw:     "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\nhello\n--m\nContent-Type: application/pdf; name=\"x.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n--m\nContent-Type: text/calendar\n\nBEGIN:VCALENDAR\n--m--\n",
			types:   []string{"multipart/mixed", "text/plain", "application/pdf", "text/calendar"},
			rawBody: []string{"hello"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Parse([]byte(tt.raw), Options{})
			var types []string
			for _, p := range m.Parts() {
				types = append(types, p.ContentType)
			}
			if !slices.Equal(types, tt.types) {
				t.Errorf("Parts() types = %q, want %q", types, tt.types)
			}
			if tt.rawBody != nil {
				if got := strs(m.RawBody()); !slices.Equal(got, tt.rawBody) {
					t.Errorf("RawBody() = %q, want %q", got, tt.rawBody)
				}
			}
			if tt.bodyHas != "" && !bytes.Contains(bytes.Join(m.Body(), nil), []byte(tt.bodyHas)) {
				t.Errorf("Body() = %q, want it to contain %q", m.Body(), tt.bodyHas)
			}
			if tt.name == "part without headers" {
				f := m.ParseFlags()
				if !f.MissingMIMEHeadBodySeparator || !f.MIMEEpilogueExists {
					t.Errorf("ParseFlags() = %+v, want MissingMIMEHeadBodySeparator and MIMEEpilogueExists", f)
				}
			}
			if m.MissingMIMEHeaders() != tt.missingH {
				t.Errorf("MissingMIMEHeaders() = %v, want %v", m.MissingMIMEHeaders(), tt.missingH)
			}
		})
	}
}

func TestNestedMessage(t *testing.T) {
	raw := "Subject: outer\nContent-Type: multipart/mixed; boundary=o\n\n" +
		"--o\nContent-Type: text/plain\n\nouter text\n" +
		"--o\nContent-Type: message/rfc822\n\n" +
		"Subject: =?utf-8?q?inner_=E2=9C=93?=\nX-Inner: yes\nContent-Type: multipart/alternative; boundary=i\n\n" +
		"--i\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9 inner\n" +
		"--i--\n--o--\n"
	m := Parse([]byte(raw), Options{})
	var types []string
	for _, p := range m.Parts() {
		types = append(types, p.ContentType)
	}
	want := []string{"multipart/mixed", "text/plain", "message/rfc822", "multipart/alternative", "text/plain"}
	if !slices.Equal(types, want) {
		t.Fatalf("Parts() types = %q, want %q", types, want)
	}
	if got, want := m.MIMEHeader("X-Inner", false), []string{"yes\n"}; !slices.Equal(got, want) {
		t.Errorf("MIMEHeader(X-Inner) = %q, want %q", got, want)
	}
	if got, want := m.MIMEHeader("Subject", false), []string{"outer\n", "inner ✓\n"}; !slices.Equal(got, want) {
		t.Errorf("MIMEHeader(Subject) = %q, want %q", got, want)
	}
	if got := m.Header("X-Inner", false); got != nil {
		t.Errorf("Header(X-Inner) = %q, want nil (inner headers are not the message's)", got)
	}
	body := string(bytes.Join(m.Body(), nil))
	if !strings.Contains(body, "café inner") || !strings.HasPrefix(body, "outer\n") {
		t.Errorf("Body() = %q, want the outer Subject first and the decoded inner text", body)
	}
	// Depth limit: the attached message stays a leaf.
	m = Parse([]byte(raw), Options{MaxDepth: 1})
	if n := len(m.Parts()); n != 3 {
		t.Errorf("Parts() with MaxDepth 1 = %d parts, want 3", n)
	}
}

func TestTransferEncodings(t *testing.T) {
	tests := []struct {
		cte, ctype, in, want string
	}{
		{"base64", "text/plain", "aGVsbG8gd29y\nbGQ=\n", "hello world"},
		{"base64", "text/plain", "aGVs*bG8g!!d29y\n\nbGQ=====\n", "hello world"},
		{"base64", "text/plain", "aGVsbG8=d29ybGQ=", "hello\x00world"}, // "=" inside counts as zero bits
		{"base64", "text/plain", "aGVsbG8\n", "hello"},                 // missing padding
		{"base64", "text/plain", "dGV4dA0Kb25l\n", "text\none"},        // CRLF → LF for text
		{"base64", "application/octet-stream", "dGV4dA0Kb25l\n", "text\r\none"},
		{"Quoted-Printable", "text/plain", "caf=E9 =\nsoft=3Dbreak   \nx=ZZ=4", "caf\xe9 soft=break\nx=ZZ=4"},
		{"quoted-printable", "text/plain", "a==\n3D", "a="}, // soft breaks go first, as in SpamAssassin
		{"7bit", "text/plain", "as is =E9", "as is =E9"},
		{"x-uuencode", "text/plain", "begin 644", "begin 644"},
	}
	for _, tt := range tests {
		raw := "Content-Type: " + tt.ctype + "\nContent-Transfer-Encoding: " + tt.cte + "\n\n" + tt.in
		m := Parse([]byte(raw), Options{})
		if got := string(m.Root().Decoded()); got != tt.want {
			t.Errorf("Decoded(%s %q) = %q, want %q", tt.cte, tt.in, got, tt.want)
		}
	}
}

func TestEightBitHeaders(t *testing.T) {
	raw := "Subject: Gr\xfc\xdfe aus K\xf6ln\nFrom: \"J\xc3\xb6rg\" <j@x.example>\nX-Bin: \x00\x01\xff\n\nbody \xe9\n"
	m := Parse([]byte(raw), Options{})
	if got, want := m.Header("Subject", false), []string{"Grüße aus Köln\n"}; !slices.Equal(got, want) {
		t.Errorf("Header(Subject) = %q, want %q", got, want)
	}
	if got, want := m.Header("Subject", true), []string{" Gr\xfc\xdfe aus K\xf6ln\n"}; !slices.Equal(got, want) {
		t.Errorf("Header(Subject, raw) = %q, want %q", got, want)
	}
	if got, want := HeaderName(m.Header("From", true)[0], false), []string{"Jörg"}; !slices.Equal(got, want) {
		t.Errorf("HeaderName(From) = %q, want %q", got, want)
	}
	if got := strs(m.Body()); len(got) != 2 || got[1] != "body é " {
		t.Errorf("Body() = %q, want the Latin-1 body as UTF-8", got)
	}
}

func TestBrokenHeaderSection(t *testing.T) {
	// After three lines that are not fields, the header section ends.
	raw := "Subject: s\nnot a header\nnor this\nor this\nfourth breaks\nX-After: 1\n\nbody\n"
	m := Parse([]byte(raw), Options{})
	if !m.MissingHeadBodySeparator() {
		t.Errorf("MissingHeadBodySeparator() = false, want true")
	}
	if m.HasHeader("X-After") {
		t.Errorf("HasHeader(X-After) = true, want false: it follows the broken lines")
	}
	if !bytes.Contains(bytes.Join(m.RawBody(), nil), []byte("fourth breaks")) {
		t.Errorf("RawBody() = %q, want the text after the broken header lines", m.RawBody())
	}
	// Headers only, no body at all.
	m = Parse([]byte("Subject: only"), Options{})
	if got, want := m.Header("Subject", false), []string{"only\n"}; !slices.Equal(got, want) {
		t.Errorf("Header(Subject) = %q, want %q", got, want)
	}
	// Empty input.
	m = Parse(nil, Options{})
	if m.Body() == nil || len(m.Header("ALL", false)) != 0 {
		t.Errorf("Parse(nil): Body() = %q, ALL = %q", m.Body(), m.Header("ALL", false))
	}
	// mbox separator.
	m = Parse([]byte("From sender@x Mon Jan  1 00:00:00 2024\nSubject: m\n\nb\n"), Options{})
	if got := m.Header("Subject", false); len(got) != 1 || m.MboxSeparator() == "" {
		t.Errorf("mbox message: Subject = %q, separator %q", got, m.MboxSeparator())
	}
}

func TestHeaderBomb(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&b, "X-H%d: v\n", i)
	}
	b.WriteString("Subject: late\n\nbody\n")
	raw := b.Bytes()
	start := time.Now()
	m := Parse(raw, Options{})
	_ = m.Header("Subject", false)
	_ = m.Header("ALL", false)
	_ = m.Body()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("100k header fields took %v", d)
	}
	if n := len(m.Root().Fields()); n != 1000 || !m.Truncated() {
		t.Errorf("kept %d fields (truncated %v), want 1000 and true", n, m.Truncated())
	}
	allocs := testing.AllocsPerRun(1, func() { Parse(raw, Options{}) })
	if allocs > 20000 {
		t.Errorf("Parse of a 100k-field header allocates %v times, want it bounded by MaxHeaders", allocs)
	}
	// Huge single value.
	m = Parse([]byte("Subject: "+strings.Repeat("x", 1<<20)+"\n\nb"), Options{})
	if got := m.Header("Subject", true); len(got) != 1 || len(got[0]) > 8192 {
		t.Errorf("Header(Subject, raw) of a 1 MB field: %d bytes, want <= 8192", len(got[0]))
	}
}

func TestManyParts(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=p\n\n")
	for i := 0; i < 5000; i++ {
		b.WriteString("--p\nContent-Type: text/plain\n\nx\n")
	}
	m := Parse([]byte(b.String()), Options{})
	if n := len(m.Parts()); n > 1000 || !m.Truncated() {
		t.Errorf("5000 parts: Parts() = %d, Truncated() = %v; want <= 1000, true", n, m.Truncated())
	}
	// Deep nesting.
	b.Reset()
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	b.WriteString("\ndeep\n")
	m = Parse([]byte(b.String()), Options{})
	if n := len(m.Parts()); n > 25 {
		t.Errorf("500 nested multiparts: Parts() = %d, want the depth limit", n)
	}
}

func TestHTMLRender(t *testing.T) {
	tests := []struct {
		in   string
		want []string // Body() after the empty Subject line
	}{
		// Expected values are what SpamAssassin 4.0.1 renders.
		{"<p>Hello <b>World</b></p><p>Second</p>", []string{"\n", "Hello World\n", "Second\n"}},
		{"<script>var x = 'hidden';</script><style>p {color: red}</style>Visible", []string{"Visible"}},
		{"a&amp;b &lt;tag&gt; &copy; &#8364; &euro;", []string{"a&b <tag> © € €"}},
		{"line<br>break<br/>again", []string{"line break again"}},
		{"one<br><br>two", []string{"one\n", "two"}},
		{"<div>x</div><div>y</div>", []string{" x\n", "y "}},
		{"<table><tr><td>a</td><td>b</td></tr></table>", []string{" a b "}},
		{"<html><head><title>T</title></head><body>text</body></html>", []string{"\n", "T\n", "text"}},
		{"caf&eacute;", []string{"caf\xe9"}}, // ASCII source: Perl keeps Latin-1 bytes
		{"<!-- comment -->shown", []string{"shown"}},
		{"<noscript><b>ns</b></noscript>", []string{"ns"}},
		{"broken <b unclosed", []string{"broken "}},
	}
	for _, tt := range tests {
		m := Parse([]byte("Content-Type: text/html; charset=utf-8\n\n"+tt.in), Options{})
		got := strs(m.Body())[1:]
		if !slices.Equal(got, tt.want) {
			t.Errorf("Body() of %q = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHTMLFacts(t *testing.T) {
	src := `<html><head><title>My Title</title></head><body bgcolor="#ffffff">
<img src="a.gif" width="10" height="20"><img src="b.gif">
<font color="#ffffff">invisible</font> <span style="display:none">hidden</span>
<a href="http://x.example/">click here</a><form action="mailto:a@b.example"></form>
</body>`
	m := Parse([]byte("Content-Type: text/html\n\n"+src), Options{})
	hs := m.HTML()
	if len(hs) != 1 {
		t.Fatalf("HTML() = %d parts, want 1", len(hs))
	}
	h := hs[0]
	if h.Images != 2 || h.ImageArea != 200 {
		t.Errorf("Images, ImageArea = %d, %d; want 2, 200", h.Images, h.ImageArea)
	}
	if !slices.Equal(h.Title, []string{"My Title"}) || !slices.Equal(h.Anchors, []string{"click here"}) {
		t.Errorf("Title, Anchors = %q, %q", h.Title, h.Anchors)
	}
	if !h.FormActionMailto || !h.FontLowContrast || !h.ClosedBody || h.ClosedHTML {
		t.Errorf("FormActionMailto, FontLowContrast, ClosedBody, ClosedHTML = %v, %v, %v, %v", h.FormActionMailto, h.FontLowContrast, h.ClosedBody, h.ClosedHTML)
	}
	if h.InvisibleLength != len("invisible")+len("hidden") {
		t.Errorf("InvisibleLength = %d, want %d", h.InvisibleLength, len("invisiblehidden"))
	}
	if h.HTMLLength == 0 || h.NonSpaceLength >= h.HTMLLength || h.Ratio <= 0 || h.Length != len(src) {
		t.Errorf("Length, HTMLLength, NonSpaceLength, Ratio = %d, %d, %d, %v", h.Length, h.HTMLLength, h.NonSpaceLength, h.Ratio)
	}
	if v, ok := h.Value("bad_tag_ratio"); !ok || v != 0 {
		t.Errorf(`Value("bad_tag_ratio") = %v, %v; want 0, true`, v, ok)
	}
	if !h.Test("form_action_mailto") || !h.Test("html") || h.Test("embeds") {
		t.Errorf("Test() flags wrong: %+v", h)
	}
	if got := h.Texts("title"); !slices.Equal(got, []string{"My Title"}) {
		t.Errorf(`Texts("title") = %q`, got)
	}
	if h.Inside["img"] != 2 || h.Tags == 0 || h.Elements == 0 {
		t.Errorf("Inside[img], Tags, Elements = %d, %d, %d", h.Inside["img"], h.Tags, h.Elements)
	}
}

func TestURIs(t *testing.T) {
	tests := []struct {
		name, ctype, body string
		want              []string // all must be present
		absent            []string
	}{
		{"scheme", "text/plain", "see http://www.example.com/page?x=1.", []string{"http://www.example.com/page?x=1"}, nil},
		{"www", "text/plain", "go to www.example.org now", []string{"http://www.example.org"}, nil},
		{"schemeless domain", "text/plain", "visit example.net/path today", []string{"http://example.net/path"}, nil},
		{"invalid tld", "text/plain", "file.txt and readme.notatld", nil, []string{"http://file.txt", "http://readme.notatld"}},
		{"mail address", "text/plain", "write to john.doe@example.com, thanks", []string{"mailto:john.doe@example.com"}, nil},
		{"mailto", "text/plain", "mailto:x@example.com?subject=hi", []string{"mailto:x@example.com?subject=hi", "mailto:x@example.com"}, nil},
		{"closing paren", "text/plain", "(see http://example.com/a)", []string{"http://example.com/a"}, []string{"http://example.com/a)"}},
		{"ftp", "text/plain", "ftp.example.com/pub", []string{"ftp://ftp.example.com/pub"}, nil},
		{"escaped", "text/plain", "http://%77%77%77.example.com/", []string{"http://%77%77%77.example.com/", "http://www.example.com/"}, nil},
		{"default port", "text/plain", "http://example.com:80/x", []string{"http://example.com:80/x", "http://example.com/x"}, nil},
		{"decimal ip", "text/plain", "http://3232235777/", []string{"http://192.168.1.1/"}, nil},
		{"redirector", "text/plain", "http://r.example.com/?u=http://target.example.org/x&y", []string{"http://target.example.org/x"}, nil},
		{"html href", "text/html", `<a href=" http://a.example.com/x ">a</a><img src="http://img.example.com/i.gif"><form action="http://f.example.com/post"></form>`,
			[]string{"http://a.example.com/x", "http://img.example.com/i.gif", "http://f.example.com/post"}, nil},
		{"html base", "text/html", `<base href="http://b.example.com/dir/page.html"><a href="rel/x.html">r</a>`,
			[]string{"http://b.example.com/dir/rel/x.html", "rel/x.html"}, nil},
		{"html entities", "text/html", `<a href="http://e.example.com/?a=1&amp;b=2">e</a>`, []string{"http://e.example.com/?a=1&b=2"}, nil},
		{"html background and meta refresh", "text/html", `<body background="http://bg.example.com/b.jpg"><meta http-equiv="refresh" content="0; url=http://r.example.com/">`,
			[]string{"http://bg.example.com/b.jpg", "http://r.example.com/"}, nil},
		{"html text link", "text/html", `<p>Go to www.text.example.com</p>`, []string{"http://www.text.example.com"}, nil},
		{"anchor without href", "text/html", `<a name="top">x</a>`, []string{""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Parse([]byte("Content-Type: "+tt.ctype+"\n\n"+tt.body), Options{})
			got := m.URIs()
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("URIs() = %q, want it to contain %q", got, w)
				}
			}
			for _, a := range tt.absent {
				if slices.Contains(got, a) {
					t.Errorf("URIs() = %q, want it without %q", got, a)
				}
			}
			seen := map[string]bool{}
			for _, u := range got {
				if seen[u] {
					t.Errorf("URIs() repeats %q", u)
				}
				seen[u] = true
			}
		})
	}
}

func TestTargetURI(t *testing.T) {
	tests := []struct{ base, ref, want string }{
		{"", "http://a.example/x", "http://a.example/x"},
		{"http://b.example/dir/", "page.html", "http://b.example/dir/page.html"},
		{"http://b.example/dir/", "../up/./x", "http://b.example/up/x"},
		{"http://b.example/dir/", "/abs?q=1#f", "http://b.example/abs?q=1#f"},
		{"http://b.example/dir/", "//other.example/p", "http://other.example/p"},
		{"http://b.example/dir/", "http:rel", "http://b.example/dir/rel"}, // same scheme is dropped
		{"", "//www.example.com/", "http://www.example.com/"},
		{"", "rel/path", "rel/path"},
	}
	for _, tt := range tests {
		if got := targetURI(tt.base, tt.ref); got != tt.want {
			t.Errorf("targetURI(%q, %q) = %q, want %q", tt.base, tt.ref, got, tt.want)
		}
	}
	deep := "http://a.example" + strings.Repeat("/./..", 5000) + "/x"
	start := time.Now()
	if got := targetURI("", deep); got != "http://a.example/x" {
		t.Errorf("targetURI(deep) = %q", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("targetURI of 10000 dot segments took %v", d)
	}
}

func TestAddressModifiers(t *testing.T) {
	tests := []struct {
		in    string
		addrs []string
		names []string
	}{
		{`"John Doe" <john@example.com>`, []string{"john@example.com"}, []string{"John Doe"}},
		{`john@example.com (John Doe)`, []string{"john@example.com"}, []string{"John Doe"}},
		{`John <j@a.example>, "Doe, Jane" <jane@b.example>; x@c.example`, []string{"j@a.example", "jane@b.example", "x@c.example"}, []string{"John", "Doe, Jane"}},
		{`undisclosed-recipients:;`, nil, nil},
		{`group: a@b.example, c@d.example;`, []string{"a@b.example", "c@d.example"}, nil},
		{`=?utf-8?q?J=C3=B6rg?= <j@x.example>`, []string{"j@x.example"}, []string{"Jörg"}},
		{`'Quoted' <q@x.example>`, []string{"q@x.example"}, []string{"Quoted"}},
		{`<a@b.example> <dup@b.example>`, []string{"a@b.example"}, nil},
		{`broken <no-at-sign>`, nil, []string{"broken"}},
		{`"" <>`, nil, []string{" "}},
		{``, nil, nil},
	}
	for _, tt := range tests {
		if got := HeaderAddr(tt.in); !slices.Equal(got, tt.addrs) {
			t.Errorf("HeaderAddr(%q) = %q, want %q", tt.in, got, tt.addrs)
		}
		if got := HeaderName(tt.in, false); !slices.Equal(got, tt.names) {
			t.Errorf("HeaderName(%q) = %q, want %q", tt.in, got, tt.names)
		}
	}
	if got, want := HeaderName(`=?utf-8?q?J=C3=B6rg?= <j@x.example>`, true), []string{"=?utf-8?q?J=C3=B6rg?= "}; !slices.Equal(got, want) {
		t.Errorf("HeaderName(raw) = %q, want %q", got, want)
	}
	hosts := []struct{ in, host, domain string }{
		{"John <john@mail.example.co.uk>", "mail.example.co.uk", "example.co.uk"},
		{"from relay.example.com (1.2.3.4) by mx", "relay.example.com", "example.com"},
		{"<1234@localhost>", "", ""},
		{"nothing here", "", ""},
		{"a@sub.host.example.org", "sub.host.example.org", "example.org"},
	}
	for _, tt := range hosts {
		h := HeaderHost(tt.in)
		if h != tt.host {
			t.Errorf("HeaderHost(%q) = %q, want %q", tt.in, h, tt.host)
		}
		if h != "" {
			if d := Domain(h); d != tt.domain {
				t.Errorf("Domain(%q) = %q, want %q", h, d, tt.domain)
			}
		}
	}
	if got := AddrHost("user@Host.Example.com"); got != "Host.Example.com" {
		t.Errorf("AddrHost = %q, want %q", got, "Host.Example.com")
	}
	ips := []struct{ in, ip, rev string }{
		{"from x ([192.0.2.1]) by y", "192.0.2.1", "1.2.0.192"},
		{"version 1.2.3.4.5 and 10.0.0.1", "10.0.0.1", "1.0.0.10"},
		{"from [2001:db8::1]", "2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"},
		{"no address", "", ""},
	}
	for _, tt := range ips {
		ip := HeaderIP(tt.in)
		if ip != tt.ip {
			t.Errorf("HeaderIP(%q) = %q, want %q", tt.in, ip, tt.ip)
		}
		if ip != "" {
			if rev := ReverseIP(ip); rev != tt.rev {
				t.Errorf("ReverseIP(%q) = %q, want %q", ip, rev, tt.rev)
			}
		}
	}
	if got := Domain("192.0.2.1"); got != "192.0.2.1" {
		t.Errorf("Domain(IP) = %q, want it unchanged", got)
	}
}

func TestParts(t *testing.T) {
	raw := "Content-Type: multipart/mixed; boundary=b\n\n" +
		"--b\nContent-Type: text/plain; charset=\"ISO-8859-1\"\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9\n" +
		"--b\nContent-Type: application/pdf; name=\"r.pdf\"\nContent-Disposition: attachment; filename=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQ=\n" +
		"--b\nContent-Type: application/octet-stream; name*0=\"long\"; name*1=\"name.html\"\n\n<b>x</b>\n--b--\n"
	m := Parse([]byte(raw), Options{})
	leaves := m.Leaves()
	if len(leaves) != 3 {
		t.Fatalf("Leaves() = %d, want 3", len(leaves))
	}
	p := leaves[0]
	if p.Charset != "ISO-8859-1" || string(p.Text()) != "café" || p.IsAttachment() {
		t.Errorf("text part: Charset %q, Text %q, IsAttachment %v", p.Charset, p.Text(), p.IsAttachment())
	}
	a := leaves[1]
	if a.Name != "report.pdf" || !a.IsAttachment() || string(a.Decoded()) != "%PDF-1.4" || a.Disposition() != "attachment" {
		t.Errorf("attachment: Name %q, IsAttachment %v, Decoded %q", a.Name, a.IsAttachment(), a.Decoded())
	}
	if a.Params()["name"] != "r.pdf" {
		t.Errorf("Params() = %v, want name=r.pdf", a.Params())
	}
	h := leaves[2]
	if h.Name != "longname.html" || h.EffectiveType() != "text/html" {
		t.Errorf("RFC 2231 name: Name %q, EffectiveType %q", h.Name, h.EffectiveType())
	}
}

// TestCorpus parses every message of the SpamAssassin public corpus.
func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	var files []string
	for _, sub := range []string{"ham", "spam"} {
		names, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
		files = append(files, names...)
	}
	if testing.Short() {
		files = files[:len(files)/10]
	}
	var withURI, withHTML, multipart, nonASCIIBody int
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := Parse(raw, Options{})
		body := m.Body()
		if body == nil || len(body) == 0 {
			t.Errorf("%s: Body() = %q, want at least the Subject line", f, body)
		}
		if m.RawBody() == nil {
			t.Errorf("%s: RawBody() = nil", f)
		}
		if len(m.URIs()) > 0 {
			withURI++
		}
		if len(m.HTML()) > 0 {
			withHTML++
		}
		if len(m.Parts()) > 1 {
			multipart++
		}
		if !isASCII(bytes.Join(body, nil)) {
			nonASCIIBody++
		}
		if len(m.Header("ALL", false)) == 0 {
			t.Errorf("%s: no header fields", f)
		}
	}
	t.Logf("%d messages: %d with URIs, %d with HTML, %d multipart, %d non-ASCII bodies", len(files), withURI, withHTML, multipart, nonASCIIBody)
	if len(files) > 6000 && withURI < len(files)/2 {
		t.Errorf("only %d of %d messages have a URI", withURI, len(files))
	}
}

func corpusSample(b testing.TB, n int) [][]byte {
	dir := corpusDir(b)
	var files []string
	for _, sub := range []string{"ham", "spam"} {
		names, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
		slices.Sort(names)
		files = append(files, names...)
	}
	// The first n messages of a deterministic interleaving of ham and spam.
	slices.SortFunc(files, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	if len(files) > n {
		files = files[:n]
	}
	var out [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

// BenchmarkParse parses one message per op (cycling over the first 1000
// corpus messages) without asking for any view.
func BenchmarkParse(b *testing.B) {
	msgs := corpusSample(b, 1000)
	var size int
	for _, m := range msgs {
		size += len(m)
	}
	b.SetBytes(int64(size / len(msgs)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		Parse(msgs[i%len(msgs)], Options{})
		i++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(i), "cpu-ns/op")
}

// cpuTime returns the process's user+system CPU time in nanoseconds: on a
// shared machine it measures the work better than wall time.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkParseAllViews parses one message per op and computes every view
// the rule engine reads: Body, RawBody, URIs, HTML and some headers.
func BenchmarkParseAllViews(b *testing.B) {
	msgs := corpusSample(b, 1000)
	var size int
	for _, m := range msgs {
		size += len(m)
	}
	b.SetBytes(int64(size / len(msgs)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		m := Parse(msgs[i%len(msgs)], Options{})
		m.Body()
		m.RawBody()
		m.URIs()
		m.HTML()
		m.Header("Subject", false)
		m.Header("From", true)
		m.Header("ALL", false)
		m.MIMEHeader("Content-Type", false)
		i++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(i), "cpu-ns/op")
}

// BenchmarkParseAllViews5K is BenchmarkParseAllViews over the corpus
// messages of 4 to 6 KB, the typical size.
func BenchmarkParseAllViews5K(b *testing.B) {
	var msgs [][]byte
	for _, m := range corpusSample(b, 6046) {
		if len(m) >= 4<<10 && len(m) <= 6<<10 {
			msgs = append(msgs, m)
		}
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		m := Parse(msgs[i%len(msgs)], Options{})
		m.Body()
		m.RawBody()
		m.URIs()
		m.HTML()
		m.Header("Subject", false)
		m.Header("From", true)
		m.Header("ALL", false)
		m.MIMEHeader("Content-Type", false)
		i++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(i), "cpu-ns/op")
	b.ReportMetric(float64(len(msgs)), "msgs")
}

func fuzzSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "*.eml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := Parse(raw, Options{})
		body := m.Body()
		if len(body) == 0 {
			t.Fatalf("Body() is empty")
		}
		for _, p := range body {
			if len(p) > maxBodyLine {
				t.Fatalf("Body() paragraph of %d bytes", len(p))
			}
		}
		m.RawBody()
		m.URIs()
		m.HTML()
		m.Header("ALL", false)
		m.Header("ALL", true)
		m.Header("ToCc", false)
		m.Header("MESSAGEID", true)
		m.Header("EnvelopeFrom", false)
		m.MIMEHeader("ALL", false)
		for _, p := range m.Parts() {
			p.Decoded()
			p.Text()
			p.Params()
		}
		for _, v := range m.Header("From", true) {
			for _, h := range HeaderAddr(v) {
				Domain(AddrHost(h))
			}
			HeaderName(v, false)
			HeaderHost(v)
		}
		if !bytes.Equal(m.Full(), raw) {
			t.Fatalf("Full() differs from the input")
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	for _, s := range []string{
		"=?utf-8?B?SGVsbG8=?=", "=?iso-8859-1?Q?caf=E9?= =?iso-8859-1?Q?_x?=", "=?default?q?=FF?=",
		"=?utf-16?B?AGgAaQ==?=", "=?utf-8?B?broken", "=?=?=?", "a\n\tb\r\nc", "\xff\xfe=?x?q?=?=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := DecodeHeader(s, "subject")
		if strings.ContainsAny(got, "\n") && !strings.Contains(s, "=?") {
			t.Fatalf("DecodeHeader(%q) = %q keeps a line break", s, got)
		}
		DecodeHeader(s, "received")
		ParseAddresses(s)
		HeaderName(s, false)
		HeaderHost(s)
	})
}

// TestHugeMessage checks that large parts cost bounded time: only the
// bytes that can reach Body and RawBody are decoded and rendered.
func TestHugeMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("large allocation; skipped with -short")
	}
	for _, ct := range []string{"text/plain", "text/html", "multipart/mixed; boundary=x"} {
		var b strings.Builder
		b.WriteString("Subject: big\nContent-Type: " + ct + "\n\n")
		line := "hello <b>world</b> see www.example.com and <a href=\"http://x.example/\">x</a> more text\n"
		if strings.HasPrefix(ct, "multipart") {
			b.WriteString("--x\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n")
			line = "PGI+aGVsbG88L2I+IHd3dy5leGFtcGxlLmNvbSA8YSBocmVmPXg+eTwvYT4g\n"
		}
		for b.Len() < 30<<20 {
			b.WriteString(line)
		}
		start := time.Now()
		m := Parse([]byte(b.String()), Options{})
		body, raw, uris := m.Body(), m.RawBody(), m.URIs()
		d := time.Since(start)
		if d > 10*time.Second {
			t.Errorf("%s: 30 MB message took %v", ct, d)
		}
		if len(body) < 2 || len(raw) == 0 || len(uris) == 0 {
			t.Errorf("%s: Body %d, RawBody %d, URIs %d paragraphs/entries; want some of each", ct, len(body), len(raw), len(uris))
		}
		if n := len(bytes.Join(body, nil)); n > 60000 {
			t.Errorf("%s: Body() holds %d bytes, want about MaxBodyScan", ct, n)
		}
	}
}

// TestMaxMessageScan checks that only the body's first MaxMessageScan
// bytes are read, cut at a line end, and that Full is cut alike.
func TestMaxMessageScan(t *testing.T) {
	hdr := "Subject: big\r\n\r\n"
	body := strings.Repeat("0123456789abcdef\r\n", 100) // 1800 bytes
	raw := []byte(hdr + body + "TAIL\r\n")
	m := Parse(raw, Options{MaxMessageScan: 1000})
	if !m.ScanCut() {
		t.Fatalf("ScanCut() = false for a %d-byte body and MaxMessageScan 1000", len(body))
	}
	want := len(hdr) + 990 // 55 lines of 18 bytes
	if got := len(m.Full()); got != want {
		t.Errorf("len(Full()) = %d, want %d", got, want)
	}
	for _, p := range m.Body() {
		if bytes.Contains(p, []byte("TAIL")) {
			t.Errorf("Body() reads past MaxMessageScan: %q", p)
		}
	}
	if m := Parse(raw, Options{MaxMessageScan: -1}); m.ScanCut() || len(m.Full()) != len(raw) {
		t.Errorf("MaxMessageScan -1: ScanCut() = %v, len(Full()) = %d, want false, %d", m.ScanCut(), len(m.Full()), len(raw))
	}
}

func TestHeaderLen(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want int
	}{
		{"Subject: a\r\n\r\nbody\r\n", 14},
		{"From x@y Mon\nSubject: a\n\nbody\n", 25},
		{"Subject: a\r\n--b\r\nbody\r\n", 12},
		{"Subject: a\r\n", 12},
		{"\r\nbody", 2},
	} {
		if got := HeaderLen([]byte(tc.raw)); got != tc.want {
			t.Errorf("HeaderLen(%q) = %d, want %d", tc.raw, got, tc.want)
		}
	}
}
