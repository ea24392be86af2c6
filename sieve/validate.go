package sieve

import (
	"strconv"
	"strings"
)

const noParam argType = -1

// tagDef describes one tagged argument a command or test accepts.
type tagDef struct {
	name  string
	group string  // tags of one group exclude each other; the group name is stored in node.tags
	param argType // noParam, or the type of the argument following the tag
	ext   string  // capability needed for the tag, "" if none
	// paramName names the parameter in error messages.
	paramName string
}

// posDef describes one positional argument.
type posDef struct {
	typ      argType // argString accepts only a string, argStringList a string or list
	name     string
	optional bool
}

type blockMode int

const (
	noBlock blockMode = iota
	needBlock
)

// spec defines a command or test: its arguments, where it may appear and what it does.
type spec struct {
	name   string
	ext    string // capability that must be required, "" for RFC 5228 core
	test   bool
	tags   []tagDef
	pos    []posDef
	block  blockMode
	tests  int // 0 none, 1 exactly one test, -1 a test list
	check  func(v *validator, n *node) bool
	exec   func(r *run, n *node) error
	eval   func(r *run, n *node) (bool, error)
	parent []string // commands that must enclose this one (e.g. "foreverypart" for break)
	// defCmp overrides the default comparator i;ascii-casemap.
	defCmp string
}

func (s *spec) kind() string {
	if s.test {
		return "test"
	}
	return "command"
}

// validator checks a parsed script against the specs: RFC 5228 §2.10.
type validator struct {
	errs     *errorList
	caps     map[string]bool
	cmds     map[string]*spec
	tests    map[string]*spec
	opts     *Options
	c        *compiler
	known    map[string]bool // capabilities the implementation supports
	usesVars bool
	declared map[string]bool
	tooMany  bool
}

// Standard tag sets shared by many tests (RFC 5228 §2.7).
func comparatorTag() tagDef {
	return tagDef{name: "comparator", group: "comparator", param: argString, paramName: "comparator name"}
}

func matchTags() []tagDef {
	return []tagDef{
		{name: "is", group: "match", param: noParam},
		{name: "contains", group: "match", param: noParam},
		{name: "matches", group: "match", param: noParam},
		{name: "regex", group: "match", param: noParam, ext: "regex"},
		{name: "value", group: "match", param: argString, ext: "relational", paramName: "relational match"},
		{name: "count", group: "match", param: argString, ext: "relational", paramName: "relational match"},
	}
}

func addressPartTags() []tagDef {
	return []tagDef{
		{name: "all", group: "part", param: noParam},
		{name: "localpart", group: "part", param: noParam},
		{name: "domain", group: "part", param: noParam},
		{name: "user", group: "part", param: noParam, ext: "subaddress"},
		{name: "detail", group: "part", param: noParam, ext: "subaddress"},
	}
}

func indexTags() []tagDef {
	return []tagDef{
		{name: "index", group: "index", param: argNumber, ext: "index", paramName: "field index"},
		{name: "last", group: "last", param: noParam, ext: "index"},
	}
}

func mimeTags() []tagDef {
	return []tagDef{
		{name: "mime", group: "mime", param: noParam, ext: "mime"},
		{name: "anychild", group: "anychild", param: noParam, ext: "mime"},
		{name: "type", group: "mimeopt", param: noParam, ext: "mime"},
		{name: "subtype", group: "mimeopt", param: noParam, ext: "mime"},
		{name: "contenttype", group: "mimeopt", param: noParam, ext: "mime"},
		{name: "param", group: "mimeopt", param: argStringList, ext: "mime", paramName: "param list"},
	}
}

func matchingTags(extra ...tagDef) []tagDef {
	t := append([]tagDef{comparatorTag()}, matchTags()...)
	return append(t, extra...)
}

func (v *validator) has(capability string) bool { return v.caps[capability] }

func (v *validator) errorf(p Position, format string, args ...any) {
	v.errs.addf(p, format, args...)
}

func ordinalArgType(t argType) string {
	switch t {
	case argString:
		return "a string"
	case argStringList:
		return "a string list"
	case argNumber:
		return "a number"
	}
	return "a tag"
}

