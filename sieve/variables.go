package sieve

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// variablesSpecs registers the commands and tests of variables, environment.
func variablesSpecs(add func(*spec)) {
	// RFC 5229 variables.
	add(&spec{name: "set", ext: "variables", tags: []tagDef{
		{name: "lower", group: "case", param: noParam}, {name: "upper", group: "case", param: noParam},
		{name: "lowerfirst", group: "casefirst", param: noParam}, {name: "upperfirst", group: "casefirst", param: noParam},
		{name: "quotewildcard", group: "quote", param: noParam},
		{name: "quoteregex", group: "quote", param: noParam, ext: "regex"},
		{name: "encodeurl", group: "encodeurl", param: noParam, ext: "enotify"},
		{name: "length", group: "length", param: noParam},
	}, pos: []posDef{{typ: argString, name: "name"}, {typ: argString, name: "value"}}, check: checkSet, exec: execSet})
	// Pigeonhole compares string test values with i;octet unless told otherwise.
	add(&spec{name: "string", test: true, ext: "variables", defCmp: "i;octet", tags: matchingTags(),
		pos:   []posDef{{typ: argStringList, name: "source"}, {typ: argStringList, name: "key list"}},
		check: func(v *validator, n *node) bool { return checkKeys(v, n, 1) }, eval: evalString})
	// RFC 5183 environment.
	add(&spec{name: "environment", test: true, ext: "environment", tags: matchingTags(),
		pos:   []posDef{{typ: argString, name: "name"}, {typ: argStringList, name: "key list"}},
		check: func(v *validator, n *node) bool { return checkKeys(v, n, 1) },
		eval: func(r *run, n *node) (bool, error) {
			v, ok := r.environment(r.arg1(n, 0))
			if !ok {
				return false, nil
			}
			return r.matchValues(n, []string{v}, r.arg(n, 1))
		}})
}

func checkSet(v *validator, n *node) bool {
	return v.checkVariableName(n.pargs[0].pos, n.pargs[0].strs[0])
}

// applyModifiers applies RFC 5229 §4.1 modifiers in precedence order.
func applyModifiers(n *node, val string, limit int) string {
	switch {
	case n.has("lower"):
		val = strings.ToLower(val)
	case n.has("upper"):
		val = strings.ToUpper(val)
	}
	switch {
	case n.has("lowerfirst"):
		val = mapFirst(val, unicode.ToLower)
	case n.has("upperfirst"):
		val = mapFirst(val, unicode.ToUpper)
	}
	switch {
	case n.has("quotewildcard"):
		val = quoteWildcard(val, limit)
	case n.has("quoteregex"):
		val = quoteRegex(val)
	}
	// RFC 5435 §6: :encodeurl has precedence 15.
	if n.has("encodeurl") {
		val = encodeURL(val, limit)
	}
	if n.has("length") {
		val = strconv.Itoa(utf8.RuneCountInString(val))
	}
	return val
}

func mapFirst(s string, f func(rune) rune) string {
	if s == "" {
		return s
	}
	r, sz := utf8.DecodeRuneInString(s)
	return string(f(r)) + s[sz:]
}

func quoteRegex(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`\^$.[]|()?*+{}`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func execSet(r *run, n *node) error {
	return r.setVar(n, r.arg1(n, 0), applyModifiers(n, r.arg1(n, 1), r.opts.Limits.MaxVariableSize))
}

func evalString(r *run, n *node) (bool, error) {
	src := r.arg(n, 0)
	if n.match == "count" {
		// RFC 5229 §5: empty source strings are not counted.
		var nonEmpty []string
		for _, s := range src {
			if s != "" {
				nonEmpty = append(nonEmpty, s)
			}
		}
		src = nonEmpty
	}
	return r.matchValues(n, src, r.arg(n, 1))
}

// decodeEncodedCharacters implements RFC 5228 §2.4.2.4 in every string of
// the script; a code point outside Unicode is an error.
func decodeEncodedCharacters(cmds []*node, errs *errorList) {
	var walk func(ns []*node)
	walk = func(ns []*node) {
		for _, n := range ns {
			for _, a := range n.args {
				for i, s := range a.strs {
					var bad string
					a.strs[i], bad = decodeEncoded(s)
					if bad != "" {
						errs.addf(a.pos, "invalid unicode character 0x%s in encoded character substitution", bad)
					}
				}
			}
			walk(n.tests)
			walk(n.block)
		}
	}
	walk(cmds)
}

func decodeEncoded(s string) (string, string) {
	if !strings.Contains(s, "${") {
		return s, ""
	}
	var b strings.Builder
	bad := ""
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), bad
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		colon := strings.IndexByte(rest, ':')
		if j < 0 || colon < 0 || colon > j {
			b.WriteString("${")
			s = rest
			continue
		}
		kind := strings.ToLower(rest[:colon])
		body := rest[colon+1 : j]
		out, ok := "", false
		switch kind {
		case "hex":
			out, ok = decodeHexSeq(body)
		case "unicode":
			var badCP string
			out, ok, badCP = decodeUnicodeSeq(body)
			if badCP != "" && bad == "" {
				bad = badCP
			}
		}
		if !ok {
			b.WriteString("${")
			s = rest
			continue
		}
		b.WriteString(out)
		s = rest[j+1:]
	}
}

func decodeHexSeq(body string) (string, bool) {
	if strings.TrimSpace(body) == "" {
		return "", false
	}
	var b []byte
	for _, f := range strings.Fields(body) {
		if len(f) > 2 && strings.Trim(f[:len(f)-2], "0") != "" {
			return "", false
		}
		v, err := strconv.ParseUint(f, 16, 16)
		if err != nil || v > 255 {
			return "", false
		}
		b = append(b, byte(v))
	}
	if strings.TrimSpace(body) != body && strings.TrimLeft(body, " \t") != strings.TrimLeft(body, " \t\r\n") {
		return "", false
	}
	return string(b), true
}

func decodeUnicodeSeq(body string) (string, bool, string) {
	if strings.TrimSpace(body) == "" {
		return "", false, ""
	}
	var b strings.Builder
	for _, f := range strings.Fields(body) {
		v, err := strconv.ParseUint(f, 16, 32)
		if err != nil {
			return "", false, ""
		}
		if v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) {
			return "", false, f
		}
		b.WriteRune(rune(v))
	}
	return b.String(), true, ""
}
