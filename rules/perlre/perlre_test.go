package perlre

import (
	"errors"
	"testing"

	"github.com/dlclark/regexp2"
	"github.com/wasilibs/go-re2/experimental"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in, pat, flags, rest string
		bad                  bool
	}{
		{in: `/abc/i`, pat: `abc`, flags: `i`},
		{in: `/a\/b/`, pat: `a\/b`},
		{in: `m{a{2}b}sx [if-unset: x]`, pat: `a{2}b`, flags: `sx`, rest: ` [if-unset: x]`},
		{in: `m!foo!`, pat: `foo`},
		{in: `m#a#i x`, pat: `a`, flags: `i`, rest: ` x`},
		{in: `m(a(b)c)`, pat: `a(b)c`},
		{in: `/abc`, bad: true},
		{in: `abc`, bad: true},
		{in: `/a/q`, bad: true},
	}
	for _, tt := range tests {
		pat, flags, rest, err := Split(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("Split(%q) error = %v, want error %v", tt.in, err, tt.bad)
			continue
		}
		if !tt.bad && (pat != tt.pat || flags != tt.flags || rest != tt.rest) {
			t.Errorf("Split(%q) = %q, %q, %q, want %q, %q, %q", tt.in, pat, flags, rest, tt.pat, tt.flags, tt.rest)
		}
	}
}

// perlMatch translates and matches like the engine: RE2 first, then
// regexp2 for confirmation.
func perlMatch(t *testing.T, pat, flags, text string) bool {
	t.Helper()
	tr, err := Translate(pat, flags, Options{})
	if err != nil {
		t.Fatalf("Translate(%q, %q) = %v", pat, flags, err)
	}
	re, err := experimental.CompileLatin1(tr.RE2)
	if err != nil {
		t.Fatalf("CompileLatin1(%q) from %q = %v", tr.RE2, pat, err)
	}
	m := re.MatchString(text)
	if !tr.Confirm || !m {
		return m
	}
	bt, err := regexp2.Compile(tr.Backtrack, regexp2.None)
	if err != nil {
		t.Fatalf("regexp2.Compile(%q) from %q = %v", tr.Backtrack, pat, err)
	}
	rs := make([]rune, len(text))
	for i := 0; i < len(text); i++ {
		rs[i] = rune(text[i])
	}
	mm, err := bt.FindRunesMatch(rs)
	if err != nil {
		t.Fatalf("regexp2 match: %v", err)
	}
	return mm != nil
}

func TestTranslate(t *testing.T) {
	tests := []struct {
		pat, flags, text string
		want             bool
	}{
		{`abc`, ``, `xxabcxx`, true},
		{`ABC`, `i`, `xabcx`, true},
		{`^a.c$`, ``, "abc\n", true},
		{`^a.c$`, ``, "abc\nx", false},
		{`^b$`, `m`, "a\nb\nc", true},
		{`a.c`, ``, "a\nc", false},
		{`a.c`, `s`, "a\nc", true},
		{`a b # comment`, `x`, "ab", true},
		{`a[ ]b`, `x`, "a b", true},
		{`foo\z`, ``, "foo\n", false},
		{`foo\Z`, ``, "foo\n", true},
		{`a\hb`, ``, "a\tb", true},
		{`a\Hb`, ``, "a\tb", false},
		{`\Qa.b\E`, ``, "a.b", true},
		{`\Qa.b\E`, ``, "axb", false},
		{`\x41\x{42}\103`, ``, "ABC", true},
		{`\xe9t\xe9`, ``, "\xe9t\xe9", true},
		{`caf.`, ``, "caf\xc3\xa9", true},
		{`^caf.$`, ``, "caf\xc3\xa9", false}, // . is one byte
		{`[[:upper:]]{3}`, ``, "xABCx", true},
		{`[\w.-]+@`, ``, "a.b-c@", true},
		{`[\w-.]+@`, ``, "a.b-c@", true},
		{`a{,2}b`, ``, "b", true},
		{`a{x}`, ``, "a{x}", true},
		{`(?i)abc`, ``, "ABC", true},
		{`(?i:a)b`, ``, "Ab", true},
		{`(?i:a)b`, ``, "AB", false},
		{`(?x: a b )c`, ``, "abc", true},
		{`(?^i:A)`, ``, "a", true},
		{`(?#comment)abc`, ``, "abc", true},
		{`foo(?!bar)`, ``, "foobar", false},
		{`foo(?!bar)`, ``, "foobaz", true},
		{`(?<=x)foo`, ``, "xfoo", true},
		{`(?<=x)foo`, ``, "yfoo", false},
		{`(a+)\1`, ``, "aa", true},
		{`(a+)b\1`, ``, "aab", false},
		{`(?<n>ab)\k<n>`, ``, "abab", true},
		{`a++a`, ``, "aaa", false},
		{`(?>a+)b`, ``, "aab", true},
		{`x{0,2000}y`, ``, "xxy", true},
		{`\d{1200}`, ``, "12", false},
		{`a\/b`, ``, "a/b", true},
		{`a\-b\@c`, ``, "a-b@c", true},
		{`a\_b`, ``, "a_b", true},
		{`\R`, ``, "\r\n", true},
		{`\N`, ``, "\n", false},
		{`\cA`, ``, "\x01", true},
		{`[^\x00-\x7f]`, ``, "abc", false},
		{`[]a]`, ``, "]", true},
		{`[\]]`, ``, "]", true},
		{`[a\-z]`, ``, "-", true},
		{`\bfoo\b`, `i`, "a FOO b", true},
		{`$`, ``, "", true},
	}
	for _, tt := range tests {
		if got := perlMatch(t, tt.pat, tt.flags, tt.text); got != tt.want {
			tr, _ := Translate(tt.pat, tt.flags, Options{})
			t.Errorf("match(/%s/%s, %q) = %v, want %v (RE2 %q, backtrack %q)", tt.pat, tt.flags, tt.text, got, tt.want, tr.RE2, tr.Backtrack)
		}
	}
}

