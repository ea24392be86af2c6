package mail

import "testing"

func TestHTMLText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>CLICK\n   HERE</p>", "CLICK\n   HERE "},
		{"a<b>b</b>c", "a b c"},
		{"x <!-- hidden --> y", "x  y"},
		{"x<script type=x>var s = '<b>';</script>y", "x y"},
		{"x<STYLE>p{}</Style>y", "x y"},
		{"a<![CDATA[<b>]]>b", "a<b>b"},
		{"&lt;&AMP;&#65;&#x42;&nbsp;", "<&AB\u00a0"},
		{"AT&T rocks", "ATT rocks"},
		{"&unknown; x", " x"},
		{"tail &amp", "tail "},
		{"open <tag", "open "},
		{`<a href="x>y">link</a>`, "link "},
		{`<a title='it\'s'>q</a>`, "q "},
		{"<br><br>x", "x"},
		{"a\n<p>b", "a\nb"},
	}
	for _, tt := range tests {
		if got := string(HTMLText([]byte(tt.in))); got != tt.want {
			t.Errorf("HTMLText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzHTMLText(f *testing.F) {
	for _, s := range []string{"<p>a</p>", "<!-- x -->", "<script>x</script>", "&amp;&#x41;", "<![CDATA[x]]>", `<a b="\"">`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if out := HTMLText(b); len(out) > 4*len(b)+4 {
			t.Fatalf("HTMLText grew %d bytes to %d", len(b), len(out))
		}
	})
}

// TestHTMLLengthBeforeNbsp: HTML.pm's {length} (html_image_only's
// measure) is taken before parse turns "&nbsp;" into a space, so each
// counts its six characters (spam/00545, spam/00610, spam/00707 fall in
// SpamAssassin's bands only so).
func TestHTMLLengthBeforeNbsp(t *testing.T) {
	src := "<p>a&nbsp;b&nbsp;c</p><img src=x>\n"
	h := Parse([]byte("Content-Type: text/html\n\n"+src), Options{}).HTML()
	if len(h) != 1 || h[0].Length != len(src) {
		t.Fatalf("Length = %+v, want %d", h, len(src))
	}
}
