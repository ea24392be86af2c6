package rules

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice-mail/sluice/rules/perlre"
)

// ErrParse is wrapped by errors that stop a rules directory from loading at
// all (an unreadable directory, unbalanced if/endif). Errors in single rules
// never stop loading: they appear in Lint.
var ErrParse = errors.New("rules: parse error")

// ErrRegex is wrapped by every error about a Perl regular expression that
// cannot be split, translated or compiled.
var ErrRegex = errors.New("rules: bad regex")

// ErrUnsupported is wrapped when a Perl construct has no translation
// (code blocks, recursion, branch reset, \G, \K, case-changing escapes).
var ErrUnsupported = errors.New("rules: unsupported regex construct")

// regexError restates an error of perlre under this package's sentinels,
// keeping its detail.
func regexError(err error) error {
	for _, s := range [...]struct{ from, to error }{
		{perlre.ErrUnsupported, ErrUnsupported},
		{perlre.ErrRegex, ErrRegex},
	} {
		if errors.Is(err, s.from) {
			return fmt.Errorf("%w%s", s.to, strings.TrimPrefix(err.Error(), s.from.Error()))
		}
	}
	return err
}

// Kind is the type of a rule: the part of the message it tests.
type Kind int

// The rule kinds, named after their directives.
const (
	KindHeader Kind = iota
	KindBody
	KindRawBody
	KindFull
	KindURI
	KindMIMEHeader
	KindMeta
)

var kindNames = [...]string{"header", "body", "rawbody", "full", "uri", "mimeheader", "meta"}

// String returns the directive name of the kind.
func (k Kind) String() string { return kindNames[k] }

// Diagnostic is one warning or error found while loading rules.
type Diagnostic struct {
	File string
	Line int
	Col  int // 0 when the message is about the whole line
	Rule string
	Msg  string
}

// String formats the diagnostic as file:line: message or file:line:col: message.
func (d Diagnostic) String() string {
	if d.Col > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Col, d.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", d.File, d.Line, d.Msg)
}

// headerMods are the :modifiers of a header rule.
type headerMods struct {
	raw, addr, name, host, domain, first, last bool
}

// ruleDef is a rule as the files define it, before compilation.
type ruleDef struct {
	name   string
	kind   Kind
	file   string
	line   int
	order  int
	header string // header rules: header name, ALL, ToCc, ...
	mods   headerMods
	negate bool
	unset  *string
	exists bool
	re     string // Perl pattern and flags
	flags  string
	reCol  int
	eval   string
	args   []string
	meta   string
	err    error // a broken definition: the rule never fires
	errCol int
}

// parser holds the state of one load.
type parser struct {
	opt      Options
	rs       *Ruleset
	defs     map[string]*ruleDef
	order    int
	scores   map[string][]float64
	describe map[string]string
	tflags   map[string]string
	priority map[string]int
	replace  map[string]bool
	tags     map[string]string
	pre      map[string]string
	inter    map[string]string
	post     map[string]string
	start    string
	end      string
	depth    int
	jobs     []*regexJob
	cache    *ruleCache // nil without one
	// unsupported counts the lines of each unsupportedDirectives key,
	// reported once per key at the end with its first place.
	unsupported map[string]*unsupportedUse
	sc          scParse
	compat      map[string]bool // enable_compat flags (init.pre)
	prefs       *prefsParse     // reading a user_prefs file; nil for rule files
}

// unsupportedUse is where a directive sluice cannot honour first appears,
// and how many lines use it.
type unsupportedUse struct {
	file  string
	line  int
	lines int
}

// unsupportedDirective notes a use of a directive that can change a
// verdict and that sluice reads past.
func (p *parser) unsupportedDirective(file string, line int, key string) bool {
	if _, ok := unsupportedDirectives[key]; !ok {
		return false
	}
	if p.unsupported == nil {
		p.unsupported = map[string]*unsupportedUse{}
	}
	u := p.unsupported[key]
	if u == nil {
		u = &unsupportedUse{file: file, line: line}
		p.unsupported[key] = u
	}
	u.lines++
	return true
}

