package rules

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"testing"
	"time"
	"unicode"

	"github.com/dlclark/regexp2"
)

// hdrPairRules returns the stock rules with a Go check, each with its
// regexp2 program.
func hdrPairRules(t testing.TB) (*Ruleset, []*rule, []*regexp2.Regexp) {
	t.Helper()
	rs := loadStock(t)
	var list []*rule
	var res []*regexp2.Regexp
	for _, r := range rs.rules {
		if r.goCheck == nil {
			continue
		}
		re, err := regexp2.Compile(r.bt.pat, regexp2.RE2)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		list = append(list, r)
		res = append(res, re)
	}
	if len(list) != len(hdrPairChecks()) {
		t.Fatalf("%d stock rules have a Go check, want %d (one per check)", len(list), len(hdrPairChecks()))
	}
	return rs, list, res
}

// btMatch is the regexp2 program's answer over text widened byte to rune.
func btMatch(t testing.TB, re *regexp2.Regexp, text []byte) bool {
	t.Helper()
	rs := make([]rune, len(text))
	for i, c := range text {
		rs[i] = rune(c)
	}
	m, err := re.FindRunesMatch(rs)
	if err != nil {
		t.Fatal(err)
	}
	return m != nil
}

func TestFoldByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		if got, want := rune(foldByte(byte(c))), unicode.ToLower(rune(c)); got != want {
			t.Errorf("foldByte(%#x) = %#x, unicode.ToLower %#x", c, got, want)
		}
	}
}

// TestHdrPairsAgree checks every Go check against its rule's regexp2
// program on the header text of every corpus message, and on mutations
// of those texts made to hit the corners: values copied from one field
// to another, fields added and dropped, case changed, bytes the patterns
// treat specially inserted.
func TestHdrPairsAgree(t *testing.T) {
	rs, list, res := hdrPairRules(t)
	n, variants := 500, 12
	if testing.Short() {
		n, variants = 50, 4
	}
	rng := rand.New(rand.NewSource(14))
	hits := make([]int, len(list))
	checked := 0
	for _, f := range corpusFiles(t, n) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg := newTestMessage(data)
		st := &evalState{rs: rs, ctx: context.Background(), deadline: time.Now().Add(time.Hour)}
		h, _ := st.headerText(msg, rs.byName["__TO_EQ_FROM_1"].def)
		byKind := map[Kind][][]byte{KindHeader: {[]byte(h)}, KindFull: {msg.Full()}}
		for _, k := range []Kind{KindHeader, KindFull} {
			for v := 0; v < variants; v++ {
				byKind[k] = append(byKind[k], mutateHeader(rng, byKind[k][0]))
			}
		}
		raw := msg.RawBody()
		byKind[KindRawBody] = raw
		if len(raw) > 0 {
			for v := 0; v < variants; v++ {
				byKind[KindRawBody] = append(byKind[KindRawBody], mutateHeader(rng, raw[rng.Intn(len(raw))]))
			}
		}
		for i, r := range list {
			if r.kind == KindHeader && r.def.header != "ALL" {
				t.Fatalf("%s matches %s, not ALL", r.name, r.def.header)
			}
			for _, text := range byKind[r.kind] {
				checked++
				got, want := r.goCheck(text), btMatch(t, res[i], text)
				if got != want {
					t.Fatalf("%s on %q: Go check %v, regexp2 %v", r.name, text, got, want)
				}
				if got {
					hits[i]++
				}
			}
		}
	}
	for i, r := range list {
		t.Logf("%s: %d matches", r.name, hits[i])
		if hits[i] == 0 && !testing.Short() {
			t.Errorf("%s never matched: the test does not reach its matches", r.name)
		}
	}
	t.Logf("%d rules, %d (rule, text) pairs agree", len(list), checked)
}

