package rules

import (
	"strconv"
	"strings"
	"time"
)

// DNSConfig is what the rule files say about network tests: the DNSEval
// settings of Conf.pm and the URI blocklists of the URIDNSBL plugin, with
// SpamAssassin's defaults. The lookup phase (dnslookup.go) reads it.
type DNSConfig struct {
	// Available is dns_available: "no" turns every DNS test off; "yes"
	// and "test…" leave them on (sluice does not probe).
	Available bool
	// SkipRBL is skip_rbl_checks; SkipURIBL skip_uribl_checks.
	SkipRBL, SkipURIBL bool
	// RBLTimeout is rbl_timeout (default 15 s); ZoneTimeouts its
	// per-zone form ("rbl_timeout 5 0 zen.spamhaus.org").
	RBLTimeout   time.Duration
	ZoneTimeouts map[string]time.Duration
	// URIBLs are the urirhsbl, urirhssub, uridnsbl and uridnssub lines by
	// rule name.
	URIBLs map[string]URIBL
	// SkipDomains is uridnsbl_skip_domain (lower case).
	SkipDomains map[string]bool
	// MaxDomains is uridnsbl_max_domains (default 20).
	MaxDomains int
	// SkipMailto is uridnsbl_skip_mailto (default true).
	SkipMailto bool
	// NumCheckReceived is num_check_received (default 9): how many
	// untrusted relays check_rbl looks up.
	NumCheckReceived int
	// Restrictions is dns_query_restriction: domain → allowed.
	Restrictions map[string]bool
	// RBLHeaders is rbl_headers: the header fields check_rbl_headers
	// reads when its rule names none, comma-separated.
	RBLHeaders string
}

// URIBL is one URI blocklist rule of the URIDNSBL plugin.
type URIBL struct {
	Zone string // without the trailing dot, lower case
	Type string // "A" or "TXT"
	// RHS: the zone lists domain names (urirhsbl, urirhssub); otherwise
	// it lists the addresses of the domains' name servers (uridnsbl,
	// uridnssub).
	RHS bool
	// NS is set for the name-server RHSBLs: "ns" (urinsrhsbl,
	// urinsrhssub: the registrable domain of each of the URI domain's
	// name servers is looked up) or "full" (urifullnsrhsbl,
	// urifullnsrhssub: the name server's own name).
	NS string
	// Subtest is the canonical sub-test ("" for any 127/8 answer), see
	// ParseURISubtest.
	Subtest string
}

// DNSLint counts the network rules the lookup phase runs, for lint.
type DNSLint struct {
	// RBLRules are check_rbl* and check_rbl_sub rules, URIBLRules
	// check_uridnsbl rules with a URIBL line; Zones the distinct zones
	// they query. Zero-scored rules are left out, as SpamAssassin skips
	// them.
	RBLRules, URIBLRules, Zones int
}

// DefaultDNSConfig returns SpamAssassin's defaults.
func DefaultDNSConfig() DNSConfig {
	return DNSConfig{
		Available:        true,
		RBLTimeout:       15 * time.Second,
		ZoneTimeouts:     map[string]time.Duration{},
		URIBLs:           map[string]URIBL{},
		SkipDomains:      map[string]bool{},
		MaxDomains:       20,
		SkipMailto:       true,
		NumCheckReceived: 9,
		Restrictions:     map[string]bool{},
		RBLHeaders:       "EnvelopeFrom,Reply-To,Disposition-Notification-To,X-WebmailclientIP,X-Source-IP",
	}
}

// normZone lower-cases a zone and strips its trailing dots.
func normZone(z string) string { return strings.TrimRight(strings.ToLower(z), ".") }