// warnUnsupported reports every unsupported directive used, once each, in
// the order of first use.
func (p *parser) warnUnsupported() {
	keys := make([]string, 0, len(p.unsupported))
	for k := range p.unsupported {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := p.unsupported[keys[i]], p.unsupported[keys[j]]
		if a.file != b.file {
			return a.file < b.file
		}
		return a.line < b.line
	})
	for _, k := range keys {
		u := p.unsupported[k]
		lines := "this line"
		if u.lines > 1 {
			lines = fmt.Sprintf("%d lines from here", u.lines)
		}
		p.warn(u.file, u.line, "%s is not supported and can change verdicts: %s (%s ignored)", k, unsupportedDirectives[k], lines)
	}
}

type condFrame struct {
	active, parent, sawElse bool
	file                    string
	line                    int
}

func (p *parser) diag(file string, line, col int, rule, format string, a ...any) {
	p.rs.lint.Errors = append(p.rs.lint.Errors, Diagnostic{File: file, Line: line, Col: col, Rule: rule, Msg: fmt.Sprintf(format, a...)})
}

func (p *parser) warn(file string, line int, format string, a ...any) {
	p.rs.lint.Warnings = append(p.rs.lint.Warnings, Diagnostic{File: file, Line: line, Msg: fmt.Sprintf(format, a...)})
}

// loadDirs reads every *.cf file of each directory in lexical order.
func (p *parser) loadDirs(dirs []string) error {
	if err := p.loadPre(dirs); err != nil {
		return err
	}
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrParse, err)
		}
		if !st.IsDir() {
			if err := p.loadFile(dir); err != nil {
				return err
			}
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrParse, err)
		}
		var names []string
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".cf") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			if err := p.loadFile(filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *parser) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && p.depth > 0 {
			return err
		}
		return fmt.Errorf("%w: %v", ErrParse, err)
	}
	return p.parse(path, data)
}

// parse reads one rules file.
func (p *parser) parse(file string, data []byte) error {
	p.cache.addFile(file, data)
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 20 {
		return fmt.Errorf("%w: %s: include nesting too deep", ErrParse, file)
	}
	var stack []condFrame
	active := func() bool { return len(stack) == 0 || stack[len(stack)-1].active }
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	lineno := 0
	for sc.Scan() {
		lineno++
		line := stripComment(sc.Text())
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, val := splitWord(line)
		key = strings.ToLower(key)
		if key == "lang" {
			// Conf/Parser.pm: "lang xx LINE" is LINE when the locale
			// starts with xx, else nothing.
			tag, rest := splitWord(val)
			if !p.langMatches(tag) || !active() {
				continue
			}
			line = rest
			key, val = splitWord(rest)
			key = strings.ToLower(key)
		}
		switch key {
		case "if", "ifplugin":
			on := false
			if active() {
				var err error
				if key == "ifplugin" {
					on = p.opt.Plugins[strings.TrimSpace(val)]
				} else if on, err = p.evalCond(val); err != nil {
					p.diag(file, lineno, 1, "", "bad if condition %q: %v", val, err)
				}
			}
			stack = append(stack, condFrame{active: on && active(), parent: active(), file: file, line: lineno})
			continue
		case "else":
			if len(stack) == 0 || stack[len(stack)-1].sawElse {
				p.diag(file, lineno, 1, "", "else without if")
				continue
			}
			f := &stack[len(stack)-1]
			f.sawElse = true
			f.active = f.parent && !f.active
			continue
		case "endif":
			if len(stack) == 0 {
				p.diag(file, lineno, 1, "", "endif without if")
				continue
			}
			stack = stack[:len(stack)-1]
			continue
		}
		if !active() {
			continue
		}
		p.directive(file, lineno, key, val, line)
	}
	if err := sc.Err(); err != nil {
		p.diag(file, lineno, 0, "", "read: %v", err)
	}
	for _, f := range stack {
		p.diag(f.file, f.line, 0, "", "if without endif")
	}
	return nil
}

// stripComment removes a # comment; \# stands for a literal #.
func stripComment(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '#' && (i == 0 || s[i-1] != '\\') {
			s = s[:i]
			break
		}
	}
	return strings.ReplaceAll(s, `\#`, "#")
}

func splitWord(s string) (string, string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i+1:])
}

