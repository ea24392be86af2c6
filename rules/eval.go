package rules

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dlclark/regexp2"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules/perlre"
	"github.com/sluice-mail/sluice/rules/relays"
)

// Message is what rules read from a parsed message. The mail package's
// *mail.Message implements it.
type Message interface {
	// Header returns the decoded (or, with raw, undecoded) values of every
	// field with that name, in order, without the trailing newline. It also
	// answers the pseudo-headers "ALL" (each field as "Name: value"),
	// "ToCc", "MESSAGEID" and "EnvelopeFrom".
	Header(name string, raw bool) []string
	// HasHeader reports whether a field with that name is present.
	HasHeader(name string) bool
	// Body returns SpamAssassin's body paragraphs, the Subject first.
	Body() [][]byte
	// RawBody returns the transfer-decoded, unrendered text parts.
	RawBody() [][]byte
	// Full returns the whole raw message.
	Full() []byte
	// URIs returns the normalised URIs of the message.
	URIs() []string
	// MIMEHeader returns the values of a MIME part header across all parts.
	MIMEHeader(name string, raw bool) []string
}

// PartsMessage is an optional capability of a Message: its MIME leaf
// parts. The MIME eval functions (check_for_mime, image_count, …) need it
// and stay false without it.
type PartsMessage interface {
	Parts() []Part
}

// Part is one MIME leaf part.
type Part struct {
	ContentType string // media type, lower case, e.g. "text/plain"
	Charset     string // charset parameter, lower case
	Encoding    string // Content-Transfer-Encoding, lower case
	Filename    string // from Content-Disposition or Content-Type name
	Disposition string // Content-Disposition value, lower case
	Parent      string // media type of the enclosing multipart, "" at the top
	Raw         []byte // the body as transmitted (transfer-encoded)
	Decoded     []byte // transfer-decoded body
}

// ParseFlagsMessage is an optional capability of a Message: SpamAssassin's
// message parse flags for check_msg_parse_flags ("missing_head_body_separator",
// "missing_mime_head_body_separator", "missing_mime_headers",
// "truncated_header", "mime_epilogue_exists").
type ParseFlagsMessage interface {
	ParseFlags() []string
}

// HTMLMessage is an optional capability of a Message: what SpamAssassin's
// HTML parser records about the HTML parts. The HTML eval functions
// (html_test, html_range, html_tag_exists, …) need it and stay false
// without it.
type HTMLMessage interface {
	HTMLFacts() HTMLFacts
}

// HTMLFacts mirrors SpamAssassin's $pms->{html} hash.
type HTMLFacts struct {
	// Values are the numeric entries by SpamAssassin's names ("length",
	// "non_space_len", "max_size", "min_size", "image_area",
	// "obfuscation_ratio", "bad_tag_ratio", "non_element_ratio",
	// "closed_extra_ratio", …); boolean tests ("html", "embeds",
	// "font_low_contrast", "font_invalid_color", "font_face_bad",
	// "form_action_mailto", "charset_faraway", …) are 1 when true.
	Values map[string]float64
	// Tags counts opening tags by lower-case name ($html{inside}).
	Tags map[string]int
	// Balance is opening minus closing tags by name.
	Balance map[string]int
	// Text holds text by kind: "title", "comment", "anchor" ….
	Text map[string][]string
	// AnchorHrefs holds, parallel to Text["anchor"], the href of each
	// <a> element as written.
	AnchorHrefs []string
}

// HTMLPartsMessage is an optional capability of a Message: the facts of
// every text/html part, in message order (SpamAssassin's html_all). The
// html_* eval functions test each part in turn, as SpamAssassin 4.0 does;
// without it they test the single HTMLMessage facts.
type HTMLPartsMessage interface {
	HTMLParts() []HTMLFacts
}

// Input is what the caller adds to a message for one evaluation.
type Input struct {
	// Rules fixes the outcome of rules decided outside this package (DNS
	// blocklists, Bayes, …) by rule name: such rules fire when true.
	Rules map[string]bool
	// DNS, when set with Options.Net, runs the rule files' DNSBL and URI
	// blocklist lookups (see DNS).
	DNS *DNS
	// Auth carries SPF, DKIM and DMARC results for their eval functions.
	Auth Auth
	// Bayes is the Bayes probability that the message is spam, or nil
	// when Bayes did not score it (off, or too little learned). Set, and
	// with use_bayes and use_bayes_rules on, the check_bayes rules
	// (BAYES_00 … BAYES_999) read it and the score set switches to one with
	// Bayes (2, or 3 with Options.Net), as SpamAssassin switches once its
	// Bayes database becomes usable.
	Bayes *float64
	// Prefs, when set by the Ruleset's ParsePrefs, applies one user's
	// preferences: their scores and lists, and their own rules.
	Prefs *Prefs
}

