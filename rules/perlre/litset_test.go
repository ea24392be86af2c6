package perlre

import (
	"reflect"
	"testing"

	"github.com/wasilibs/go-re2/experimental"
)

// TestLitSetAgrees compares LitSet with go-re2's Latin-1 mode on texts
// holding every byte, case variants and overlapping alternatives.
func TestLitSetAgrees(t *testing.T) {
	pats := []struct {
		pat string
		ok  bool
	}{
		{`e`, true},
		{`(?i)e`, true},
		{`(?i)\xe9`, false},
		{`(?i)k`, true},
		{`(?i)s`, true},
		{`(?i)\xb5`, false},
		{`(?i)\xff`, false},
		{`(?:e|\xc3[\xa8\xa9\xaa\xab]|\xd0\xb5)`, true},
		{`ab|abc`, true},
		{`abc|ab`, true},
		{`(?i)copy (?:and|\+|\&) paste`, true},
		{`(?i)[a-c]x`, true},
		{`aa`, true},
		{`a(?:b|)c`, true},
		{`\bfoo`, false},
		{`^foo`, false},
		{`fo+`, false},
		{`fo?`, false},
		{`a.b`, false},
		{`a|`, false},
		{`[^a]`, false},
		{`[\xc9\xe9]x`, false},
		{`(?i)[\xe9]`, false},
		{`(?i)[a-z]{2}`, false},
		{`[Ee]`, true},
		{`(?i)\[a\]`, true},
	}
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c), 'x', byte(c))
	}
	texts := [][]byte{
		all, []byte(""), []byte("e"), []byte("eee"), []byte("EeE\xc3\xa9\xd0\xb5\xc3"), []byte("abcabab"),
		[]byte("aaaaa"), []byte("Copy + Paste, copy and paste"), []byte("ABX bx cX"), []byte("ac abc"),
		[]byte("\xb5\xe9\xc9\xff\x9f kK sS"),
	}
	for _, p := range pats {
		ls, ok := NewLitSet(p.pat)
		if ok != p.ok {
			t.Errorf("NewLitSet(%q) ok = %v, want %v", p.pat, ok, p.ok)
		}
		if !ok {
			continue
		}
		re, err := experimental.CompileLatin1(p.pat)
		if err != nil {
			t.Fatalf("CompileLatin1(%q) = %v", p.pat, err)
		}
		for _, text := range texts {
			if got, want := ls.MatchString(string(text)), re.Match(text); got != want {
				t.Errorf("%q MatchString(%q) = %v, want %v", p.pat, text, got, want)
			}
			if got, want := ls.Match(text), re.Match(text); got != want {
				t.Errorf("%q Match(%q) = %v, want %v", p.pat, text, got, want)
			}
			if got, want := ls.FindIndex(text), re.FindIndex(text); !reflect.DeepEqual(got, want) {
				t.Errorf("%q FindIndex(%q) = %v, want %v", p.pat, text, got, want)
			}
			for _, n := range []int{-1, 1, 2, 5} {
				if got, want := ls.FindAllIndex(text, n), re.FindAllIndex(text, n); !reflect.DeepEqual(got, want) {
					t.Errorf("%q FindAllIndex(%q, %d) = %v, want %v", p.pat, text, n, got, want)
				}
				if got, want := ls.Count(text, n), len(re.FindAllIndex(text, n)); got != want {
					t.Errorf("%q Count(%q, %d) = %d, want %d", p.pat, text, n, got, want)
				}
			}
		}
	}
}

// FuzzLitSet checks LitSet against go-re2's Latin-1 mode on any pattern
// it accepts: the same matches, the same leftmost match, the same counts.
func FuzzLitSet(f *testing.F) {
	for _, s := range []string{`e`, `(?i)ab|abc`, `(?:e|\xc3[\xa8-\xab])`, `(?i)[a-c]x`, `a(?:b|)c`, `[Kk]s`} {
		f.Add(s, []byte("abcABCe\xc3\xa9 kKsS"))
	}
	f.Fuzz(func(t *testing.T, pat string, text []byte) {
		if len(pat) > 100 || len(text) > 1000 {
			return
		}
		ls, ok := NewLitSet(pat)
		if !ok {
			return
		}
		re, err := experimental.CompileLatin1(pat)
		if err != nil {
			// Go's parser accepts a few escapes RE2 refuses (\700); rules
			// only hold patterns RE2 compiled.
			return
		}
		if got, want := ls.Match(text), re.Match(text); got != want {
			t.Fatalf("%q Match(%q) = %v, want %v", pat, text, got, want)
		}
		if got, want := ls.FindIndex(text), re.FindIndex(text); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q FindIndex(%q) = %v, want %v", pat, text, got, want)
		}
		if got, want := ls.Count(text, -1), len(re.FindAllIndex(text, -1)); got != want {
			t.Fatalf("%q Count(%q) = %d, want %d", pat, text, got, want)
		}
	})
}