// directive handles one active line.
func (p *parser) directive(file string, line int, key, val, raw string) {
	if p.prefs != nil && !p.prefsDirective(file, line, key, val) {
		return
	}
	switch key {
	case "header", "body", "rawbody", "full", "uri", "mimeheader", "meta":
		p.ruleLine(file, line, key, val, raw)
	case "include":
		path := val
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(file), path)
		}
		if err := p.loadFile(path); err != nil {
			p.diag(file, line, 1, "", "include %s: %v", val, err)
		}
	default:
		handled := p.ruleDirective(file, line, key, val) ||
			p.settingDirective(file, line, key, val) ||
			p.listDirective(file, line, key, val) ||
			p.bayesDirective(p.rs, file, line, key, val) ||
			p.shortcircuitDirective(file, line, key, val) ||
			p.dnsDirective(file, line, key, val) ||
			p.unsupportedDirective(file, line, key) ||
			isIgnoredDirective(key)
		if !handled {
			p.warn(file, line, "unknown directive %s", key)
		}
	}
}

// ruleDirective handles the directives that annotate rules by name: score,
// describe, tflags, priority and the ReplaceTags settings. It reports
// whether key was one of them.
func (p *parser) ruleDirective(file string, line int, key, val string) bool {
	switch key {
	case "score":
		name, rest := splitWord(val)
		var vs []float64
		for _, f := range strings.Fields(rest) {
			f = strings.Trim(f, "()")
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				p.diag(file, line, 1, name, "score %s: bad number %q", name, f)
				return true
			}
			vs = append(vs, v)
		}
		if name == "" || (len(vs) != 1 && len(vs) != 4) {
			p.diag(file, line, 1, name, "score needs a rule name and 1 or 4 numbers")
			return true
		}
		p.scores[name] = vs
	case "describe":
		name, rest := splitWord(val)
		p.describe[name] = rest
	case "tflags":
		name, rest := splitWord(val)
		p.tflags[name] = rest
	case "priority":
		name, rest := splitWord(val)
		n, err := strconv.Atoi(strings.TrimSpace(rest))
		if err != nil {
			p.diag(file, line, 1, name, "priority %s: bad number %q", name, rest)
			return true
		}
		p.priority[name] = n
	case "replace_start":
		p.start = val
	case "replace_end":
		p.end = val
	case "replace_tag", "replace_pre", "replace_inter", "replace_post":
		name, rest := splitWord(val)
		m := map[string]map[string]string{"replace_tag": p.tags, "replace_pre": p.pre, "replace_inter": p.inter, "replace_post": p.post}[key]
		m[name] = rest
	case "replace_rules":
		for _, n := range strings.Fields(val) {
			p.replace[n] = true
		}
	default:
		return false
	}
	return true
}

