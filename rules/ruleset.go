package rules

import (
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlclark/regexp2"
	re2 "github.com/wasilibs/go-re2"
	"github.com/wasilibs/go-re2/experimental"

	"github.com/sluice-mail/sluice/rules/perlre"
)

// Options configures Load.
type Options struct {
	// Plugins is the set of SpamAssassin plugin names (as loadplugin writes
	// them) that ifplugin and plugin() treat as loaded. If nil,
	// DefaultPlugins() is used.
	Plugins map[string]bool
	// Net and Bayes choose the score set: SpamAssassin's set 0 is neither,
	// 1 net only, 2 Bayes only, 3 both. Eval rules with tflags net are
	// inactive unless Net is set (the caller then answers them through
	// Input.Rules), except SPF, DKIM and DMARC ones, answered from Input.Auth.
	Net, Bayes bool
	// Budget bounds the time one Eval spends on regex rules; when it runs
	// out the remaining regex rules are skipped and Result.TimedOut is set.
	// If zero, 2 s is used.
	Budget time.Duration
	// BacktrackTimeout bounds one regexp2 confirmation. If zero, 250 ms is
	// used. A confirmation started just before Budget runs out may overrun
	// it by up to this much.
	BacktrackTimeout time.Duration
	// SetSize is how many literal-less rules share one RE2 set. If zero, 8.
	SetSize int
	// WarnUndefined adds a warning for every meta rule reference to a rule
	// that is not defined (7 in the stock rules, for plugins sluice leaves
	// out); Lint.UndefinedRefs counts them either way.
	WarnUndefined bool
	// Evals holds the eval: functions. If nil, NewEvalRegistry() is used.
	Evals *EvalRegistry
	// Logger receives load-time debug messages. If nil, slog.Default().
	Logger *slog.Logger
	// OneShot says that few messages will be evaluated (a check of one
	// message, pipe): Load starts compiling in the background what the
	// first Eval uses instead of the RE2 sets.
	OneShot bool
	// Lang is the locale whose "lang" lines apply (SpamAssassin takes it
	// from LANGUAGE, LC_ALL, LC_MESSAGES or LANG): "lang de describe …"
	// counts when Lang starts with "de", case-insensitively. If empty,
	// en_US (SpamAssassin's default for the C locale).
	Lang string
	// Cache is the compiled-rules cache. With a valid cache, Load skips
	// translating the patterns and compiles each RE2 program on first use;
	// call Ruleset.Precompile to compile them all ahead of traffic.
	Cache CacheOptions
}

// DefaultPlugins returns the SpamAssassin plugins whose rules sluice can
// run: the local-test plugins whose eval functions it implements, plus the
// authentication plugins whose results come through Input.Auth.
func DefaultPlugins() map[string]bool {
	m := map[string]bool{}
	for _, n := range []string{"Check", "HeaderEval", "BodyEval", "MIMEEval", "HTMLEval",
		"ReplaceTags", "MIMEHeader", "WLBLEval", "FreeMail", "RelayEval", "ImageInfo",
		"WelcomeListSubject", "WhiteListSubject", "URIDetail", "URIEval", "HTTPSMismatch",
		"VBounce", "FromNameSpoof", "SPF", "DKIM", "DMARC", "DNSEval", "URIDNSBL",
		"AutoLearnThreshold"} {
		m["Mail::SpamAssassin::Plugin::"+n] = true
	}
	return m
}

