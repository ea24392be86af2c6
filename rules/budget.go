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

// earlyRules returns the regex rules SpamAssassin runs before the
// default priority (priority below 0: __NONEMPTY_BODY, __HAS_FROM, GTUBE
// …) that RE2 runs alone. SpamAssassin runs a priority level before it
// looks at its deadline, so these are decided on every message however
// soon the budget runs out, and so are the metas over them (EMPTY_MESSAGE).
// sluice runs the rules by kind, not by priority, for speed; decideEarly
// gives them their values when the budget cut their kind's step.
func (rs *Ruleset) earlyRules() []*rule {
	var out []*rule
	for _, r := range rs.rules {
		if r.priority >= 0 || r.inactive != "" || r.re == nil || r.bt != nil || r.def.exists || r.tmpl != nil {
			continue
		}
		switch r.kind {
		case KindHeader, KindBody, KindRawBody, KindFull, KindURI:
			out = append(out, r)
		}
	}
	return out
}

// decideEarly evaluates the early rules the budget left undecided, as
// SpamAssassin would have before its deadline: RE2 only, so in time
// linear in the text and without a budget of its own.
func (rs *Ruleset) decideEarly(st *evalState, msg Message) {
	if st.unk == nil {
		return
	}
	for _, r := range rs.early {
		if st.unk[r.idx] <= st.vals[r.idx] {
			continue
		}
		n := 0
		for ti, text := range st.ruleTexts(msg, r) {
			if r.nosubject && r.kind == KindBody && ti == 0 {
				continue
			}
			n += st.match(r, text)
			if n > 0 && (!r.multiple || (r.maxhits > 0 && n >= r.maxhits)) {
				break
			}
		}
		if r.kind == KindHeader && r.def.negate {
			n = 1 - min(n, 1)
		}
		if r.multiple && r.maxhits > 0 {
			n = min(n, r.maxhits)
		}
		st.vals[r.idx] = float64(n)
		st.unk[r.idx] = 0
		st.undecidedRules--
	}
}