// settingDirective handles the settings of the verdict and the message
// path: required_score, the header and report settings, trusted and
// internal networks, util_rb_tld and ok_locales. It reports whether key
// was one of them.
func (p *parser) settingDirective(file string, line int, key, val string) bool {
	rs := p.rs
	switch key {
	case "required_score", "required_hits":
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			p.diag(file, line, 1, "", "%s: bad number %q", key, val)
			return true
		}
		rs.conf.RequiredScore = v
	case "rewrite_header":
		name, rest := splitWord(val)
		if rs.conf.RewriteHeader == nil {
			rs.conf.RewriteHeader = map[string]string{}
		}
		rs.conf.RewriteHeader[canonicalHeader(name)] = rest
	case "add_header", "remove_header":
		when, rest := splitWord(val)
		when = strings.ToLower(when)
		if when != "spam" && when != "ham" && when != "all" {
			p.diag(file, line, 1, "", "%s: first word must be spam, ham or all", key)
			return true
		}
		name, tmpl := splitWord(rest)
		if key == "add_header" {
			rs.conf.AddHeaders = append(rs.conf.AddHeaders, HeaderTemplate{When: when, Name: name, Template: tmpl})
		} else {
			rs.conf.RemoveHeaders = append(rs.conf.RemoveHeaders, HeaderTemplate{When: when, Name: name})
		}
	case "clear_headers":
		rs.conf.ClearHeaders = true
		rs.conf.AddHeaders = nil
	case "report_safe":
		v, err := strconv.Atoi(val)
		if err != nil || v < 0 || v > 2 {
			p.diag(file, line, 1, "", "report_safe: want 0, 1 or 2, got %q", val)
			return true
		}
		rs.conf.ReportSafe = v
	case "trusted_networks", "internal_networks", "msa_networks",
		"clear_trusted_networks", "clear_internal_networks", "clear_msa_networks":
		dst := &rs.conf.TrustedNetworks
		switch {
		case strings.Contains(key, "internal"):
			dst = &rs.conf.InternalNetworks
		case strings.Contains(key, "msa"):
			dst = &rs.conf.MSANetworks
		}
		if strings.HasPrefix(key, "clear_") {
			*dst = nil
			return true
		}
		for _, f := range strings.Fields(val) {
			pf, err := parseNet(f)
			if err != nil {
				p.diag(file, line, 1, "", "%s: %v", key, err)
				continue
			}
			*dst = append(*dst, pf)
		}
	case "util_rb_tld":
		for _, f := range lowerFields(val) {
			rs.conf.TLDs[f] = true
		}
	case "util_rb_2tld", "util_rb_3tld":
		for _, f := range lowerFields(val) {
			rs.conf.TwoLevelTLDs[f] = true
		}
	case "ok_locales":
		rs.conf.OKLocales = strings.ToLower(strings.TrimSpace(val))
	case "report_contact":
		rs.conf.ReportContact = val
	case "report", "unsafe_report":
		// Conf/Parser.pm set_template_append: one line each, quotes
		// around the whole value dropped.
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		dst := &rs.conf.ReportTemplate
		if key == "unsafe_report" {
			dst = &rs.conf.UnsafeReportTemplate
		}
		*dst += val + "\n"
	case "clear_report_template":
		rs.conf.ReportTemplate = ""
	case "clear_unsafe_report_template":
		rs.conf.UnsafeReportTemplate = ""
	case "allow_user_rules":
		rs.conf.AllowUserRules = strings.TrimSpace(val) == "1"
	case "user_scores_dsn", "user_scores_sql_username", "user_scores_sql_password", "user_scores_sql_custom_query":
		rs.conf.UserScores.set(key, val)
	case "user_scores_fallback_to_global":
		if strings.TrimSpace(val) == "0" {
			p.warn(file, line, "user_scores_fallback_to_global 0 is not supported: a user_scores_dsn failure scores with the site's settings")
		}
	case "body_part_scan_size", "rawbody_part_scan_size":
		v, err := strconv.Atoi(val)
		if err != nil || v < 0 {
			p.diag(file, line, 1, "", "%s: bad size %q", key, val)
			return true
		}
		if key == "body_part_scan_size" {
			rs.conf.BodyPartScanSize = v
		} else {
			rs.conf.RawBodyPartScanSize = v
		}
	default:
		return false
	}
	return true
}