// Auth is the part of the auth package's results the eval functions read.
// Empty strings mean "not checked".
type Auth struct {
	SPF         string // pass, fail, softfail, neutral, none, permerror, temperror
	SPFHelo     string
	DKIMDomains []string // d= of valid signatures
	DKIMAny     bool     // a DKIM-Signature field is present
	DKIMInvalid bool     // at least one signature failed
	DMARC       string   // pass, fail, none, ...
	DMARCPolicy string   // reject, quarantine, none
}

// Hit is one rule that fired.
type Hit struct {
	Rule     string
	Score    float64
	Count    int
	Describe string
}

// Result is the outcome of one evaluation.
type Result struct {
	// Hits are the rules that fired with a non-zero score, by name; __
	// sub-rules are left out.
	Hits []Hit
	// Score is the sum of the hits' scores.
	Score float64
	// TimedOut reports that the budget ran out (or ctx ended) and Skipped
	// regex rules were not evaluated.
	TimedOut bool
	Skipped  int
	// Undecided counts the rules a cut left undecided (they did not fire)
	// and UndecidedMetas the meta rules that depend on them, which did not
	// fire either (see docs/rules.md).
	Undecided, UndecidedMetas int
	// Errors are eval functions that failed (their rules did not fire).
	Errors []error
	// Elapsed is the time Eval took.
	Elapsed time.Duration
	// ScoreSet is the SpamAssassin score set the hits were scored with:
	// 0 neither network tests nor Bayes, 1 network, 2 Bayes, 3 both.
	ScoreSet int
	// Shortcircuit is "spam" or "ham" when a shortcircuit rule
	// (ShortcircuitRule names it) ended the evaluation early, as
	// SpamAssassin's Shortcircuit plugin does; then SHORTCIRCUIT is among
	// the hits and auto-learning is off. "" otherwise.
	Shortcircuit, ShortcircuitRule string
	// DNS is what the lookup phase did (zero without one).
	DNS DNSStats
	// Tags are the template tags capture rules set, by name: each tag's
	// distinct non-empty values in match order (SpamAssassin's
	// set_captures); nil when the rules have no capture rules.
	Tags map[string][]string
}

// evalState is the per-message state of one Eval.
type evalState struct {
	rs       *Ruleset
	ctx      context.Context
	deadline time.Time
	vals     []float64
	timedOut bool
	skipped  int
	runes    []rune
	need     []bool    // by rule.idx: the rules a one-shot message needs (needed.go)
	runesOf  []byte    // the text runes holds, widened
	htext    []hdrText // by rule.textID, filled on first use
	hdrLit   []bool    // by rule.idx: a header rule's literal occurs in its text
	errs     []error
	stamp    []uint32
	gen      uint32
	relays   *Relays // computed on first use
	conf     *Config // the site's, or with a user's preferences
	// mimeTexts holds, by textKey, the per-part texts of mimeheader rules.
	mimeTexts map[string][]string
	// screen: the RE2 sets are not compiled yet, regexp2 screens their
	// rules; screenOff: a screening timed out, RE2 does the rest.
	screen, screenOff bool
	// unk holds, by rule index, the upper bound of the rules the budget
	// left undecided (budget.go); nil while every rule is decided.
	unk                            []float64
	undecidedRules, undecidedMetas int
}

// evalBuf is scratch space of one Eval that later ones reuse: the runes
// of the confirmations and the candidate stamps, which otherwise cost an
// allocation (and its garbage) per message.
type evalBuf struct {
	runes []rune
	stamp []uint32 // compared with gen, which keeps counting across messages
	gen   uint32
}

func (rs *Ruleset) getBuf() *evalBuf {
	if rs.bufs != nil {
		if b, ok := rs.bufs.Get().(*evalBuf); ok {
			return b
		}
	}
	return &evalBuf{stamp: make([]uint32, len(rs.rules))}
}

func (rs *Ruleset) putBuf(b *evalBuf, st *evalState) {
	if rs.bufs == nil {
		return
	}
	b.runes, b.gen = st.runes[:0], st.gen
	if cap(b.runes) > 1<<20 {
		b.runes = nil // a rare huge text: do not keep 4 MB for it
	}
	if b.gen > 1<<31 {
		clear(b.stamp)
		b.gen = 0
	}
	rs.bufs.Put(b)
}

// relaysOf returns the message's relays, computing them once.
func (st *evalState) relaysOf(msg Message) *Relays {
	if st.relays == nil {
		conf := st.conf
		if conf == nil {
			conf = &st.rs.conf
		}
		st.relays = ComputeRelays(msg, conf)
	}
	return st.relays
}

func (st *evalState) expired() bool {
	if st.timedOut {
		return true
	}
	if time.Now().After(st.deadline) || st.ctx.Err() != nil {
		st.timedOut = true
	}
	return st.timedOut
}

// Eval runs every active rule against msg and returns the hits. It never
// fails: eval errors are reported in Result.Errors and a spent budget in
// Result.TimedOut.
func (rs *Ruleset) Eval(ctx context.Context, msg Message, in Input) Result {
	res, _ := rs.eval(ctx, msg, in)
	return res
}

