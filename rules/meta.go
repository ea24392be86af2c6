package rules

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// metaNode is a node of a meta rule expression. Rule references hold the
// referenced rule's index once orderMetas resolved them (-1: undefined,
// which counts as 0 as in SpamAssassin).
type metaNode struct {
	op    string // "num", "ref", "!", "neg", or a binary operator
	num   float64
	name  string
	ref   int
	left  *metaNode
	right *metaNode
}

func (n *metaNode) eval(vals []float64) float64 {
	switch n.op {
	case "num":
		return n.num
	case "ref":
		if n.ref < 0 {
			return 0
		}
		return vals[n.ref]
	case "!":
		return b2f(n.left.eval(vals) == 0)
	case "neg":
		return -n.left.eval(vals)
	case "&&":
		if l := n.left.eval(vals); l == 0 {
			return 0
		}
		return b2f(n.right.eval(vals) != 0)
	case "||":
		if l := n.left.eval(vals); l != 0 {
			return 1
		}
		return b2f(n.right.eval(vals) != 0)
	}
	l, r := n.left.eval(vals), n.right.eval(vals)
	switch n.op {
	case "+":
		return l + r
	case "-":
		return l - r
	case "*":
		return l * r
	case "/":
		if r == 0 {
			return 0
		}
		return l / r
	}
	return b2f(compare(n.op, l, r))
}

// span is the range of values an expression may take when the budget
// left some of the rules it reads undecided: lo == hi when it is known.
type span struct{ lo, hi float64 }

// known reports whether the span is one value.
func (s span) known() bool { return s.lo == s.hi }

// truth is the span's truth value: [1,1] when every value in it is non-zero,
// [0,0] when it is only zero, [0,1] (unknown) otherwise.
func (s span) truth() span {
	switch {
	case s.lo > 0 || s.hi < 0:
		return span{1, 1}
	case s.lo == 0 && s.hi == 0:
		return span{0, 0}
	}
	return span{0, 1}
}

// bounds evaluates the expression over ranges, as eval does over values:
// vals holds each rule's value (its hits so far) and unk, when non-nil, the
// upper bound of a rule the budget left undecided (0 or ≤ vals: decided).
// It is three-valued logic widened to the sums and comparisons of meta
// rules: an operator's result is known when it is the same for every
// value the undecided rules could have taken, so a known-true branch of
// || decides the ||, a known-false one decides the &&, and !, comparisons
// and sums of an undecided rule are undecided unless the other operand
// settles them.
func (n *metaNode) bounds(vals, unk []float64) span {
	switch n.op {
	case "num":
		return span{n.num, n.num}
	case "ref":
		if n.ref < 0 {
			return span{}
		}
		v := vals[n.ref]
		if unk != nil && unk[n.ref] > v {
			return span{v, unk[n.ref]}
		}
		return span{v, v}
	case "!":
		t := n.left.bounds(vals, unk).truth()
		return span{1 - t.hi, 1 - t.lo}
	case "neg":
		s := n.left.bounds(vals, unk)
		return span{-s.hi, -s.lo}
	case "&&":
		l := n.left.bounds(vals, unk).truth()
		if l.hi == 0 {
			return l
		}
		r := n.right.bounds(vals, unk).truth()
		return span{min(l.lo, r.lo), min(l.hi, r.hi)}
	case "||":
		l := n.left.bounds(vals, unk).truth()
		if l.lo == 1 {
			return l
		}
		r := n.right.bounds(vals, unk).truth()
		return span{max(l.lo, r.lo), max(l.hi, r.hi)}
	}
	l, r := n.left.bounds(vals, unk), n.right.bounds(vals, unk)
	switch n.op {
	case "+":
		return whole(span{l.lo + r.lo, l.hi + r.hi})
	case "-":
		return whole(span{l.lo - r.hi, l.hi - r.lo})
	case "*":
		return hull(mul(l.lo, r.lo), mul(l.lo, r.hi), mul(l.hi, r.lo), mul(l.hi, r.hi))
	case "/":
		switch {
		case r.known():
			return whole(hull(div(l.lo, r.lo), div(l.hi, r.lo)))
		case l.known() && l.lo == 0:
			return span{}
		case r.lo > 0 || r.hi < 0:
			return whole(hull(l.lo/r.lo, l.lo/r.hi, l.hi/r.lo, l.hi/r.hi))
		}
		// The divisor may be 0 (which gives 0) or near it.
		return span{math.Inf(-1), math.Inf(1)}
	}
	return compareSpan(n.op, l, r)
}

