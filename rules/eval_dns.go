package rules

// The eval functions of SpamAssassin's DNSEval plugin (check_rbl,
// check_rbl_sub, check_rbl_txt, check_rbl_envfrom, check_rbl_from_host,
// check_rbl_from_domain, check_rbl_headers, check_rbl_rcvd) and the
// URIDNSBL plugin (check_uridnsbl over urirhs*, uridns*, urinsrhs* and
// urifullnsrhs* lines), and the queries they plan for the lookup phase
// (dnslookup.go).
//
// Divergences from SpamAssassin: originating_ip_headers are not read
// apart from the relays package's synthetic relays; URI hosts are taken
// in message order, not ranked by the kind of link they came from; no
// dns_available probe is made ("test" counts as "yes").

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules/relays"
)

// rblRule is one check_rbl* rule, its arguments parsed.
type rblRule struct {
	rule, fn, set, zone string
	txt, nice           bool
	sub                 *rblSubtest // nil: any answer
	tflags              map[string]bool
	headers             string // check_rbl_headers: its header list, "" for rbl_headers
	accreditor          string // check_rbl_accreditor: the tag, lower case
}

// rblSub is one check_rbl_sub rule.
type rblSub struct {
	set string
	sub *rblSubtest
}

// dnsRules is what the loaded rules ask of DNS, built once per load.
type dnsRules struct {
	rbl   []rblRule
	byRBL map[string]*rblRule
	subs  map[string]rblSub
	uribl []string // rules with a URIBL line and an active check_uridnsbl, sorted
}

// dnsRules returns the ruleset's DNS plan.
func (rs *Ruleset) dnsRules() *dnsRules {
	if rs.dns == nil {
		return &dnsRules{}
	}
	return rs.dns
}

// scoredRule reports whether SpamAssassin would run a network rule: a
// score of zero disables it (a __ rule's default score is 1 there).
func scoredRule(r *rule) bool {
	return strings.HasPrefix(r.name, "__") || r.scores[0] != 0 || r.scores[1] != 0 || r.scores[2] != 0 || r.scores[3] != 0
}

// buildDNSRules collects the check_rbl*, check_rbl_sub and
// check_uridnsbl rules that can fire.
func (rs *Ruleset) buildDNSRules() *dnsRules {
	d := &dnsRules{subs: map[string]rblSub{}, byRBL: map[string]*rblRule{}}
	for _, r := range rs.evals {
		if r.inactive != "" && r.inactive != "net" || !scoredRule(r) {
			continue
		}
		args := r.def.args
		tf := map[string]bool{}
		for _, f := range r.tflags {
			tf[f] = true
		}
		switch fn := r.def.eval; fn {
		case "check_rbl", "check_rbl_txt", "check_rbl_envfrom", "check_rbl_from_host", "check_rbl_from_domain",
			"check_rbl_headers", "check_rbl_rcvd", "check_rbl_accreditor":
			if len(args) < 2 || fn == "check_rbl_accreditor" && len(args) < 4 {
				rs.dnsDiag(r, fmt.Errorf("%s needs a set and a zone", fn))
				continue
			}
			rr := rblRule{rule: r.name, fn: fn, set: args[0], zone: normZone(args[1]), txt: fn == "check_rbl_txt", nice: tf["nice"], tflags: tf}
			if fn == "check_rbl_headers" && len(args) > 3 {
				rr.headers = args[3]
			}
			if fn == "check_rbl_accreditor" {
				rr.accreditor = strings.ToLower(args[3])
			}
			if len(args) > 2 && args[2] != "" {
				sub, err := compileRBLSubtest(args[2])
				if err != nil {
					rs.dnsDiag(r, err)
					continue
				}
				rr.sub = sub
			}
			d.rbl = append(d.rbl, rr)
		case "check_rbl_sub":
			if len(args) < 2 {
				continue
			}
			sub, err := compileRBLSubtest(args[1])
			if err != nil {
				rs.dnsDiag(r, err)
				continue
			}
			d.subs[r.name] = rblSub{set: args[0], sub: sub}
		case "check_uridnsbl":
			if _, ok := rs.conf.DNS.URIBLs[r.name]; ok {
				d.uribl = append(d.uribl, r.name)
			}
		}
	}
	sort.Strings(d.uribl)
	d.byRBL = map[string]*rblRule{}
	zones := map[string]bool{}
	for i := range d.rbl {
		d.byRBL[d.rbl[i].rule] = &d.rbl[i]
		zones[d.rbl[i].zone] = true
	}
	for _, n := range d.uribl {
		zones[rs.conf.DNS.URIBLs[n].Zone] = true
	}
	rs.lint.DNS = DNSLint{RBLRules: len(d.rbl) + len(d.subs), URIBLRules: len(d.uribl), Zones: len(zones)}
	return d
}

