package rules

import (
	"errors"
	"fmt"
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
