package bayes

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestTokenProb(t *testing.T) {
	// Hand-computed from Bayes.pm with FW_S_CONSTANT 0.030 and
	// FW_X_CONSTANT 0.538 (s·x = 0.01614).
	tests := []struct {
		s, n, ns, nn float64
		hapaxes      bool
		want         float64
		ok           bool
	}{
		{1, 0, 1, 1, true, 1.01614 / 1.03, true},
		{0, 1, 1, 1, true, 0.01614 / 1.03, true},
		{2, 1, 10, 20, true, (0.01614 + 3*0.8) / 3.03, true},
		{0, 0, 10, 20, true, 0, false},
		{1, 0, 10, 20, false, 0, false}, // a hapax, bayes_use_hapaxes 0
		{1, 1, 10, 20, false, (0.01614 + 2*(20.0/30)) / 2.03, true},
		{1, 0, 0, 20, true, 0, false}, // nothing learned as spam
	}
	for _, tt := range tests {
		got, ok := tokenProb(tt.s, tt.n, tt.ns, tt.nn, tt.hapaxes)
		if ok != tt.ok || !near(got, tt.want) {
			t.Errorf("tokenProb(%v, %v, %v, %v, %v) = %v, %v; want %v, %v", tt.s, tt.n, tt.ns, tt.nn, tt.hapaxes, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCombine(t *testing.T) {
	tests := []struct {
		ns, nn float64
		probs  []float64
		want   float64
	}{
		// S = 1 - chi2q(-2 ln(.5·.1), 1) = .95, H = 1 - .45 = .55.
		{1, 1, []float64{0.9}, 0.7},
		// S = .5·.1·.2 = .01: 1 - .01(1 + ln 100); H = .36: 1 - .36(1 - ln .36).
		{1, 1, []float64{0.9, 0.8}, (1 + (1 - 0.01*(1+math.Log(100))) - (1 - 0.36*(1-math.Log(0.36)))) / 2},
		// The priors: with three times as much spam learned the same
		// token weighs differently.
		{3, 1, []float64{0.9}, (1 + (1 - 0.75*0.1) - (1 - 0.25*0.9)) / 2},
		{1, 1, []float64{0.5, 0.5}, 0.5},
	}
	for _, tt := range tests {
		got, ok := combine(tt.ns, tt.nn, tt.probs)
		if !ok || !near(got, tt.want) {
			t.Errorf("combine(%v, %v, %v) = %v, %v; want %v", tt.ns, tt.nn, tt.probs, got, ok, tt.want)
		}
	}
	if _, ok := combine(1, 1, nil); ok {
		t.Errorf("combine of no tokens: ok, want not ok")
	}
}

// TestCombineUnderflow takes 150 strong tokens, whose product underflows
// a float64 without the frexp rescaling, and checks against the same sum
// computed in log space.
func TestCombineUnderflow(t *testing.T) {
	probs := make([]float64, nSignificantTokens)
	for i := range probs {
		probs[i] = 0.99
	}
	got, ok := combine(100, 100, probs)
	lnS := math.Log(0.5) + 150*math.Log(0.01)
	lnH := math.Log(0.5) + 150*math.Log(0.99)
	want := ((1 - chi2q(-2*lnS, 150)) - (1 - chi2q(-2*lnH, 150)) + 1) / 2
	if !ok || math.Abs(got-want) > 1e-12 || got < 0.999 {
		t.Errorf("combine(150 × 0.99) = %v, %v; want %v", got, ok, want)
	}
	for i := range probs {
		probs[i] = 0.01
	}
	if got, _ := combine(100, 100, probs); got > 0.001 {
		t.Errorf("combine(150 × 0.01) = %v, want about 0", got)
	}
}

func TestChi2qCapped(t *testing.T) {
	if got := chi2q(0, 5); got != 1 {
		t.Errorf("chi2q(0, 5) = %v, want 1", got)
	}
	// Two degrees of freedom: exp(-x/2).
	if got := chi2q(3, 1); !near(got, math.Exp(-1.5)) {
		t.Errorf("chi2q(3, 1) = %v, want %v", got, math.Exp(-1.5))
	}
}

func TestSignificant(t *testing.T) {
	var all []scored
	for i := 0; i < 200; i++ {
		p := 0.99
		if i%2 == 1 {
			p = 0.01
		}
		all = append(all, scored{tok: HashToken(string(rune('a' + i))), prob: p, strength: math.Abs(p - 0.5)})
	}
	all = append(all, scored{tok: HashToken("weak"), prob: 0.6, strength: 0.1})
	got := significant(all)
	if len(got) != nSignificantTokens {
		t.Fatalf("significant kept %d tokens, want %d", len(got), nSignificantTokens)
	}
	for _, s := range got {
		if s.strength < minProbStrength {
			t.Errorf("significant kept a token of strength %v", s.strength)
		}
	}
	if got := significant([]scored{{prob: 0.7, strength: 0.2}}); len(got) != 0 {
		t.Errorf("significant kept a token below MIN_PROB_STRENGTH: %v", got)
	}
}

// TestSignificantSelectsAsSortDoes checks the partial selection against
// sorting everything and keeping the first nSignificantTokens.
func TestSignificantSelectsAsSortDoes(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	for n := 0; n < 200; n++ {
		var all []scored
		for i := rnd.IntN(600); i > 0; i-- {
			// Few distinct probabilities, so ties on strength are common.
			p := float64(rnd.IntN(21)) / 20
			all = append(all, scored{tok: HashToken(fmt.Sprint(n, i)), prob: p, strength: math.Abs(p - 0.5)})
		}
		var want []scored
		for _, s := range all {
			if s.strength >= minProbStrength {
				want = append(want, s)
			}
		}
		slices.SortFunc(want, strongerFirst)
		want = want[:min(len(want), nSignificantTokens)]
		if got := significant(slices.Clone(all)); !slices.Equal(got, want) {
			t.Fatalf("significant(%d tokens) = %v, want %v", len(all), got, want)
		}
	}
}
