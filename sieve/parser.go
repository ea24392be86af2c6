package sieve

import (
	"errors"
	"fmt"
	"strings"
)

// ErrCompile is wrapped by every error Compile returns for a faulty script.
var ErrCompile = errors.New("sieve: compile error")

// ErrRuntime is wrapped by every error a script raises while it runs.
var ErrRuntime = errors.New("sieve: runtime error")

// Diagnostic is one problem found in a script.
type Diagnostic struct {
	Pos     Position
	Message string
}

// String formats the diagnostic as file:line:col: message.
func (d Diagnostic) String() string { return d.Pos.String() + ": " + d.Message }

// CompileError lists every problem found in a script. It wraps ErrCompile.
type CompileError struct {
	Diagnostics []Diagnostic
}

// Error joins the diagnostics one per line.
func (e *CompileError) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(err, ErrCompile) true.
func (e *CompileError) Unwrap() error { return ErrCompile }

type errorList struct {
	diags []Diagnostic
	max   int
}

func (e *errorList) add(p Position, msg string) {
	if e.max > 0 && len(e.diags) >= e.max {
		return
	}
	e.diags = append(e.diags, Diagnostic{p, msg})
}

func (e *errorList) addf(p Position, format string, args ...any) {
	e.add(p, fmt.Sprintf(format, args...))
}

type argType int

const (
	argString argType = iota
	argStringList
	argNumber
	argTag
)

// argument is one positional or tagged argument as written in the script.
type argument struct {
	typ  argType
	pos  Position
	strs []string // argString: one element
	num  int64
	tag  string // argTag: lower-cased name without ':'
}

func (a *argument) describe() string {
	switch a.typ {
	case argString:
		return "string"
	case argStringList:
		return "string list"
	case argNumber:
		return "number"
	default:
		return "tag ':" + a.tag + "'"
	}
}

// node is a command or a test of the syntax tree (RFC 5228 §8.2).
type node struct {
	name  string // lower-cased identifier
	pos   Position
	args  []*argument
	tests []*node
	block []*node
	// hasBlock distinguishes "cmd {}" from "cmd;".
	hasBlock bool
	// testList is true when tests were written in parentheses.
	testList bool

	// Set by the validator.
	spec   *spec
	tags   map[string]*argument
	pargs  []*argument
	cmp    string // comparator name
	match  string // match type: is, contains, matches, regex, value, count
	relop  string // relational operator for value/count
	part   string // address part: all, localpart, domain, user, detail
	ext    any    // per-command compiled data
	parent *node
}

type parser struct {
	lx   *lexer
	tok  token
	errs *errorList
	// blocks and tests count the current nesting; Pigeonhole allows 32 of each.
	blocks, tests int
	maxDepth      int
	// braces counts '{' minus '}' consumed, for recovery.
	braces int
}

func parse(file string, src []byte, errs *errorList, maxDepth int) []*node {
	p := &parser{lx: newLexer(file, src, errs), errs: errs, maxDepth: maxDepth}
	p.tok = p.lx.next()
	var cmds []*node
	for p.tok.kind != tokEOF {
		n := p.command()
		if n == nil {
			p.recover()
			continue
		}
		cmds = append(cmds, n)
	}
	return cmds
}

func (p *parser) advance() {
	switch p.tok.kind {
	case tokLBrace:
		p.braces++
	case tokRBrace:
		p.braces--
	}
	p.tok = p.lx.next()
}

// recover skips the rest of a broken top-level command: up to a ';' or a
// '}' at the top level. Errors found on the way are not reported again.
func (p *parser) recover() {
	p.lx.quiet = true
	defer func() { p.lx.quiet = false }()
	for p.tok.kind != tokEOF {
		k := p.tok.kind
		p.advance()
		if p.braces <= 0 && (k == tokSemicolon || k == tokRBrace) {
			p.braces = 0
			return
		}
	}
	p.braces = 0
}