// Config holds the non-rule settings of the rule files, which the scoring
// package reads.
type Config struct {
	// RequiredScore is required_score; 5 by default.
	RequiredScore float64
	// RewriteHeader maps a header name (Subject, From, To) to its
	// rewrite_header template.
	RewriteHeader map[string]string
	// AddHeaders are the add_header lines in order (after the last clear_headers).
	AddHeaders []HeaderTemplate
	// RemoveHeaders are the remove_header lines in order.
	RemoveHeaders []HeaderTemplate
	// ClearHeaders reports that clear_headers was seen.
	ClearHeaders bool
	// ReportSafe is report_safe (0, 1 or 2); 1 by default.
	ReportSafe int
	// ReportContact is report_contact: what the _CONTACTADDRESS_ tag of
	// scoring's reports expands to.
	ReportContact string
	// ReportTemplate and UnsafeReportTemplate are the report and
	// unsafe_report lines (after the last clear_…_template), each line
	// ending in a newline; "" when the rule files set none.
	ReportTemplate, UnsafeReportTemplate string
	// WelcomelistFrom and BlocklistFrom are lower-cased address globs (* and ?).
	WelcomelistFrom, BlocklistFrom []string
	// WelcomelistRcvd and DefWelcomelistRcvd are welcomelist_from_rcvd
	// and def_welcomelist_from_rcvd; WelcomelistAllowsRelays the
	// welcomelist_allows_relays globs exempt from their forgery check.
	WelcomelistRcvd, DefWelcomelistRcvd []RcvdEntry
	WelcomelistAllowsRelays             []string
	// WelcomelistBounceRelays are welcomelist_bounce_relays globs, lower
	// case: the site's outbound relays, which VBounce looks for in the
	// Received lines a bounce quotes.
	WelcomelistBounceRelays []string
	// TrustedNetworks and InternalNetworks are trusted_networks and
	// internal_networks; MSANetworks is msa_networks: relays after a
	// trusted MSA take its trust (relays.Networks).
	TrustedNetworks, InternalNetworks, MSANetworks []netip.Prefix
	// TLDs are util_rb_tld; TwoLevelTLDs util_rb_2tld and util_rb_3tld
	// (the suffixes of two and three labels), lower case.
	TLDs, TwoLevelTLDs map[string]bool
	// FreemailDomains are freemail_domains globs, lower case.
	FreemailDomains []string
	// WelcomelistTo, MoreSpamTo, AllSpamTo and BlocklistTo are the
	// recipient lists of the same names, lower-cased globs.
	WelcomelistTo, MoreSpamTo, AllSpamTo, BlocklistTo []string
	// WelcomelistSubject and BlocklistSubject are lower-cased subject globs.
	WelcomelistSubject, BlocklistSubject []string
	// WelcomelistURIHost and BlocklistURIHost are host names (a listed
	// domain covers its subdomains).
	WelcomelistURIHost, BlocklistURIHost []string
	// AddrLists are enlist_addrlist lists by name; URIHostLists are
	// enlist_uri_host lists by name (a leading ! excludes).
	AddrLists, URIHostLists map[string][]string
	// WelcomelistDKIM and WelcomelistSPF (and their SpamAssassin default
	// Def variants) welcome a sender only when DKIM (by Signer, or the
	// address's own domain) or SPF vouches for it.
	WelcomelistDKIM, DefWelcomelistDKIM, WelcomelistSPF, DefWelcomelistSPF []AuthListEntry
	// OKLocales is ok_locales ("all" by default: no charset is far away).
	OKLocales string
	// Bayes holds the bayes_* and learning settings of the rule files.
	Bayes BayesConfig
	// AllowUserRules is allow_user_rules: rule definitions in a user's
	// user_prefs count (ParsePrefs).
	AllowUserRules bool
	// BodyPartScanSize and RawBodyPartScanSize are body_part_scan_size
	// (50000) and rawbody_part_scan_size (500000): the bytes of each text
	// part body and rawbody rules see, 0 for all (mail.Options takes them).
	BodyPartScanSize, RawBodyPartScanSize int
	// DNS holds the DNSBL and URI blocklist settings (dnsconf.go).
	DNS DNSConfig
	// UserScores is where per-user preferences come from besides
	// user_prefs files: SpamAssassin's user_scores_dsn settings.
	UserScores UserScoresSQL

	freemail *freemailIndex
}

