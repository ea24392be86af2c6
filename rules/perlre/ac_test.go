package perlre

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// naiveHits returns, sorted, the patterns that occur in text ignoring
// ASCII case, as Scan must report them.
func naiveHits(pats []string, text []byte) []int32 {
	low := asciiLower(text)
	var out []int32
	for i, p := range pats {
		if bytes.Contains(low, []byte(p)) {
			out = append(out, int32(i))
		}
	}
	return out
}

func acHits(m *AC, text []byte) []int32 {
	var out []int32
	m.Scan(text, func(p int32) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	})
	slices.Sort(out)
	return out
}

func checkAC(t *testing.T, pats []string, text []byte) {
	t.Helper()
	if want, got := naiveHits(pats, text), acHits(NewAC(pats), text); !slices.Equal(got, want) {
		t.Fatalf("NewAC(%q).Scan(%q) = %v, want %v", pats, text, got, want)
	}
}

func TestACNaive(t *testing.T) {
	checkAC(t, []string{"he", "she", "his", "hers"}, []byte("uSHErs ahishers"))
	checkAC(t, []string{"a", "aa", "aaa", "b"}, []byte("AAAA"))
	r := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, 1+r.IntN(n))
		for i := range b {
			b[i] = "abcab-"[r.IntN(6)]
		}
		return string(b)
	}
	for range 500 {
		var pats []string
		for range 1 + r.IntN(12) {
			pats = append(pats, word(5))
		}
		checkAC(t, pats, []byte(strings.ToUpper(word(40))+word(40)))
	}
}

func FuzzAC(f *testing.F) {
	f.Add("he\x00she\x00hers", []byte("ushers"))
	f.Fuzz(func(t *testing.T, list string, text []byte) {
		var pats []string
		for _, p := range strings.Split(list, "\x00") {
			if p != "" {
				pats = append(pats, string(asciiLower([]byte(p))))
			}
		}
		if len(pats) == 0 || !ACFits(pats) {
			return
		}
		checkAC(t, pats, text)
	})
}

// asciiLower folds ASCII letters only, as the automaton does.
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = foldByte(c)
	}
	return out
}