// eval evaluates and also returns every rule's value (hit count), for tests.
func (rs *Ruleset) eval(ctx context.Context, msg Message, in Input) (Result, []float64) {
	// The first message screens the rules of the RE2 sets with regexp2
	// (see screened), which saves a one-shot command from compiling the
	// sets; later ones compile them, outside their budget.
	if rs.sets.evals.Add(1) > 1 {
		rs.compileSets()
	}
	start := time.Now()
	st := &evalState{rs: rs, ctx: ctx, deadline: start.Add(rs.opt.Budget), vals: make([]float64, len(rs.rules)),
		screen: !rs.sets.ready.Load(), conf: rs.evalConfig(&in)}
	buf := rs.getBuf()
	defer rs.putBuf(buf, st)
	st.runes, st.stamp, st.gen = buf.runes, buf.stamp, buf.gen
	st.need = rs.neededRules(&in, rs.scoreSetFor(&in))
	if d, ok := ctx.Deadline(); ok && d.Before(st.deadline) {
		st.deadline = d
	}
	for name, v := range in.Rules {
		if r, ok := rs.byName[name]; ok && v && (r.inactive == "" || r.inactive == "net") {
			st.vals[r.idx] = 1
		}
	}
	dnsl := rs.startDNS(ctx, msg, st, &in)
	st.phase(rs.header, func() { rs.evalHeaders(st, msg) })
	if g := rs.scans[KindBody]; g != nil {
		st.phase(g.rules, func() { g.run(st, msg.Body()) })
	}
	if g := rs.scans[KindRawBody]; g != nil {
		st.phase(g.rules, func() { g.run(st, msg.RawBody()) })
	}
	if g := rs.scans[KindFull]; g != nil {
		st.phase(g.rules, func() { g.run(st, [][]byte{msg.Full()}) })
	}
	if g := rs.scans[KindURI]; g != nil {
		uris := msg.URIs()
		texts := make([][]byte, len(uris))
		for i, u := range uris {
			texts[i] = []byte(u)
		}
		st.phase(g.rules, func() { g.run(st, texts) })
	}
	rs.decideEarly(st, msg)
	var tags map[string][]string
	st.phase(rs.templates, func() { tags = rs.evalCaptures(st, msg) })
	ec := &EvalContext{Msg: msg, Input: &in, Config: st.conf, ctx: ctx, cache: map[string]any{}}
	if st.relays != nil {
		ec.cache[relaysKey] = st.relays
	}
	if dnsl != nil {
		dnsl.wait()
		ec.cache[dnsKey] = dnsl
	}
	for _, r := range rs.evals {
		if r.inactive != "" {
			continue
		}
		ec.Rule = r.name
		ok, err := r.eval(ec, r.def.args)
		if err != nil {
			st.errs = append(st.errs, err)
			continue
		}
		if ok {
			st.vals[r.idx] = 1
		}
	}
	for _, r := range rs.metas {
		if r.inactive != "" {
			continue
		}
		st.evalMeta(r)
	}
	set := rs.scoreSetFor(&in)
	res := Result{TimedOut: st.timedOut, Skipped: st.skipped, Errors: st.errs, ScoreSet: set, DNS: dnsl.Stats(), Tags: tags,
		Undecided: st.undecidedRules, UndecidedMetas: st.undecidedMetas}
	cut := rs.shortcircuit(st.vals, func(r *rule) float64 { return rs.scoreOf(&in, r, set) })
	for _, r := range rs.rules {
		v := st.vals[r.idx]
		score := rs.scoreOf(&in, r, set)
		if v == 0 || score == 0 || strings.HasPrefix(r.name, "__") || (r.inactive != "" && r.inactive != "net") {
			continue
		}
		n := int(v)
		if n < 1 {
			n = 1
		}
		// SpamAssassin adds a multiple rule's score once per hit.
		sc := score * float64(n)
		res.Hits = append(res.Hits, Hit{Rule: r.name, Score: sc, Count: n, Describe: r.describe})
		res.Score += sc
	}
	if cut.rule != "" {
		res.Shortcircuit, res.ShortcircuitRule = cut.typ, cut.rule
		h := cut.hit(rs)
		res.Hits = append(res.Hits, h)
		res.Score += h.Score
	} else {
		rs.userHits(&res, &in, func(u *Ruleset) Result {
			return u.Eval(ctx, msg, Input{Rules: in.Rules, Auth: in.Auth, Bayes: in.Bayes})
		})
	}
	sort.Slice(res.Hits, func(i, j int) bool { return res.Hits[i].Rule < res.Hits[j].Rule })
	res.Elapsed = time.Since(start)
	return res, st.vals
}

