package bayes

import (
	"bytes"
	"cmp"
	"math"
	"slices"
)

// Constants of Bayes/CombineChi.pm and Plugin/Bayes.pm.
const (
	// fwXConstant is $FW_X_CONSTANT, Robinson's x: the probability
	// assumed for a token never seen.
	fwXConstant = 0.538
	// fwSConstant is $FW_S_CONSTANT, Robinson's s: the strength of that
	// assumption against the collected data.
	fwSConstant = 0.030
	// fwSDotX is $FW_S_DOT_X.
	fwSDotX = fwXConstant * fwSConstant
	// minProbStrength is $MIN_PROB_STRENGTH: tokens within this distance
	// of 0.5 are not used.
	minProbStrength = 0.346
	// nSignificantTokens is N_SIGNIFICANT_TOKENS: at most this many of
	// the strongest tokens are combined.
	nSignificantTokens = 150
)

// tokenProb is Robinson's f(w) for a token seen in s spam and n ham
// messages out of ns spam and nn ham learned (Bayes.pm
// _compute_prob_for_all_tokens with USE_ROBINSON_FX_EQUATION_FOR_LOW_FREQS).
// ok is false for a token too rare to use: never seen, or seen once when
// hapaxes are off.
func tokenProb(s, n, ns, nn float64, useHapaxes bool) (p float64, ok bool) {
	if ns == 0 || nn == 0 {
		return 0, false
	}
	threshold := 1.0
	if !useHapaxes {
		threshold = 2
	}
	if s+n < threshold {
		return 0, false
	}
	p = (s * nn) / (n*ns + s*nn)
	robn := s + n
	return (fwSDotX + robn*p) / (fwSConstant + robn), true
}

// combine is CombineChi.pm combine: Fisher's chi-squared combining of the
// token probabilities, with the priors ns/(ns+nn) and nn/(ns+nn), the
// products kept from underflowing by splitting off binary exponents.
func combine(ns, nn float64, probs []float64) (float64, bool) {
	wc := len(probs)
	if wc == 0 || ns+nn == 0 {
		return 0, false
	}
	S := ns / (ns + nn)
	H := nn / (ns + nn)
	var sExp, hExp int
	for _, p := range probs {
		S *= 1.0 - p
		H *= p
		if S < 1e-200 {
			var e int
			S, e = math.Frexp(S)
			sExp += e
		}
		if H < 1e-200 {
			var e int
			H, e = math.Frexp(H)
			hExp += e
		}
	}
	S = math.Log(S) + float64(sExp)*math.Ln2
	H = math.Log(H) + float64(hExp)*math.Ln2
	S = 1.0 - chi2q(-2.0*S, wc)
	H = 1.0 - chi2q(-2.0*H, wc)
	return ((S - H) + 1.0) / 2.0, true
}

// chi2q is CombineChi.pm chi2q: the chi-squared survival function for
// x2 with 2*halfv degrees of freedom, capped at 1.
func chi2q(x2 float64, halfv int) float64 {
	m := x2 / 2.0
	term := math.Exp(-m)
	sum := term
	for i := 1; i < halfv; i++ {
		term *= m / float64(i)
		sum += term
	}
	if sum < 1.0 {
		return sum
	}
	return 1.0
}

// scored is one token's probability in a scan.
type scored struct {
	tok      Token
	prob     float64
	strength float64
	index    int // in the lookup
}

// significant picks the tokens Bayes.pm scan combines: the
// nSignificantTokens strongest, then only those at least minProbStrength
// from 0.5. Ties are broken by token so the choice is deterministic (Perl
// sorts hash keys in random order).
func significant(all []scored) []scored {
	// Dropping the weak first and then keeping the 150 strongest is the
	// same as Bayes.pm's order (150 strongest, then drop the weak), and
	// sorts less.
	n := 0
	for _, s := range all {
		if s.strength >= minProbStrength {
			all[n] = s
			n++
		}
	}
	all = all[:n]
	if len(all) > nSignificantTokens {
		selectStrongest(all, nSignificantTokens)
		all = all[:nSignificantTokens]
	}
	slices.SortFunc(all, strongerFirst)
	return all
}

// strongerFirst orders by strength, strongest first, then by token.
func strongerFirst(a, b scored) int {
	if c := cmp.Compare(b.strength, a.strength); c != 0 {
		return c
	}
	return bytes.Compare(a.tok[:], b.tok[:])
}

// selectStrongest reorders all so that its first k are the k first in
// strongerFirst order (Hoare's quickselect): the rest need no sorting.
func selectStrongest(all []scored, k int) {
	lo, hi := 0, len(all)-1
	for lo < hi {
		// Median of three keeps sorted input from the quadratic case.
		mid := lo + (hi-lo)/2
		if strongerFirst(all[mid], all[lo]) < 0 {
			all[mid], all[lo] = all[lo], all[mid]
		}
		if strongerFirst(all[hi], all[lo]) < 0 {
			all[hi], all[lo] = all[lo], all[hi]
		}
		if strongerFirst(all[hi], all[mid]) < 0 {
			all[hi], all[mid] = all[mid], all[hi]
		}
		pivot := all[mid]
		i, j := lo, hi
		for i <= j {
			for strongerFirst(all[i], pivot) < 0 {
				i++
			}
			for strongerFirst(pivot, all[j]) < 0 {
				j--
			}
			if i <= j {
				all[i], all[j] = all[j], all[i]
				i++
				j--
			}
		}
		// all[lo:j+1] precede or equal the pivot, all[i:hi+1] follow or
		// equal it, anything between equals it.
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return
		}
	}
}