func (p *parser) command() *node {
	if p.tok.kind != tokIdent {
		if p.tok.kind != tokError {
			p.errs.addf(p.tok.pos, "expected identifier but found %s", p.tok.kind)
		}
		return nil
	}
	n := &node{name: strings.ToLower(p.tok.text), pos: p.tok.pos}
	p.advance()
	if !p.arguments(n) {
		return nil
	}
	switch p.tok.kind {
	case tokSemicolon:
		p.advance()
		return n
	case tokLBrace:
		p.blocks++
		defer func() { p.blocks-- }()
		if p.maxDepth > 0 && p.blocks > p.maxDepth {
			p.errs.addf(p.tok.pos, "the nesting of command blocks is too deep (max %d levels)", p.maxDepth)
			return nil
		}
		p.advance()
		n.hasBlock = true
		for p.tok.kind != tokRBrace {
			if p.tok.kind == tokEOF {
				p.errs.add(p.tok.pos, "end of file before end of block")
				return nil
			}
			c := p.command()
			if c == nil {
				return nil
			}
			n.block = append(n.block, c)
		}
		p.advance()
		return n
	}
	if p.tok.kind != tokError {
		p.errs.addf(p.tok.pos, "expected ';' or '{' after command '%s' but found %s", n.name, p.tok.kind)
	} else {
		p.errs.addf(p.tok.pos, "invalid arguments for command '%s'", n.name)
	}
	return nil
}

// arguments parses argument* [test / test-list].
func (p *parser) arguments(n *node) bool {
	for {
		switch p.tok.kind {
		case tokString:
			n.args = append(n.args, &argument{typ: argString, pos: p.tok.pos, strs: []string{p.tok.text}})
			p.advance()
		case tokNumber:
			n.args = append(n.args, &argument{typ: argNumber, pos: p.tok.pos, num: p.tok.num})
			p.advance()
		case tokTag:
			n.args = append(n.args, &argument{typ: argTag, pos: p.tok.pos, tag: strings.ToLower(p.tok.text)})
			p.advance()
		case tokLBracket:
			a := &argument{typ: argStringList, pos: p.tok.pos}
			p.advance()
			for {
				if p.tok.kind != tokString {
					p.errs.addf(p.tok.pos, "expected string in string list but found %s", p.tok.kind)
					return false
				}
				a.strs = append(a.strs, p.tok.text)
				p.advance()
				if p.tok.kind == tokComma {
					p.advance()
					continue
				}
				if p.tok.kind == tokRBracket {
					p.advance()
					break
				}
				p.errs.addf(p.tok.pos, "expected ',' or ']' in string list but found %s", p.tok.kind)
				return false
			}
			n.args = append(n.args, a)
		default:
			goto tests
		}
		// Pigeonhole refuses more than 32 arguments to one command.
		if len(n.args) > 32 {
			p.errs.addf(n.args[32].pos, "too many arguments for '%s' (max 32)", n.name)
			return false
		}
	}
tests:
	switch p.tok.kind {
	case tokIdent:
		t := p.test()
		if t == nil {
			return false
		}
		n.tests = []*node{t}
	case tokLParen:
		n.testList = true
		p.advance()
		for {
			t := p.test()
			if t == nil {
				return false
			}
			n.tests = append(n.tests, t)
			if p.tok.kind == tokComma {
				p.advance()
				continue
			}
			if p.tok.kind == tokRParen {
				p.advance()
				break
			}
			p.errs.addf(p.tok.pos, "expected ',' or ')' in test list but found %s", p.tok.kind)
			return false
		}
	}
	return true
}

func (p *parser) test() *node {
	if p.tok.kind != tokIdent {
		p.errs.addf(p.tok.pos, "expected test name but found %s", p.tok.kind)
		return nil
	}
	p.tests++
	defer func() { p.tests-- }()
	if p.maxDepth > 0 && p.tests > p.maxDepth {
		p.errs.addf(p.tok.pos, "the nesting of tests is too deep (max %d levels)", p.maxDepth)
		return nil
	}
	n := &node{name: strings.ToLower(p.tok.text), pos: p.tok.pos}
	p.advance()
	if !p.arguments(n) {
		return nil
	}
	return n
}