// listDirective handles the welcomelist and blocklist settings, the
// address and URI host lists, and freemail_domains. It reports whether
// key was one of them.
func (p *parser) listDirective(file string, line int, key, val string) bool {
	rs := p.rs
	switch key {
	case "welcomelist_from", "whitelist_from":
		rs.conf.WelcomelistFrom = append(rs.conf.WelcomelistFrom, lowerFields(val)...)
	case "blocklist_from", "blacklist_from":
		rs.conf.BlocklistFrom = append(rs.conf.BlocklistFrom, lowerFields(val)...)
	case "unwelcomelist_from", "unwhitelist_from":
		rs.conf.WelcomelistFrom = without(rs.conf.WelcomelistFrom, lowerFields(val))
	case "unblocklist_from", "unblacklist_from":
		rs.conf.BlocklistFrom = without(rs.conf.BlocklistFrom, lowerFields(val))
	case "welcomelist_from_rcvd", "whitelist_from_rcvd", "def_welcomelist_from_rcvd", "def_whitelist_from_rcvd":
		f := strings.Fields(strings.ToLower(val))
		if len(f) != 2 {
			p.diag(file, line, 0, "", "%s needs an address and a relay, got %q", key, val)
			return true
		}
		e := RcvdEntry{Addr: f[0], Relay: f[1]}
		if strings.HasPrefix(key, "def_") {
			rs.conf.DefWelcomelistRcvd = append(rs.conf.DefWelcomelistRcvd, e)
		} else {
			rs.conf.WelcomelistRcvd = append(rs.conf.WelcomelistRcvd, e)
		}
	case "welcomelist_allows_relays", "whitelist_allows_relays":
		rs.conf.WelcomelistAllowsRelays = append(rs.conf.WelcomelistAllowsRelays, lowerFields(val)...)
	case "welcomelist_bounce_relays", "whitelist_bounce_relays":
		rs.conf.WelcomelistBounceRelays = append(rs.conf.WelcomelistBounceRelays, lowerFields(val)...)
	case "welcomelist_auth", "whitelist_auth", "def_welcomelist_auth", "def_whitelist_auth",
		"welcomelist_from_dkim", "whitelist_from_dkim", "def_welcomelist_from_dkim", "def_whitelist_from_dkim",
		"welcomelist_from_spf", "whitelist_from_spf", "def_welcomelist_from_spf", "def_whitelist_from_spf":
		// Sender lists honoured only with authentication: SPF, DKIM or
		// either (auth). The def_ lists are SpamAssassin's defaults.
		def := strings.HasPrefix(key, "def_")
		f := strings.Fields(strings.ToLower(val))
		if len(f) == 0 {
			return true
		}
		e := AuthListEntry{Addr: f[0]}
		if len(f) > 1 {
			e.Signer = f[1]
		}
		dkim, spf := !strings.HasSuffix(key, "_spf"), !strings.HasSuffix(key, "_dkim")
		c := &rs.conf
		if dkim && def {
			c.DefWelcomelistDKIM = append(c.DefWelcomelistDKIM, e)
		} else if dkim {
			c.WelcomelistDKIM = append(c.WelcomelistDKIM, e)
		}
		if spf && def {
			c.DefWelcomelistSPF = append(c.DefWelcomelistSPF, AuthListEntry{Addr: e.Addr})
		} else if spf {
			c.WelcomelistSPF = append(c.WelcomelistSPF, AuthListEntry{Addr: e.Addr})
		}
	case "welcomelist_to", "whitelist_to":
		rs.conf.WelcomelistTo = append(rs.conf.WelcomelistTo, lowerFields(val)...)
	case "more_spam_to":
		rs.conf.MoreSpamTo = append(rs.conf.MoreSpamTo, lowerFields(val)...)
	case "all_spam_to":
		rs.conf.AllSpamTo = append(rs.conf.AllSpamTo, lowerFields(val)...)
	case "blocklist_to", "blacklist_to":
		rs.conf.BlocklistTo = append(rs.conf.BlocklistTo, lowerFields(val)...)
	case "welcomelist_subject", "whitelist_subject":
		rs.conf.WelcomelistSubject = append(rs.conf.WelcomelistSubject, strings.ToLower(val))
	case "blocklist_subject", "blacklist_subject":
		rs.conf.BlocklistSubject = append(rs.conf.BlocklistSubject, strings.ToLower(val))
	case "welcomelist_uri_host", "whitelist_uri_host":
		rs.conf.WelcomelistURIHost = append(rs.conf.WelcomelistURIHost, lowerFields(val)...)
	case "blocklist_uri_host", "blacklist_uri_host":
		rs.conf.BlocklistURIHost = append(rs.conf.BlocklistURIHost, lowerFields(val)...)
	case "enlist_addrlist", "enlist_uri_host":
		// enlist_addrlist (LIST) glob ...; enlist_uri_host (LIST) host ...
		list, rest := splitWord(val)
		if !strings.HasPrefix(list, "(") || !strings.HasSuffix(list, ")") {
			p.diag(file, line, 1, "", "%s: want (LISTNAME) first", key)
			return true
		}
		list = strings.Trim(list, "()")
		dst := &rs.conf.AddrLists
		if key == "enlist_uri_host" {
			dst = &rs.conf.URIHostLists
		}
		if *dst == nil {
			*dst = map[string][]string{}
		}
		(*dst)[list] = append((*dst)[list], lowerFields(rest)...)
	case "freemail_domains":
		rs.conf.FreemailDomains = append(rs.conf.FreemailDomains, lowerFields(val)...)
	default:
		return false
	}
	return true
}