// BayesConfig is what the rule files say about Bayes and learning, with
// SpamAssassin's defaults (Conf.pm and Plugin/Bayes.pm). The rules package
// only reads it; the bayes package and the pipeline act on it.
type BayesConfig struct {
	// UseBayes is use_bayes (default true); UseBayesRules is use_bayes_rules
	// (default true): with it false Bayes still learns but BAYES_* rules
	// do not fire and the score set does not switch. UseLearner is
	// use_learner (default true).
	UseBayes, UseBayesRules, UseLearner bool
	// AutoLearn is bayes_auto_learn (default true).
	AutoLearn bool
	// AutoLearnThresholdNonspam and AutoLearnThresholdSpam are
	// bayes_auto_learn_threshold_nonspam (0.1) and _spam (12.0).
	AutoLearnThresholdNonspam, AutoLearnThresholdSpam float64
	// AutoLearnOnError is bayes_auto_learn_on_error (default false): learn
	// only when the classifier disagrees with the verdict.
	AutoLearnOnError bool
	// MinHamNum and MinSpamNum are bayes_min_ham_num and _spam_num (200):
	// Bayes scores nothing until that many of each class are learned.
	MinHamNum, MinSpamNum int
	// IgnoreHeaders are bayes_ignore_header names, lower case.
	IgnoreHeaders []string
	// IgnoreFrom and IgnoreTo are bayes_ignore_from / bayes_ignore_to
	// address globs, lower case: such mail is neither learned nor scored.
	IgnoreFrom, IgnoreTo []string
	// ExpiryMaxDBSize is bayes_expiry_max_db_size (150000 tokens).
	ExpiryMaxDBSize int
	// AutoExpire is bayes_auto_expire (default true).
	AutoExpire bool
	// TokenTTL and SeenTTL are bayes_token_ttl (3 weeks) and
	// bayes_seen_ttl (8 days): the key TTLs of the Redis store.
	TokenTTL, SeenTTL time.Duration
	// Path is bayes_path as written (SpamAssassin's file prefix); sluice
	// uses its own database, so it is only reported.
	Path string
	// Other holds the remaining bayes_* settings by name, last value
	// winning (bayes_token_sources, bayes_stopword_*, …).
	Other map[string]string
}

// DefaultBayesConfig returns SpamAssassin's defaults.
func DefaultBayesConfig() BayesConfig {
	return BayesConfig{
		UseBayes: true, UseBayesRules: true, UseLearner: true, AutoLearn: true,
		AutoLearnThresholdNonspam: 0.1, AutoLearnThresholdSpam: 12.0,
		MinHamNum: 200, MinSpamNum: 200, ExpiryMaxDBSize: 150000, AutoExpire: true,
		TokenTTL: 21 * 24 * time.Hour, SeenTTL: 8 * 24 * time.Hour,
		Other: map[string]string{},
	}
}

// AuthListEntry is one welcomelist_from_dkim/_spf/_auth entry.
type AuthListEntry struct {
	Addr   string // lower-cased address glob
	Signer string // DKIM signing domain; "" for the address's domain
}

// HeaderTemplate is one add_header or remove_header line.
type HeaderTemplate struct {
	When     string // spam, ham or all
	Name     string // without the X-Spam- prefix, as SpamAssassin writes it
	Template string
}

// Ruleset is a loaded and compiled set of rules. It is safe for concurrent
// use by multiple goroutines.
type Ruleset struct {
	opt       Options
	conf      Config
	lint      Lint
	rules     []*rule
	byName    map[string]*rule
	header    []*rule
	evals     []*rule
	metas     []*rule // in dependency order
	scans     [KindMeta]*scanGroup
	hdrGroups []*hdrGroup
	early     []*rule    // regex rules SpamAssassin runs before priority 0 (budget.go)
	hdrTexts  int        // distinct header texts (rule.textID)
	hdrLits   []*hdrLits // by textID; nil: no literal prefilter
	reg       *EvalRegistry
	sets      *setState     // a pointer: tests copy a Ruleset to change its options
	bufs      *sync.Pool    // of *evalBuf
	sc        *shortcircuit // nil without shortcircuit rules
	dns       *dnsRules     // the check_rbl* and URIBL rules (eval_dns.go)
	captures  []*rule       // capture rules, in SpamAssassin's order (capture.go)
	templates []*rule       // rules with %{NAME} templates, in running order
	tmplCache *templateCache
}

// setState tracks the compilation of a Ruleset's RE2 sets.
type setState struct {
	once  sync.Once
	ready atomic.Bool  // every set is compiled
	evals atomic.Int64 // Eval calls so far
}

// rule is one compiled rule.
type rule struct {
	def        *ruleDef
	idx        int
	name       string
	kind       Kind
	score      float64    // in the score set Options choose
	scores     [4]float64 // in each score set, for the switch to Bayes sets
	describe   string
	multiple   bool
	maxhits    int
	nosubject  bool
	net        bool
	priority   int
	inactive   string // why the rule never fires; "" when active
	re         *lazyRE
	bt         *lazyBT           // confirms RE2's matches when the rule needs backtracking
	goCheck    func([]byte) bool // exact Go check that replaces re and bt (hdrpairs.go); nil for most rules
	screen     *lazyBT           // matches like re, for Eval before the sets are compiled
	screenCost screenCost
	lits       []string
	setPat     string // RE2 superset with line anchors, for sets over joined texts
	grouped    bool   // a header rule run through its hdrGroup's sets
	textID     int    // header rules: which header text they match
	meta       metaNode
	metaDeps   []string
	eval       EvalFunc
	tflags     []string
	capture    *captureRE  // the named groups that set tags; nil for most rules
	tmpl       *templateRE // %{NAME} templates, compiled per message; nil for most rules
}

