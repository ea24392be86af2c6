package main

import (
	"math"
	"sort"
)

// rocPoint is one point of a ROC curve: the share of ham and of spam
// scoring at or above one threshold.
type rocPoint struct {
	FPR, TPR float64
}

// rocCurve returns the ROC curve of spam and ham scores, from (0,0) to
// (1,1): one point per distinct score, taken as a threshold from the
// highest down (a message at the threshold counts as spam).
func rocCurve(spam, ham []float64) []rocPoint {
	s := sortedDesc(spam)
	h := sortedDesc(ham)
	pts := []rocPoint{{0, 0}}
	i, j := 0, 0
	for i < len(s) || j < len(h) {
		t := math.Inf(-1)
		if i < len(s) {
			t = s[i]
		}
		if j < len(h) && h[j] > t {
			t = h[j]
		}
		for i < len(s) && s[i] >= t {
			i++
		}
		for j < len(h) && h[j] >= t {
			j++
		}
		pts = append(pts, rocPoint{FPR: frac(j, len(h)), TPR: frac(i, len(s))})
	}
	if last := pts[len(pts)-1]; last.FPR != 1 || last.TPR != 1 {
		pts = append(pts, rocPoint{1, 1})
	}
	return pts
}

// auc is the area under the ROC curve: the chance that a random spam
// scores above a random ham, ties counting one half (Mann-Whitney U).
// It is NaN without both classes.
func auc(spam, ham []float64) float64 {
	if len(spam) == 0 || len(ham) == 0 {
		return math.NaN()
	}
	h := append([]float64(nil), ham...)
	sort.Float64s(h)
	var u float64
	for _, x := range spam {
		below := sort.SearchFloat64s(h, x)
		upto := sort.Search(len(h), func(k int) bool { return h[k] > x })
		u += float64(below) + float64(upto-below)/2
	}
	return u / (float64(len(spam)) * float64(len(ham)))
}

// recallAtFP returns the spam recall at the lowest threshold that keeps
// the false-positive rate at or below maxFP: with k = floor(maxFP·ham)
// false positives allowed, a message is spam when it scores strictly
// above the (k+1)-th highest ham score, which is returned as threshold.
// With no ham every spam is caught and threshold is -Inf.
func recallAtFP(spam, ham []float64, maxFP float64) (recall, threshold float64) {
	h := sortedDesc(ham)
	k := int(math.Floor(maxFP*float64(len(h)) + 1e-9))
	threshold = math.Inf(-1)
	if k < len(h) {
		threshold = h[k]
	}
	n := 0
	for _, x := range spam {
		if x > threshold {
			n++
		}
	}
	return frac(n, len(spam)), threshold
}

func sortedDesc(v []float64) []float64 {
	out := append([]float64(nil), v...)
	sort.Sort(sort.Reverse(sort.Float64Slice(out)))
	return out
}

// frac is n/d, or 0 when d is 0.
func frac(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// histogram counts scores into bins of width w from lo: bin 0 holds
// everything below lo+w and the last everything from hi-w up.
func histogram(scores []float64, lo, hi, w float64) []int {
	n := int(math.Ceil((hi - lo) / w))
	bins := make([]int, n)
	for _, x := range scores {
		b := int(math.Floor((x - lo) / w))
		bins[min(max(b, 0), n-1)]++
	}
	return bins
}