// dnsDiag reports a network rule whose arguments are wrong; it never fires.
func (rs *Ruleset) dnsDiag(r *rule, err error) {
	rs.lint.Errors = append(rs.lint.Errors, Diagnostic{File: r.def.file, Line: r.def.line, Rule: r.name, Msg: fmt.Sprintf("%s: %v", r.name, err)})
}

// rblIPs returns the relay addresses a check_rbl set looks up, as
// DNSEval.pm's _check_rbl_backend chooses them: "-lastexternal" the
// newest external relay, "-notfirsthop" every external relay but the
// oldest, "-firsttrusted" the relay that handed the message to the
// trusted ones, "-untrusted" the untrusted ones after it, and a plain set
// every untrusted relay, oldest first; at most num_check_received, the
// leading trusted ones dropped unless the rule is nice.
func (rs *Ruleset) rblIPs(rl *Relays, rr rblRule) []string {
	untrusted := uniqPublic(ipsOf(rl.Untrusted))
	if len(untrusted) == 0 {
		return nil
	}
	var ips []string
	switch {
	case strings.HasSuffix(rr.set, "-lastexternal"), strings.HasSuffix(rr.set, "-notfirsthop"):
		var ext []string
		for _, r := range rl.Trusted {
			if !r.Internal {
				ext = append(ext, r.IP)
			}
		}
		ips = uniqPublic(append(ext, ipsOf(rl.Untrusted)...))
		if strings.HasSuffix(rr.set, "-lastexternal") {
			ips = ips[:min(len(ips), 1)]
		} else if len(ips) > 1 {
			ips = ips[:len(ips)-1]
		}
	case strings.HasSuffix(rr.set, "-firsttrusted"):
		ips = untrusted[:1]
	case strings.HasSuffix(rr.set, "-untrusted"):
		ips = untrusted[1:]
	default:
		for i := len(untrusted) - 1; i >= 0; i-- {
			ips = append(ips, untrusted[i])
		}
	}
	if n := rs.conf.DNS.NumCheckReceived; len(ips) > n {
		ips = ips[:n]
	}
	if !rr.nice {
		for len(ips) > 0 && relays.InPrefixes(ips[0], rs.conf.TrustedNetworks) {
			ips = ips[1:]
		}
	}
	return ips
}

func ipsOf(rs []Relay) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.IP)
	}
	return out
}

// uniqPublic drops empty, repeated and private addresses, keeping order.
func uniqPublic(ips []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, ip := range ips {
		if ip == "" || seen[ip] {
			continue
		}
		seen[ip] = true
		if relays.IsPrivateIP(ip) {
			continue
		}
		out = append(out, ip)
	}
	return out
}

// planRBL launches the queries of the check_rbl* rules.
func (rs *Ruleset) planRBL(l *dnsLookups, plan *dnsRules, msg Message, rl *Relays) {
	for _, rr := range plan.rbl {
		qtype := "A"
		if rr.txt {
			qtype = "TXT"
		}
		var hosts []string
		switch rr.fn {
		case "check_rbl_envfrom":
			hosts = rs.addrHosts(headerAddrs(msg, rl, "EnvelopeFrom"), rr.tflags)
		case "check_rbl_from_host":
			hosts = rs.addrHosts(allFromAddrs(msg, rl), rr.tflags)
		case "check_rbl_from_domain":
			hosts = rs.addrHosts(rs.fromDomains(msg, rl), rr.tflags)
		case "check_rbl_headers":
			hosts = rs.rblHeaderHosts(msg, rl, rr)
		case "check_rbl_rcvd":
			hosts = rs.rcvdHosts(rl, rr.tflags)
		default:
			if rr.fn == "check_rbl_accreditor" && !accreditorTags(msg, rl)[rr.accreditor] {
				continue
			}
			for _, ip := range rs.rblIPs(rl, rr) {
				if name, ok := reverseName(ip, rr.zone); ok {
					l.launch(rr.rule, rr.set, dnsQuery{name: name, qtype: qtype, zone: rr.zone})
				}
			}
			continue
		}
		for _, host := range hosts {
			l.launch(rr.rule, rr.set, dnsQuery{name: host + "." + rr.zone, qtype: qtype, zone: rr.zone})
		}
	}
}