// Config returns the settings read from the rule files.
func (rs *Ruleset) Config() Config { return rs.conf }

// Lint returns load statistics, warnings and errors.
func (rs *Ruleset) Lint() Lint { return rs.lint }

// Load reads the rule files of dirs (directories, read *.cf in lexical
// order, or single files) in order — system rules first, then local ones —
// and compiles them. Broken rules are disabled and reported by Lint; Load
// fails only when a directory cannot be read.
func Load(dirs []string, opt Options) (*Ruleset, error) {
	p, err := newParser(opt)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	p.cache = newRuleCache(p.opt.Cache, dirs)
	if err := p.loadDirs(dirs); err != nil {
		return nil, err
	}
	p.rs.finish(p)
	p.rs.lint.LoadTime = time.Since(start)
	p.rs.logLoad(dirs)
	return p.rs, nil
}

func (rs *Ruleset) logLoad(src []string) {
	l := rs.lint
	rs.opt.Logger.Debug("rules loaded", "dirs", src, "rules", l.Total, "active", l.Active, "re2", l.RE2,
		"backtracking", l.Backtrack, "errors", len(l.Errors), "warnings", len(l.Warnings), "load_time", l.LoadTime,
		"cache_hits", l.CacheHits)
}

// LoadString compiles rules given as text (for tests and embedded rules);
// name is the file name diagnostics use.
func LoadString(name, text string, opt Options) (*Ruleset, error) {
	p, err := newParser(opt)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	p.cache = newRuleCache(p.opt.Cache, []string{"string:" + name})
	if err := p.parse(name, []byte(text)); err != nil {
		return nil, err
	}
	p.rs.finish(p)
	p.rs.lint.LoadTime = time.Since(start)
	p.rs.logLoad([]string{name})
	return p.rs, nil
}

