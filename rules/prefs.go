package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrPrefs is wrapped by errors about a user_prefs file that cannot be
// used at all.
var ErrPrefs = errors.New("rules: bad user_prefs")

// Prefs is one user's preferences (SpamAssassin's user_prefs) over the
// Ruleset that parsed them: required_score, score overrides, the
// welcomelists and blocklists, rewrite_header, report_safe and the other
// settings spamd lets a user change (trusted_networks too), applied at
// evaluation and scoring time (Input.Prefs, Prefs.Config) without
// recompiling the site's rules. Rule definitions count only when the
// site's rule files say allow_user_rules 1; administrator settings never.
// A Prefs is immutable and safe for concurrent use.
type Prefs struct {
	rs     *Ruleset
	conf   Config
	scores map[int][4]float64 // by site rule index
	user   *Ruleset           // the user's own rules; nil without
	lint   Lint
	key    string
}

// prefsParse is the state of a parser reading a user_prefs file.
type prefsParse struct {
	rules   strings.Builder // the user's rule lines, with allow_user_rules
	ignored int             // rule lines left out without allow_user_rules
	first   int             // line of the first one
}

// userRuleKeys are the directives SpamAssassin's Conf.pm marks is_priv:
// a user's own rules, honoured only with the site's allow_user_rules.
var userRuleKeys = map[string]bool{
	"header": true, "body": true, "rawbody": true, "full": true, "uri": true,
	"mimeheader": true, "meta": true, "tflags": true, "priority": true, "reuse": true,
}

// adminKeys are the settings Conf.pm marks is_admin or is_priv (besides
// the rules), which a user_prefs file may not change, and the ones sluice
// reads only at load time (include, shortcircuit).
var adminKeys = map[string]bool{
	"allow_user_rules": true, "redirector_pattern": true, "version_tag": true, "test": true,
	"body_part_scan_size": true, "rawbody_part_scan_size": true, "rbl_timeout": true,
	"util_rb_tld": true, "util_rb_2tld": true, "util_rb_3tld": true, "user_scores_dsn": true,
	"loadplugin": true, "tryplugin": true, "dns_block_rule": true, "dns_local_ports_permit": true,
	"dns_local_ports_avoid": true, "include": true, "shortcircuit": true,
	"shortcircuit_spam_score": true, "shortcircuit_ham_score": true, "enable_compat": true,
	"bayes_path": true, "bayes_file_mode": true, "bayes_store_module": true, "bayes_sql_dsn": true,
	"bayes_sql_username": true, "bayes_sql_password": true, "bayes_sql_username_authorized": true,
	"user_scores_sql_username": true, "user_scores_sql_password": true, "user_scores_sql_custom_query": true,
	"user_scores_ldap_username": true, "user_scores_ldap_password": true, "user_scores_fallback_to_global": true,
}

// prefsDirective screens one directive of a user_prefs file as
// SpamAssassin's parse_scores_only does. It reports whether the parser
// should go on and handle it as in a rule file.
func (p *parser) prefsDirective(file string, line int, key, val string) bool {
	pp := p.prefs
	switch {
	case userRuleKeys[key]:
		if !p.rs.conf.AllowUserRules {
			if pp.ignored == 0 {
				pp.first = line
			}
			pp.ignored++
			return false
		}
		fmt.Fprintf(&pp.rules, "%s %s\n", key, val)
		return false
	case key == "score" || key == "describe":
		if p.rs.conf.AllowUserRules {
			fmt.Fprintf(&pp.rules, "%s %s\n", key, val)
		}
		return true
	case adminKeys[key]:
		p.warn(file, line, "%s is not allowed in user_prefs: ignored", key)
		return false
	}
	return true
}

// ParsePrefs reads a user_prefs file (name only labels diagnostics) over
// the site's settings, as spamd reads one (parse_scores_only). Lines it
// cannot use are warnings in Prefs.Lint: administrator settings, and rule
// definitions when the site does not allow user rules. It fails only for
// input that is not text.
func (rs *Ruleset) ParsePrefs(name string, data []byte) (*Prefs, error) {
	if slices.Contains(data, 0) {
		return nil, fmt.Errorf("%w: %s: NUL byte", ErrPrefs, name)
	}
	p, err := newParser(rs.opt)
	if err != nil {
		return nil, err
	}
	p.rs.conf = rs.conf.clone()
	p.prefs = &prefsParse{}
	if err := p.parse(name, data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPrefs, err)
	}
	pr := &Prefs{rs: rs, conf: p.rs.conf, scores: map[int][4]float64{}, lint: p.rs.lint}
	if len(pr.conf.FreemailDomains) != len(rs.conf.FreemailDomains) {
		pr.conf.freemail = newFreemailIndex(pr.conf.FreemailDomains)
	}
	if n := p.prefs.ignored; n > 0 {
		pr.lint.Warnings = append(pr.lint.Warnings, Diagnostic{File: name, Line: p.prefs.first,
			Msg: fmt.Sprintf("%d rule lines ignored: the site does not set allow_user_rules", n)})
	}
	for n, vs := range p.scores {
		r, ok := rs.byName[n]
		if !ok {
			continue
		}
		var s [4]float64
		if len(vs) == 4 {
			copy(s[:], vs)
		} else {
			s = [4]float64{vs[0], vs[0], vs[0], vs[0]}
		}
		pr.scores[r.idx] = s
	}
	if text := p.prefs.rules.String(); text != "" {
		uopt := rs.opt
		uopt.Cache = CacheOptions{}
		u, err := LoadString(name, text, uopt)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: user rules: %v", ErrPrefs, name, err)
		}
		// Names the site defines stay the site's: a user may rescore
		// them, not redefine them.
		for _, r := range u.rules {
			if _, ok := rs.byName[r.name]; ok {
				u.disable(r, "site rule")
			}
		}
		pr.user = u
		pr.lint.Errors = append(pr.lint.Errors, u.lint.Errors...)
		pr.lint.Warnings = append(pr.lint.Warnings, u.lint.Warnings...)
	}
	sum := sha256.Sum256(data)
	pr.key = hex.EncodeToString(sum[:12])
	return pr, nil
}