// accreditorTags returns the accreditors the message asserts, as
// DNSEval.pm's message_accreditor_tag finds them: an "a--TAG." label in
// the envelope sender's address, and the first word of each
// comma-separated item of the Accreditor fields; lower case.
func accreditorTags(msg Message, rl *Relays) map[string]bool {
	tags := map[string]bool{}
	if env := headerAddrs(msg, rl, "EnvelopeFrom"); len(env) > 0 {
		if m := accreditorEnvRE.FindStringSubmatch(env[0]); m != nil {
			tags[strings.ToLower(m[1])] = true
		}
	}
	if v := msg.Header("Accreditor", false); len(v) > 0 {
		for _, item := range strings.Split(strings.Join(v, "\n"), ",") {
			if f := strings.Fields(item); len(f) > 0 {
				tags[strings.ToLower(f[0])] = true
			}
		}
	}
	return tags
}

var accreditorEnvRE = regexp.MustCompile(`(?i)[@.]a--([a-z0-9]{3,})\.`)

// allFromAddrs returns the sender addresses of PerMsgStatus.pm
// all_from_addrs: the first Resent-From when there is one, else those of
// From, Envelope-Sender, Resent-Sender, X-Envelope-From and EnvelopeFrom.
func allFromAddrs(msg Message, rl *Relays) []string {
	if v := msg.Header("Resent-From", true); len(v) > 0 {
		if a := mail.HeaderAddr(v[0]); len(a) > 0 {
			return a[:1]
		}
	}
	var addrs []string
	for _, h := range []string{"From", "Envelope-Sender", "Resent-Sender", "X-Envelope-From", "EnvelopeFrom"} {
		addrs = append(addrs, headerAddrs(msg, rl, h)...)
	}
	return addrs
}

// fromDomains returns all_from_addrs_domains: each sender address's
// registrable domain (an address literal as it is), once each, as
// dummy@domain.
func (rs *Ruleset) fromDomains(msg Message, rl *Relays) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range allFromAddrs(msg, rl) {
		i := strings.LastIndexByte(a, '@')
		if i < 0 {
			continue
		}
		host := strings.ToLower(strings.Trim(a[i+1:], "."))
		dom := strings.Trim(host, "[]")
		if !isIPv4(dom) {
			if !rs.validDomain(host) {
				continue
			}
			dom = RegistrableDomain(host, rs.conf.TLDs, rs.conf.TwoLevelTLDs)
		}
		if dom == "" || seen[dom] {
			continue
		}
		seen[dom] = true
		out = append(out, "dummy@"+dom)
	}
	return out
}

// rblHeaderHosts returns what check_rbl_headers looks up for each header
// of its list (rbl_headers by default): the host of the field's first
// address, or else each line of the field, an IPv4 address reversed
// (not with tflags domains_only) or a host name under a known TLD (not
// with ips_only).
func (rs *Ruleset) rblHeaderHosts(msg Message, rl *Relays, rr rblRule) []string {
	list := rr.headers
	if list == "" {
		list = rs.conf.DNS.RBLHeaders
	}
	var out []string
	for _, h := range strings.Split(list, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if addrs := headerAddrs(msg, rl, h); len(addrs) > 0 && strings.Contains(addrs[0], "@") {
			out = append(out, rs.addrHosts(addrs[:1], rr.tflags)...)
			continue
		}
		for _, v := range headerValues(msg, rl, h, false) {
			for _, host := range strings.Split(strings.TrimRight(v, "\n"), "\n") {
				if q, ok := rs.rblHost(strings.TrimSpace(host), rr.tflags); ok {
					out = append(out, q)
				}
			}
		}
	}
	return out
}