func lowerFields(s string) []string {
	f := strings.Fields(strings.ToLower(s))
	return f
}

// parseNet reads an address, a CIDR prefix or SpamAssassin's partial form
// "10." / "192.168." (and an optional leading ! which sluice ignores).
func parseNet(s string) (netip.Prefix, error) {
	s = strings.TrimPrefix(s, "!")
	if pf, err := netip.ParsePrefix(s); err == nil {
		return pf.Masked(), nil
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	if strings.HasSuffix(s, ".") {
		parts := strings.Split(strings.TrimSuffix(s, "."), ".")
		if len(parts) < 4 {
			for len(parts) < 4 {
				parts = append(parts, "0")
			}
			if a, err := netip.ParseAddr(strings.Join(parts, ".")); err == nil {
				return netip.PrefixFrom(a, 8*len(strings.Split(strings.TrimSuffix(s, "."), "."))), nil
			}
		}
	}
	return netip.Prefix{}, fmt.Errorf("bad network %q", s)
}

func canonicalHeader(s string) string {
	if strings.EqualFold(s, "subject") {
		return "Subject"
	}
	if strings.EqualFold(s, "from") {
		return "From"
	}
	if strings.EqualFold(s, "to") {
		return "To"
	}
	return s
}

// ruleLine parses a header/body/rawbody/full/uri/mimeheader/meta line.
func (p *parser) ruleLine(file string, line int, key, val, raw string) {
	name, rest := splitWord(val)
	kind := map[string]Kind{"header": KindHeader, "body": KindBody, "rawbody": KindRawBody, "full": KindFull, "uri": KindURI, "mimeheader": KindMIMEHeader, "meta": KindMeta}[key]
	d := &ruleDef{name: name, kind: kind, file: file, line: line}
	p.order++
	d.order = p.order
	col := func(sub string) int {
		if i := strings.Index(raw, sub); i >= 0 && sub != "" {
			return i + 1
		}
		return 1
	}
	fail := func(c int, err error) {
		d.err, d.errCol = err, c
	}
	switch {
	case name == "" || !validRuleName(name):
		p.diag(file, line, 1, name, "%s: bad rule name %q", key, name)
		return
	case rest == "":
		fail(col(name), fmt.Errorf("%s %s: missing definition", key, name))
	case kind == KindMeta:
		d.meta = rest
	case strings.HasPrefix(rest, "eval:"):
		fn, args, err := parseEvalCall(strings.TrimPrefix(rest, "eval:"))
		if err != nil {
			fail(col("eval:"), err)
		}
		d.eval, d.args = fn, args
	case kind == KindHeader && strings.HasPrefix(rest, "exists:"):
		d.exists = true
		d.header = strings.TrimSpace(strings.TrimPrefix(rest, "exists:"))
	case kind == KindHeader || kind == KindMIMEHeader:
		hdr, expr := splitWord(rest)
		// "Header=~/re/" written without spaces.
		if i := strings.Index(hdr, "=~"); i > 0 {
			hdr, expr = hdr[:i], hdr[i:]+" "+expr
		} else if i := strings.Index(hdr, "!~"); i > 0 {
			hdr, expr = hdr[:i], hdr[i:]+" "+expr
		}
		names := strings.Split(hdr, ":")
		d.header = names[0]
		for _, m := range names[1:] {
			switch m {
			case "raw":
				d.mods.raw = true
			case "addr":
				d.mods.addr = true
			case "name":
				d.mods.name = true
			case "host":
				d.mods.host = true
			case "domain":
				d.mods.domain = true
			case "first":
				d.mods.first = true
			case "last":
				d.mods.last = true
			default:
				fail(col(hdr), fmt.Errorf("%s %s: unknown header modifier :%s", key, name, m))
			}
		}
		switch {
		case strings.HasPrefix(expr, "=~"):
		case strings.HasPrefix(expr, "!~"):
			d.negate = true
		default:
			fail(col(hdr), fmt.Errorf("%s %s: want =~ or !~ after the header name", key, name))
			p.put(d)
			return
		}
		reText := strings.TrimSpace(expr[2:])
		pat, flags, tail, err := perlre.Split(reText)
		if err != nil {
			fail(col(reText), regexError(err))
			break
		}
		d.re, d.flags, d.reCol = pat, flags, col(reText)
		tail = strings.TrimSpace(tail)
		if tail != "" {
			if s, ok := strings.CutPrefix(tail, "[if-unset:"); ok && strings.HasSuffix(s, "]") {
				v := strings.TrimSpace(strings.TrimSuffix(s, "]"))
				d.unset = &v
			} else {
				fail(col(tail), fmt.Errorf("%s %s: unexpected %q after the pattern", key, name, tail))
			}
		}
	default:
		pat, flags, tail, err := perlre.Split(rest)
		err = regexError(err)
		if err == nil && strings.TrimSpace(tail) != "" {
			err = fmt.Errorf("%w: unexpected %q after the pattern", ErrRegex, strings.TrimSpace(tail))
		}
		if err != nil {
			fail(col(rest), err)
			break
		}
		d.re, d.flags, d.reCol = pat, flags, col(rest)
	}
	p.put(d)
}

func (p *parser) put(d *ruleDef) {
	if old, ok := p.defs[d.name]; ok {
		d.order = old.order
	}
	p.defs[d.name] = d
}

func validRuleName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' {
			return false
		}
	}
	return !(s[0] >= '0' && s[0] <= '9')
}

