package sieve

import (
	"strings"
)

// imap4flagsSpecs registers the commands and tests of imap4flags.
func imap4flagsSpecs(add func(*spec)) {
	// RFC 5232 imap4flags.
	for _, name := range []string{"setflag", "addflag", "removeflag"} {
		add(&spec{name: name, ext: "imap4flags", pos: []posDef{{typ: argStringList, name: "variable name"},
			{typ: argStringList, name: "list of flags", optional: true}}, check: checkFlagCmd, exec: execFlagCmd})
	}
	add(&spec{name: "hasflag", test: true, ext: "imap4flags", tags: matchingTags(),
		pos:  []posDef{{typ: argStringList, name: "variable list"}, {typ: argStringList, name: "list of flags", optional: true}},
		eval: evalHasflag})
}

func checkFlagCmd(v *validator, n *node) bool {
	if len(n.pargs) == 2 {
		if n.pargs[0].typ != argString {
			v.errorf(n.pargs[0].pos, "the %s command expects a string as argument 1 (variable name), but a string list was found", n.name)
			return false
		}
		if !v.has("variables") {
			v.errorf(n.pargs[0].pos, "the %s command needs the variables extension for a variable name argument", n.name)
			return false
		}
		return v.checkVariableName(n.pargs[0].pos, n.pargs[0].strs[0])
	}
	return true
}

// parseFlags splits flag strings at spaces and removes duplicates (RFC 5232 §3).
func parseFlags(list []string) []string {
	var out []string
	for _, s := range list {
		for _, f := range strings.Fields(s) {
			dup := false
			for _, o := range out {
				if strings.EqualFold(o, f) {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, f)
			}
		}
	}
	return out
}

func (r *run) flagVar(name string) []string {
	if name == "" {
		return r.flags
	}
	return parseFlags([]string{r.lookupVar(name)})
}

func execFlagCmd(r *run, n *node) error {
	varName := ""
	list := r.arg(n, 0)
	if len(n.pargs) == 2 {
		varName = r.arg1(n, 0)
		list = r.arg(n, 1)
	}
	cur := r.flagVar(varName)
	add := parseFlags(list)
	var next []string
	switch n.name {
	case "setflag":
		next = add
	case "addflag":
		next = parseFlags(append(append([]string(nil), cur...), add...))
	case "removeflag":
		for _, f := range cur {
			keep := true
			for _, x := range add {
				if strings.EqualFold(f, x) {
					keep = false
				}
			}
			if keep {
				next = append(next, f)
			}
		}
	}
	if varName == "" {
		r.flags = next
		return nil
	}
	return r.setVar(n, varName, strings.Join(next, " "))
}

func evalHasflag(r *run, n *node) (bool, error) {
	var flags []string
	keys := r.arg(n, 0)
	if len(n.pargs) == 2 {
		for _, v := range keys {
			flags = append(flags, r.flagVar(v)...)
		}
		keys = r.arg(n, 1)
	} else {
		flags = r.flags
	}
	flags = parseFlags(flags)
	if n.match == "count" {
		return r.matchValues(n, flags, keys)
	}
	// RFC 5232 §4: each key is itself a flag list.
	return r.matchValues(n, flags, parseFlags(keys))
}

// actionFlags returns the flags for keep/fileinto: :flags, or the internal variable.
func (r *run) actionFlags(n *node) []string {
	if t := n.tags["flags"]; t != nil {
		f := parseFlags(r.strs(t.strs))
		if f == nil {
			f = []string{}
		}
		return f
	}
	if len(r.flags) > 0 {
		return append([]string(nil), r.flags...)
	}
	return nil
}