// evalHeaders runs header, mimeheader and exists: rules.
func (rs *Ruleset) evalHeaders(st *evalState, msg Message) {
	for _, r := range rs.header {
		if r.inactive != "" || r.grouped {
			continue
		}
		d := r.def
		if d.exists {
			if msg.HasHeader(d.header) {
				st.vals[r.idx] = 1
			}
			continue
		}
		if st.expired() {
			st.skipped++
			continue
		}
		if d.kind == KindMIMEHeader {
			if texts, ok := st.mimePartTexts(msg, d); ok {
				if st.matchAny(r, texts) != d.negate {
					st.vals[r.idx] = 1
				}
				continue
			}
		}
		text, set := st.headerTextOf(msg, d, r.textID)
		if !set && d.unset == nil {
			// SpamAssassin matches an absent header as the empty string.
			text = ""
		}
		matched := false
		if len(r.lits) == 0 || st.headerLiteral(r, text) {
			matched = st.match(r, st.headerBytes(r.textID, text)) > 0
		}
		if matched != d.negate {
			st.vals[r.idx] = 1
		}
	}
	for _, g := range rs.hdrGroups {
		if st.expired() {
			st.skipped += len(g.rules)
			continue
		}
		d := g.rules[0].def
		text, set := st.headerTextOf(msg, d, g.rules[0].textID)
		if !set && d.unset == nil {
			text = ""
		}
		hit := make([]bool, len(g.rules))
		tb := st.headerBytes(g.rules[0].textID, text)
		for si, s := range g.sets {
			ms, err := s.FindAllWithError(tb, -1)
			if err != nil {
				for _, i := range g.setRule[si] {
					hit[i] = g.rules[i].re.MatchString(text)
				}
				continue
			}
			for _, m := range ms {
				hit[g.setRule[si][m]] = true
			}
		}
		for i, r := range g.rules {
			matched := hit[i]
			if matched && r.bt != nil {
				matched = st.match(r, tb) > 0
			}
			if matched != r.def.negate {
				st.vals[r.idx] = 1
			}
		}
	}
}

// hdrGroup is a set of header rules without a literal that match the same
// text, run through RE2 sets.
type hdrGroup struct {
	rules   []*rule
	sets    []*lazySet
	setRule [][]int // set → indices into rules
}