// parseEvalCall parses func(arg, 'arg', "arg").
func parseEvalCall(s string) (string, []string, error) {
	s = strings.TrimSpace(s)
	open := strings.IndexByte(s, '(')
	if open < 0 {
		if validRuleName(s) {
			return s, nil, nil
		}
		return "", nil, fmt.Errorf("bad eval call %q", s)
	}
	fn := s[:open]
	if !validRuleName(fn) || !strings.HasSuffix(s, ")") {
		return "", nil, fmt.Errorf("bad eval call %q", s)
	}
	body := s[open+1 : len(s)-1]
	var args []string
	for i := 0; i < len(body); {
		for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == ',') {
			i++
		}
		if i >= len(body) {
			break
		}
		if q := body[i]; q == '\'' || q == '"' {
			j := i + 1
			var b strings.Builder
			for j < len(body) && body[j] != q {
				// Perl quoting: only the quote and the backslash itself are
				// escaped; \d stays \d for the regexes eval arguments carry.
				if body[j] == '\\' && j+1 < len(body) && (body[j+1] == q || body[j+1] == '\\') {
					j++
				}
				b.WriteByte(body[j])
				j++
			}
			if j >= len(body) {
				return "", nil, fmt.Errorf("unterminated string in eval call %q", s)
			}
			args = append(args, b.String())
			i = j + 1
			continue
		}
		j := i
		for j < len(body) && body[j] != ',' {
			j++
		}
		args = append(args, strings.TrimSpace(body[i:j]))
		i = j
	}
	return fn, args, nil
}

// evalCond evaluates the expression of an if line.
func (p *parser) evalCond(s string) (bool, error) {
	c := condParser{s: s, p: p}
	v, err := c.or()
	if err != nil {
		return false, err
	}
	c.skip()
	if c.i != len(c.s) {
		return false, fmt.Errorf("unexpected %q", c.s[c.i:])
	}
	return v != 0, nil
}

type condParser struct {
	s string
	i int
	p *parser
}

func (c *condParser) skip() {
	for c.i < len(c.s) && (c.s[c.i] == ' ' || c.s[c.i] == '\t') {
		c.i++
	}
}

func (c *condParser) eat(tok string) bool {
	c.skip()
	if strings.HasPrefix(c.s[c.i:], tok) {
		c.i += len(tok)
		return true
	}
	return false
}

func (c *condParser) or() (float64, error) {
	v, err := c.and()
	for err == nil && c.eat("||") {
		var w float64
		w, err = c.and()
		v = b2f(v != 0 || w != 0)
	}
	return v, err
}

func (c *condParser) and() (float64, error) {
	v, err := c.cmp()
	for err == nil && c.eat("&&") {
		var w float64
		w, err = c.cmp()
		v = b2f(v != 0 && w != 0)
	}
	return v, err
}

