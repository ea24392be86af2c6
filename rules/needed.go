package rules

// A one-shot command (Options.OneShot) matches only the regex rules that
// can reach its verdict: those scored in the message's score set (after
// the user's score lines), the rules their metas depend on, and capture
// and template rules, which set tags. A rule scored 0 that no meta reads
// changes no hit, score, shortcircuit or tag, and SpamAssassin does not
// run it either; skipping it spares compiling its RE2 program or screen.
// A Ruleset that scores many messages evaluates everything: its compiled
// programs are shared by all of them.

// neededRules returns, by rule index, the rules a message scored in set
// needs; nil when every rule is to be evaluated.
func (rs *Ruleset) neededRules(in *Input, set int) []bool {
	if !rs.opt.OneShot {
		return nil
	}
	need := make([]bool, len(rs.rules))
	var mark func(r *rule)
	mark = func(r *rule) {
		if need[r.idx] {
			return
		}
		need[r.idx] = true
		for _, d := range r.metaDeps {
			if dr, ok := rs.byName[d]; ok {
				mark(dr)
			}
		}
	}
	for _, r := range rs.rules {
		if r.capture != nil || r.tmpl != nil || rs.scoreOf(in, r, set) != 0 {
			mark(r)
		}
	}
	return need
}

// needed reports whether the message needs the rule's value.
func (st *evalState) needed(r *rule) bool { return st.need == nil || st.need[r.idx] }
