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
