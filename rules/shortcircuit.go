package rules

import (
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// shortcircuitPlugin is the plugin whose loadplugin line turns the
// shortcircuit settings on. Debian ships it commented out in v320.pre.
const shortcircuitPlugin = "Mail::SpamAssassin::Plugin::Shortcircuit"

// ShortcircuitRule is the pseudo-rule that fires when a shortcircuit rule
// ended the evaluation, as in SpamAssassin's Shortcircuit plugin.
const ShortcircuitRule = "SHORTCIRCUIT"

// scParse is what the rule files say about shortcircuiting.
type scParse struct {
	types     map[string]string // rule → on, spam or ham
	spam, ham float64           // shortcircuit_spam_score, shortcircuit_ham_score
}

// loadPre reads the *.pre files of every directory among dirs, before any
// rule file, as SpamAssassin reads its plugin files first: their
// loadplugin lines decide the ifplugin blocks of the rule files. Of the
// plugins sluice does not assume loaded, only Shortcircuit is read there.
func (p *parser) loadPre(dirs []string) error {
	for _, dir := range dirs {
		pres, _ := filepath.Glob(filepath.Join(dir, "*.pre"))
		sort.Strings(pres)
		for _, f := range pres {
			if err := p.loadFile(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// shortcircuitDirective handles loadplugin/tryplugin of the Shortcircuit
// plugin and its settings, and enable_compat (which, like loadplugin,
// lives in the plugin files). It reports whether key was one of them.
func (p *parser) shortcircuitDirective(file string, line int, key, val string) bool {
	switch key {
	case "loadplugin", "tryplugin":
		name, _ := splitWord(val)
		if name != shortcircuitPlugin {
			return false
		}
		// Options.Plugins belongs to the caller: copy before adding.
		m := make(map[string]bool, len(p.opt.Plugins)+1)
		for k, v := range p.opt.Plugins {
			m[k] = v
		}
		m[name] = true
		p.opt.Plugins = m
		return true
	case "enable_compat":
		// Conf.pm: defines Mail::SpamAssassin::Conf::compat_NAME for
		// can(); Debian's init.pre enables welcomelist_blocklist, which
		// drops the deprecated USER_IN_WHITELIST metas.
		if p.compat == nil {
			p.compat = map[string]bool{}
		}
		p.compat[strings.TrimSpace(val)] = true
		return true
	case "shortcircuit", "shortcircuit_spam_score", "shortcircuit_ham_score":
	default:
		return false
	}
	if !p.opt.Plugins[shortcircuitPlugin] {
		p.warn(file, line, "%s without loadplugin %s: ignored (as SpamAssassin fails to parse it)", key, shortcircuitPlugin)
		return true
	}
	if key != "shortcircuit" {
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			p.diag(file, line, 1, "", "%s: bad number %q", key, val)
			return true
		}
		if key == "shortcircuit_spam_score" {
			p.sc.spam = v
		} else {
			p.sc.ham = v
		}
		return true
	}
	f := strings.Fields(val)
	if len(f) != 2 || !validRuleName(f[0]) {
		p.diag(file, line, 1, "", "shortcircuit: want RULE on|off|spam|ham, got %q", val)
		return true
	}
	name, typ := f[0], f[1]
	switch typ {
	case "spam", "ham":
		// Plugin/Shortcircuit.pm: priority -200 unless set, tflags
		// noautolearn (and nice for ham) appended.
		if p.priority[name] == 0 {
			p.priority[name] = -200
		}
		tf := p.tflags[name]
		if tf != "" {
			tf += " "
		}
		if typ == "ham" {
			tf += "nice "
		}
		p.tflags[name] = tf + "noautolearn"
		p.sc.types[name] = typ
	case "on":
		p.sc.types[name] = typ
	case "off":
		delete(p.sc.types, name)
	default:
		p.diag(file, line, 1, name, "shortcircuit %s: want on, off, spam or ham, got %q", name, typ)
	}
	return true
}

// shortcircuit is a Ruleset's compiled shortcircuit table.
type shortcircuit struct {
	types     map[int]string // rule index → on, spam, ham
	stage     []scStage      // by rule index
	spam, ham float64
}

// scStage is when SpamAssassin's Check plugin runs a rule: by priority,
// then by rule type within a priority (check_main's order); meta rules
// run once every dependency has, at the end of a priority level.
type scStage struct {
	pri  float64 // +Inf: only in the final pass, skipped after a shortcircuit
	step int
}

// scMetaStep is the step of meta rules within a priority level.
const scMetaStep = 10

func (a scStage) less(b scStage) bool {
	if a.pri != b.pri {
		return a.pri < b.pri
	}
	return a.step < b.step
}

// scStep is a rule's place among the rule types of one priority level:
// mimeheader (a plugin's check_rules_at_priority), head, head eval, body,
// uri, body eval, rawbody, rawbody eval, full, full eval.
func scStep(r *rule) int {
	eval := r.def.eval != ""
	switch r.kind {
	case KindMIMEHeader:
		return 0
	case KindHeader:
		if eval {
			return 2
		}
		return 1
	case KindBody:
		if eval {
			return 5
		}
		return 3
	case KindURI:
		return 4
	case KindRawBody:
		if eval {
			return 7
		}
		return 6
	case KindFull:
		if eval {
			return 9
		}
		return 8
	}
	return scMetaStep
}

// buildShortcircuit compiles the shortcircuit settings once the rules
// are, with SpamAssassin's priorities: net rules at -100 unless set, and
// every meta rule's dependencies lowered to its priority
// (Conf/Parser.pm fix_priorities).
func (rs *Ruleset) buildShortcircuit(p *parser) {
	if len(p.sc.types) == 0 || !p.opt.Plugins[shortcircuitPlugin] {
		return
	}
	sc := &shortcircuit{types: map[int]string{}, stage: make([]scStage, len(rs.rules)), spam: p.sc.spam, ham: p.sc.ham}
	pri := make([]float64, len(rs.rules))
	for _, r := range rs.rules {
		pri[r.idx] = float64(r.priority)
		if r.priority == 0 && r.net {
			pri[r.idx] = -100
		}
	}
	byPri := slicesOf(rs.rules)
	sort.SliceStable(byPri, func(i, j int) bool { return pri[byPri[i].idx] < pri[byPri[j].idx] })
	for _, m := range byPri {
		for _, dep := range m.metaDeps {
			if d, ok := rs.byName[dep]; ok && pri[d.idx] > pri[m.idx] {
				pri[d.idx] = pri[m.idx]
			}
		}
	}
	for _, r := range rs.rules {
		if r.kind != KindMeta {
			sc.stage[r.idx] = scStage{pri: pri[r.idx], step: scStep(r)}
		}
	}
	// rs.metas is in dependency order: a meta's meta dependencies are
	// staged before it.
	for _, m := range rs.metas {
		ready := math.Inf(-1)
		for _, dep := range m.metaDeps {
			d, ok := rs.byName[dep]
			if !ok || (d.inactive != "" && d.kind != KindMeta) {
				ready = math.Inf(1)
				break
			}
			ready = max(ready, sc.stage[d.idx].pri)
		}
		if math.IsInf(ready, -1) {
			ready = pri[m.idx]
		}
		sc.stage[m.idx] = scStage{pri: ready, step: scMetaStep}
	}
	for name, typ := range p.sc.types {
		if r, ok := rs.byName[name]; ok {
			sc.types[r.idx] = typ
		}
	}
	rs.sc = sc
}

func slicesOf(rs []*rule) []*rule { return append([]*rule(nil), rs...) }

// scOutcome is what a shortcircuit did to one evaluation.
type scOutcome struct {
	rule  string
	typ   string // spam or ham
	score float64
}

// shortcircuit ends the evaluation where SpamAssassin would: at the
// first stage in which a shortcircuit rule hit, every rule of a later
// stage is undone in vals (metas of that stage too, unless the
// shortcircuit rule is itself a meta). score gives a rule's score in the
// set used. It returns the zero outcome when no shortcircuit rule hit.
func (rs *Ruleset) shortcircuit(vals []float64, score func(*rule) float64) scOutcome {
	sc := rs.sc
	if sc == nil {
		return scOutcome{}
	}
	var cut *rule
	for idx := range sc.types {
		r := rs.rules[idx]
		if vals[idx] == 0 || score(r) == 0 || (r.inactive != "" && r.inactive != "net") {
			continue
		}
		if cut == nil || sc.stage[idx].less(sc.stage[cut.idx]) || (sc.stage[idx] == sc.stage[cut.idx] && r.name < cut.name) {
			cut = r
		}
	}
	if cut == nil {
		return scOutcome{}
	}
	at := sc.stage[cut.idx]
	for i, st := range sc.stage {
		if at.less(st) {
			vals[i] = 0
		}
	}
	out := scOutcome{rule: cut.name, typ: sc.types[cut.idx]}
	switch out.typ {
	case "spam":
		out.score = sc.spam
	case "ham":
		out.score = sc.ham
	default:
		// "on" classifies by the rule's own score and adds next to nothing.
		out.typ, out.score = "spam", 0.0001
		if score(cut) < 0 {
			out.typ, out.score = "ham", -0.0001
		}
	}
	return out
}

// hit is the SHORTCIRCUIT pseudo-rule's hit.
func (o scOutcome) hit(rs *Ruleset) Hit {
	desc := "Not all rules were run, due to a shortcircuited rule"
	if r, ok := rs.byName[ShortcircuitRule]; ok && r.describe != "" {
		desc = r.describe
	}
	return Hit{Rule: ShortcircuitRule, Score: o.score, Count: 1, Describe: desc}
}

// langMatches reports whether "lang tag" lines apply to the locale of
// Options.Lang, with its codeset and modifier (".UTF-8", "@euro") left out.
func (p *parser) langMatches(tag string) bool {
	lang := p.opt.Lang
	if lang == "" || lang == "C" || lang == "POSIX" {
		lang = "en_US"
	}
	if i := strings.IndexAny(lang, "@.+,"); i >= 0 {
		lang = lang[:i]
	}
	return tag != "" && len(lang) >= len(tag) && strings.EqualFold(lang[:len(tag)], tag)
}