// compareSpan compares two ranges: known when the comparison holds, or
// fails, for every pair of values in them.
func compareSpan(op string, l, r span) span {
	if l.known() && r.known() {
		return span{b2f(compare(op, l.lo, r.lo)), b2f(compare(op, l.lo, r.lo))}
	}
	var yes, no bool
	switch op {
	case ">":
		yes, no = l.lo > r.hi, l.hi <= r.lo
	case ">=":
		yes, no = l.lo >= r.hi, l.hi < r.lo
	case "<":
		yes, no = l.hi < r.lo, l.lo >= r.hi
	case "<=":
		yes, no = l.hi <= r.lo, l.lo > r.hi
	case "==", "!=":
		// Not both known: equality can only be excluded.
		no = l.hi < r.lo || l.lo > r.hi
		if op == "!=" {
			yes, no = no, false
		}
	}
	switch {
	case yes:
		return span{1, 1}
	case no:
		return span{0, 0}
	}
	return span{0, 1}
}

// mul multiplies with 0 × ∞ = 0: a rule that did not fire contributes
// nothing however many hits the other operand may have.
func mul(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return a * b
}

// div divides as eval does, x/0 = 0.
func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func hull(vs ...float64) span {
	s := span{vs[0], vs[0]}
	for _, v := range vs[1:] {
		s.lo, s.hi = min(s.lo, v), max(s.hi, v)
	}
	return whole(s)
}

// whole widens a span that lost its bounds (∞ − ∞) to every value.
func whole(s span) span {
	if math.IsNaN(s.lo) || math.IsNaN(s.hi) {
		return span{math.Inf(-1), math.Inf(1)}
	}
	return s
}

// resolve binds rule references to rule indices and returns the names
// that no rule defines.
func (n *metaNode) resolve(byName map[string]*rule) []string {
	if n == nil {
		return nil
	}
	var missing []string
	if n.op == "ref" {
		n.ref = -1
		if r, ok := byName[n.name]; ok {
			n.ref = r.idx
		} else {
			missing = append(missing, n.name)
		}
	}
	missing = append(missing, n.left.resolve(byName)...)
	return append(missing, n.right.resolve(byName)...)
}

type metaParser struct {
	toks []string
	i    int
	deps []string
}

// parseMeta parses a meta expression and returns it with the rule names it uses.
func parseMeta(s string) (metaNode, []string, error) {
	toks, err := metaTokens(s)
	if err != nil {
		return metaNode{}, nil, err
	}
	p := &metaParser{toks: toks}
	n, err := p.or()
	if err != nil {
		return metaNode{}, nil, err
	}
	if p.i != len(p.toks) {
		return metaNode{}, nil, fmt.Errorf("unexpected %q", p.toks[p.i])
	}
	return *n, p.deps, nil
}

func metaTokens(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case isAlpha(c) || c == '_':
			j := i
			for j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		case c >= '0' && c <= '9' || c == '.':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			if i+1 < len(s) {
				two := s[i : i+2]
				switch two {
				case "&&", "||", ">=", "<=", "==", "!=":
					toks = append(toks, two)
					i += 2
					continue
				}
			}
			if !stringsContainsByte("!()+-*/<>", c) {
				return nil, fmt.Errorf("unexpected character %q", c)
			}
			toks = append(toks, string(c))
			i++
		}
	}
	return toks, nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }

func stringsContainsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