// rcvdHosts returns what check_rbl_rcvd looks up: the address, by,
// HELO and rDNS names of the oldest untrusted relay, once each.
func (rs *Ruleset) rcvdHosts(rl *Relays, tf map[string]bool) []string {
	if len(rl.Untrusted) == 0 {
		return nil
	}
	r := rl.Untrusted[len(rl.Untrusted)-1]
	seen := map[string]bool{}
	var out []string
	for _, v := range []string{r.IP, r.By, r.HELO, r.RDNS} {
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		if q, ok := rs.rblHost(strings.TrimSuffix(v, "."), tf); ok {
			out = append(out, q)
		}
	}
	return out
}

// rblHost is one host's query label under a zone, as DNSEval.pm checks
// it: an IPv4 address reversed unless tflags domains_only, a host name
// under a known TLD unless ips_only.
func (rs *Ruleset) rblHost(host string, tf map[string]bool) (string, bool) {
	if host == "" {
		return "", false
	}
	if isIPv4(host) {
		if tf["domains_only"] {
			return "", false
		}
		name, ok := reverseName(host, "")
		return strings.TrimSuffix(name, "."), ok
	}
	if tf["ips_only"] || !validFQDN(host) || !rs.validDomain(strings.ToLower(host)) {
		return "", false
	}
	return host, true
}

