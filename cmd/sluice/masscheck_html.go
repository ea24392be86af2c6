package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"sort"
	"strings"
)

// The report's SVG plots: sizes in user units, the plot area inset by
// svgPad for the axes' labels.
const (
	svgW, svgH = 640.0, 320.0
	svgPad     = 40.0
	topRules   = 20
	topFiles   = 15
)

var modeColors = [numModes]string{"#888", "#1565c0"}

// writeHTMLReport writes r as one HTML page with inline SVG and CSS: per
// mode the ham and spam score histograms and the rules that fire most on
// false positives and false negatives, and both modes' ROC curves.
func writeHTMLReport(path string, r *mcReport) error {
	var b bytes.Buffer
	b.WriteString(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>sluice masscheck</title>
<style>
body{font-family:sans-serif;max-width:70em;margin:1em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}
td.l,th.l{text-align:left}svg{background:#fafafa;border:1px solid #ddd}
.ham{fill:#2e7d32;fill-opacity:.6}.spam{fill:#c62828;fill-opacity:.6}
</style></head><body>
<h1>sluice masscheck</h1>
`)
	st0 := r.Stats[modeNoBayes]
	fmt.Fprintf(&b, "<p>Trained on %d spam and %d ham (the oldest %.0f%% of each class); tested on %d spam and %d ham; required_score %.1f.</p>\n",
		r.TrainSpam, r.TrainHam, r.Fraction*100, st0.SpamTested, st0.HamTested, r.Required)
	b.WriteString("<table><tr><th class=l>mode</th><th>spam recall</th><th>false positives</th><th>recall at 0.1% FP</th><th>threshold</th><th>1-AUC</th><th>Bayes scored</th></tr>\n")
	for _, st := range r.Stats {
		fmt.Fprintf(&b, "<tr><td class=l>%s</td><td>%.2f%%</td><td>%.2f%%</td><td>%.2f%%</td><td>&gt; %.3f</td><td>%.5f</td><td>%d</td></tr>\n",
			html.EscapeString(st.Label), st.Recall*100, st.FPRate*100, st.RecallAtFP*100, st.Threshold, st.OneMinusAUC, st.BayesScored)
	}
	b.WriteString("</table>\n<h2>ROC curve</h2>\n")
	b.WriteString(rocSVG(r))
	for mode := range numModes {
		st := r.Stats[mode]
		fmt.Fprintf(&b, "<h2>%s</h2>\n<h3>Score histogram</h3>\n", html.EscapeString(st.Label))
		spam, ham := r.scores(mode)
		b.WriteString(histogramSVG(spam, ham, r.Required))
		fps, fns := misclassified(r.Tests, mode)
		fmt.Fprintf(&b, "<h3>Rules on false positives (%d ham at or above %.1f)</h3>\n", len(fps), r.Required)
		b.WriteString(ruleTable(fps, mode))
		b.WriteString(fileTable(fps, mode, true))
		fmt.Fprintf(&b, "<h3>Rules on false negatives (%d spam below %.1f)</h3>\n", len(fns), r.Required)
		b.WriteString(ruleTable(fns, mode))
		b.WriteString(fileTable(fns, mode, false))
	}
	b.WriteString("</body></html>\n")
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// misclassified returns the test messages one mode got wrong at
// required_score.
func misclassified(tests []mcTest, mode int) (fps, fns []mcTest) {
	for _, t := range tests {
		switch s := t.Modes[mode]; {
		case !t.Spam && s.Spam:
			fps = append(fps, t)
		case t.Spam && !s.Spam:
			fns = append(fns, t)
		}
	}
	return fps, fns
}

// ruleTable lists the rules that hit most often on tests, most first.
func ruleTable(tests []mcTest, mode int) string {
	if len(tests) == 0 {
		return "<p>None.</p>\n"
	}
	counts := map[string]int{}
	for _, t := range tests {
		for _, h := range t.Modes[mode].Hits {
			counts[h]++
		}
	}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if counts[names[i]] != counts[names[j]] {
			return counts[names[i]] > counts[names[j]]
		}
		return names[i] < names[j]
	})
	var b strings.Builder
	b.WriteString("<table><tr><th class=l>rule</th><th>messages</th><th>share</th></tr>\n")
	for _, n := range names[:min(len(names), topRules)] {
		fmt.Fprintf(&b, "<tr><td class=l>%s</td><td>%d</td><td>%.0f%%</td></tr>\n", html.EscapeString(n), counts[n], 100*frac(counts[n], len(tests)))
	}
	b.WriteString("</table>\n")
	return b.String()
}

// fileTable lists the worst misclassified messages: the highest-scoring
// false positives or the lowest-scoring false negatives.
func fileTable(tests []mcTest, mode int, highFirst bool) string {
	if len(tests) == 0 {
		return ""
	}
	ts := append([]mcTest(nil), tests...)
	sort.SliceStable(ts, func(i, j int) bool {
		if highFirst {
			return ts[i].Modes[mode].Score > ts[j].Modes[mode].Score
		}
		return ts[i].Modes[mode].Score < ts[j].Modes[mode].Score
	})
	var b strings.Builder
	b.WriteString("<details><summary>messages</summary><table><tr><th class=l>file</th><th>score</th><th class=l>rules</th></tr>\n")
	for _, t := range ts[:min(len(ts), topFiles)] {
		s := t.Modes[mode]
		fmt.Fprintf(&b, "<tr><td class=l>%s</td><td>%.1f</td><td class=l>%s</td></tr>\n",
			html.EscapeString(t.Name), s.Score, html.EscapeString(strings.Join(s.Hits, " ")))
	}
	b.WriteString("</table></details>\n")
	return b.String()
}

// histogramSVG draws ham and spam score histograms, one point per bin,
// as overlaid bars on one axis, with required_score marked.
func histogramSVG(spam, ham []float64, required float64) string {
	all := append(append([]float64(nil), spam...), ham...)
	lo, hi := -10.0, 30.0
	if len(all) > 0 {
		s := sortedDesc(all)
		lo = math.Max(math.Floor(s[len(s)-1]), -20)
		hi = math.Min(math.Ceil(s[0])+1, 60)
	}
	if hi-lo < 2 {
		hi = lo + 2
	}
	hb, sb := histogram(ham, lo, hi, 1), histogram(spam, lo, hi, 1)
	top := 1
	for i := range hb {
		top = max(top, hb[i], sb[i])
	}
	pw, ph := svgW-2*svgPad, svgH-2*svgPad
	bw := pw / float64(len(hb))
	x := func(v float64) float64 { return svgPad + (v-lo)/(hi-lo)*pw }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="histogram" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f">`+"\n", svgW, svgH, svgW, svgH)
	for i := range hb {
		for _, c := range []struct {
			n   int
			cls string
		}{{hb[i], "ham"}, {sb[i], "spam"}} {
			h := float64(c.n) / float64(top) * ph
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s %.0f..%.0f: %d</title></rect>`+"\n",
				c.cls, svgPad+float64(i)*bw, svgPad+ph-h, bw-1, h, c.cls, lo+float64(i), lo+float64(i)+1, c.n)
		}
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000" stroke-dasharray="4"/>`+"\n", x(required), svgPad, x(required), svgPad+ph)
	axes(&b, pw, ph)
	for v := math.Ceil(lo/5) * 5; v <= hi; v += 5 {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%.0f</text>`+"\n", x(v), svgPad+ph+14, v)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11">%d</text>`+"\n", 4.0, svgPad+4, top)
	fmt.Fprintf(&b, `<text x="%.1f" y="20" font-size="12"><tspan class="ham">■</tspan> ham (%d) <tspan class="spam">■</tspan> spam (%d) · dashed: required_score · x: score</text>`+"\n", svgPad, len(ham), len(spam))
	b.WriteString("</svg>\n")
	return b.String()
}

// rocSVG draws every mode's ROC curve, false-positive rate on x.
func rocSVG(r *mcReport) string {
	pw, ph := svgW-2*svgPad, svgH-2*svgPad
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="roc" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f">`+"\n", svgW, svgH, svgW, svgH)
	axes(&b, pw, ph)
	for mode := range numModes {
		spam, ham := r.scores(mode)
		var pts []string
		for _, p := range rocCurve(spam, ham) {
			pts = append(pts, fmt.Sprintf("%.2f,%.2f", svgPad+p.FPR*pw, svgPad+ph-p.TPR*ph))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", modeColors[mode], strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" fill="%s">%s: 1-AUC %.5f</text>`+"\n",
			svgPad+pw-200, svgPad+ph-30+float64(mode)*16, modeColors[mode], html.EscapeString(r.Stats[mode].Label), r.Stats[mode].OneMinusAUC)
	}
	for _, v := range []float64{0, 0.5, 1} {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%.1f</text>`+"\n", svgPad+v*pw, svgPad+ph+14, v)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end">%.1f</text>`+"\n", svgPad-4, svgPad+ph-v*ph+4, v)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12">x: false-positive rate · y: spam recall</text>`+"\n", svgPad, 20.0)
	b.WriteString("</svg>\n")
	return b.String()
}

func axes(b *strings.Builder, pw, ph float64) {
	fmt.Fprintf(b, `<path d="M%.1f %.1f V%.1f H%.1f" fill="none" stroke="#000"/>`+"\n", svgPad, svgPad, svgPad+ph, svgPad+pw)
}