func newParser(opt Options) (*parser, error) {
	if opt.Plugins == nil {
		opt.Plugins = DefaultPlugins()
	}
	if opt.Budget <= 0 {
		opt.Budget = 2 * time.Second
	}
	if opt.BacktrackTimeout <= 0 {
		opt.BacktrackTimeout = 250 * time.Millisecond
	}
	if opt.SetSize <= 0 {
		opt.SetSize = 8
	}
	if opt.Evals == nil {
		opt.Evals = NewEvalRegistry()
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	rs := &Ruleset{opt: opt, byName: map[string]*rule{}, reg: opt.Evals, sets: new(setState), bufs: new(sync.Pool), tmplCache: new(templateCache)}
	rs.conf = Config{RequiredScore: 5, ReportSafe: 1, OKLocales: "all", BodyPartScanSize: 50000, RawBodyPartScanSize: 500000,
		TLDs: map[string]bool{}, TwoLevelTLDs: map[string]bool{}, Bayes: DefaultBayesConfig(), DNS: DefaultDNSConfig()}
	rs.lint.ByKind = map[string]int{}
	rs.lint.Unsupported = map[string]int{}
	rs.lint.UnsupportedEvals = map[string]int{}
	rs.lint.BacktrackReasons = map[string]int{}
	return &parser{
		opt: opt, rs: rs, defs: map[string]*ruleDef{}, scores: map[string][]float64{},
		describe: map[string]string{}, tflags: map[string]string{}, priority: map[string]int{},
		replace: map[string]bool{}, tags: map[string]string{}, pre: map[string]string{},
		inter: map[string]string{}, post: map[string]string{}, start: "<", end: ">",
		sc: scParse{types: map[string]string{}, spam: 100, ham: -100},
	}, nil
}

// scoreSet is the index into four-value score lines.
func (o Options) scoreSet() int {
	s := 0
	if o.Net {
		s |= 1
	}
	if o.Bayes {
		s |= 2
	}
	return s
}

// finish compiles every definition once all files are read.
func (rs *Ruleset) finish(p *parser) {
	p.warnUnsupported()
	if p.cache != nil {
		p.cache.load(rs.opt.Logger)
	}
	defs := make([]*ruleDef, 0, len(p.defs))
	for _, d := range p.defs {
		defs = append(defs, d)
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].order < defs[j].order })
	set := rs.opt.scoreSet()
	for _, d := range defs {
		r := &rule{def: d, idx: len(rs.rules), name: d.name, kind: d.kind, describe: p.describe[d.name], priority: p.priority[d.name]}
		tf := strings.Fields(p.tflags[d.name])
		r.tflags = tf
		nice := false
		for _, f := range tf {
			switch {
			case f == "multiple":
				r.multiple = true
			case strings.HasPrefix(f, "maxhits="):
				fmt.Sscanf(f, "maxhits=%d", &r.maxhits)
				r.multiple = true
			case f == "nice":
				nice = true
			case f == "net":
				r.net = true
			case f == "nosubject":
				r.nosubject = true
			}
		}
		var one float64
		switch sc, ok := p.scores[d.name]; {
		case ok && len(sc) == 4:
			copy(r.scores[:], sc)
		case ok:
			one = sc[0]
		case strings.HasPrefix(d.name, "__"):
			one = 0
		case strings.HasPrefix(d.name, "T_"):
			one = 0.01
		case nice:
			one = -1
		default:
			one = 1
		}
		if sc, ok := p.scores[d.name]; !ok || len(sc) != 4 {
			r.scores = [4]float64{one, one, one, one}
		}
		r.score = r.scores[set]
		rs.rules = append(rs.rules, r)
		rs.byName[d.name] = r
		rs.lint.ByKind[d.kind.String()]++
		rs.lint.Total++
		rs.compile(p, r)
	}
	rs.compileJobs(p)
	if rs.opt.OneShot {
		go rs.compileScreens()
	}
	rs.storeCache(p)
	rs.conf.freemail = newFreemailIndex(rs.conf.FreemailDomains)
	rs.orderMetas()
	rs.buildShortcircuit(p)
	rs.buildScans()
	rs.early = rs.earlyRules()
	rs.buildHeaderGroups()
	rs.attachHdrPairs()
	rs.dns = rs.buildDNSRules()
	rs.sortCaptures()
	for _, r := range rs.rules {
		if r.inactive == "" {
			rs.lint.Active++
		}
	}
}

func (rs *Ruleset) disable(r *rule, reason string) {
	if r.inactive == "" {
		r.inactive = reason
	}
}

// compile prepares one rule; problems disable it and become diagnostics.
func (rs *Ruleset) compile(p *parser, r *rule) {
	d := r.def
	if d.err != nil {
		rs.disable(r, "error")
		p.diag(d.file, d.line, d.errCol, d.name, "%s %s: %v", d.kind, d.name, d.err)
		rs.lint.Unsupported["parse error"]++
		return
	}
	// SPF, DKIM and DMARC results come from the auth package through
	// Input.Auth on every message, so their rules run without Options.Net.
	// tflags net only stops eval rules: a meta or regex rule marked net
	// reads no network itself.
	if r.net && !rs.opt.Net && d.eval != "" && !isAuthEval(d.eval) {
		rs.disable(r, "net")
		rs.lint.Net++
	}
	switch {
	case d.kind == KindMeta:
		n, deps, err := parseMeta(d.meta)
		if err != nil {
			rs.disable(r, "error")
			p.diag(d.file, d.line, 1, d.name, "meta %s: %v", d.name, err)
			rs.lint.Unsupported["parse error"]++
			return
		}
		r.meta, r.metaDeps = n, deps
	case d.eval != "":
		fn, ok := rs.reg.Lookup(d.eval)
		rs.lint.noteEval(d.eval, ok)
		if !ok {
			rs.lint.UnsupportedEvals[d.eval]++
			if r.inactive == "" {
				rs.lint.Unsupported["eval "+d.eval]++
			}
			rs.disable(r, "unsupported eval "+d.eval)
			return
		}
		r.eval = fn
		rs.evals = append(rs.evals, r)
	case d.exists:
		rs.header = append(rs.header, r)
	default:
		// Capture rules and templates are written out in the rule files,
		// not made by ReplaceTags.
		if len(templateRefs(d.re)) > 0 || len(captureNames(d.re)) > 0 {
			pat := d.re
			if p.replace[d.name] {
				pat = p.replaceTags(pat)
			}
			if rs.compileCapture(p, r, pat) {
				return
			}
		}
		// ReplaceTags expansions wait for a cache miss: the cache knows
		// patterns as written (the tags are in the rule files it hashes).
		p.jobs = append(p.jobs, &regexJob{r: r, pat: d.re, flags: d.flags, replace: p.replace[d.name]})
	}
}