// validFQDN is Util.pm's is_fqdn_valid: at most 255 octets, labels of 1
// to 63, at least two of them.
func validFQDN(host string) bool {
	if len(host) > 255 || !strings.Contains(host, ".") {
		return false
	}
	for _, l := range strings.Split(host, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// headerAddrs returns the addresses of a header field.
func headerAddrs(msg Message, rl *Relays, name string) []string {
	var out []string
	for _, v := range headerValues(msg, rl, name, true) {
		out = append(out, mail.HeaderAddr(v)...)
	}
	return out
}

// headerValues is msg.Header(name, raw) with the EnvelopeFrom
// pseudo-header answered as PerMsgStatus::get_envelope_from does: the
// SMTP sender, else the relays' envelope-from, else the field the last MTA
// added (envelopeFrom).
func headerValues(msg Message, rl *Relays, name string, raw bool) []string {
	if strings.EqualFold(name, "EnvelopeFrom") {
		return envelopeFrom(msg, rl)
	}
	return msg.Header(name, raw)
}

// addrHosts returns the hosts of addresses a check_rbl_envfrom or
// check_rbl_from_host rule looks up (DNSEval.pm _check_rbl_addresses): an
// IP literal reversed, a name under a known TLD as it is.
func (rs *Ruleset) addrHosts(addrs []string, tf map[string]bool) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range addrs {
		i := strings.LastIndexByte(a, '@')
		if i < 0 {
			continue
		}
		host := strings.ToLower(strings.Trim(a[i+1:], "."))
		for strings.Contains(host, "..") {
			host = strings.ReplaceAll(host, "..", ".")
		}
		if !strings.Contains(host, ".") || seen[host] {
			continue
		}
		seen[host] = true
		h := strings.Trim(host, "[]")
		if isIPv4(h) {
			if tf["domains_only"] {
				continue
			}
			if name, ok := reverseName(h, ""); ok {
				out = append(out, strings.TrimSuffix(name, "."))
			}
			continue
		}
		// uridnsbl_skip_domain is URIDNSBL's: DNSEval asks such hosts.
		if tf["ips_only"] || !rs.validDomain(host) {
			continue
		}
		out = append(out, host)
	}
	return out
}

// validDomain reports a host whose top-level domain is in util_rb_tld
// (RegistryBoundaries is_domain_valid); without a TLD list, any dotted
// name.
func (rs *Ruleset) validDomain(host string) bool {
	i := strings.LastIndexByte(host, '.')
	if i < 0 || i == len(host)-1 {
		return false
	}
	return len(rs.conf.TLDs) == 0 || rs.conf.TLDs[host[i+1:]]
}

// uriHost is one host of the message's URIs and its registrable domain.
type uriHost struct{ host, domain string }

// uriHosts returns the distinct hosts of the message's URIs, in order,
// at most uridnsbl_max_domains, without mailto: URIs (uridnsbl_skip_mailto),
// hosts outside a known TLD and uridnsbl_skip_domain entries.
func (rs *Ruleset) uriHosts(msg Message) []uriHost {
	c := &rs.conf.DNS
	seen := map[string]bool{}
	var out []uriHost
	for _, u := range msg.URIs() {
		if len(out) >= c.MaxDomains {
			break
		}
		host := uriHostOf(u, c.SkipMailto)
		if host == "" || seen[host] {
			continue
		}
		seen[host] = true
		if strings.HasPrefix(host, "[") {
			continue
		}
		dom := host
		if !isIPv4(host) {
			if !rs.validDomain(host) {
				continue
			}
			dom = RegistrableDomain(host, rs.conf.TLDs, rs.conf.TwoLevelTLDs)
		}
		if c.SkipDomains[dom] || c.SkipDomains[host] {
			continue
		}
		out = append(out, uriHost{host: host, domain: dom})
	}
	return out
}

// uriHostOf returns the lower-case host of a URI from mail's list ("" for
// none, or a mailto: when skipped).
func uriHostOf(u string, skipMailto bool) string {
	if len(u) > 7 && strings.EqualFold(u[:7], "mailto:") {
		if skipMailto {
			return ""
		}
		addr := u[7:]
		if i := strings.IndexAny(addr, "?"); i >= 0 {
			addr = addr[:i]
		}
		i := strings.LastIndexByte(addr, '@')
		if i < 0 {
			return ""
		}
		return strings.Trim(strings.ToLower(addr[i+1:]), ".")
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return ""
	}
	return strings.Trim(strings.ToLower(p.Hostname()), ".")
}

// planURIBL launches the URI blocklist queries (URIDNSBL.pm
// query_hosts_or_domains): name-based zones get the registrable domain
// (the host with tflags notrim), or a public IPv4 host reversed;
// address-based zones get the addresses of the domain's name servers
// (tflags a: of the host itself), reversed.
func (rs *Ruleset) planURIBL(l *dnsLookups, plan *dnsRules, msg Message) {
	hosts := rs.uriHosts(msg)
	for _, h := range hosts {
		ip := isIPv4(h.host)
		if ip && relays.IsPrivateIP(h.host) {
			continue
		}
		var nsRules, aRules []string
		for _, name := range plan.uribl {
			u := rs.conf.DNS.URIBLs[name]
			tf := map[string]bool{}
			if r := rs.byName[name]; r != nil {
				for _, f := range r.tflags {
					tf[f] = true
				}
			}
			if u.NS != "" {
				if !ip {
					nsRules = append(nsRules, name)
				}
				continue
			}
			if !u.RHS {
				if ip {
					continue
				}
				if tf["a"] {
					aRules = append(aRules, name)
				}
				if tf["ns"] || !tf["a"] {
					nsRules = append(nsRules, name)
				}
				continue
			}
			if (ip && tf["domains_only"]) || (!ip && tf["ips_only"]) {
				continue
			}
			q := h.domain
			if tf["notrim"] {
				q = h.host
			}
			qname := q + "." + u.Zone
			if ip {
				qname, _ = reverseName(q, u.Zone)
			}
			l.launch(name, "", dnsQuery{name: qname, qtype: u.Type, zone: u.Zone})
		}
		if len(nsRules) > 0 {
			l.chain(dnsQuery{name: h.domain, qtype: "NS"}, nsRules)
		}
		if len(aRules) > 0 {
			l.chain(dnsQuery{name: h.host, qtype: "A"}, aRules)
		}
	}
}

// chain looks q up (a domain's NS records, or a host's addresses), then
// the addresses of the name servers found, and queries each public
// address in the zones of rules (uridnsbl, uridnssub); the name-server
// RHSBLs among rules (urinsrhs*, urifullnsrhs*) query the names instead.
func (l *dnsLookups) chain(q dnsQuery, rules []string) {
	if !l.allowed(q) {
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		a := l.ask(q)
		if a == nil {
			return
		}
		addrRules := rules
		var ips []string
		if q.qtype == "A" {
			ips = a.vals
		} else {
			addrRules = addrRules[:0]
			for _, rule := range rules {
				if l.cfg.URIBLs[rule].NS == "" {
					addrRules = append(addrRules, rule)
				} else {
					l.nsRHS(a.vals, rule)
				}
			}
			if len(addrRules) == 0 {
				return
			}
			for i, ns := range a.vals {
				if i == 4 {
					break // enough name servers to find a listed one
				}
				if isIPv4(ns) {
					ips = append(ips, ns)
					continue
				}
				if na := l.ask(dnsQuery{name: ns, qtype: "A"}); na != nil {
					ips = append(ips, na.vals...)
				}
			}
		}
		for _, ip := range uniqPublic(ips) {
			for _, rule := range addrRules {
				u := l.cfg.URIBLs[rule]
				name, ok := reverseName(ip, u.Zone)
				if !ok {
					continue
				}
				bq := dnsQuery{name: name, qtype: u.Type, zone: u.Zone}
				if !l.allowed(bq) {
					continue
				}
				l.mu.Lock()
				l.byRule[rule] = append(l.byRule[rule], bq)
				l.mu.Unlock()
				l.ask(bq)
			}
		}
	}()
}

// nsRHS queries the name servers of a URI domain in the zone of a
// urinsrhs* rule (each name's registrable domain) or urifullnsrhs* rule
// (the name itself), as URIDNSBL.pm complete_ns_lookup does: every name
// server, an address-like one as it is when public.
func (l *dnsLookups) nsRHS(servers []string, rule string) {
	u := l.cfg.URIBLs[rule]
	for _, ns := range servers {
		q := ns
		switch {
		case isIPv4(ns):
			if relays.IsPrivateIP(ns) {
				continue
			}
		case strings.Contains(ns, ":"):
			continue
		case u.NS == "ns":
			q = l.trim(ns)
		}
		bq := dnsQuery{name: q + "." + u.Zone, qtype: u.Type, zone: u.Zone}
		if !l.allowed(bq) {
			continue
		}
		l.mu.Lock()
		l.byRule[rule] = append(l.byRule[rule], bq)
		l.mu.Unlock()
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.ask(bq)
		}()
	}
}

