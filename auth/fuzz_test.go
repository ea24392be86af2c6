package auth

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

// FuzzStripForged checks that StripForged only ever removes whole fields:
// the output is the input with some of its header fields left out, and the
// body untouched.
func FuzzStripForged(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx; spf=pass\r\nSubject: x\r\n\r\nbody"), "mx")
	f.Add([]byte("A: b\n c\nAuthentication-Results: (c) mx 1; none\n\n"), "mx")
	f.Add([]byte("no colon line\r\n\tfolded\r\n"), "")
	f.Fuzz(func(t *testing.T, header []byte, id string) {
		out := StripForged(header, id)
		if len(out) > len(header) {
			t.Fatalf("StripForged(%q, %q) = %q, longer than its input", header, id, out)
		}
		consumed := 0
		for _, fl := range mail.ParseHeader(header) {
			consumed = fl.Offset() + len(fl.Raw())
		}
		if !bytes.HasSuffix(out, header[consumed:]) {
			t.Fatalf("StripForged(%q, %q) = %q, lost the body", header, id, out)
		}
		if again := StripForged(out, id); !bytes.Equal(again, out) && id != "" {
			t.Fatalf("StripForged is not idempotent on %q: %q then %q", header, out, again)
		}
	})
}

// FuzzFromDomain checks that fromDomain never panics and returns a
// lower-case domain without blanks.
func FuzzFromDomain(f *testing.F) {
	f.Add([]byte("From: Alice <alice@Example.COM>\r\n\r\n"))
	f.Add([]byte("From: a@b, c@d\n\n"))
	f.Add([]byte("From: broken <<a@example.net>\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, ok := fromDomain(mail.ParseHeader(raw))
		if !ok && d != "" {
			t.Fatalf("fromDomain(%q) = %q, false", raw, d)
		}
		if strings.ContainsAny(d, " \t\r\n") {
			t.Fatalf("fromDomain(%q) = %q, has blanks", raw, d)
		}
	})
}

// FuzzTagList checks the tag=value parser used for DKIM-Signature fields
// and key records.
func FuzzTagList(f *testing.F) {
	f.Add("v=1; a=rsa-sha256; d=example.com; s=sel;\r\n\tb=abc def")
	f.Add("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	f.Add(";;=;a==b")
	f.Fuzz(func(t *testing.T, s string) {
		for k, v := range tagList(s) {
			if strings.ContainsAny(v, " \t\r\n") {
				t.Fatalf("tagList(%q)[%q] = %q, has blanks", s, k, v)
			}
		}
		inspectKey(s, 1024)
		servID(s)
		MatchSubtest("127.0.0.2", s)
		if rec, err := parseDMARC(s); err == nil && rec.Policy == "" {
			t.Fatalf("parseDMARC(%q) = a record without a policy", s)
		}
	})
}

// FuzzParseDMARC checks that the lenient DMARC record parser never panics,
// and that whatever it accepts has a policy a receiver can act on and parses
// the same way a second time.
func FuzzParseDMARC(f *testing.F) {
	f.Add("v=DMARC1; p=reject; rua=mailto:d@example.com")
	f.Add("v=DMARC1; p=bogus; rua=mailto:d@example.com; pct=50")
	f.Add("v=DMARC1; p=quarantine; sp=none; adkim=s; aspf=r; pct=101")
	f.Add("v=DMARC1;;;p=none")
	f.Add("p=none; v=DMARC1")
	f.Fuzz(func(t *testing.T, txt string) {
		rec, err := parseDMARC(txt)
		if err != nil {
			return
		}
		switch rec.Policy {
		case "none", "quarantine", "reject":
		default:
			t.Fatalf("parseDMARC(%q) accepted policy %q", txt, rec.Policy)
		}
		if rec.Percent != nil && (*rec.Percent < 0 || *rec.Percent > 100) {
			t.Fatalf("parseDMARC(%q) accepted pct=%d", txt, *rec.Percent)
		}
	})
}