func articled(a *argument) string {
	switch a.typ {
	case argString:
		return "a string"
	case argStringList:
		return "a string list"
	case argNumber:
		return "a number"
	}
	return "a tag"
}

// validateRequire handles RFC 5228 §3.2 require.
func (v *validator) validateRequire(n *node) {
	if len(n.args) != 1 || n.args[0].typ == argNumber || n.args[0].typ == argTag || len(n.tests) > 0 || n.hasBlock {
		v.errorf(n.pos, "the require command accepts a single string or string list argument")
		return
	}
	for _, c := range n.args[0].strs {
		if !v.known[c] && c == "enotify" {
			// Not offered unless asked for: the actions would have no sender.
			v.errorf(n.args[0].pos, "notify is not supported (the enotify extension is not offered)")
			continue
		}
		if !v.known[c] {
			v.errorf(n.args[0].pos, "require command: unknown Sieve capability '%s'", c)
			continue
		}
		v.caps[c] = true
		// RFC 5233 and others imply base capabilities.
		switch c {
		case "spamtestplus":
			v.caps["spamtest"] = true
		case "vacation-seconds":
			v.caps["vacation"] = true
		case "comparator-i;ascii-numeric":
		}
	}
}

func (v *validator) validateBlock(cmds []*node, parent *node, top bool) {
	requireAllowed := top
	var prev *node
	for _, n := range cmds {
		n.parent = parent
		if n.name == "require" {
			if !requireAllowed {
				v.errorf(n.pos, "the require command can only be placed at top level at the beginning of the file")
				continue
			}
			v.validateRequire(n)
			n.spec = &spec{name: "require"}
			continue
		}
		requireAllowed = false
		v.validateCommand(n, prev)
		prev = n
	}
}

func (v *validator) lookup(n *node, test bool) *spec {
	table := v.cmds
	other := v.tests
	if test {
		table, other = v.tests, v.cmds
	}
	s := table[n.name]
	if s != nil && s.ext != "" && !v.capable(s.ext) {
		v.errorf(n.pos, "unknown %s '%s' (%s extension not required)", kindWord(test), n.name, s.ext)
		return nil
	}
	if s == nil {
		if o := other[n.name]; o != nil {
			if test {
				v.errorf(n.pos, "attempted to use command '%s' as test", n.name)
			} else {
				v.errorf(n.pos, "attempted to use test '%s' as command", n.name)
			}
			return nil
		}
		if test {
			v.errorf(n.pos, "unknown test '%s'", n.name)
		} else {
			v.errorf(n.pos, "unknown command '%s'", n.name)
		}
	}
	return s
}

func (v *validator) capable(ext string) bool {
	for _, e := range strings.Split(ext, "|") {
		if v.caps[e] {
			return true
		}
	}
	return false
}

func kindWord(test bool) string {
	if test {
		return "test"
	}
	return "command"
}

