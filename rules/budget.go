package rules

import "math"

// The per-message budget (Options.Budget) may stop the regex rules before
// every one of them ran. A rule it skipped is neither true nor false but
// undecided, and so is a meta rule whose value depends on it: such a meta
// does not fire (a budget must not make !__NONEMPTY_BODY true on the very
// messages that are heavy), while one that the decided rules settle, a
// known-true branch of ||, still does. See docs/rules.md.

// phase runs one step of the regex rules and, when the budget cut it
// (it skipped a rule, or the budget ran out during it), marks every rule
// of the step that has not reached its final value as undecided. The
// steps do not say which rules they skipped, so a cut step is undecided
// as a whole; the rules that fired before the cut keep their hits.
func (st *evalState) phase(rules []*rule, run func()) {
	skipped, timedOut := st.skipped, st.timedOut
	run()
	if st.skipped == skipped && st.timedOut == timedOut {
		return
	}
	st.undecided(rules)
}

// undecided records the rules as undecided: their value is at least what
// they counted and at most one hit (maxhits, or any number, for a
// multiple rule). A rule at its maximum is decided.
func (st *evalState) undecided(rules []*rule) {
	if st.unk == nil {
		st.unk = make([]float64, len(st.vals))
	}
	for _, r := range rules {
		if r.inactive != "" || r.def.exists {
			continue
		}
		hi := 1.0
		if r.multiple {
			hi = math.Inf(1)
			if r.maxhits > 0 {
				hi = float64(r.maxhits)
			}
		}
		if st.vals[r.idx] < hi {
			st.unk[r.idx] = hi
			st.undecidedRules++
		}
	}
}

// evalMeta sets a meta rule's value: it fires when its expression is
// non-zero whatever the undecided rules it reads would have given, and is
// undecided itself when that depends on them.
func (st *evalState) evalMeta(r *rule) {
	if st.unk == nil {
		if r.meta.eval(st.vals) != 0 {
			st.vals[r.idx] = 1
		}
		return
	}
	switch t := r.meta.bounds(st.vals, st.unk).truth(); {
	case t.lo == 1:
		st.vals[r.idx] = 1
	case t.hi == 1:
		st.unk[r.idx] = 1
		st.undecidedMetas++
	}
}
