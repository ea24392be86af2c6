package rules

import (
	"context"
	"os"
	"testing"
	"time"
)

const neededRulesText = `
body ZERO /foo/
score ZERO 0
body __DEP /bar/
meta M __DEP
score M 1
body ZERO2 /baz/
score ZERO2 0
meta M2 ZERO2
score M2 1
body __ALONE /foo/
`

// TestNeededRules: a one-shot evaluation skips the rules no score
// depends on (a 0 score, no meta reading them), and still runs those a
// meta reads or the user's score lines score.
func TestNeededRules(t *testing.T) {
	msg := newTestMessage([]byte("Subject: x\n\nfoo bar baz\n"))
	val := func(oneShot bool, prefs string) map[string]float64 {
		t.Helper()
		rs, err := LoadString("t.cf", neededRulesText, Options{OneShot: oneShot})
		if err != nil {
			t.Fatal(err)
		}
		in := Input{}
		if prefs != "" {
			if in.Prefs, err = rs.ParsePrefs("user_prefs", []byte(prefs)); err != nil {
				t.Fatal(err)
			}
		}
		_, vals := rs.eval(context.Background(), msg, in)
		out := map[string]float64{}
		for _, r := range rs.rules {
			out[r.name] = vals[r.idx]
		}
		return out
	}
	all := val(false, "")
	for _, n := range []string{"ZERO", "__DEP", "M", "ZERO2", "M2", "__ALONE"} {
		if all[n] != 1 {
			t.Errorf("%s = %v without OneShot, want 1", n, all[n])
		}
	}
	one := val(true, "")
	for n, want := range map[string]float64{"ZERO": 0, "__ALONE": 0, "__DEP": 1, "M": 1, "ZERO2": 1, "M2": 1} {
		if one[n] != want {
			t.Errorf("%s = %v with OneShot, want %v", n, one[n], want)
		}
	}
	if v := val(true, "score ZERO 2\n")["ZERO"]; v != 1 {
		t.Errorf("ZERO scored by user_prefs = %v with OneShot, want 1", v)
	}
}

// TestStockOneShotAgrees: with the stock rules, a one-shot load from the
// cache (screens, skipped rules) gives every corpus message the verdict a
// load that evaluates everything gives it.
func TestStockOneShotAgrees(t *testing.T) {
	dir := stockRules(t)
	n := 20
	if testing.Short() || raceEnabled {
		n = 4
	}
	cache := t.TempDir()
	ref := loadCached(t, []string{dir}, cache, false)
	skipped := 0
	for _, f := range corpusFiles(t, n/2) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Load([]string{dir}, Options{OneShot: true, Budget: time.Hour, Cache: CacheOptions{Dir: cache, Build: "test"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, need := range rs.neededRules(&Input{}, rs.opt.scoreSet()) {
			if !need {
				skipped++
			}
		}
		sameLoad(t, ref, rs, string(data))
	}
	if skipped == 0 {
		t.Error("OneShot skipped no stock rule")
	}
}
