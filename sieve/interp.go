package sieve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Control flow signals; they never leave the package.
var (
	errStop   = errors.New("stop")
	errReturn = errors.New("return")
)

// run is the state of one script run (and of the scripts it includes).
type run struct {
	ctx    context.Context
	script *Script
	opts   *Options
	msg    Message
	env    Env
	log    *slog.Logger

	header  []HeaderField // the per-run copy editheader changes
	edited  bool
	parts   []Part
	vars    map[string]string // current scope
	globals map[string]string // include :global (RFC 6609 §3.3)
	// globalScope lists, per script, the names its global commands declared.
	globalScope map[*Script]map[string]bool
	match       []string // match variables ${0}..${9}
	flags       []string // imap4flags internal variable

	actions      []Action
	implicitKeep bool
	explicitKeep bool
	redirects    int
	steps        int
	executed     int
	start        time.Time
	dupMarks     []dupMark
	inInclude    map[*Script]bool
	onceDone     map[*Script]bool
	depth        int
	// foreverypart iteration: current part index, -1 for the message.
	curPart   int
	loopDepth int
	partStack []int
	regexes   regexCache
	// cur is the script being executed (differs from script inside include).
	cur *Script
	// errs holds non-fatal runtime warnings for the harness.
	warnings []string
}

func (s *Script) newRun(ctx context.Context, msg Message, env Env) *run {
	if env.Now.IsZero() {
		env.Now = time.Now()
	}
	log := env.Logger
	if log == nil {
		log = s.opts.Logger
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &run{ctx: ctx, script: s, cur: s, opts: &s.opts, msg: msg, env: env, log: log,
		vars: map[string]string{}, globals: map[string]string{}, implicitKeep: true,
		inInclude: map[*Script]bool{}, onceDone: map[*Script]bool{}, curPart: -1, regexes: regexCache{}}
	r.header = msg.HeaderFields()
	r.start = time.Now()
	return r
}

// Run evaluates the script. On a runtime error it returns a Result with
// ImplicitKeep set, no actions and Err set, and the error (wrapping
// ErrRuntime): the caller then files the message as if no script ran, as
// Pigeonhole does.
func (s *Script) Run(ctx context.Context, msg Message, env Env) (*Result, error) {
	r := s.newRun(ctx, msg, env)
	return r.finish(r.exec(s.cmds))
}

// runAfter runs s as a later script of a sequence: prior actions take part
// in duplicate merging and conflict checks, and header edits carry over.
// seqState is what one script of a sequence hands to the next.
type seqState struct {
	prior []Action
	// executed counts the leading prior actions already carried out; they
	// no longer conflict with what follows (Pigeonhole's multiscript).
	executed int
	header   []HeaderField
	edited   bool
	flags    []string
}

func (s *Script) runAfter(ctx context.Context, msg Message, env Env, st seqState) (*Result, error) {
	r := s.newRun(ctx, msg, env)
	r.flags = st.flags
	r.executed = st.executed
	r.actions = append([]Action(nil), st.prior...)
	for _, a := range st.prior {
		if a.Kind == Redirect {
			r.redirects++
		}
	}
	if st.header != nil {
		r.header, r.edited = st.header, st.edited
	}
	return r.finish(r.exec(s.cmds))
}

func (r *run) finish(err error) (*Result, error) {
	if err == errReturn {
		err = nil
	}
	if _, ok := err.(*breakSignal); ok {
		err = nil
	}
	if err != nil && err != errStop {
		err = r.wrapRuntime(err)
		res := &Result{ImplicitKeep: true, Err: err, keepNext: false}
		return res, err
	}
	res := r.result()
	if r.env.Duplicate != nil {
		for _, m := range r.dupMarks {
			if err := r.env.Duplicate.Mark(r.ctx, m.key, m.expiry); err != nil {
				r.log.Debug("sieve: duplicate mark failed", "err", err)
			}
		}
	}
	return res, nil
}

func (r *run) wrapRuntime(err error) error {
	if errors.Is(err, ErrRuntime) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrRuntime, err)
}