func (v *validator) validateCommand(n *node, prev *node) {
	s := v.lookup(n, false)
	if s == nil {
		// Still look inside the block for more errors.
		v.validateBlock(n.block, n, false)
		return
	}
	n.spec = s
	v.tooMany = false
	ok := v.validateArgs(n, s)
	testsOK := true
	// Only the first problem of a command is reported, as Pigeonhole does
	// (surplus arguments excepted).
	switch {
	case !ok && !v.tooMany:
	case s.tests == 0 && len(n.tests) > 0:
		t := n.tests[0]
		if v.tests[t.name] == nil || v.cmds[t.name] != nil {
			// "fileinto "x" keep;": the test is really the next command.
			v.errorf(n.pos, "missing semicolon ';' after %s command", n.name)
		} else {
			v.errorf(n.pos, "the %s command accepts no tests, but tests are specified", n.name)
		}
		ok, testsOK = false, false
	case s.tests == 1 && len(n.tests) == 0:
		v.errorf(n.pos, "the %s command requires one test, but none is specified", n.name)
		ok = false
	case s.tests == 1 && (len(n.tests) > 1 || n.testList):
		v.errorf(n.pos, "the %s command requires one test, but a test list is specified", n.name)
		ok, testsOK = false, false
	case s.tests == -1 && !n.testList:
		v.errorf(n.pos, "the %s command requires a test list", n.name)
		ok = false
	case s.block == needBlock && !n.hasBlock:
		v.errorf(n.pos, "the %s command requires a command block, but it is missing", n.name)
		ok = false
	case s.block == noBlock && n.hasBlock:
		v.errorf(n.pos, "the %s command does not accept a command block, but one is specified", n.name)
		ok = false
	case len(s.parent) > 0 && !v.enclosedBy(n, s.parent):
		v.errorf(n.pos, "the %s command is not allowed outside a %s block", n.name, strings.Join(s.parent, " or "))
		ok = false
	case (n.name == "elsif" || n.name == "else") && (prev == nil || (prev.name != "if" && prev.name != "elsif")):
		v.errorf(n.pos, "the %s command must follow an if or elseif command", n.name)
		ok = false
	}
	if testsOK {
		for _, t := range n.tests {
			v.validateTest(t, n)
		}
	}
	if ok && s.check != nil {
		s.check(v, n)
	}
	// RFC 5463 §3: the block of "if ihave [...]" may use the extensions it
	// names; when one is missing the block is never run, so it is not checked.
	if len(n.tests) == 1 && n.tests[0].name == "ihave" && v.has("ihave") && len(n.tests[0].pargs) == 1 {
		all := true
		for _, c := range n.tests[0].pargs[0].strs {
			if !v.known[c] || ihaveRestricted[c] {
				all = false
				continue
			}
			v.caps[c] = true
		}
		if !all {
			return
		}
	}
	v.validateBlock(n.block, n, false)
}

func (v *validator) enclosedBy(n *node, names []string) bool {
	for p := n.parent; p != nil; p = p.parent {
		for _, name := range names {
			if p.name == name {
				return true
			}
		}
	}
	return false
}

func (v *validator) validateTest(n *node, parent *node) {
	n.parent = parent
	if v.tests[n.name] == nil && parent.spec != nil {
		for _, t := range parent.spec.tags {
			if t.name == n.name {
				v.errorf(n.pos, "missing colon ':' before ':%s' tag in %s %s", n.name, parent.name, parent.spec.kind())
				return
			}
		}
	}
	s := v.lookup(n, true)
	if s == nil {
		for _, t := range n.tests {
			v.validateTest(t, n)
		}
		return
	}
	n.spec = s
	ok := v.validateArgs(n, s)
	switch {
	case !ok:
	case s.tests == 0 && len(n.tests) > 0:
		v.errorf(n.pos, "the %s test accepts no sub-tests, but tests are specified", n.name)
		ok = false
	case s.tests == 1 && len(n.tests) != 1:
		v.errorf(n.pos, "the %s test requires one sub-test", n.name)
		ok = false
	case s.tests == 1 && n.testList:
		v.errorf(n.pos, "the %s test requires one sub-test, but a test list is specified", n.name)
		ok = false
	case s.tests == -1 && !n.testList:
		v.errorf(n.pos, "the %s test requires a test list", n.name)
		ok = false
	}
	for _, t := range n.tests {
		v.validateTest(t, n)
	}
	if ok && s.check != nil {
		s.check(v, n)
	}
}

