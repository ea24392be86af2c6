package rules

// Capture rules, as SpamAssassin 4.0 has them (feature_capture_rules,
// Conf/Parser.pm parse_captures, Plugin/Check.pm capture_plugin_code and
// capture_rules_replace, PerMsgStatus.pm set_captures):
//
//   - a header, body, rawbody, uri or full rule whose regex holds a named
//     group (?<NAME>…) whose name starts with an upper-case letter is a
//     capture rule: when it matches, the group's non-empty values set the
//     tag NAME (all values of every match for tflags multiple, else of the
//     first match; duplicates dropped; a later capture rule overwrites);
//   - %{NAME} in another rule's regex (not \%{NAME}) is a template: per
//     message it is replaced by (?:v1|v2…), each value quotemeta'd, and
//     the rule runs after the capture rules; when a tag it uses is unset
//     or empty the rule is not run at all.
//
// SpamAssassin gives capture rules priority -10000 so that they run before
// the rest; sluice runs every regex rule first and the template rules
// after them, in priority order, which is the same for rules that do not
// lower their own priority below -10000. SpamAssassin's template lookup
// also answers its built-in tags (get_tag_raw); sluice answers captured
// tags only, so a template on a built-in tag (%{HEADER(From)}, …) never
// runs. 4.0.1 compiles a template rule's replaced regex once per process
// (the /o of its generated code), so spamd's children reuse the first
// message's values; sluice replaces them for every message, as the
// feature is documented to work.

import (
	"sort"
	"strings"
	"sync"

	"github.com/dlclark/regexp2"

	"github.com/sluice-mail/sluice/rules/perlre"
)

// captureRE extracts the named groups of a capture rule.
type captureRE struct {
	names []string // the groups' names that are valid tag names
	bt    *lazyBT  // the exact pattern in regexp2 syntax, with the groups
}

// templateRE is a rule whose regex holds %{NAME} templates: its program is
// compiled per message once the tags are known.
type templateRE struct {
	pat, flags string        // the Perl pattern, ReplaceTags expanded
	refs       []templateRef // its templates, in order
	names      []string      // the tags they use, once each
}

// isTagName reports SpamAssassin's tag name syntax (set_captures' check):
// upper-case words of letters and digits joined by single underscores.
func isTagName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' && s[i-1] != '_' && i+1 < len(s):
		default:
			return false
		}
	}
	return true
}