func (r *run) result() *Result {
	res := &Result{Actions: r.actions, ImplicitKeep: r.implicitKeep, dupMarks: r.dupMarks, Warnings: r.warnings}
	res.keepNext = r.implicitKeep || r.explicitKeep
	res.ImplicitKeepFlags = append([]string(nil), r.flags...)
	if !r.implicitKeep {
		res.nextFlags = res.ImplicitKeepFlags
		res.ImplicitKeepFlags = nil
	}
	if r.edited {
		res.HeaderEdited = true
		res.EditedHeaders = r.header
	}
	r.finishVacation(res)
	return res
}

// runtimeError is a script failure at a position.
type runtimeError struct {
	pos Position
	msg string
}

func (e *runtimeError) Error() string { return e.pos.String() + ": " + e.msg }
func (e *runtimeError) Unwrap() error { return ErrRuntime }

func rtErr(n *node, format string, args ...any) error {
	return &runtimeError{pos: n.pos, msg: fmt.Sprintf(format, args...)}
}

func (r *run) step(n *node) error {
	r.steps++
	if r.steps > r.opts.Limits.MaxSteps {
		return rtErr(n, "execution exceeded the step limit of %d", r.opts.Limits.MaxSteps)
	}
	if time.Since(r.start) > r.opts.Limits.MaxCPUTime {
		return rtErr(n, "execution exceeded the time limit of %v", r.opts.Limits.MaxCPUTime)
	}
	if r.steps&1023 == 0 {
		if err := r.ctx.Err(); err != nil {
			return rtErr(n, "execution aborted: %v", err)
		}
	}
	return nil
}

// exec runs a block of commands, handling if/elsif/else chains.
func (r *run) exec(cmds []*node) error {
	skipElse := false
	for _, n := range cmds {
		if err := r.step(n); err != nil {
			return err
		}
		switch n.name {
		case "require":
			continue
		case "if", "elsif", "else":
			if n.name == "if" {
				skipElse = false
			}
			if skipElse {
				continue
			}
			ok := true
			if n.name != "else" {
				var err error
				ok, err = r.test(n.tests[0])
				if err != nil {
					return err
				}
			}
			if ok {
				skipElse = true
				if err := r.exec(n.block); err != nil {
					return err
				}
			}
			continue
		}
		skipElse = false
		if n.spec.exec == nil {
			return rtErr(n, "command %s is not executable", n.name)
		}
		if err := n.spec.exec(r, n); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) test(n *node) (bool, error) {
	if err := r.step(n); err != nil {
		return false, err
	}
	return n.spec.eval(r, n)
}

// --- strings and variables (RFC 5229) ---

// str expands variables in s when the script uses them.
func (r *run) str(s string) string {
	if !r.cur.usesVars || !strings.Contains(s, "${") {
		return s
	}
	return r.expand(s)
}

func (r *run) strs(list []string) []string {
	if !r.cur.usesVars {
		return list
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = r.str(s)
	}
	return out
}

func (r *run) arg(n *node, i int) []string { return r.strs(n.stringArg(i)) }

func (r *run) arg1(n *node, i int) string {
	l := n.stringArg(i)
	if len(l) == 0 {
		return ""
	}
	return r.str(l[0])
}

func (r *run) tag(n *node, name string) (string, bool) {
	s, ok := n.tagStr(name)
	return r.str(s), ok
}

// expand implements RFC 5229 §3: "${name}" is replaced by the variable's
// value; an unknown variable expands to ""; malformed references stay.
func (r *run) expand(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 || !validVarRef(rest[:j]) {
			b.WriteString("${")
			s = rest
			continue
		}
		b.WriteString(r.lookupVar(rest[:j]))
		s = rest[j+1:]
	}
	out := b.String()
	return out
}