// regexJob is one rule's pattern to translate and compile; jobs run in
// parallel, their outcome is recorded afterwards in load order.
type regexJob struct {
	r          *rule
	pat, flags string
	replace    bool   // pat has ReplaceTags tags to expand
	expanded   string // pat with its tags expanded, when replace
	confirm    bool
	reasons    []string
	err        error
	entry      cacheEntry // the cached outcome, when hit
	hit        bool
	out        cacheEntry // the outcome to cache, when compiled
}

func (j *regexJob) cached() (cacheEntry, bool) { return j.entry, j.hit }

// apply installs a cached outcome: the patterns are known to compile, so
// RE2 compiles them on first use.
func (j *regexJob) apply(rs *Ruleset, e cacheEntry) {
	r := j.r
	r.re = newLazyRE(e.RE2, nil)
	r.lits, r.setPat = e.Lits, e.SetPat
	if e.Confirm {
		r.bt = &lazyBT{pat: e.Backtrack, opts: regexp2.RE2, timeout: rs.opt.BacktrackTimeout}
		j.confirm, j.reasons = true, e.Reasons
	}
	if e.Screen != "" && screened(r) {
		r.screen = &lazyBT{pat: e.Screen, opts: regexp2.RE2, timeout: screenTimeout}
		r.screenCost = e.Cost
	}
	j.out = e
}

// storeCache writes the outcome of every compiled pattern to the cache
// when some were not found there.
func (rs *Ruleset) storeCache(p *parser) {
	c := p.cache
	if c == nil {
		return
	}
	entries := make(map[string]cacheEntry, len(p.jobs))
	fresh := false
	for _, j := range p.jobs {
		if j.err == nil {
			entries[cacheEntryKey(j.pat, j.flags, j.replace)] = j.out
			fresh = fresh || !j.hit
		}
	}
	if !fresh && len(c.old) == len(entries) {
		return
	}
	if err := c.store(entries); err != nil {
		rs.opt.Logger.Debug("rules cache not written", "path", c.path, "err", err)
		return
	}
	rs.opt.Logger.Debug("rules cache written", "path", c.path, "entries", len(entries))
}

// compileJobs compiles the regex rules on every CPU (RE2 compilation is
// most of the startup time) and then records the results in order.
func (rs *Ruleset) compileJobs(p *parser) {
	jobs := make(chan *regexJob)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if e, ok := j.cached(); ok {
					j.apply(rs, e)
					continue
				}
				if j.replace {
					// replaceTags only reads the parser's tables.
					j.expanded = p.replaceTags(j.pat)
				}
				j.err = rs.compileRegex(j)
			}
		}()
	}
	for _, j := range p.jobs {
		if p.cache != nil {
			// Lookups happen here, on one goroutine: the map is not
			// shared with the workers.
			j.entry, j.hit = p.cache.lookup(j.pat, j.flags, j.replace)
		}
		jobs <- j
	}
	close(jobs)
	if p.cache != nil {
		rs.lint.CacheHits = p.cache.hits
	}
	wg.Wait()
	for _, j := range p.jobs {
		r, d := j.r, j.r.def
		if j.err != nil {
			rs.disable(r, "error")
			p.diag(d.file, d.line, d.reCol, d.name, "%s %s: %v", d.kind, d.name, j.err)
			rs.lint.Unsupported[unsupportedReason(j.err)]++
			continue
		}
		if j.confirm {
			rs.lint.Backtrack++
			for _, reason := range j.reasons {
				rs.lint.BacktrackReasons[reason]++
			}
		} else {
			rs.lint.RE2++
		}
		if len(r.lits) > 0 {
			rs.lint.WithLiteral++
		}
		if d.kind == KindHeader || d.kind == KindMIMEHeader {
			rs.header = append(rs.header, r)
		}
	}
}

func unsupportedReason(err error) string {
	s := err.Error()
	if i := strings.Index(s, " at offset"); i > 0 && strings.Contains(s, "unsupported") {
		return s[strings.Index(s, "construct: ")+len("construct: ") : i]
	}
	return "regex error"
}