// mutateHeader applies one to four random edits to an ALL header text.
func mutateHeader(rng *rand.Rand, text []byte) []byte {
	lines := bytes.Split(bytes.TrimSuffix(text, []byte("\n")), []byte("\n"))
	names := []string{"From", "To", "Subject", "Received", "TO", "subject", "from", "Cc"}
	seps := []string{": ", ":  ", ":\t", ":", ": <", ":\n ", ": \"", ": x "}
	odd := []byte("<>@.,;:\"\t\r\f\v \n0123456789aZ_\xe9\xc9<@>;")
	value := func(l []byte) []byte {
		if i := bytes.IndexByte(l, ':'); i >= 0 {
			return bytes.TrimLeft(l[i+1:], " ")
		}
		return l
	}
	pick := func() int { return rng.Intn(len(lines)) }
	for n := 1 + rng.Intn(4); n > 0 && len(lines) > 0; n-- {
		switch rng.Intn(11) {
		case 9, 10: // a link, its text a URL or not
			hrefs := []string{`<a href="http://abcdefgh.example/x">`, `<A HREF=3D"https://abcdefghijk.example/">`, "<a\nhref=>http://abcdefghij.example>",
				`<a class=x href=http://www.abcdefghijklmnopqrstuvwxyz0123.example/a?b>`, `<a xhref="http://abcdefghij.example/">`, `<a href="http://abcdefgh.example/x" >`}
			mids := []string{"", " ", "\n\t", "<b>", "<b><i>", "</a>", "<>", "text<br>", "           "}
			texts := []string{"http://abcdefgh.example/x", "HTTP://ABCDEFGH.EXAMPLE/X", "https://other.example/y", "http: //xx", "http://a<b", "https://abcdefghijk.example/", "http://abcdefghij.example", "http://www.abcdefghijklmnopqrstuvwxyz0123.example/a?b"}
			nl := []byte(hrefs[rng.Intn(len(hrefs))] + mids[rng.Intn(len(mids))] + mids[rng.Intn(len(mids))] + texts[rng.Intn(len(texts))] + "</a>")
			i := pick()
			at := rng.Intn(len(lines[i]) + 1)
			lines[i] = append(append(append([]byte(nil), lines[i][:at]...), nl...), lines[i][at:]...)
		case 8: // a line of a field's first two words
			f := bytes.Fields(value(lines[pick()]))
			if len(f) >= 2 {
				nl := append(append(append([]byte(nil), f[0]...), ' '), f[1]...)
				if rng.Intn(3) == 0 {
					nl = append(nl, '\r')
				}
				at := rng.Intn(len(lines) + 1)
				lines = append(lines[:at], append([][]byte{nl}, lines[at:]...)...)
			}
		case 0, 1: // a field with another's value
			v := value(lines[pick()])
			if rng.Intn(3) == 0 && len(v) > 2 {
				a := rng.Intn(len(v))
				v = v[a:]
			}
			nl := append([]byte(names[rng.Intn(len(names))]+seps[rng.Intn(len(seps))]), v...)
			if rng.Intn(2) == 0 {
				nl = append(nl, odd[rng.Intn(len(odd))])
			}
			at := rng.Intn(len(lines) + 1)
			lines = append(lines[:at], append([][]byte{nl}, lines[at:]...)...)
		case 2: // a Subject or To naming a value in words
			v := value(lines[pick()])
			nl := append([]byte("Subject: re "), v...)
			nl = append(nl, []byte(" ok")...)
			lines = append(lines, nl)
		case 3: // drop a line
			i := pick()
			lines = append(lines[:i], lines[i+1:]...)
		case 4: // an odd byte
			i := pick()
			l := append([]byte(nil), lines[i]...)
			at := rng.Intn(len(l) + 1)
			lines[i] = append(l[:at], append([]byte{odd[rng.Intn(len(odd))]}, l[at:]...)...)
		case 5: // case
			i := pick()
			if rng.Intn(2) == 0 {
				lines[i] = bytes.ToUpper(lines[i])
			} else {
				lines[i] = bytes.ToLower(lines[i])
			}
		case 6: // a long or empty line
			at := rng.Intn(len(lines) + 1)
			l := []byte{}
			if rng.Intn(2) == 0 {
				l = bytes.Repeat([]byte("y"), 90+rng.Intn(130))
			}
			lines = append(lines[:at], append([][]byte{l}, lines[at:]...)...)
		case 7: // swap two lines
			i, j := pick(), pick()
			lines[i], lines[j] = lines[j], lines[i]
		}
	}
	out := bytes.Join(lines, []byte("\n"))
	if rng.Intn(4) != 0 {
		out = append(out, '\n')
	}
	return out
}

// FuzzHdrPairs checks the Go checks against regexp2 on any text.
func FuzzHdrPairs(f *testing.F) {
	checks := hdrPairChecks()
	pats := make([]string, 0, len(checks))
	res := make([]*regexp2.Regexp, 0, len(checks))
	for p := range checks {
		re, err := regexp2.Compile(p, regexp2.RE2)
		if err != nil {
			f.Fatal(err)
		}
		pats = append(pats, p)
		res = append(res, re)
	}
	f.Add([]byte("x\nFrom: A <a@b.c>\nTo: a@b.c\nSubject: a@b.c hi\n"))
	f.Add([]byte("x\nTo: \"x\" <jo1@ex.com>\nFrom:\n <jo@ex.com>\n"))
	f.Add([]byte("x\nReceived: from h by h for <u@x>; d\nSubject: hi u@x!\n"))
	f.Add([]byte("To: a@brand.com\nx\nSubject: \"Brand news\n"))
	f.Add([]byte("From:  Jo Do <j@d>\n\nJo Do\r\n"))
	f.Add([]byte(`<a href="http://abcdefgh.example/x"><b>http://other.example/y</a>`))
	f.Fuzz(func(t *testing.T, text []byte) {
		if len(text) > 4096 {
			return
		}
		for i, p := range pats {
			if got, want := checks[p](text), btMatch(t, res[i], text); got != want {
				t.Fatalf("%q on %q: Go check %v, regexp2 %v", p, text, got, want)
			}
		}
	})
}