func validVarRef(name string) bool {
	if name == "" {
		return false
	}
	if name[0] >= '0' && name[0] <= '9' {
		for i := 0; i < len(name); i++ {
			if name[i] < '0' || name[i] > '9' {
				return false
			}
		}
		return true
	}
	for _, part := range strings.Split(name, ".") {
		if part == "" || !isIdentStart(part[0]) {
			return false
		}
		for i := 1; i < len(part); i++ {
			if !isIdentChar(part[i]) {
				return false
			}
		}
	}
	return true
}

func (r *run) lookupVar(name string) string {
	if name[0] >= '0' && name[0] <= '9' {
		n, err := strconv.Atoi(name)
		if err != nil || n >= len(r.match) {
			return ""
		}
		return r.match[n]
	}
	lname := strings.ToLower(name)
	if strings.HasPrefix(lname, "env.") {
		if r.cur.caps["environment"] {
			v, _ := r.environment(lname[4:])
			return v
		}
		return ""
	}
	if strings.HasPrefix(lname, "global.") {
		return r.globals[lname[7:]]
	}
	if strings.Contains(lname, ".") {
		for _, x := range r.opts.Extra {
			if ns, ok := x.(varNamespace); ok {
				if v, ok := ns.namespaceVar(lname); ok {
					return v
				}
			}
		}
		return ""
	}
	if r.isGlobal(lname) {
		return r.globals[lname]
	}
	if v, ok := r.vars[lname]; ok {
		return v
	}
	return ""
}

func (r *run) setVar(n *node, name, value string) error {
	lname := strings.ToLower(name)
	if len(value) > r.opts.Limits.MaxVariableSize {
		value = truncateUTF8(value, r.opts.Limits.MaxVariableSize)
	}
	if strings.HasPrefix(lname, "global.") {
		r.globals[lname[7:]] = value
		return nil
	}
	if r.isGlobal(lname) {
		r.globals[lname] = value
		return nil
	}
	if _, ok := r.vars[lname]; !ok && len(r.vars) >= r.opts.Limits.MaxVariables {
		return rtErr(n, "too many variables (max %d)", r.opts.Limits.MaxVariables)
	}
	r.vars[lname] = value
	return nil
}

func truncateUTF8(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s[len(s)-3:]) && !utf8.RuneStart(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && !utf8.FullRuneInString(s[strings.LastIndexFunc(s, func(rune) bool { return true }):]) {
		_, sz := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-sz]
	}
	return s
}

// --- matching ---

// matcher carries the state of one test's comparisons so match variables
// can be captured (RFC 5229 §3.2).
type matcher struct {
	r     *run
	n     *node
	keys  []string
	globs [][]globToken
	count int // values seen for :count
}

func (r *run) newMatcher(n *node, keys []string) (*matcher, error) {
	m := &matcher{r: r, n: n, keys: keys}
	switch n.match {
	case "matches":
		fold := n.cmp != "i;octet"
		m.globs = make([][]globToken, len(keys))
		for i, k := range keys {
			m.globs[i] = compileGlob(k, fold)
		}
	case "regex":
		for _, k := range keys {
			if _, err := r.regex(n, k); err != nil {
				// Pigeonhole reports a bad runtime regex and treats it as not matching.
				r.warnings = append(r.warnings, runtimeText(err))
			}
		}
	}
	return m, nil
}

func (r *run) regex(n *node, k string) (*regexpT, error) {
	fold := n.cmp != "i;octet"
	key := regexKey(k, fold)
	if re, ok := r.cur.regexes[key]; ok && re != nil {
		return re, nil
	}
	if re, ok := r.regexes[key]; ok {
		if re == nil {
			return nil, rtErr(n, "invalid regular expression '%s'", k)
		}
		return re, nil
	}
	re, err := compileRegex(k, fold)
	if err != nil {
		r.regexes[key] = nil
		return nil, rtErr(n, "invalid regular expression '%s': %v", k, err)
	}
	r.regexes[key] = re
	return re, nil
}

