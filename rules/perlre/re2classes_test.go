package perlre

import (
	"testing"

	"github.com/dlclark/regexp2"
	"github.com/wasilibs/go-re2/experimental"
)

// TestRE2Classes checks that Backtrack written with RE2Classes and run by
// regexp2 in RE2 mode over widened bytes answers as RE2's Latin-1 mode
// does, where the two engines' defaults differ: word characters, spaces
// and ends on high bytes and newlines.
func TestRE2Classes(t *testing.T) {
	pats := []struct{ pat, flags string }{
		{`\bfoo\b`, ""}, {`foo\B`, ""}, {`\w+\s\w+`, ""}, {`^\W+$`, ""}, {`[\w.]+@`, ""},
		{`bar$`, ""}, {`bar\Z`, ""}, {`bar$`, "m"}, {`\sé\s`, "i"}, {`\d\D\d`, ""},
	}
	texts := []string{
		"foo", "xfoo", "foo\xe9", "\xe9foo", "\xc3\xa9foo bar", "a\xa0b", "a\x85b", "a b", "bar\n", "bar\n\n",
		"x bar", "bar\nx", "\xe9\xe8", " \xc9 ", "1\xb22", "me@x", "m\xe9@x", "foo  \n",
	}
	for _, p := range pats {
		tr, err := Translate(p.pat, p.flags, Options{RE2Classes: true})
		if err != nil {
			t.Fatalf("Translate(%q) = %v", p.pat, err)
		}
		plain, err := Translate(p.pat, p.flags, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if plain.Confirm {
			// Lookarounds: RE2 only pre-screens, regexp2 answers.
			continue
		}
		re, err := experimental.CompileLatin1(plain.RE2)
		if err != nil {
			t.Fatalf("CompileLatin1(%q) = %v", plain.RE2, err)
		}
		bt, err := regexp2.Compile(tr.Backtrack, regexp2.RE2)
		if err != nil {
			t.Fatalf("regexp2.Compile(%q) = %v", tr.Backtrack, err)
		}
		for _, s := range texts {
			r := make([]rune, len(s))
			for i := 0; i < len(s); i++ {
				r[i] = rune(s[i])
			}
			got, err := bt.MatchRunes(r)
			if err != nil {
				t.Fatal(err)
			}
			if want := re.MatchString(s); got != want {
				t.Errorf("/%s/%s on %q: regexp2 %v, RE2 %v (%s)", p.pat, p.flags, s, got, want, tr.Backtrack)
			}
		}
	}
}