func TestTranslateErrors(t *testing.T) {
	tests := []struct {
		pat  string
		want error
	}{
		{`(?{ code })`, ErrUnsupported},
		{`a\Gb`, ErrUnsupported},
		{`a\Kb`, ErrUnsupported},
		{`(?|a)`, ErrUnsupported},
		{`(a`, ErrRegex},
		{`a)`, ErrRegex},
		{`[a`, ErrRegex},
		{`*a`, ErrRegex},
		{`a\`, ErrRegex},
	}
	for _, tt := range tests {
		_, err := Translate(tt.pat, "", Options{})
		if !errors.Is(err, tt.want) {
			t.Errorf("Translate(%q) = %v, want %v", tt.pat, err, tt.want)
		}
	}
}

func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		pat  string
		want []string
	}{
		{`(?i)viagra`, []string{"viagra"}},
		{`foo|barbaz`, []string{"foo", "barbaz"}},
		{`a.b`, nil},
		{`x+hello\s+world`, []string{"hello"}},
		{`(?:abc)?def`, []string{"def"}},
		{`[Vv]iagra`, []string{"viagra"}},
		{`fo|barbaz`, nil},
	}
	for _, tt := range tests {
		got := RequiredLiterals(tt.pat)
		if len(got) != len(tt.want) {
			t.Errorf("RequiredLiterals(%q) = %q, want %q", tt.pat, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("RequiredLiterals(%q) = %q, want %q", tt.pat, got, tt.want)
			}
		}
	}
}

// FuzzTranslatePerl checks that translation never panics and that what it
// produces compiles in both engines.
func FuzzTranslatePerl(f *testing.F) {
	for _, s := range []string{`abc`, `(?i)a(?=b)\1`, `[[:alpha:]\w-]+`, `a{1,2}+`, `\Qx\E`, `(?x) a # c`, `(?<n>a)\k<n>`, `x{0,2000}`} {
		f.Add(s, "i")
	}
	f.Fuzz(func(t *testing.T, pat, flags string) {
		if len(pat) > 200 {
			return
		}
		tr, err := Translate(pat, flags, Options{})
		if err != nil {
			return
		}
		_ = compileCheck(tr.RE2)
		if tr.Confirm {
			_, _ = regexp2.Compile(tr.Backtrack, regexp2.None)
		}
		_ = RequiredLiterals(tr.RE2)
	})
}

// compileCheck reports whether RE2 accepts a pattern in Latin-1 mode.
func compileCheck(p string) error {
	if err := CheckRE2(p); err != nil {
		return err
	}
	_, err := experimental.CompileLatin1(p)
	return err
}