func (c *condParser) cmp() (float64, error) {
	v, err := c.unary()
	if err != nil {
		return 0, err
	}
	for _, op := range []string{">=", "<=", "==", "!=", ">", "<"} {
		if c.eat(op) {
			w, err := c.unary()
			if err != nil {
				return 0, err
			}
			return b2f(compare(op, v, w)), nil
		}
	}
	return v, nil
}

func compare(op string, v, w float64) bool {
	switch op {
	case ">=":
		return v >= w
	case "<=":
		return v <= w
	case "==":
		return v == w
	case "!=":
		return v != w
	case ">":
		return v > w
	}
	return v < w
}

func (c *condParser) unary() (float64, error) {
	if c.eat("!") {
		v, err := c.unary()
		return b2f(v == 0), err
	}
	if c.eat("(") {
		v, err := c.or()
		if err != nil {
			return 0, err
		}
		if !c.eat(")") {
			return 0, errors.New("missing )")
		}
		return v, nil
	}
	c.skip()
	j := c.i
	for j < len(c.s) && (isAlnum(c.s[j]) || c.s[j] == '_' || c.s[j] == '.' || c.s[j] == ':') {
		j++
	}
	word := c.s[c.i:j]
	c.i = j
	switch word {
	case "":
		return 0, fmt.Errorf("unexpected %q", c.s[c.i:])
	case "version":
		return spamAssassinVersion, nil
	case "perl_version":
		return 5.036, nil
	case "plugin", "can", "has":
		if !c.eat("(") {
			return 0, fmt.Errorf("%s needs (", word)
		}
		end := strings.IndexByte(c.s[c.i:], ')')
		if end < 0 {
			return 0, errors.New("missing )")
		}
		arg := strings.TrimSpace(c.s[c.i : c.i+end])
		c.i += end + 1
		if word == "plugin" {
			return b2f(c.p.opt.Plugins[arg]), nil
		}
		return b2f(c.p.can(arg)), nil
	}
	v, err := strconv.ParseFloat(word, 64)
	if err != nil {
		return 0, fmt.Errorf("unknown word %q", word)
	}
	return v, nil
}

// spamAssassinVersion is the version sluice's rule language matches, as
// rule files compare it: 4.0.1.
const spamAssassinVersion = 4.000001

// confFeature reports the Mail::SpamAssassin::Conf::feature_* tests that are
// true for sluice (capture rules: capture.go).
func confFeature(f string) bool {
	switch f {
	case "feature_bug6558_free", "feature_welcomelist_blocklist", "perl_min_version_5010000",
		"feature_registryboundaries", "feature_yesno_takes_args", "feature_originating_ip_headers",
		"feature_dns_local_ports_permit_avoid", "feature_capture_rules":
		return true
	}
	return false
}

// pluginFeature reports the Plugin::X::has_* capabilities sluice's evals have.
func pluginFeature(f string) bool {
	switch f {
	case "BodyEval::has_check_body_length", "MIMEEval::has_check_abundant_unicode_ratio", "MIMEEval::has_check_for_ascii_text_illegal",
		"HeaderEval::has_check_header_count_range", "HTMLEval::has_html_range",
		"FreeMail::has_check_freemail_header", "WLBLEval::has_check_from_in_default_welcomelist":
		return true
	}
	return uridnsblFeature(f)
}

func (p *parser) can(arg string) bool {
	if f, ok := strings.CutPrefix(arg, "Mail::SpamAssassin::Conf::"); ok {
		if flag, ok := strings.CutPrefix(f, "compat_"); ok {
			return p.compat[flag]
		}
		return confFeature(f)
	}
	if f, ok := strings.CutPrefix(arg, "Mail::SpamAssassin::Plugin::"); ok {
		plugin, _, _ := strings.Cut(f, "::")
		return p.opt.Plugins["Mail::SpamAssassin::Plugin::"+plugin] && pluginFeature(f)
	}
	return false
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// without returns list less every entry of drop (unwelcomelist_from and
// friends remove entries exactly as written, lower case).
func without(list, drop []string) []string {
	out := list[:0:0]
	for _, e := range list {
		if !slices.Contains(drop, e) {
			out = append(out, e)
		}
	}
	return out
}
