package scoring

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/rules"
)

// FuzzApply checks that Apply never panics, removes every incoming X-Spam-*
// field, and that its output parses whenever the input did (and, for
// report_safe, as a two-part multipart message).
func FuzzApply(f *testing.F) {
	f.Add([]byte("Subject: hi\nFrom: a@b\n\nbody\n"), true, uint8(0))
	f.Add([]byte("Subject: hi\r\nX-Spam-Flag: YES\r\n\r\nbody\r\n"), true, uint8(1))
	f.Add([]byte("From x@y Mon Jan  1 00:00:00 2001\nReturn-Path: <x@y>\n\tmore\nContent-Type: text/html\n\n<p>x</p>"), true, uint8(2))
	f.Add([]byte("no header at all"), false, uint8(0))
	f.Add([]byte("--boundary\n\nbody"), true, uint8(1))
	opt := Options{Hostname: "mx.example.test", Version: "1.0", SubVersion: "test",
		Now: func() time.Time { return time.Unix(1700000000, 0) }}
	hits := []rules.Hit{{Rule: "B_RULE", Score: 3.5, Describe: "a rule with a long description that has to be wrapped over lines"},
		{Rule: "A_RULE", Score: 2.1, Describe: "Grüße"}}
	f.Fuzz(func(t *testing.T, raw []byte, spam bool, rs uint8) {
		conf := rules.Config{RequiredScore: 5, ReportSafe: int(rs % 3),
			RewriteHeader: map[string]string{"Subject": "*****SPAM*****", "From": "spam", "To": "(x)"}}
		v := Verdict{Score: 1, Required: 5, Spam: spam}
		if spam {
			v.Score, v.Hits = 5.6, hits
		}
		out := Apply(raw, v, conf, opt)
		m := parseMessage(out)
		want := len(Headers(v, conf, opt))
		n := 0
		for _, l := range m.lines {
			if isSpamField(l) && !hasPrefixFold(l, "X-Spam-Prev-") {
				n++
			}
		}
		if n != want {
			t.Fatalf("Apply(%q): %d X-Spam-* fields in the output header, want %d:\n%s", raw, n, want, out)
		}
		if _, err := mail.ReadMessage(bytes.NewReader(raw)); err != nil {
			return
		}
		msg, err := mail.ReadMessage(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("Apply(%q) output does not parse: %v\n%s", raw, err, out)
		}
		if !spam || conf.ReportSafe == 0 {
			return
		}
		_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("Apply(%q): Content-Type: %v", raw, err)
		}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		parts := 0
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Apply(%q): part %d: %v\n%s", raw, parts, err, out)
			}
			if _, err := io.Copy(io.Discard, p); err != nil {
				t.Fatalf("Apply(%q): part %d: %v", raw, parts, err)
			}
			parts++
		}
		if parts != 2 {
			t.Fatalf("Apply(%q): %d parts, want 2:\n%s", raw, parts, out)
		}
	})
}

// BenchmarkApply measures Apply on a 5 KB message, for a ham and for a
// spam with report_safe 0 and a Subject rewrite.
func BenchmarkApply(b *testing.B) {
	var msg strings.Builder
	msg.WriteString("Return-Path: <sender@example.com>\nReceived: from mail.example.com (mail.example.com [192.0.2.1])\n\tby mx.example.test with ESMTP id 12345\n\tfor <rcpt@example.test>; Mon, 1 Jan 2026 00:00:00 +0000\n")
	msg.WriteString("From: Sender <sender@example.com>\nTo: rcpt@example.test\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= and more\nDate: Mon, 1 Jan 2026 00:00:00 +0000\nMessage-ID: <1@example.com>\nX-Spam-Status: Yes, planted\nMIME-Version: 1.0\nContent-Type: text/plain\n\n")
	for msg.Len() < 5000 {
		msg.WriteString("The quick brown fox jumps over the lazy dog, again and again and again.\n")
	}
	raw := []byte(msg.String())
	var hits []rules.Hit
	for _, n := range []string{"DATE_IN_FUTURE_03_06", "DIET_1", "DRUGS_ERECTILE", "EXCUSE_4", "FORGED_YAHOO_RCVD",
		"FREEMAIL_FROM", "INVALID_DATE", "INVALID_MSGID", "MSGID_SHORT", "NORMAL_HTTP_TO_IP", "SPOOFED_FREEMAIL"} {
		hits = append(hits, rules.Hit{Rule: n, Score: 1.2, Describe: "Description of " + n})
	}
	opt := Options{Hostname: "mx.example.test", Version: "1.0", SubVersion: "bench"}
	for _, bc := range []struct {
		name string
		v    Verdict
	}{
		{"ham", Verdict{Score: 1.2, Required: 5, Hits: hits[:1]}},
		{"spam", Verdict{Score: 13.2, Required: 5, Spam: true, Hits: hits}},
	} {
		conf := rules.Config{RequiredScore: 5, ReportSafe: 0, RewriteHeader: map[string]string{"Subject": "*****SPAM*****"}}
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				Apply(raw, bc.v, conf, opt)
			}
		})
	}
}

// FuzzTemplate checks that any add_header template expands, folds and
// encodes into a valid field value: printable ASCII, every line after the
// first starting with a tab (RFC 5322 §2.2.3).
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		`"_YESNO_, score=_SCORE_ required=_REQD_ tests=_TESTS_ autolearn=_AUTOLEARN_ version=_VERSION_"`,
		`_STARS(*)_`, `_SCORE(00)_ _YESNO(a,b)_ _TESTSSCORES(, )_`, `_REPORT_`, `Grüße\n\t\\x _SUMMARY_`,
		`_TESTS(\n)_ _HEADER(Subject)_ _UNKNOWN_`,
	} {
		f.Add(s, true)
	}
	opt := Options{Hostname: "mx.example.test", Version: "1.0", SubVersion: "test",
		Now: func() time.Time { return time.Unix(1700000000, 0) }}
	f.Fuzz(func(t *testing.T, tmpl string, spam bool) {
		v := Verdict{Score: 12.5, Required: 5, Spam: spam, Preview: "a preview\n   line two",
			Hits:    []rules.Hit{{Rule: "A_RULE", Score: 12.5, Describe: tmpl}},
			Details: map[string]HitDetail{"A_RULE": {Area: "BODY: ", Log: []string{tmpl}}}}
		conf := rules.Config{RequiredScore: 5, ClearHeaders: true,
			AddHeaders: []rules.HeaderTemplate{{When: "all", Name: "Test", Template: tmpl}}}
		for _, fl := range Headers(v, conf, opt) {
			for i, line := range strings.Split(fl.Value, "\n") {
				if i > 0 && !strings.HasPrefix(line, "\t") {
					t.Fatalf("Headers(%q): %s line %d not folded: %q", tmpl, fl.Name, i, fl.Value)
				}
				if !printable(line) {
					t.Fatalf("Headers(%q): %s not ASCII: %q", tmpl, fl.Name, fl.Value)
				}
			}
		}
	})
}