// dnsDirective handles the DNS test settings. It reports whether key was
// one of them.
func (p *parser) dnsDirective(file string, line int, key, val string) bool {
	c := &p.rs.conf.DNS
	yes := func() bool {
		v := strings.ToLower(strings.TrimSpace(val))
		return v == "" || v == "1" || v == "yes"
	}
	switch key {
	case "dns_available":
		c.Available = !strings.EqualFold(strings.TrimSpace(val), "no")
	case "skip_rbl_checks":
		c.SkipRBL = yes()
	case "skip_uribl_checks":
		c.SkipURIBL = yes()
	case "uridnsbl_skip_mailto":
		c.SkipMailto = yes()
	case "uridnsbl_skip_domain":
		for _, d := range lowerFields(val) {
			c.SkipDomains[d] = true
		}
	case "clear_uridnsbl_skip_domain":
		if f := lowerFields(val); len(f) > 0 {
			for _, d := range f {
				delete(c.SkipDomains, d)
			}
		} else {
			c.SkipDomains = map[string]bool{}
		}
	case "uridnsbl_max_domains", "num_check_received":
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || n < 0 {
			p.diag(file, line, 1, "", "%s: bad count %q", key, val)
			break
		}
		if key == "num_check_received" {
			c.NumCheckReceived = n
		} else {
			c.MaxDomains = n
		}
	case "rbl_timeout":
		p.rblTimeout(file, line, val)
	case "dns_query_restriction":
		f := lowerFields(val)
		if len(f) < 2 || (f[0] != "allow" && f[0] != "deny") {
			p.diag(file, line, 1, "", "dns_query_restriction: want allow|deny domain…")
			break
		}
		for _, d := range f[1:] {
			c.Restrictions[normZone(d)] = f[0] == "allow"
		}
	case "urirhsbl", "urirhssub", "uridnsbl", "uridnssub", "urinsrhsbl", "urinsrhssub", "urifullnsrhsbl", "urifullnsrhssub":
		p.uriblLine(file, line, key, val)
	case "rbl_headers":
		c.RBLHeaders = strings.TrimSpace(val)
	default:
		return false
	}
	return true
}

// rblTimeout reads "rbl_timeout t [t_min [zone]]"; sluice uses t.
func (p *parser) rblTimeout(file string, line int, val string) {
	f := strings.Fields(val)
	if len(f) == 0 {
		p.diag(file, line, 1, "", "rbl_timeout: missing value")
		return
	}
	d, err := parseDuration(f[0])
	if err != nil || d < 0 {
		p.diag(file, line, 1, "", "rbl_timeout: bad duration %q", f[0])
		return
	}
	c := &p.rs.conf.DNS
	if len(f) >= 3 {
		c.ZoneTimeouts[normZone(f[2])] = d
		return
	}
	c.RBLTimeout = d
}

// uriblLine reads "urirhssub RULE zone type subtest" and its kin.
func (p *parser) uriblLine(file string, line int, key, val string) {
	f := strings.Fields(val)
	sub := strings.HasSuffix(key, "sub")
	if len(f) < 3 || (sub && len(f) < 4) {
		p.diag(file, line, 1, "", "%s: want RULE zone type%s", key, map[bool]string{true: " subtest"}[sub])
		return
	}
	u := URIBL{Zone: normZone(f[1]), Type: strings.ToUpper(f[2]), RHS: strings.HasPrefix(key, "urirhs")}
	switch {
	case strings.HasPrefix(key, "urinsrhs"):
		u.NS = "ns"
	case strings.HasPrefix(key, "urifullnsrhs"):
		u.NS = "full"
	}
	if sub {
		st, ok := ParseURISubtest(strings.Join(f[3:], " "))
		if !ok {
			p.diag(file, line, 1, f[0], "%s %s: bad subtest %q", key, f[0], strings.Join(f[3:], " "))
			return
		}
		u.Subtest = st
	}
	p.rs.conf.DNS.URIBLs[f[0]] = u
}

// uridnsblFeature reports the URIDNSBL::has_* capabilities the lookup
// phase has (tflags domains_only, ips_only, notrim, a and ns; sub-test
// ranges; uridnsbl_skip_mailto).
func uridnsblFeature(f string) bool {
	switch f {
	case "URIDNSBL::has_tflags_domains_only", "URIDNSBL::has_subtest_for_ranges", "URIDNSBL::has_uridnsbl_for_a",
		"URIDNSBL::has_uridnsbl_a_ns", "URIDNSBL::has_tflags_notrim", "URIDNSBL::has_uridnsbl_skip_mailto":
		return true
	}
	return false
}