// buildHeaderGroups groups the literal-less header rules by the text they
// match, so that one RE2 set call replaces several single matches.
func (rs *Ruleset) buildHeaderGroups() {
	rs.buildHeaderTexts()
	byKey := map[string][]*rule{}
	var keys []string
	for _, r := range rs.header {
		// mimeheader rules match part by part (evalHeaders), not in sets.
		if r.inactive != "" || r.def.exists || r.re == nil || len(r.lits) > 0 || r.multiple || r.def.kind == KindMIMEHeader {
			continue
		}
		k := textKey(r.def)
		if byKey[k] == nil {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	for _, k := range keys {
		rules := byKey[k]
		if len(rules) < 2 {
			continue
		}
		g := &hdrGroup{rules: rules}
		for i := 0; i < len(rules); i += 16 {
			var exprs []string
			var idx []int
			for j := i; j < min(i+16, len(rules)); j++ {
				exprs = append(exprs, rules[j].re.String())
				idx = append(idx, j)
			}
			// A set that fails to compile makes its rules run alone.
			g.sets = append(g.sets, &lazySet{exprs: exprs})
			g.setRule = append(g.setRule, idx)
		}
		for _, r := range rules {
			r.grouped = true
		}
		rs.hdrGroups = append(rs.hdrGroups, g)
	}
}

// hdrText is one header text of a message, as headerText built it.
type hdrText struct {
	v        string
	b        []byte // v as bytes, made on first use
	set, ok  bool   // ok: computed
	litsDone bool   // the text's literal index has been scanned
}

// hdrLits is the literal prefilter of the header rules that match one
// text: one Aho–Corasick scan of the text finds every rule whose
// required literal occurs in it, instead of a search per rule.
type hdrLits struct {
	ac      *perlre.AC
	litRule [][]int32 // literal index → rule idx
}

// buildHeaderTexts numbers the distinct texts header rules match
// (rule.textID) and builds a literal prefilter for each.
func (rs *Ruleset) buildHeaderTexts() {
	ids := map[string]int{}
	var lits [][]string
	var litIdx []map[string]int
	var litRule [][][]int32
	for _, r := range rs.header {
		if r.def.exists {
			continue
		}
		k := textKey(r.def)
		id, ok := ids[k]
		if !ok {
			id = len(ids)
			ids[k] = id
			lits = append(lits, nil)
			litIdx = append(litIdx, map[string]int{})
			litRule = append(litRule, nil)
		}
		r.textID = id
		if r.inactive != "" || r.re == nil || r.grouped {
			continue
		}
		for _, l := range r.lits {
			i, ok := litIdx[id][l]
			if !ok {
				i = len(lits[id])
				litIdx[id][l] = i
				lits[id] = append(lits[id], l)
				litRule[id] = append(litRule[id], nil)
			}
			litRule[id][i] = append(litRule[id][i], int32(r.idx))
		}
	}
	rs.hdrTexts = len(ids)
	rs.hdrLits = make([]*hdrLits, len(ids))
	for id := range lits {
		if len(lits[id]) > 0 && perlre.ACFits(lits[id]) {
			rs.hdrLits[id] = &hdrLits{ac: perlre.NewAC(lits[id]), litRule: litRule[id]}
		}
	}
}

// headerBytes returns text, the header text of id, as bytes, converted
// once per message.
func (st *evalState) headerBytes(id int, text string) []byte {
	if id >= len(st.htext) || st.htext[id].v != text {
		return []byte(text)
	}
	h := &st.htext[id]
	if h.b == nil {
		h.b = []byte(text)
	}
	return h.b
}

// headerLiteral reports whether one of r's required literals occurs in
// text, the header text of r.textID.
func (st *evalState) headerLiteral(r *rule, text string) bool {
	var hl *hdrLits
	if r.textID < len(st.rs.hdrLits) {
		hl = st.rs.hdrLits[r.textID]
	}
	if hl == nil || r.textID >= len(st.htext) {
		return anyLiteral(text, r.lits)
	}
	if h := &st.htext[r.textID]; !h.litsDone {
		h.litsDone = true
		if st.hdrLit == nil {
			st.hdrLit = make([]bool, len(st.rs.rules))
		}
		hl.ac.ScanString(text, func(li int32) {
			for _, idx := range hl.litRule[li] {
				st.hdrLit[idx] = true
			}
		})
	}
	return st.hdrLit[r.idx]
}

func anyLiteral(text string, lits []string) bool {
	for _, l := range lits {
		if perlre.ContainsFold(text, l) {
			return true
		}
	}
	return false
}

// headerText builds the text a header rule matches: every value of the
// field, each followed by a newline, after the :modifiers.
func (st *evalState) headerText(msg Message, d *ruleDef) (string, bool) {
	return st.buildHeaderText(msg, d)
}

// headerTextOf is headerText for a rule's text id, computed once per
// message.
func (st *evalState) headerTextOf(msg Message, d *ruleDef, id int) (string, bool) {
	if st.htext == nil {
		st.htext = make([]hdrText, st.rs.hdrTexts)
	}
	if id >= len(st.htext) {
		return st.buildHeaderText(msg, d)
	}
	h := &st.htext[id]
	if !h.ok {
		h.v, h.set = st.buildHeaderText(msg, d)
		h.ok = true
	}
	return h.v, h.set
}

func (st *evalState) buildHeaderText(msg Message, d *ruleDef) (string, bool) {
	m := d.mods
	// The address modifiers read the raw value, as mail's parser expects;
	// :name decodes the names it finds.
	raw := m.raw || m.addr || m.name || m.host || m.domain
	var vals []string
	if d.kind == KindMIMEHeader {
		vals = msg.MIMEHeader(d.header, raw)
	} else if relays.IsPseudo(d.header) {
		// SpamAssassin answers its relay pseudo-headers, set even when
		// empty, and without a trailing newline.
		if v, ok := st.relaysOf(msg).Pseudo(d.header); ok {
			return v, true
		}
	} else if relays.IsTrustPseudo(d.header) {
		vals, _ = st.relaysOf(msg).TrustFields(d.header, msg.Header("ALL", raw))
	} else if strings.EqualFold(d.header, "EnvelopeFrom") {
		vals = envelopeFrom(msg, st.relaysOf(msg))
	} else {
		vals = msg.Header(d.header, raw)
	}
	if len(vals) == 0 {
		v := ""
		if d.unset != nil {
			v = *d.unset
		}
		return v, false
	}
	if m.first {
		vals = vals[:1]
	} else if m.last {
		vals = vals[len(vals)-1:]
	}
	return st.formatHeader(vals, m), true
}

// formatHeader joins a header rule's values after its :addr, :name,
// :host and :domain modifiers, each value with its newline.
func (st *evalState) formatHeader(vals []string, m headerMods) string {
	var sb strings.Builder
	for _, v := range vals {
		switch {
		case m.addr:
			for _, a := range mail.HeaderAddr(v) {
				sb.WriteString(a)
				sb.WriteByte('\n')
			}
		case m.name:
			for _, n := range mail.HeaderName(v, m.raw) {
				sb.WriteString(n)
				sb.WriteByte('\n')
			}
		case m.host || m.domain:
			for _, a := range mail.HeaderAddr(v) {
				h := strings.ToLower(a[strings.LastIndexByte(a, '@')+1:])
				if m.domain {
					h = RegistrableDomain(h, st.rs.conf.TLDs, st.rs.conf.TwoLevelTLDs)
				}
				sb.WriteString(h)
				sb.WriteByte('\n')
			}
		default:
			sb.WriteString(v)
			sb.WriteByte('\n')
		}
	}
	v := sb.String()
	if m.addr || m.name || m.host || m.domain {
		// Only field values keep their newline; :addr and friends do not.
		v = strings.TrimSuffix(v, "\n")
	}
	return v
}

// mimePartTexts returns the text a mimeheader rule matches in each MIME
// part (every part, containers included, in order), as the MIMEHeader
// plugin does: the part's last value of the field after the modifiers,
// or the rule's if-unset text, or "" when the part lacks it. ok is false
// when msg cannot tell its parts apart.
func (st *evalState) mimePartTexts(msg Message, d *ruleDef) ([]string, bool) {
	pm, ok := msg.(MIMEPartsMessage)
	if !ok {
		return nil, false
	}
	key := textKey(d)
	if t, ok := st.mimeTexts[key]; ok {
		return t, true
	}
	m := d.mods
	raw := m.raw || m.addr || m.name || m.host || m.domain
	per := pm.MIMEPartHeader(d.header, raw)
	texts := make([]string, len(per))
	for i, vals := range per {
		switch {
		case len(vals) == 0 && d.unset != nil:
			texts[i] = *d.unset
		case len(vals) == 0:
		default:
			texts[i] = st.formatHeader(vals[len(vals)-1:], m)
		}
	}
	if st.mimeTexts == nil {
		st.mimeTexts = map[string][]string{}
	}
	st.mimeTexts[key] = texts
	return texts, true
}

// matchAny reports whether r matches one of texts.
func (st *evalState) matchAny(r *rule, texts []string) bool {
	for _, t := range texts {
		if (len(r.lits) == 0 || anyLiteral(t, r.lits)) && st.match(r, []byte(t)) > 0 {
			return true
		}
	}
	return false
}

// textKey identifies the text a header rule matches: rules with equal
// keys match the same string.
func textKey(d *ruleDef) string {
	key := d.header
	m := d.mods
	if m.raw || m.addr || m.name || m.host || m.domain || m.first || m.last {
		key += "\x00" + string([]byte{b(m.raw), b(m.addr), b(m.name), b(m.host), b(m.domain), b(m.first), b(m.last)})
	}
	if d.kind == KindMIMEHeader {
		key = "\x01" + key
	}
	if d.unset != nil {
		key += "\x02" + *d.unset
	}
	return key
}

func b(v bool) byte {
	if v {
		return '1'
	}
	return '0'
}

// compile compiles a rule's programs if they are not yet, outside the
// message's budget.
// The backtracking programs are compiled by confirm, which knows which
// of them it needs.
func (st *evalState) compile(r *rule) {
	if r.re.compiled() {
		return
	}
	st.uncharged(func() { r.re.get() })
}

// uncharged runs a compilation outside the message's budget.
func (st *evalState) uncharged(f func()) {
	t0 := time.Now()
	f()
	st.deadline = st.deadline.Add(time.Since(t0))
}

// match runs one regex rule over text and returns the number of matches
// (at most one unless the rule is multiple).
func (st *evalState) match(r *rule, text []byte) int {
	if r.goCheck != nil {
		if r.goCheck(text) {
			return 1
		}
		return 0
	}
	st.compile(r)
	if r.bt == nil {
		if !r.multiple {
			if r.re.Match(text) {
				return 1
			}
			return 0
		}
		n := r.maxhits
		if n == 0 {
			n = -1
		}
		return r.re.Count(text, n)
	}
	loc := r.re.FindIndex(text)
	if loc == nil {
		return 0
	}
	// A backtracking match is also a match of the relaxed pattern at the
	// same start, so it cannot start before RE2's leftmost match.
	return st.confirm(r, text, loc[0])
}

// widen sets st.runes to text widened byte to rune, unless it holds it
// already: the confirmations of one text share one widening. Texts do not
// change during an Eval, and holding the text keeps its address from
// being reused for another.
func (st *evalState) widen(text []byte) {
	if len(text) > 0 && len(st.runesOf) == len(text) && &st.runesOf[0] == &text[0] {
		return
	}
	st.runesOf = text
	st.runes = slices.Grow(st.runes[:0], len(text))[:len(text)]
	for i, c := range text {
		st.runes[i] = rune(c)
	}
}

// confirm runs the backtracking pattern over text widened byte to rune.
func (st *evalState) confirm(r *rule, text []byte, from int) int {
	if r.goCheck != nil {
		// Exact over the whole text, and no match starts before from.
		if r.goCheck(text) {
			return 1
		}
		return 0
	}
	if st.expired() {
		st.skipped++
		return 0
	}
	st.widen(text)
	// The match may overrun the budget by up to BacktrackTimeout: the
	// compiled regexp2 is shared between goroutines and keeps its limit.
	n := 0
	var at *regexp2.Regexp
	var k startKind
	get := func() { at, k = r.bt.anchored(r.re.String()) }
	if r.bt.at.ready.Load() {
		get()
	} else {
		st.uncharged(get)
	}
	if at != nil {
		var ok bool
		if n, from, ok = st.confirmAnchored(r, at, k, text, from); ok {
			return n
		}
	}
	if !r.bt.compiled() {
		st.uncharged(func() { r.bt.get() })
	}
	bt := r.bt.get()
	if bt == nil {
		return n
	}
	m, err := bt.FindRunesMatchStartingAt(st.runes, from)
	if err != nil {
		// regexp2's only match error is its timeout.
		st.skipped++
		return n
	}
	for m != nil {
		n++
		if !r.multiple || (r.maxhits > 0 && n >= r.maxhits) {
			break
		}
		if m, err = bt.FindNextMatch(m); err != nil {
			break
		}
	}
	return n
}

// scanGroup evaluates the regex rules of one kind over a list of texts:
// an Aho–Corasick scan finds the rules whose required literal occurs in a
// text, RE2 sets find the literal-less ones, and only those run alone.
type scanGroup struct {
	kind    Kind
	rules   []*rule
	ac      *perlre.AC
	litRule [][]int32 // literal index → rule positions in rules
	sets    []*lazySet
	setRule [][]int32 // set → rule positions
	solo    []int32   // rules without literal that could not join a set
}

// buildScans groups the regex rules of each text kind.
func (rs *Ruleset) buildScans() {
	for k := KindBody; k <= KindURI; k++ {
		g := &scanGroup{kind: k}
		var lits []string
		litIdx := map[string]int{}
		var noLit []int32
		for _, r := range rs.rules {
			if r.kind != k || r.re == nil || r.inactive != "" {
				continue
			}
			pos := int32(len(g.rules))
			g.rules = append(g.rules, r)
			if len(r.lits) == 0 || rs.commonLiteral(r) {
				if r.setPat == "" {
					g.solo = append(g.solo, pos)
				} else {
					noLit = append(noLit, pos)
				}
				continue
			}
			for _, l := range r.lits {
				i, ok := litIdx[l]
				if !ok {
					i = len(lits)
					litIdx[l] = i
					lits = append(lits, l)
					g.litRule = append(g.litRule, nil)
				}
				g.litRule[i] = append(g.litRule[i], pos)
			}
		}
		if len(g.rules) == 0 {
			continue
		}
		if len(lits) > 0 {
			g.ac = perlre.NewAC(lits)
		}
		// A set holds at most SetSize rules and about setBytes of pattern,
		// smallest first. Each set is one pass of RE2's DFA over the text,
		// and ReplaceTags expansions run to 100 KB: with a 16 KB cap they
		// needed 34 sets of one or two rules (6% more CPU per message,
		// warm, than sets of up to 8 of them; as much on the first pass).
		sort.SliceStable(noLit, func(i, j int) bool { return len(g.rules[noLit[i]].setPat) < len(g.rules[noLit[j]].setPat) })
		var chunks [][]int32
		weight := 0
		for _, pos := range noLit {
			w := len(g.rules[pos].setPat)
			if n := len(chunks); n == 0 || len(chunks[n-1]) >= rs.opt.SetSize || weight+w > setBytes {
				chunks = append(chunks, nil)
				weight = 0
			}
			chunks[len(chunks)-1] = append(chunks[len(chunks)-1], pos)
			weight += w
		}
		for _, chunk := range chunks {
			exprs := make([]string, len(chunk))
			for j, pos := range chunk {
				exprs[j] = g.rules[pos].setPat
			}
			// A set that fails to compile reports all its rules as
			// candidates, as when its DFA runs out of memory.
			g.sets = append(g.sets, &lazySet{exprs: exprs})
			g.setRule = append(g.setRule, chunk)
		}
		rs.scans[k] = g
	}
}

// run evaluates the group over texts (paragraphs for body rules).
func (g *scanGroup) run(st *evalState, texts [][]byte) {
	done := make([]bool, len(g.rules))
	var cand []int32
	var deferred []confirmJob
	// The sets hold line-anchored supersets of their rules, so one scan of
	// the texts joined by newlines finds every rule that may match one of
	// them; only those are then tried text by text.
	var setHits []int32
	if st.screen && len(texts) > 0 {
		g.precompileHits(st, texts)
		setHits = g.screen(st, done, texts)
	} else if len(g.sets) > 0 && len(texts) > 0 {
		// One text (a full rule's whole message) is scanned where it is:
		// bytes.Join would copy it.
		joined := texts[0]
		if len(texts) > 1 {
			joined = bytes.Join(texts, []byte("\n"))
		}
		for si, set := range g.sets {
			if st.expired() {
				break
			}
			ms, err := set.FindAllWithError(joined, -1)
			if err != nil {
				// Out of DFA memory: test each member alone.
				setHits = append(setHits, g.setRule[si]...)
				continue
			}
			for _, m := range ms {
				setHits = append(setHits, g.setRule[si][m])
			}
		}
	}
	for ti, text := range texts {
		if st.expired() {
			st.skipped += len(g.rules)
			return
		}
		st.gen++
		gen := st.gen
		cand = cand[:0]
		add := func(pos int32) {
			r := g.rules[pos]
			if done[pos] || st.stamp[r.idx] == gen || !st.needed(r) {
				return
			}
			st.stamp[r.idx] = gen
			cand = append(cand, pos)
		}
		if g.ac != nil {
			g.ac.Scan(text, func(li int32) {
				for _, pos := range g.litRule[li] {
					add(pos)
				}
			})
		}
		for _, pos := range setHits {
			add(pos)
		}
		for _, pos := range g.solo {
			add(pos)
		}
		sort.Slice(cand, func(i, j int) bool { return cand[i] < cand[j] })
		for ci, pos := range cand {
			r := g.rules[pos]
			if r.nosubject && g.kind == KindBody && ti == 0 {
				continue
			}
			if st.expired() {
				st.skipped += len(cand) - ci
				break
			}
			if r.bt != nil {
				// Confirmations run after every RE2-only rule, so a slow
				// one cannot starve the cheap ones of the budget.
				st.compile(r)
				if loc := r.re.FindIndex(text); loc != nil {
					deferred = append(deferred, confirmJob{pos: pos, text: ti, from: loc[0]})
				}
				continue
			}
			g.record(st, done, pos, st.match(r, text))
		}
	}
	for i, j := range deferred {
		if done[j.pos] {
			continue
		}
		if st.expired() {
			st.skipped += len(deferred) - i
			return
		}
		r := g.rules[j.pos]
		n := st.confirm(r, texts[j.text], j.from)
		g.record(st, done, j.pos, n)
	}
}

// screen matches the rules of the group's sets with regexp2 instead of
// the sets, recording their hits, and returns those it could not decide:
// rules without a screen, and every rule once one screening timed out
// (the text is hostile to backtracking; RE2 takes over). Compiling a
// screen costs more than running it, so rules are screened on every CPU.
func (g *scanGroup) screen(st *evalState, done []bool, texts [][]byte) []int32 {
	const (
		undecided = iota
		miss
		hit
		skipped
	)
	size := 0
	for _, t := range texts {
		size += len(t)
	}
	// Rules whose RE2 program is cheaper than screening them run alone
	// with RE2, compiled here on every CPU with the screens.
	var pos, solo []int32
	var compile []func()
	for _, chunk := range g.setRule {
		for _, p := range chunk {
			r := g.rules[p]
			switch {
			case !st.needed(r):
			case r.screen != nil && !st.screenOff && r.screenPays(size):
				pos = append(pos, p)
			case len(r.lits) > 0:
				// A set member by commonLiteral: its literal decides, as
				// the prefilter would, and RE2 compiles it only if needed.
				if anyTextLiteral(texts, r.lits) {
					solo = append(solo, p)
				}
			default:
				solo = append(solo, p)
				compile = append(compile, func() { r.re.get() })
			}
		}
	}
	out := make([]int, len(pos))
	runes := make([][]rune, len(texts))
	for i, t := range texts {
		runes[i] = make([]rune, len(t))
		for j, c := range t {
			runes[i][j] = rune(c)
		}
	}
	var off atomic.Bool
	off.Store(st.screenOff)
	work := make([]func(), len(pos))
	for i, p := range pos {
		work[i] = func() {
			r := g.rules[p]
			if r.screen == nil || off.Load() {
				return
			}
			re := r.screen.get()
			if re == nil {
				return
			}
			out[i] = miss
			for ti := range runes {
				if r.nosubject && g.kind == KindBody && ti == 0 {
					continue
				}
				if off.Load() {
					out[i] = undecided
					return
				}
				if time.Now().After(st.deadline) || st.ctx.Err() != nil {
					out[i] = skipped
					return
				}
				ok, err := re.MatchRunes(runes[ti])
				if err != nil {
					off.Store(true)
					out[i] = undecided
					return
				}
				if ok {
					out[i] = hit
					return
				}
			}
		}
	}
	// Compiling is load work left for the first message: its budget
	// does not pay for it.
	t0 := time.Now()
	for _, p := range pos {
		if l := g.rules[p].screen; l != nil && !st.screenOff {
			compile = append(compile, func() { l.get() })
		}
	}
	parallel(compile)
	st.deadline = st.deadline.Add(time.Since(t0))
	parallel(work)
	st.screenOff = off.Load()
	rest := solo
	for i, p := range pos {
		switch out[i] {
		case undecided:
			rest = append(rest, p)
		case hit:
			g.record(st, done, p, 1)
		case skipped:
			st.skipped++
		}
	}
	return rest
}

// confirmJob is a backtracking confirmation waiting for its turn.
type confirmJob struct {
	pos  int32
	text int
	from int
}

// record adds n matches of the rule at pos.
func (g *scanGroup) record(st *evalState, done []bool, pos int32, n int) {
	if n == 0 {
		return
	}
	r := g.rules[pos]
	st.vals[r.idx] += float64(n)
	if !r.multiple {
		done[pos] = true
	} else if r.maxhits > 0 && st.vals[r.idx] >= float64(r.maxhits) {
		st.vals[r.idx] = float64(r.maxhits)
		done[pos] = true
	}
}