// value tests one value against every key; true on the first match.
func (m *matcher) value(v string) (bool, error) {
	n := m.n
	if n.match == "count" {
		m.count++
		return false, nil
	}
	limit := m.r.opts.Limits.MaxMatchBytes
	if len(v) > limit && (n.match == "matches" || n.match == "regex" || n.match == "contains") {
		v = v[:limit]
	}
	for i, k := range m.keys {
		switch n.match {
		case "is":
			if equalValues(n.cmp, v, k) {
				return true, nil
			}
		case "contains":
			if containsValue(n.cmp, v, k) {
				return true, nil
			}
		case "value":
			if relational(n.relop, compareValues(n.cmp, v, k)) {
				return true, nil
			}
		case "matches":
			ok, caps := globMatch(m.globs[i], v, n.cmp != "i;octet", m.r.cur.usesVars)
			if ok {
				if m.r.cur.usesVars {
					m.r.match = append([]string{v}, caps...)
				}
				return true, nil
			}
		case "regex":
			re, err := m.r.regex(n, k)
			if err != nil {
				continue
			}
			if sub := re.FindStringSubmatch(v); sub != nil {
				if m.r.cur.usesVars {
					m.r.match = sub
				}
				return true, nil
			}
		}
	}
	return false, nil
}

// done finishes a :count match (RFC 5231 §4.2).
func (m *matcher) done(matched bool) bool {
	if m.n.match != "count" {
		return matched
	}
	c := strconv.Itoa(m.count)
	for _, k := range m.keys {
		if relational(m.n.relop, compareValues(m.n.cmp, c, k)) {
			return true
		}
	}
	return false
}

// matchValues runs the standard "any value matches any key" loop.
func (r *run) matchValues(n *node, values, keys []string) (bool, error) {
	m, err := r.newMatcher(n, keys)
	if err != nil {
		return false, err
	}
	for _, v := range values {
		ok, err := m.value(v)
		if err != nil || ok {
			return ok, err
		}
	}
	return m.done(false), nil
}

// --- message access ---

// currentHeader is the header tests without :mime read: always the
// (possibly edited) top-level header, also inside foreverypart (RFC 5703 §4.1).
func (r *run) currentHeader() []HeaderField { return r.header }

func (r *run) allParts() []Part {
	if r.parts == nil {
		r.parts = r.msg.Parts()
	}
	return r.parts
}

// headerValues returns the values of the named fields, raw (unfolded, trimmed) or RFC 2047 decoded.
func headerValues(h []HeaderField, name string, decode bool) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			v := strings.TrimSpace(f.Value)
			if decode {
				v = decodeHeader(v)
			}
			out = append(out, v)
		}
	}
	return out
}

// selectIndex applies RFC 5260 §6 :index/:last to a list of field values.
func selectIndex(n *node, vals []string) []string {
	idx, ok := n.tagNum("index")
	if !ok {
		return vals
	}
	i := int(idx) - 1
	if n.has("last") {
		i = len(vals) - int(idx)
	}
	if i < 0 || i >= len(vals) {
		return nil
	}
	return vals[i : i+1]
}

// --- actions (RFC 5228 §4, §2.10) ---

