package bayes

import (
	"regexp"
	"strings"
	"testing"
)

// TestStopwordsSet checks that the expanded set answers as the regular
// expression does.
func TestStopwordsSet(t *testing.T) {
	if stopwordsEN.set == nil || len(stopwordsEN.set) != 71 {
		t.Fatalf("English stop words not expanded: %d words", len(stopwordsEN.set))
	}
	re := regexp.MustCompile(stopwordsEN.re.String())
	for w := range stopwordsEN.set {
		if !re.MatchString(w) {
			t.Errorf("set holds %q, which the pattern does not match", w)
		}
	}
	toks := []string{"the", "The", "THE", "it's", "you're", "mailto", "information", "them", "mailings", "ther", "caf\xc3\xa9", "\xc5\xbfee", "", "x"}
	// Each word, and near misses of it, through the length filter.
	for w := range stopwordsEN.set {
		toks = append(toks, w, strings.ToUpper(w), w+"s", "s"+w, w[1:], w[:len(w)-1], w[:len(w)-1]+"'")
	}
	for _, tok := range toks {
		want := isASCII(tok) && re.MatchString(tok)
		if got := stopwordsEN.Match(tok); got != want {
			t.Errorf("Match(%q) = %v, want %v", tok, got, want)
		}
	}
	if (*Stopwords)(nil).Match("the") {
		t.Errorf("nil Stopwords matched")
	}
}