// compileRegex translates and compiles a rule's pattern, recording which
// engine it needs.
func (rs *Ruleset) compileRegex(j *regexJob) error {
	r, pat, flags := j.r, j.pat, j.flags
	if j.replace {
		pat = j.expanded
	}
	tr, err := perlre.Translate(pat, flags, perlre.Options{})
	if err != nil {
		return regexError(err)
	}
	// Go's parser shares RE2's repeat limits; checking first keeps RE2
	// from logging its own parse errors.
	err = perlre.CheckRE2(tr.RE2)
	var re *re2.Regexp
	loose := false // the translation tr came from loosened nested repeats
	// Compile times feed the choice between RE2 and a screen (screenPays).
	var reCost time.Duration
	compile := func(pat string) (*re2.Regexp, error) {
		t0 := time.Now()
		re, err := experimental.CompileLatin1(pat)
		if err == nil {
			reCost = time.Since(t0)
		}
		return re, err
	}
	if err == nil {
		re, err = compile(tr.RE2)
	}
	if err != nil {
		// Nested counted repeats beyond RE2's limits: loosen them and confirm.
		tr2, err2 := perlre.Translate(pat, flags, perlre.Options{LooseRepeats: true})
		if err2 != nil {
			return regexError(err2)
		}
		re2x, err2 := compile(tr2.RE2)
		if err2 != nil {
			return fmt.Errorf("%w: %v", ErrRegex, err)
		}
		tr, re = tr2, re2x
		loose = true
	}
	backtrack := ""
	if tr.Confirm {
		// RE2 only pre-screens this pattern: spare it big counters.
		if tr2, err := perlre.Translate(pat, flags, perlre.Options{LooseRepeats: true, LooseBig: true}); err == nil {
			if err := perlre.CheckRE2(tr2.RE2); err == nil {
				if re2x, err := compile(tr2.RE2); err == nil {
					tr.RE2, re = tr2.RE2, re2x
				}
			}
		}
		// regexp2's RE2 mode, with \b and $ spelled out, gives the
		// confirmation the ASCII classes of RE2 and of Perl's byte
		// strings, so RE2's pattern stays a superset of it.
		tb, err := perlre.Translate(pat, flags, perlre.Options{LooseRepeats: loose, RE2Classes: true})
		if err != nil {
			return regexError(err)
		}
		bt, err := regexp2.Compile(tb.Backtrack, regexp2.RE2)
		if err != nil {
			return fmt.Errorf("%w: backtracking engine: %v", ErrUnsupported, err)
		}
		bt.MatchTimeout = rs.opt.BacktrackTimeout
		backtrack = tb.Backtrack
		r.bt = &lazyBT{pat: backtrack, opts: regexp2.RE2, timeout: rs.opt.BacktrackTimeout, re: bt}
		r.bt.get()
		j.confirm, j.reasons = true, tr.Reasons
	}
	r.re = newLazyRE(tr.RE2, re)
	r.re.get()
	if r.bt != nil {
		// Compiled with the rest, as the confirmation it replaces is.
		r.bt.anchored(r.re.String())
	}
	r.lits = perlre.RequiredLiterals(tr.RE2)
	lo := perlre.Options{LineAnchors: true, LooseRepeats: tr.Confirm, LooseBig: tr.Confirm}
	if tl, err := perlre.Translate(pat, flags, lo); err == nil && perlre.CheckRE2(tl.RE2) == nil {
		r.setPat = tl.RE2
	}
	j.out = cacheEntry{RE2: tr.RE2, SetPat: r.setPat, Backtrack: backtrack, Confirm: tr.Confirm, Reasons: tr.Reasons, Lits: r.lits}
	// Entries depend on the pattern alone (rules of other kinds share
	// patterns), so every literal-less one gets its screen; screened
	// decides which rules use it.
	if len(r.lits) == 0 && r.setPat != "" {
		// The rule joins a set, which costs little to run and much to
		// compile; a message that comes before the sets are compiled is
		// matched by regexp2 alone, in RE2's mode (a confirmation's
		// pattern is exact already).
		screen := backtrack
		if screen == "" {
			if ts, err := perlre.Translate(pat, flags, perlre.Options{RE2Classes: true}); err == nil {
				screen = ts.Backtrack
			}
		}
		t0 := time.Now()
		if bt, err := regexp2.Compile(screen, regexp2.RE2); screen != "" && err == nil {
			bt.MatchTimeout = screenTimeout
			cost := screenCost{RE2: reCost, Compile: time.Since(t0), PerKB: probeScreen(bt)}
			if screened(r) {
				r.screen = &lazyBT{pat: screen, opts: regexp2.RE2, timeout: screenTimeout, re: bt}
				r.screen.get()
				r.screenCost = cost
			}
			j.out.Screen, j.out.Cost = screen, cost
		}
	}
	return nil
}

