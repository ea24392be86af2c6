package sieve

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// includeSpecs registers the commands and tests of include.
func includeSpecs(add func(*spec)) {
	// RFC 6609 include.
	add(&spec{name: "include", ext: "include", tags: []tagDef{
		{name: "personal", group: "location", param: noParam}, {name: "global", group: "location", param: noParam},
		{name: "once", param: noParam}, {name: "optional", param: noParam}},
		pos: []posDef{{typ: argString, name: "script name"}}, check: checkInclude, exec: execInclude})
	add(&spec{name: "return", ext: "include", exec: func(*run, *node) error { return errReturn }})
	add(&spec{name: "global", ext: "include", pos: []posDef{{typ: argStringList, name: "value"}}, check: checkGlobal, exec: execGlobal})
}

func checkInclude(v *validator, n *node) bool {
	name := n.pargs[0].strs[0]
	if strings.ContainsAny(name, "/") || name == "" || !utf8.ValidString(name) {
		v.errorf(n.pargs[0].pos, "include: invalid script name '%s'", name)
		return false
	}
	if v.has("variables") && strings.Contains(name, "${") {
		v.errorf(n.pargs[0].pos, "include: script name '%s' must be a constant string", name)
		return false
	}
	scope := Personal
	if n.has("global") {
		scope = Global
	}
	key := includeKey{scope, name}
	n.ext = key
	c := v.c
	if c.inFlight[key] && !n.has("once") {
		// RFC 6609 §3.2: a script must not include itself, directly or not.
		v.errorf(n.pos, "include cycle: %s script '%s' includes itself", scopeName(scope), name)
		return false
	}
	if _, ok := c.scripts[key]; ok || c.inFlight[key] {
		return true
	}
	if c.opts.Loader == nil {
		if n.has("optional") {
			return true
		}
		v.errorf(n.pos, "included %s script '%s' does not exist", scopeName(scope), name)
		return false
	}
	src, path, err := c.opts.Loader.Load(c.ctx, scope, name)
	if err != nil {
		switch {
		case errors.Is(err, ErrNotFound) && n.has("optional"):
			return true
		case errors.Is(err, ErrNotFound):
			v.errorf(n.pos, "included %s script '%s' does not exist", scopeName(scope), name)
		default:
			// The error names the file and the reason, never its content.
			v.errorf(n.pos, "included %s script '%s' cannot be read: %v", scopeName(scope), name, err)
		}
		return false
	}
	c.count++
	if c.count > c.opts.Limits.MaxIncludes {
		v.errorf(n.pos, "include: too many included scripts (max %d)", c.opts.Limits.MaxIncludes)
		return false
	}
	if len(c.inFlight)+1 > c.opts.Limits.MaxIncludeDepth {
		v.errorf(n.pos, "cannot nest includes deeper than %d levels", c.opts.Limits.MaxIncludeDepth)
		return false
	}
	c.inFlight[key] = true
	s, errs := c.compile(path, src, false)
	delete(c.inFlight, key)
	if s == nil {
		for _, d := range errs.diags {
			if d.Pos.Line > 0 {
				v.errs.add(d.Pos, d.Message)
			}
		}
		v.errorf(n.pos, "failed to compile included %s script '%s'", scopeName(scope), name)
		return false
	}
	c.scripts[key] = s
	return true
}

func scopeName(s IncludeScope) string {
	if s == Global {
		return "global"
	}
	return "personal"
}

func execInclude(r *run, n *node) error {
	key, _ := n.ext.(includeKey)
	s := r.script.includes[key]
	if s == nil {
		if n.has("optional") {
			return nil
		}
		return rtErr(n, "included script '%s' not found", key.name)
	}
	if n.has("once") && r.onceDone[s] {
		return nil
	}
	if r.inInclude[s] || s == r.cur {
		return rtErr(n, "include: recursive include of script '%s'", key.name)
	}
	if r.depth >= r.opts.Limits.MaxIncludeDepth {
		return rtErr(n, "include: nesting too deep")
	}
	r.onceDone[s] = true
	saved, savedVars, savedMatch := r.cur, r.vars, r.match
	r.inInclude[r.cur] = true
	r.cur, r.vars, r.match = s, map[string]string{}, nil
	r.depth++
	err := r.exec(s.cmds)
	r.depth--
	r.cur, r.vars, r.match = saved, savedVars, savedMatch
	delete(r.inInclude, saved)
	if err == errReturn {
		err = nil
	}
	return err
}

func checkGlobal(v *validator, n *node) bool {
	if !v.has("variables") {
		v.errorf(n.pos, "the global command requires the variables extension")
		return false
	}
	for _, name := range n.pargs[0].strs {
		if !v.checkVariableName(n.pargs[0].pos, name) {
			return false
		}
	}
	return true
}

// execGlobal binds the names to the shared global scope (RFC 6609 §3.3)
// for the rest of the current script.
func execGlobal(r *run, n *node) error {
	if r.globalScope == nil {
		r.globalScope = map[*Script]map[string]bool{}
	}
	m := r.globalScope[r.cur]
	if m == nil {
		m = map[string]bool{}
		r.globalScope[r.cur] = m
	}
	for _, name := range r.arg(n, 0) {
		m[strings.ToLower(name)] = true
	}
	return nil
}
