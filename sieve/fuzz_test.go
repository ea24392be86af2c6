package sieve

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzCompile feeds arbitrary scripts to the lexer, parser and validator,
// and runs what compiles against a small message.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(`require ["fileinto","variables"]; if header :matches "Subject" "*x*" { fileinto "${1}"; }`))
	f.Add([]byte("text:\r\n..a\r\n.\r\n"))
	f.Add([]byte(`if anyof (true, not false) { keep; } elsif size :over 1K { discard; } else { stop; }`))
	f.Add([]byte(`/* c */ # h` + "\n" + `require "encoded-character"; redirect "${hex:41}@x.org";`))
	msg := ParseMessage([]byte(testMsg))
	f.Fuzz(func(t *testing.T, src []byte) {
		opts := Options{Limits: Limits{MaxSteps: 10000, MaxCPUTime: time.Second, MaxMatchBytes: 4096}}
		s, err := Compile("fuzz", src, opts)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz:") {
				t.Fatalf("Compile error %q lacks the file:line:col prefix", err)
			}
			return
		}
		res, _ := s.Run(context.Background(), msg, Env{From: "a@b.c", To: "d@e.f"})
		if res == nil {
			t.Fatalf("Run returned a nil Result")
		}
		_ = FormatActions(res)
	})
}

// refGlob is a plain backtracking :matches used as an oracle for globMatch.
func refGlob(p, s string, fold bool) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if (i == 0 || i == len(s) || utf8.RuneStart(s[i])) && refGlob(p[1:], s[i:], fold) {
				return true
			}
		}
		return false
	case '?':
		if s == "" {
			return false
		}
		_, sz := utf8.DecodeRuneInString(s)
		return refGlob(p[1:], s[sz:], fold)
	case '\\':
		if len(p) > 1 {
			p = p[1:]
		}
	}
	if s == "" {
		return false
	}
	a, b := p[0], s[0]
	if fold {
		a, b = foldByte(a), foldByte(b)
	}
	return a == b && refGlob(p[1:], s[1:], fold)
}

// FuzzMatches checks the linear :matches implementation against the
// backtracking oracle and that the captures rebuild the value.
func FuzzMatches(f *testing.F) {
	f.Add("*@*.example.com", "user@mail.example.com")
	f.Add("[*] *", "[dev] hello")
	f.Add("a?c*", "abcabc")
	f.Add("**x?", "xxxx")
	f.Add("\\*?", "*ä")
	f.Fuzz(func(t *testing.T, pat, s string) {
		// On invalid UTF-8 a '?' may span different byte counts at different
		// offsets, and the earliest-segment strategy is no longer exact.
		if len(pat) > 24 || len(s) > 48 || strings.Count(pat, "*") > 6 || !utf8.ValidString(s) || !utf8.ValidString(pat) {
			return
		}
		for _, fold := range []bool{false, true} {
			ok, caps := globMatch(compileGlob(pat, fold), s, fold, true)
			if want := refGlob(pat, s, fold); ok != want {
				t.Fatalf("globMatch(%q, %q, fold=%v) = %v, want %v", pat, s, fold, ok, want)
			}
			if ok && !fold {
				// Replacing each wildcard by its capture must give the value back.
				var b strings.Builder
				ci := 0
				for i := 0; i < len(pat); i++ {
					switch pat[i] {
					case '*', '?':
						b.WriteString(caps[ci])
						ci++
					case '\\':
						if i+1 < len(pat) {
							i++
						}
						b.WriteByte(pat[i])
					default:
						b.WriteByte(pat[i])
					}
				}
				if b.String() != s {
					t.Fatalf("globMatch(%q, %q) captures %q rebuild %q", pat, s, caps, b.String())
				}
			}
		}
	})
}

// FuzzParseMessage feeds arbitrary messages to the message adapter: the
// MIME structure it builds from mail.Parse must stay consistent, and a script with header, address, body and MIME tests must
// run without panicking.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(testMsg))
	f.Add([]byte("Subject: a\r\n b\r\n\tc\r\nX: \r\n\r\nbody"))
	f.Add([]byte("Subject:\n x\n\nbody\n"))
	f.Add([]byte("no header line\r\n\r\nbody"))
	f.Add([]byte(" leading: continuation\r\nA: b\r\n\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E9t=E9\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n--b--\r\nepi"))
	f.Add([]byte("A: b\r"))
	src := `require ["body", "mime", "foreverypart", "variables", "fileinto"];
if header :mime :anychild :contains "Content-Type" "text" { set "t" "1"; }
if address :all :contains ["from", "to"] "@" { set "a" "1"; }
if body :text :contains "x" { set "b" "1"; }
foreverypart { if header :matches "Subject" "*" { fileinto "${1}"; } }`
	s, err := Compile("fuzz", []byte(src), Options{Limits: Limits{MaxSteps: 10000, MaxCPUTime: time.Second, MaxMatchBytes: 4096}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := ParseMessage(raw)
		parts := m.Parts()
		if len(parts) == 0 || parts[0].Parent != -1 || m.Size() != int64(len(raw)) {
			t.Fatalf("ParseMessage(%q): %d parts, size %d", raw, len(parts), m.Size())
		}
		for i, p := range parts {
			for _, c := range p.Children {
				if c <= i || c >= len(parts) || parts[c].Parent != i {
					t.Fatalf("ParseMessage(%q): part %d has child %d with parent %d", raw, i, c, parts[c].Parent)
				}
			}
		}
		res, _ := s.Run(context.Background(), m, Env{From: "a@b.c", To: "d@e.f"})
		if res == nil {
			t.Fatalf("Run returned a nil Result")
		}
	})
}