// validateArgs sorts tagged from positional arguments and checks their kinds.
func (v *validator) validateArgs(n *node, s *spec) bool {
	n.tags = map[string]*argument{}
	kind := s.kind()
	args := n.args
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a.typ != argTag {
			n.pargs = append(n.pargs, a)
			continue
		}
		var def *tagDef
		for j := range s.tags {
			if s.tags[j].name == a.tag && (s.tags[j].ext == "" || v.capable(s.tags[j].ext)) {
				def = &s.tags[j]
				break
			}
		}
		if def == nil {
			v.errorf(a.pos, "unknown tagged argument ':%s' for the %s %s (reported only once at first occurrence)", a.tag, n.name, kind)
			return false
		}
		if len(n.pargs) > 0 {
			// RFC 5228 §2.6.2: tagged arguments precede positional ones.
			v.errorf(a.pos, "unexpected tagged argument ':%s' while validating positional arguments for the %s %s", a.tag, n.name, kind)
			return false
		}
		group := def.group
		if group == "" {
			group = def.name
		}
		if prev, dup := n.tags[group]; dup {
			if prev.tag == a.tag {
				v.errorf(a.pos, "encountered duplicate tag ':%s' for the %s %s", a.tag, n.name, kind)
			} else {
				v.errorf(a.pos, "tag ':%s' conflicts with tag ':%s' for the %s %s", a.tag, prev.tag, n.name, kind)
			}
			return false
		}
		tagged := &argument{typ: argTag, pos: a.pos, tag: a.tag}
		if def.param != noParam {
			if i+1 >= len(args) || args[i+1].typ == argTag || !typeFits(args[i+1].typ, def.param) {
				found := "none"
				if i+1 < len(args) {
					found = articled(args[i+1])
				}
				v.errorf(a.pos, "the :%s tag for the %s %s requires %s as argument (%s), but %s was found", a.tag, n.name, kind, ordinalArgType(def.param), def.paramName, found)
				return false
			}
			i++
			p := args[i]
			tagged.strs, tagged.num, tagged.typ = p.strs, p.num, p.typ
			if def.param == argNumber {
				tagged.typ = argNumber
			}
		}
		tagged.tag = a.tag
		n.tags[group] = tagged
		if group != def.name {
			n.tags[def.name] = tagged
		}
	}
	min := 0
	for _, p := range s.pos {
		if !p.optional {
			min++
		}
	}
	for i, a := range n.pargs {
		if i >= len(s.pos) {
			v.tooMany = true
			if len(s.pos) == 0 {
				v.errorf(a.pos, "the %s %s accepts no positional arguments, but %d are specified", n.name, kind, len(n.pargs))
			} else {
				v.errorf(a.pos, "the %s %s accepts at most %d positional argument(s), but %d are specified", n.name, kind, len(s.pos), len(n.pargs))
			}
			return false
		}
		if !typeFits(a.typ, s.pos[i].typ) {
			v.errorf(a.pos, "the %s %s expects %s as argument %d (%s), but %s was found", n.name, kind, ordinalArgType(s.pos[i].typ), i+1, s.pos[i].name, articled(a))
			return false
		}
	}
	if len(n.pargs) < min {
		were := "were"
		if len(n.pargs) == 1 {
			were = "was"
		}
		v.errorf(n.pos, "the %s %s requires %d positional argument(s), but %d %s specified", n.name, kind, min, len(n.pargs), were)
		return false
	}
	if !v.checkVarRefs(n) {
		return false
	}
	return v.checkMatching(n)
}

// Pigeonhole's compile-time variable limits (RFC 5229 §6 leaves them open).
const (
	maxVariableNameLen = 64
	maxMatchIndex      = 32
)

// checkVarRefs validates "${...}" references in the node's strings (RFC 5229 §3).
func (v *validator) checkVarRefs(n *node) bool {
	if !v.has("variables") {
		return true
	}
	for _, a := range n.args {
		for _, s := range a.strs {
			for {
				i := strings.Index(s, "${")
				if i < 0 {
					break
				}
				s = s[i+2:]
				j := strings.IndexByte(s, '}')
				if j < 0 {
					break
				}
				name := s[:j]
				if !validVarRef(name) {
					continue
				}
				s = s[j+1:]
				if name[0] >= '0' && name[0] <= '9' {
					if idx, err := strconv.Atoi(name); err != nil || idx > maxMatchIndex {
						v.errorf(a.pos, "variable name '%s' exceeds the maximum match value index (%d)", name, maxMatchIndex)
						return false
					}
					continue
				}
				if !v.knownNamespace(a.pos, name) {
					return false
				}
			}
		}
	}
	return true
}

func (v *validator) knownNamespace(p Position, name string) bool {
	dot := strings.IndexByte(name, '.')
	if dot < 0 {
		return true
	}
	ns := strings.ToLower(name[:dot])
	switch {
	case ns == "env" && v.has("environment"):
		return true
	case ns == "global" && v.has("include"):
		return true
	case ns == "tst" && v.has("vnd.dovecot.testsuite"):
		return true
	}
	v.errorf(p, "variable '%s' refers to an unknown namespace '%s'", name, name[:dot])
	return false
}

func typeFits(have, want argType) bool {
	switch want {
	case argStringList:
		return have == argString || have == argStringList
	default:
		return have == want
	}
}