// Config returns the site's settings with the user's applied, for
// scoring (required_score, rewrite_header, report_safe, …). A nil Prefs
// returns the site's Config of the Ruleset; see Ruleset.ConfigFor.
func (pr *Prefs) Config() Config { return pr.conf }

// Lint returns what reading the file found: settings ignored, rule
// errors.
func (pr *Prefs) Lint() Lint { return pr.lint }

// Key identifies the preferences' content: two users whose files say the
// same thing share one key, and a message is scored once for both.
func (pr *Prefs) Key() string {
	if pr == nil {
		return ""
	}
	return pr.key
}

// ConfigFor returns the settings one evaluation scores with: the user's
// over the site's, or the site's when pr is nil or belongs to another
// Ruleset (parsed before a reload).
func (rs *Ruleset) ConfigFor(pr *Prefs) Config {
	if pr.appliesTo(rs) {
		return pr.conf
	}
	return rs.conf
}

func (pr *Prefs) appliesTo(rs *Ruleset) bool { return pr != nil && pr.rs == rs }

// evalConfig is the Config eval functions read for in.
func (rs *Ruleset) evalConfig(in *Input) *Config {
	if in.Prefs.appliesTo(rs) {
		return &in.Prefs.conf
	}
	return &rs.conf
}

// scoreOf is r's score in set, the user's when in.Prefs sets one.
func (rs *Ruleset) scoreOf(in *Input, r *rule, set int) float64 {
	if in.Prefs.appliesTo(rs) {
		if s, ok := in.Prefs.scores[r.idx]; ok {
			return s[set]
		}
	}
	return r.scores[set]
}

// userHits evaluates the user's own rules, if any, and returns their
// hits, scored in set.
func (rs *Ruleset) userHits(res *Result, in *Input, eval func(u *Ruleset) Result) {
	if !in.Prefs.appliesTo(rs) || in.Prefs.user == nil {
		return
	}
	ur := eval(in.Prefs.user)
	res.Hits = append(res.Hits, ur.Hits...)
	res.Score += ur.Score
	res.Errors = append(res.Errors, ur.Errors...)
}

// clone copies c so that parsing a user_prefs file over it leaves c as
// it was: slices are clipped (an append copies) and the maps a user's
// directives write to are copied.
func (c Config) clone() Config {
	for _, s := range []*[]string{&c.WelcomelistFrom, &c.BlocklistFrom, &c.WelcomelistAllowsRelays, &c.WelcomelistBounceRelays,
		&c.WelcomelistTo, &c.MoreSpamTo, &c.AllSpamTo, &c.BlocklistTo, &c.WelcomelistSubject,
		&c.BlocklistSubject, &c.WelcomelistURIHost, &c.BlocklistURIHost, &c.FreemailDomains} {
		*s = slices.Clip(*s)
	}
	c.WelcomelistRcvd = slices.Clip(c.WelcomelistRcvd)
	c.DefWelcomelistRcvd = slices.Clip(c.DefWelcomelistRcvd)
	for _, s := range []*[]AuthListEntry{&c.WelcomelistDKIM, &c.DefWelcomelistDKIM, &c.WelcomelistSPF, &c.DefWelcomelistSPF} {
		*s = slices.Clip(*s)
	}
	c.TrustedNetworks = slices.Clip(c.TrustedNetworks)
	c.InternalNetworks = slices.Clip(c.InternalNetworks)
	c.MSANetworks = slices.Clip(c.MSANetworks)
	c.AddHeaders = slices.Clip(c.AddHeaders)
	c.RemoveHeaders = slices.Clip(c.RemoveHeaders)
	c.RewriteHeader = maps.Clone(c.RewriteHeader)
	c.AddrLists = cloneLists(c.AddrLists)
	c.URIHostLists = cloneLists(c.URIHostLists)
	c.TLDs = maps.Clone(c.TLDs)
	c.TwoLevelTLDs = maps.Clone(c.TwoLevelTLDs)
	d := &c.DNS
	d.ZoneTimeouts, d.URIBLs = maps.Clone(d.ZoneTimeouts), maps.Clone(d.URIBLs)
	d.SkipDomains, d.Restrictions = maps.Clone(d.SkipDomains), maps.Clone(d.Restrictions)
	b := &c.Bayes
	b.Other = maps.Clone(b.Other)
	b.IgnoreHeaders, b.IgnoreFrom, b.IgnoreTo = slices.Clip(b.IgnoreHeaders), slices.Clip(b.IgnoreFrom), slices.Clip(b.IgnoreTo)
	return c
}

func cloneLists(m map[string][]string) map[string][]string {
	if m == nil {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = slices.Clip(v)
	}
	return out
}