func (p *metaParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *metaParser) binary(ops []string, next func() (*metaNode, error)) (*metaNode, error) {
	l, err := next()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		found := false
		for _, op := range ops {
			if t == op {
				found = true
			}
		}
		if !found {
			return l, nil
		}
		p.i++
		r, err := next()
		if err != nil {
			return nil, err
		}
		l = &metaNode{op: t, left: l, right: r}
	}
}

func (p *metaParser) or() (*metaNode, error) {
	return p.binary([]string{"||"}, p.and)
}

func (p *metaParser) and() (*metaNode, error) {
	return p.binary([]string{"&&"}, p.cmp)
}

func (p *metaParser) cmp() (*metaNode, error) {
	return p.binary([]string{">", "<", ">=", "<=", "==", "!="}, p.add)
}

func (p *metaParser) add() (*metaNode, error) {
	return p.binary([]string{"+", "-"}, p.mul)
}

func (p *metaParser) mul() (*metaNode, error) {
	return p.binary([]string{"*", "/"}, p.unary)
}

func (p *metaParser) unary() (*metaNode, error) {
	t := p.peek()
	switch {
	case t == "":
		return nil, errors.New("unexpected end of expression")
	case t == "!" || t == "-":
		p.i++
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		op := "!"
		if t == "-" {
			op = "neg"
		}
		return &metaNode{op: op, left: n}, nil
	case t == "(":
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, errors.New("missing )")
		}
		p.i++
		return n, nil
	case t[0] >= '0' && t[0] <= '9' || t[0] == '.':
		p.i++
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", t)
		}
		return &metaNode{op: "num", num: v}, nil
	case isAlpha(t[0]) || t[0] == '_':
		p.i++
		p.deps = append(p.deps, t)
		return &metaNode{op: "ref", name: t}, nil
	}
	return nil, fmt.Errorf("unexpected %q", t)
}

// orderMetas sorts the meta rules so that each comes after the metas it
// uses, and disables the rules of a dependency cycle.
func (rs *Ruleset) orderMetas() {
	var metas []*rule
	for _, r := range rs.rules {
		if r.kind == KindMeta && r.def.err == nil && r.inactive != "error" {
			metas = append(metas, r)
		}
	}
	sort.SliceStable(metas, func(i, j int) bool { return metas[i].priority < metas[j].priority })
	const (
		white = iota
		grey
		black
	)
	state := map[*rule]int{}
	var order []*rule
	var visit func(r *rule, path []*rule) bool
	visit = func(r *rule, path []*rule) bool {
		switch state[r] {
		case grey:
			names := ""
			for _, q := range path {
				names += q.name + " -> "
			}
			d := r.def
			rs.lint.Errors = append(rs.lint.Errors, Diagnostic{File: d.file, Line: d.line, Col: 1, Rule: r.name,
				Msg: fmt.Sprintf("meta %s: dependency cycle %s%s", r.name, names, r.name)})
			return false
		case black:
			return r.inactive != "cycle"
		}
		state[r] = grey
		ok := true
		for _, dep := range r.metaDeps {
			if q, found := rs.byName[dep]; found && q.kind == KindMeta && q.def.err == nil {
				if !visit(q, append(path, r)) {
					ok = false
				}
			}
		}
		state[r] = black
		if !ok {
			if r.inactive == "" {
				rs.lint.Unsupported["meta dependency cycle"]++
			}
			r.inactive = "cycle"
			return false
		}
		order = append(order, r)
		return true
	}
	for _, r := range metas {
		visit(r, nil)
	}
	for _, r := range order {
		for _, name := range r.meta.resolve(rs.byName) {
			// SpamAssassin counts an undefined rule as 0 and lint says so.
			rs.lint.UndefinedRefs++
			d := Diagnostic{File: r.def.file, Line: r.def.line, Rule: r.name,
				Msg: fmt.Sprintf("meta %s: undefined rule %s (counts as 0)", r.name, name)}
			rs.lint.Undefined = append(rs.lint.Undefined, d)
			if rs.opt.WarnUndefined {
				rs.lint.Warnings = append(rs.lint.Warnings, d)
			}
		}
	}
	rs.metas = order
}