func (r *run) addAction(n *node, a Action) error {
	// RFC 5429 §2.1 and Pigeonhole: reject conflicts with actions that deliver or respond.
	for i, o := range r.actions {
		if i < r.executed {
			if (a.Kind == Reject || a.Kind == EReject) && (o.Kind == Reject || o.Kind == EReject) {
				return nil // already rejected: the duplicate is dropped
			}
			continue
		}
		if (a.Kind == Reject || a.Kind == EReject) && (o.Kind == Keep || o.Kind == FileInto || o.Kind == Redirect || o.Kind == VacationAction) {
			return rtErr(n, "%s action conflicts with other action: the %s action tries to deliver the message", a.Kind, o.Kind)
		}
		if (o.Kind == Reject || o.Kind == EReject) && (a.Kind == Keep || a.Kind == FileInto || a.Kind == Redirect || a.Kind == VacationAction) {
			return rtErr(n, "%s action conflicts with other action: the %s action tries to deliver the message", o.Kind, a.Kind)
		}
		if (a.Kind == Reject || a.Kind == EReject) && (o.Kind == Reject || o.Kind == EReject) {
			return rtErr(n, "duplicate reject/ereject action not allowed")
		}
		if a.Kind == VacationAction && o.Kind == VacationAction {
			return rtErr(n, "duplicate vacation action not allowed")
		}
	}
	// RFC 5228 §4.2/§4.1: identical redirects and fileintos are done once.
	for i, o := range r.actions {
		if sameTarget(o, a) {
			if a.Kind == Keep && o.Kind == FileInto {
				r.actions[i].Kind = Keep
			}
			if !a.Copy {
				r.actions[i].Copy = false
			}
			r.actions[i].Create = r.actions[i].Create || a.Create
			if a.Flags != nil {
				r.actions[i].Flags = a.Flags
			}
			r.cancelKeep(a)
			return nil
		}
	}
	if len(r.actions) >= r.opts.Limits.MaxActions {
		return rtErr(n, "total number of actions exceeds policy limit (%d > %d)", len(r.actions)+1, r.opts.Limits.MaxActions)
	}
	if a.Kind == Redirect {
		if r.redirects >= r.opts.Limits.MaxRedirects {
			return rtErr(n, "number of redirect actions exceeds policy limit (%d > %d)", r.redirects+1, r.opts.Limits.MaxRedirects)
		}
		r.redirects++
	}
	if r.edited {
		a.Header = r.header
	}
	r.actions = append(r.actions, a)
	r.cancelKeep(a)
	return nil
}

func (r *run) cancelKeep(a Action) {
	switch a.Kind {
	case Keep:
		r.implicitKeep = false
		r.explicitKeep = true
	case FileInto, Redirect:
		if !a.Copy {
			r.implicitKeep = false
		}
	case Discard, Reject, EReject:
		r.implicitKeep = false
	}
}

func isInbox(m string) bool { return strings.EqualFold(m, "INBOX") }

func sameTarget(o, a Action) bool {
	store := func(x Action) (string, bool) {
		switch x.Kind {
		case Keep:
			return "INBOX", true
		case FileInto:
			if isInbox(x.Mailbox) {
				return "INBOX", true
			}
			return x.Mailbox, true
		}
		return "", false
	}
	if mo, ok := store(o); ok {
		ma, ok2 := store(a)
		return ok2 && mo == ma
	}
	if o.Kind == Redirect && a.Kind == Redirect {
		return strings.EqualFold(normalizeAddr(o.Address), normalizeAddr(a.Address))
	}
	if o.Kind == Discard && a.Kind == Discard {
		return true
	}
	return false
}

func normalizeAddr(a string) string {
	l, d, ok := splitAddress(strings.TrimSpace(a))
	if !ok {
		return a
	}
	return l + "@" + strings.ToLower(d)
}

// environment returns an RFC 5183 environment item.
func (r *run) environment(name string) (string, bool) {
	name = strings.ToLower(name)
	if v, ok := r.env.Vars[name]; ok {
		return v, true
	}
	switch name {
	case "name":
		return "Pigeonhole Sieve", true
	case "version":
		return "0.5.19", true
	case "phase":
		return "during", true
	case "domain":
		return "localhost", true
	case "host":
		return "localhost", true
	case "location":
		return "MS", true
	}
	return "", false
}

func (r *run) isGlobal(name string) bool {
	return r.globalScope != nil && r.globalScope[r.cur][name]
}

func runtimeText(err error) string {
	var re *runtimeError
	if errors.As(err, &re) {
		return re.msg
	}
	return err.Error()
}

func regexKey(k string, fold bool) string {
	if fold {
		return "\x00i" + k
	}
	return k
}