// captureNames returns the names of a pattern's named groups, (?<N>…),
// (?'N'…) and (?P<N>…), that are tag names, in order, once each.
func captureNames(pat string) []string {
	var names []string
	inClass := false
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; {
		case c == '\\':
			i++
		case inClass:
			inClass = c != ']'
		case c == '[':
			inClass = true
			// A ] right after [ or [^ is a member, not the end.
			if i+1 < len(pat) && pat[i+1] == '^' {
				i++
			}
			if i+1 < len(pat) && pat[i+1] == ']' {
				i++
			}
		case c == '(' && strings.HasPrefix(pat[i+1:], "?"):
			rest := strings.TrimPrefix(pat[i+2:], "P")
			if rest == "" || (rest[0] != '<' && rest[0] != '\'') {
				continue
			}
			closing := byte('>')
			if rest[0] == '\'' {
				closing = '\''
			}
			end := strings.IndexByte(rest[1:], closing)
			if end < 1 {
				continue
			}
			if n := rest[1 : 1+end]; isTagName(n) && !containsString(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// templateRef is one %{NAME} in a pattern: pat[start:end] is the whole
// reference.
type templateRef struct {
	start, end int
	name       string
}

// templateRefs finds the %{NAME} templates of a pattern as parse_captures
// does: NAME is a tag name with an optional (argument) without ) or },
// and a template preceded by a backslash is literal text.
func templateRefs(pat string) []templateRef {
	var refs []templateRef
	for i := 0; ; {
		j := strings.Index(pat[i:], "%{")
		if j < 0 {
			return refs
		}
		start := i + j
		i = start + 2
		if start > 0 && pat[start-1] == '\\' {
			continue
		}
		end := strings.IndexByte(pat[i:], '}')
		if end < 0 {
			return refs
		}
		name := pat[i : i+end]
		base := name
		if k := strings.IndexByte(name, '('); k >= 0 {
			if !strings.HasSuffix(name, ")") || strings.ContainsAny(name[k+1:len(name)-1], ")}") {
				continue
			}
			base = name[:k]
		}
		if !isTagName(base) {
			continue
		}
		refs = append(refs, templateRef{start: start, end: i + end + 1, name: name})
		i += end + 1
	}
}

// perlQuote is Perl's quotemeta for a byte string, written so that
// perlre reads every byte back as itself: word characters stay, every
// other byte becomes a \xHH escape (a literal in any mode, /x included).
func perlQuote(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.Write([]byte{'\\', 'x', hex[c>>4], hex[c&15]})
	}
	return b.String()
}

// expandTemplates replaces the templates of pat by the quoted values of
// their tags, (?:v1|v2…) as capture_rules_replace writes them. It reports
// false when a tag is unset or has no non-empty value: then the rule does
// not run.
func expandTemplates(pat string, refs []templateRef, tags map[string][]string) (string, bool) {
	var b strings.Builder
	last := 0
	for _, ref := range refs {
		var vals []string
		for _, v := range tags[ref.name] {
			if v != "" {
				vals = append(vals, perlQuote(v))
			}
		}
		if len(vals) == 0 {
			return "", false
		}
		b.WriteString(pat[last:ref.start])
		b.WriteString("(?:" + strings.Join(vals, "|") + ")")
		last = ref.end
	}
	b.WriteString(pat[last:])
	return b.String(), true
}

// templatePlaceholder stands for a template's values when Load checks that
// the pattern translates.
const templatePlaceholder = "(?:x)"

// compileCapture prepares a regex rule's captures and templates: pat is
// the rule's pattern with its ReplaceTags expanded. It reports true when
// the rule is a template rule, whose program is compiled per message.
func (rs *Ruleset) compileCapture(p *parser, r *rule, pat string) bool {
	d := r.def
	refs := templateRefs(pat)
	// SpamAssassin reads %- after a successful match only, so a negated
	// header rule captures nothing of its own; mimeheader rules have no
	// capture code.
	if names := captureNames(pat); len(names) > 0 && d.kind != KindMIMEHeader && !d.negate {
		r.capture = &captureRE{names: names}
		if len(refs) == 0 {
			tr, err := perlre.Translate(pat, d.flags, perlre.Options{RE2Classes: true})
			if err == nil {
				r.capture.bt = &lazyBT{pat: tr.Backtrack, opts: regexp2.RE2, timeout: rs.opt.BacktrackTimeout}
				rs.captures = append(rs.captures, r)
			}
		}
		rs.lint.Captures++
	}
	if len(refs) == 0 {
		return false
	}
	// Load checks the pattern with a stand-in for every template.
	stand := map[string][]string{}
	var names []string
	for _, ref := range refs {
		if !containsString(names, ref.name) {
			names = append(names, ref.name)
		}
		stand[ref.name] = []string{"x"}
	}
	check, _ := expandTemplates(pat, refs, stand)
	tr, err := perlre.Translate(check, d.flags, perlre.Options{RE2Classes: true})
	if err == nil {
		_, err = regexp2.Compile(tr.Backtrack, regexp2.RE2)
	}
	if err != nil {
		rs.disable(r, "error")
		p.diag(d.file, d.line, d.reCol, d.name, "%s %s: %v", d.kind, d.name, regexError(err))
		rs.lint.Unsupported[unsupportedReason(regexError(err))]++
		return true
	}
	r.tmpl = &templateRE{pat: pat, flags: d.flags, refs: refs, names: names}
	rs.templates = append(rs.templates, r)
	rs.lint.Templates++
	return true
}

// kindOrder is the order in which SpamAssassin runs the regex rule types
// of one priority (Plugin/Check.pm check_main).
func kindOrder(k Kind) int {
	switch k {
	case KindHeader:
		return 0
	case KindBody:
		return 1
	case KindURI:
		return 2
	case KindRawBody:
		return 3
	}
	return 4
}

// sortCaptures puts the capture rules in SpamAssassin's running order and
// the template rules in priority order, then that.
func (rs *Ruleset) sortCaptures() {
	sort.SliceStable(rs.captures, func(i, j int) bool {
		return kindOrder(rs.captures[i].kind) < kindOrder(rs.captures[j].kind)
	})
	sort.SliceStable(rs.templates, func(i, j int) bool {
		a, b := rs.templates[i], rs.templates[j]
		if a.priority != b.priority {
			return a.priority < b.priority
		}
		return kindOrder(a.kind) < kindOrder(b.kind)
	})
}

// evalCaptures sets the tags of the capture rules that matched, then runs
// the template rules in order (a template rule that captures sets its tags
// for the later ones), and returns the tags.
func (rs *Ruleset) evalCaptures(st *evalState, msg Message) map[string][]string {
	if len(rs.captures) == 0 && len(rs.templates) == 0 {
		return nil
	}
	tags := map[string][]string{}
	for _, r := range rs.captures {
		if r.inactive != "" || st.vals[r.idx] == 0 || !runsInSA(r) {
			continue
		}
		if st.expired() {
			st.skipped++
			continue
		}
		var re *regexp2.Regexp
		st.uncharged(func() { re = r.capture.bt.get() })
		if re != nil {
			st.runBT(r, re, st.ruleTexts(msg, r), tags)
		}
	}
	for _, r := range rs.templates {
		if r.inactive != "" || !runsInSA(r) {
			continue
		}
		if st.expired() {
			st.skipped++
			continue
		}
		pat, ok := expandTemplates(r.tmpl.pat, r.tmpl.refs, tags)
		if !ok {
			continue // a tag it needs is not set: SpamAssassin skips the rule
		}
		prog := rs.compileTemplate(pat, r.tmpl.flags)
		if prog.re == nil {
			continue
		}
		var into map[string][]string
		if r.capture != nil {
			into = tags
		}
		texts := st.ruleTexts(msg, r)
		if len(prog.lits) > 0 {
			texts = withLiteral(texts, prog.lits)
		}
		n := st.runBT(r, prog.re, texts, into)
		if r.def.negate {
			n = 1 - min(n, 1)
		}
		st.vals[r.idx] += float64(n)
	}
	return tags
}

// templateCache keeps the programs of recent template expansions: a
// site's messages mostly go to the same few recipients, whose addresses
// the stock templates take. Compiling costs about 20 µs a pattern.
type templateCache struct {
	mu sync.Mutex
	m  map[string]*tmplProg // flags NUL pattern → program
}

// tmplProg is a template rule's program with its values in, and the
// literals one of which every match holds (perlre.RequiredLiterals): the
// texts without any of them are not matched. The template rules look
// for the recipient's address in each URI, which few URIs hold.
type tmplProg struct {
	re   *regexp2.Regexp // nil: does not compile
	lits []string
}

// maxTemplateCache bounds the cache; when full it starts over.
const maxTemplateCache = 4096

// runsInSA reports whether SpamAssassin runs a regex rule at all: the
// generated code of Check.pm skips a rule whose score is zero (a __
// rule's default score is 1 there), so a zero-scored capture rule sets no
// tags.
func runsInSA(r *rule) bool {
	return strings.HasPrefix(r.name, "__") || r.score != 0
}

// compileTemplate compiles a template rule's pattern with its values in;
// its re is nil when it does not compile (Load checked it with a
// stand-in). Programs are shared: regexp2 matches concurrently.
func (rs *Ruleset) compileTemplate(pat, flags string) *tmplProg {
	c := rs.tmplCache
	key := flags + "\x00" + pat
	if c != nil {
		c.mu.Lock()
		p, ok := c.m[key]
		c.mu.Unlock()
		if ok {
			return p
		}
	}
	p := &tmplProg{}
	if tr, err := perlre.Translate(pat, flags, perlre.Options{RE2Classes: true}); err == nil {
		if re, err := regexp2.Compile(tr.Backtrack, regexp2.RE2); err == nil {
			re.MatchTimeout = rs.opt.BacktrackTimeout
			// The RE2 pattern matches wherever the exact one does, so its
			// literals are the exact one's too.
			p.re, p.lits = re, perlre.RequiredLiterals(tr.RE2)
		}
	}
	if c != nil {
		c.mu.Lock()
		if c.m == nil || len(c.m) >= maxTemplateCache {
			c.m = map[string]*tmplProg{}
		}
		c.m[key] = p
		c.mu.Unlock()
	}
	return p
}

// withLiteral returns texts with the ones that hold none of lits (lower
// case, matched ignoring ASCII case) made empty, keeping the others'
// places (tflags nosubject skips the first body text).
func withLiteral(texts [][]byte, lits []string) [][]byte {
	out := texts[:0:0]
	for _, t := range texts {
		keep := false
		for _, l := range lits {
			if perlre.ContainsFoldBytes(t, l) {
				keep = true
				break
			}
		}
		if !keep {
			t = nil
		}
		out = append(out, t)
	}
	return out
}

// ruleTexts returns the texts a regex rule of r's kind matches.
func (st *evalState) ruleTexts(msg Message, r *rule) [][]byte {
	switch r.kind {
	case KindHeader:
		var text string
		var set bool
		if r.tmpl != nil {
			text, set = st.headerText(msg, r.def)
		} else {
			text, set = st.headerTextOf(msg, r.def, r.textID)
		}
		if !set && r.def.unset == nil {
			text = ""
		}
		return [][]byte{[]byte(text)}
	case KindBody:
		return msg.Body()
	case KindRawBody:
		return msg.RawBody()
	case KindFull:
		return [][]byte{msg.Full()}
	case KindURI:
		uris := msg.URIs()
		texts := make([][]byte, len(uris))
		for i, u := range uris {
			texts[i] = []byte(u)
		}
		return texts
	}
	return nil
}

// runBT matches re over texts as SpamAssassin runs one rule: the first
// match only, or every match up to maxhits for tflags multiple, skipping
// the subject line for tflags nosubject. It returns the number of
// matches and, when tags is not nil, sets the tags of r's named groups
// from them (set_captures: non-empty values, once each).
func (st *evalState) runBT(r *rule, re *regexp2.Regexp, texts [][]byte, tags map[string][]string) int {
	var vals map[string][]string
	if tags != nil && r.capture != nil {
		vals = map[string][]string{}
	}
	n := 0
	for ti, text := range texts {
		if r.nosubject && r.kind == KindBody && ti == 0 {
			continue
		}
		st.widen(text)
		m, err := re.FindRunesMatch(st.runes)
		for err == nil && m != nil {
			n++
			for _, name := range r.capture.namesOrNil(vals) {
				if g := m.GroupByName(name); g != nil && len(g.Captures) > 0 {
					if v := runeBytes(g.Runes()); v != "" {
						vals[name] = append(vals[name], v)
					}
				}
			}
			if !r.multiple || (r.maxhits > 0 && n >= r.maxhits) {
				break
			}
			m, err = re.FindNextMatch(m)
		}
		if err != nil {
			st.skipped++ // regexp2's only match error is its timeout
		}
		if n > 0 && (!r.multiple || (r.maxhits > 0 && n >= r.maxhits)) {
			break
		}
	}
	if n > 0 && vals != nil {
		for _, name := range r.capture.names {
			tags[name] = dedup(vals[name])
		}
	}
	return n
}

// namesOrNil returns the names to collect: none when vals is nil.
func (c *captureRE) namesOrNil(vals map[string][]string) []string {
	if c == nil || vals == nil {
		return nil
	}
	return c.names
}

// runeBytes narrows runes widened from bytes back to the bytes.
func runeBytes(rs []rune) string {
	b := make([]byte, len(rs))
	for i, c := range rs {
		b[i] = byte(c)
	}
	return string(b)
}

// dedup drops repeated values, keeping the first of each.
func dedup(vals []string) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		if !containsString(out, v) {
			out = append(out, v)
		}
	}
	return out
}
