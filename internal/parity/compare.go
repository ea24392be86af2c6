package parity

import (
	_ "embed"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// RuleStats counts one rule's decisions over the messages.
type RuleStats struct {
	Rule                   string
	SAHits, SluiceHits     int
	Both, OnlySA, OnlySlu  int
	ExOnlySA, ExOnlySluice []string // up to 3 example messages each
}

// Agreement is Both over the messages where either engine fired (1 when
// neither fired anywhere): the per-rule figure the acceptance uses.
func (r RuleStats) Agreement() float64 {
	n := r.Both + r.OnlySA + r.OnlySlu
	if n == 0 {
		return 1
	}
	return float64(r.Both) / float64(n)
}

// Disagree is how many messages the engines decided differently.
func (r RuleStats) Disagree() int { return r.OnlySA + r.OnlySlu }

// Report is the outcome of Compare.
type Report struct {
	Messages, Ham, Spam int
	// Rules are the rules sluice has active and either engine fired on at
	// least once, by name.
	Rules []RuleStats
	// NotRun are rules SpamAssassin fired on that sluice does not run
	// (unsupported eval, plugin not provided, not loaded), by name.
	NotRun []RuleStats
	// SANotRun are rules sluice fired on that SpamAssassin does not
	// evaluate in local mode (known only when Compare had SARules).
	SANotRun []RuleStats
	// ActiveScored is how many rules both engines evaluate: active in
	// sluice with a non-zero score and, when SARules were given, run by
	// SpamAssassin in local mode. Rules among them that neither engine
	// fired agree on every message.
	ActiveScored int
	// SARules is SpamAssassin's view of the rules, when known.
	SARules map[string]SARule
	// Verdicts: spam by both, ham by both, spam only by SpamAssassin,
	// spam only by sluice.
	BothSpam, BothHam, OnlySASpam, OnlySluiceSpam int
	// ScoreDiffs are sluice's score minus SpamAssassin's, per message.
	ScoreDiffs []float64
	// Worst score differences, for the report.
	WorstScores []Pair
}

// Compare counts, for each rule either engine fired that both evaluate
// (sluice has it active; SpamAssassin runs it in local mode, when sa from
// LoadSARules is not nil), how often both, only SpamAssassin and only
// sluice fired.
func Compare(pairs []Pair, s *Sluice, sa map[string]SARule) Report {
	rep := Report{Messages: len(pairs), SARules: sa}
	seen := map[string]bool{}
	for _, p := range pairs {
		if p.Msg.Label == "spam" {
			rep.Spam++
		} else {
			rep.Ham++
		}
		for r := range p.SA.Hits {
			seen[r] = true
		}
		for r := range p.Sluice.Hits {
			seen[r] = true
		}
		switch {
		case p.SA.Spam && p.Sluice.Spam:
			rep.BothSpam++
		case !p.SA.Spam && !p.Sluice.Spam:
			rep.BothHam++
		case p.SA.Spam:
			rep.OnlySASpam++
		default:
			rep.OnlySluiceSpam++
		}
		rep.ScoreDiffs = append(rep.ScoreDiffs, p.Sluice.Score-p.SA.Score)
	}
	names := make([]string, 0, len(seen))
	for r := range seen {
		names = append(names, r)
	}
	sort.Strings(names)
	probe := append([]string{}, names...)
	for n := range sa {
		probe = append(probe, n)
	}
	active := s.Active(probe)
	for n := range active {
		if r, ok := sa[n]; sa == nil || ok && r.Evaluated() {
			rep.ActiveScored++
		}
	}
	for _, r := range names {
		st := RuleStats{Rule: r}
		for _, p := range pairs {
			_, a := p.SA.Hits[r]
			_, b := p.Sluice.Hits[r]
			if a {
				st.SAHits++
			}
			if b {
				st.SluiceHits++
			}
			switch {
			case a && b:
				st.Both++
			case a:
				st.OnlySA++
				if len(st.ExOnlySA) < 3 {
					st.ExOnlySA = append(st.ExOnlySA, p.Msg.Name)
				}
			case b:
				st.OnlySlu++
				if len(st.ExOnlySluice) < 3 {
					st.ExOnlySluice = append(st.ExOnlySluice, p.Msg.Name)
				}
			}
		}
		saRule, known := sa[r]
		switch {
		case !active[r]:
			rep.NotRun = append(rep.NotRun, st)
		case sa != nil && (!known || !saRule.Evaluated()):
			rep.SANotRun = append(rep.SANotRun, st)
		default:
			rep.Rules = append(rep.Rules, st)
		}
	}
	ws := append([]Pair{}, pairs...)
	sort.SliceStable(ws, func(i, j int) bool {
		return math.Abs(ws[i].Sluice.Score-ws[i].SA.Score) > math.Abs(ws[j].Sluice.Score-ws[j].SA.Score)
	})
	rep.WorstScores = ws[:min(10, len(ws))]
	return rep
}

// Agreement is the share of (message, rule) decisions that agree over
// the rules in Rules.
func (r Report) Agreement() float64 {
	n := r.Messages * len(r.Rules)
	if n == 0 {
		return 1
	}
	return 1 - float64(r.disagreements())/float64(n)
}

// AgreementAll is the same share over every rule sluice has active with a
// non-zero score (rules nobody fired agree everywhere).
func (r Report) AgreementAll() float64 {
	n := r.Messages * max(r.ActiveScored, len(r.Rules))
	if n == 0 {
		return 1
	}
	return 1 - float64(r.disagreements())/float64(n)
}

func (r Report) disagreements() int {
	d := 0
	for _, st := range r.Rules {
		d += st.Disagree()
	}
	return d
}

// VerdictAgreement is the share of messages both call spam or both ham.
func (r Report) VerdictAgreement() float64 {
	if r.Messages == 0 {
		return 1
	}
	return float64(r.BothSpam+r.BothHam) / float64(r.Messages)
}

// MinRuleAgreement returns the lowest per-rule agreement among rules
// SpamAssassin fires on at least minHits messages, and how many rules
// among them fall below floor.
func (r Report) MinRuleAgreement(minHits int, floor float64) (lowest float64, below []string) {
	lowest = 1
	for _, st := range r.Rules {
		if st.SAHits < minHits {
			continue
		}
		a := st.Agreement()
		lowest = math.Min(lowest, a)
		if a < floor {
			below = append(below, st.Rule)
		}
	}
	return lowest, below
}

// Worst returns the n rules with the most disagreements.
func (r Report) Worst(n int) []RuleStats {
	ws := append([]RuleStats{}, r.Rules...)
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Disagree() > ws[j].Disagree() })
	return ws[:min(n, len(ws))]
}