// screenTimeout bounds one regexp2 screening match; past it the rule is
// matched by RE2 after all. regexp2's clock ticks every 100 ms, so this
// is at least that.
const screenTimeout = 10 * time.Millisecond

// screenCost is what Load measured of a rule's two ways to run before the
// sets are compiled: compiling its RE2 program, compiling its screen, and
// the screen's matching time per KB of ordinary text.
type screenCost struct {
	RE2, Compile, PerKB time.Duration // exported for encoding/gob
}

// screenPays reports whether screening texts of n bytes is likely cheaper
// than compiling the rule's RE2 program (matching with RE2 costs little).
// What is compiled already costs nothing.
func (r *rule) screenPays(n int) bool {
	c := r.screenCost
	if c.RE2 == 0 && c.Compile == 0 {
		return true // unmeasured
	}
	bt := c.PerKB * time.Duration(n) / 1024
	if !r.screen.compiled() {
		bt += c.Compile
	}
	if r.re.compiled() {
		return false
	}
	return bt <= c.RE2
}

// probeText is ordinary mail text, for measuring screens.
const probeText = "Dear friend, thank you for your order of 12 items on 03/04. " +
	"Please find the invoice attached; reply to this message if anything is missing. " +
	"Our offices are open Monday to Friday, 9am-5pm. Best regards, the team at example.com\n"

// probeScreen times a screen over 4 KB of probeText, per KB.
func probeScreen(re *regexp2.Regexp) time.Duration {
	var text []rune
	for len(text) < 4096 {
		for i := 0; i < len(probeText); i++ {
			text = append(text, rune(probeText[i]))
		}
	}
	t0 := time.Now()
	if _, err := re.MatchRunes(text); err != nil {
		return time.Hour
	}
	return time.Since(t0) * 1024 / time.Duration(len(text))
}

// screened reports the rules Eval screens with regexp2 until the RE2 sets
// are compiled: the rules of the sets that count one hit at most.
func screened(r *rule) bool {
	return len(r.lits) == 0 && r.setPat != "" && !r.multiple && r.kind >= KindBody && r.kind <= KindURI
}

// replaceTags expands ReplaceTags <TAG>, <inter X>, <pre X>, <post X> in a pattern.
func (p *parser) replaceTags(pat string) string {
	st, en := p.start, p.end
	var pre, inter, post string
	for _, kv := range []struct {
		kw  string
		dst *string
		m   map[string]string
	}{{"pre", &pre, p.pre}, {"inter", &inter, p.inter}, {"post", &post, p.post}} {
		for {
			i := strings.Index(pat, st+kv.kw+" ")
			if i < 0 {
				break
			}
			j := strings.Index(pat[i:], en)
			if j < 0 {
				break
			}
			name := pat[i+len(st)+len(kv.kw)+1 : i+j]
			*kv.dst = kv.m[name]
			pat = pat[:i] + pat[i+j+len(en):]
		}
	}
	for round := 0; round < 3; round++ {
		var b strings.Builder
		changed := false
		prevTag := false
		for i := 0; i < len(pat); {
			if strings.HasPrefix(pat[i:], st) {
				j := strings.Index(pat[i+len(st):], en)
				if j > 0 {
					name := pat[i+len(st) : i+len(st)+j]
					if v, ok := p.tags[name]; ok {
						if prevTag {
							b.WriteString(inter)
						}
						b.WriteString(pre + v + post)
						i += len(st) + j + len(en)
						changed, prevTag = true, true
						continue
					}
				}
			}
			b.WriteByte(pat[i])
			i++
			prevTag = false
		}
		pat = b.String()
		if !changed {
			break
		}
		pre, inter, post = "", "", ""
	}
	return pat
}

// isAuthEval reports the eval functions answered from Input.Auth.
func isAuthEval(fn string) bool {
	return strings.HasPrefix(fn, "check_for_spf_") || strings.HasPrefix(fn, "check_dkim_") || strings.HasPrefix(fn, "check_dmarc_")
}