// checkMatching resolves comparator, match type and address part tags
// (RFC 5228 §2.7) and validates their combinations.
func (v *validator) checkMatching(n *node) bool {
	n.cmp = "i;ascii-casemap"
	if n.spec != nil && n.spec.defCmp != "" {
		n.cmp = n.spec.defCmp
	}
	n.match = "is"
	n.part = "all"
	if t := n.tags["comparator"]; t != nil {
		name := t.strs[0]
		switch name {
		case "i;octet", "i;ascii-casemap":
		case "i;ascii-numeric":
			if !v.has("comparator-i;ascii-numeric") {
				v.errorf(t.pos, "the comparator '%s' requires the comparator-i;ascii-numeric extension", name)
				return false
			}
		default:
			v.errorf(t.pos, "unknown comparator '%s'", name)
			return false
		}
		n.cmp = name
	}
	if t := n.tags["match"]; t != nil {
		n.match = t.tag
		if t.tag == "value" || t.tag == "count" {
			op := strings.ToLower(t.strs[0])
			switch op {
			case "gt", "ge", "lt", "le", "eq", "ne":
				n.relop = op
			default:
				v.errorf(t.pos, "invalid relational match '%s'", t.strs[0])
				return false
			}
		}
		if n.cmp == "i;ascii-numeric" && (t.tag == "contains" || t.tag == "matches" || t.tag == "regex") {
			v.errorf(t.pos, "the :%s match type cannot be used with the i;ascii-numeric comparator", t.tag)
			return false
		}
	}
	if t := n.tags["part"]; t != nil {
		n.part = t.tag
	}
	if t := n.tags["index"]; t != nil && t.typ == argNumber && t.num < 1 {
		v.errorf(t.pos, "the :index tag for the %s %s requires a non-zero positive integer", n.name, n.spec.kind())
		return false
	}
	return true
}

// stringArg returns positional argument i as a string list.
func (n *node) stringArg(i int) []string {
	if i >= len(n.pargs) {
		return nil
	}
	return n.pargs[i].strs
}

func (n *node) tagStr(name string) (string, bool) {
	t := n.tags[name]
	if t == nil || len(t.strs) == 0 {
		return "", t != nil
	}
	return t.strs[0], true
}

func (n *node) tagNum(name string) (int64, bool) {
	t := n.tags[name]
	if t == nil {
		return 0, false
	}
	return t.num, true
}

func (n *node) has(tag string) bool { _, ok := n.tags[tag]; return ok }

// isConstant reports whether s holds no variable reference, so it can be
// checked at compile time.
func (v *validator) isConstant(s string) bool {
	return !v.has("variables") || !strings.Contains(s, "${")
}

// checkVariableName validates a variable name for set and similar (RFC 5229 §3).
func (v *validator) checkVariableName(p Position, name string) bool {
	if name == "" {
		v.errorf(p, "invalid variable name ''")
		return false
	}
	if len(name) > maxVariableNameLen {
		v.errorf(p, "variable name '%s' is too long (max %d characters)", name, maxVariableNameLen)
		return false
	}
	parts := strings.Split(name, ".")
	for _, part := range parts {
		if part == "" {
			v.errorf(p, "invalid variable name '%s'", name)
			return false
		}
		if _, err := strconv.Atoi(part); err == nil && len(parts) == 1 {
			v.errorf(p, "cannot assign to match variable '%s'", name)
			return false
		}
		for i := 0; i < len(part); i++ {
			if !isIdentChar(part[i]) || (i == 0 && !isIdentStart(part[i])) {
				v.errorf(p, "invalid variable name '%s'", name)
				return false
			}
		}
	}
	if len(parts) > 1 {
		return v.knownNamespace(p, name)
	}
	if v.declared == nil {
		v.declared = map[string]bool{}
	}
	l := strings.ToLower(name)
	if !v.declared[l] {
		v.declared[l] = true
		if len(v.declared) == v.opts.Limits.MaxVariables+1 {
			v.errorf(p, "declaration of variable '%s' exceeds the limit (max %d variables)", name, v.opts.Limits.MaxVariables)
			return false
		}
	}
	return true
}