// scoreBuckets are the |sluice − SpamAssassin| score difference classes.
var scoreBuckets = []struct {
	label string
	max   float64
}{{"= 0 (< 0.001)", 0.001}, {"< 0.5", 0.5}, {"0.5 – 1", 1}, {"1 – 2", 2}, {"2 – 5", 5}, {"≥ 5", math.Inf(1)}}

// ScoreHistogram counts messages per |score difference| class.
func (r Report) ScoreHistogram() []int {
	h := make([]int, len(scoreBuckets))
	for _, d := range r.ScoreDiffs {
		a := math.Abs(d)
		for i, b := range scoreBuckets {
			if a < b.max {
				h[i]++
				break
			}
		}
	}
	return h
}

// Summary is a few lines for a terminal.
func (r Report) Summary() string {
	var b strings.Builder
	lowest, below := r.MinRuleAgreement(10, 0.95)
	fmt.Fprintf(&b, "messages: %d (ham %d, spam %d)\n", r.Messages, r.Ham, r.Spam)
	fmt.Fprintf(&b, "rules compared (fired by either, active in sluice): %d; SpamAssassin rules sluice does not run: %d\n", len(r.Rules), len(r.NotRun))
	fmt.Fprintf(&b, "(message, rule) agreement: %.3f%% over fired rules; %.3f%% over all %d active scored rules\n",
		100*r.Agreement(), 100*r.AgreementAll(), r.ActiveScored)
	fmt.Fprintf(&b, "verdict agreement: %.2f%% (both spam %d, both ham %d, only SA spam %d, only sluice spam %d)\n",
		100*r.VerdictAgreement(), r.BothSpam, r.BothHam, r.OnlySASpam, r.OnlySluiceSpam)
	fmt.Fprintf(&b, "rules SA fires on >= 10 messages below 95%% agreement: %d (lowest %.1f%%)\n", len(below), 100*lowest)
	h := r.ScoreHistogram()
	fmt.Fprintf(&b, "|score difference|:")
	for i, sb := range scoreBuckets {
		fmt.Fprintf(&b, " %s: %d;", sb.label, h[i])
	}
	b.WriteString("\n")
	return b.String()
}

// WriteTSV writes one line per compared rule: rule, sa_hits, sluice_hits,
// both, only_sa, only_sluice, agreement (Both over messages where either
// fired), agreement_all (over all messages), then the rules sluice does
// not run with agreement "notrun".
func (r Report) WriteTSV(w io.Writer) error {
	var b strings.Builder
	b.WriteString("rule\tsa_hits\tsluice_hits\tboth\tonly_sa\tonly_sluice\tagreement\tagreement_all\n")
	for _, st := range r.Rules {
		fmt.Fprintf(&b, "%s\t%d\t%d\t%d\t%d\t%d\t%.4f\t%.5f\n", st.Rule, st.SAHits, st.SluiceHits, st.Both, st.OnlySA, st.OnlySlu,
			st.Agreement(), 1-float64(st.Disagree())/float64(max(r.Messages, 1)))
	}
	for _, st := range r.NotRun {
		fmt.Fprintf(&b, "%s\t%d\t%d\t%d\t%d\t%d\tnotrun\tnotrun\n", st.Rule, st.SAHits, st.SluiceHits, st.Both, st.OnlySA, st.OnlySlu)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMessages writes one line per message: name, label, SpamAssassin's
// and sluice's score and verdict, then the rules only SpamAssassin and only
// sluice fired (comma-separated) — the per-message view for debugging a
// rule.
func WriteMessages(w io.Writer, pairs []Pair) error {
	var b strings.Builder
	b.WriteString("message\tlabel\tsa_score\tsluice_score\tsa_spam\tsluice_spam\tonly_sa\tonly_sluice\n")
	for _, p := range pairs {
		var onlySA, onlySl []string
		for r := range p.SA.Hits {
			if _, ok := p.Sluice.Hits[r]; !ok {
				onlySA = append(onlySA, r)
			}
		}
		for r := range p.Sluice.Hits {
			if _, ok := p.SA.Hits[r]; !ok {
				onlySl = append(onlySl, r)
			}
		}
		sort.Strings(onlySA)
		sort.Strings(onlySl)
		fmt.Fprintf(&b, "%s\t%s\t%.3f\t%.3f\t%v\t%v\t%s\t%s\n", p.Msg.Name, p.Msg.Label, p.SA.Score, p.Sluice.Score,
			p.SA.Spam, p.Sluice.Spam, strings.Join(onlySA, ","), strings.Join(onlySl, ","))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