// lookupsFor returns the evaluation's lookup phase, nil without one.
func lookupsFor(ec *EvalContext) *dnsLookups {
	l, _ := ec.cache[dnsKey].(*dnsLookups)
	return l
}

// registerDNSEvals adds the DNSEval and URIDNSBL eval functions. A rule
// also fires when the caller decided it through Input.Rules (the zones
// of [[auth.dnsbl]]).
func registerDNSEvals(r *EvalRegistry) {
	for _, n := range []string{"check_rbl", "check_rbl_txt", "check_rbl_envfrom", "check_rbl_from_host",
		"check_rbl_from_domain", "check_rbl_headers", "check_rbl_rcvd", "check_rbl_accreditor"} {
		r.Register(n, evalRBL)
	}
	r.Register("check_rbl_sub", evalRBLSub)
	r.Register("check_uridnsbl", evalURIDNSBL)
}

// evalRBL fires when an answer to one of the rule's queries passes its
// sub-test (any answer without one); A answers count only in 127/8.
func evalRBL(ec *EvalContext, _ []string) (bool, error) {
	if ec.Input.Rules[ec.Rule] {
		return true, nil
	}
	l := lookupsFor(ec)
	if l == nil {
		return false, nil
	}
	rr := l.plan.byRBL[ec.Rule]
	if rr == nil {
		return false, nil
	}
	return anyPasses(l.answersOf(l.byRule[ec.Rule]), rr.sub), nil
}

// evalRBLSub fires when an answer to a query of its set passes its
// sub-test.
func evalRBLSub(ec *EvalContext, _ []string) (bool, error) {
	if ec.Input.Rules[ec.Rule] {
		return true, nil
	}
	l := lookupsFor(ec)
	if l == nil {
		return false, nil
	}
	s, ok := l.plan.subs[ec.Rule]
	if !ok {
		return false, nil
	}
	return anyPasses(l.answersOf(l.bySet[s.set]), s.sub), nil
}

func anyPasses(rs []dnsResult, sub *rblSubtest) bool {
	for _, r := range rs {
		if !r.txt && !in127(r.val) {
			continue
		}
		if sub == nil || sub.match(r.val) {
			return true
		}
	}
	return false
}

// evalURIDNSBL fires when a query of the rule's URIBL line was answered
// as its sub-test asks.
func evalURIDNSBL(ec *EvalContext, _ []string) (bool, error) {
	if ec.Input.Rules[ec.Rule] {
		return true, nil
	}
	l := lookupsFor(ec)
	if l == nil {
		return false, nil
	}
	u := ec.Config.DNS.URIBLs[ec.Rule]
	for _, r := range l.answersOf(l.byRule[ec.Rule]) {
		if MatchURISubtest(r.val, u.Subtest, r.txt) {
			return true, nil
		}
	}
	return false, nil
}
