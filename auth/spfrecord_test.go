package auth

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sluice-mail/sluice/internal/dnstest"
)

func TestParseSPFRecordValid(t *testing.T) {
	for _, rec := range []string{
		"v=spf1",                                    // §4.5: an empty record is allowed
		"V=SPF1 -ALL",                               // §4.6.1, §12: names are case-insensitive
		"v=spf1   a   mx  -all  ",                   // §12: terms = *( 1*SP term ), record ends in *SP
		"v=spf1 +all", "v=spf1 ?all", "v=spf1 ~all", // §4.6.2 qualifiers
		"v=spf1 include:_spf.example.com -all",                   // §5.2
		"v=spf1 a a:example.com a/24 a//64 a:example.com/24//64", // §5.3 dual-cidr-length
		"v=spf1 a/0 a//0 a/32 a//128",                            // §5.6: 0-32, 0-128
		"v=spf1 mx mx:mail.example.com. mx/30",                   // §5.4, §7.1 trailing dot
		"v=spf1 ptr ptr:example.com",                             // §5.5
		"v=spf1 ip4:192.0.2.0/24 ip4:0.0.0.0/0 ip4:192.0.2.1",    // §5.6
		"v=spf1 ip6:2001:db8::/32 ip6:::1 ip6:::ffff:1.2.3.4",    // §5.6, RFC 4291 §2.2
		"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d}",                 // §5.7, §7.1: ends in a macro-expand
		"v=spf1 a:foo:bar/baz.example.com",                       // §7.1: any visible char but %
		"v=spf1 a:foo:bar/baz.example.com/24",                    // the CIDR is cut from the end
		"v=spf1 a:macro%%percent%_%_space%-url-space.example.com",
		"v=spf1 exists:%{p}.%{h}.%{v}.%{o}.%{s}.%{D2}.%{IR}", // §7.1 letters, upper case
		"v=spf1 exists:%{d10r.-+,/_=}.example.com",           // §7.1 delimiters
		"v=spf1 exists:foo%%",                                // domain-end = macro-expand ("%%")
		"v=spf1 a:foo.example.xn--zckzah",                    // §7.1 toplabel with "-"
		"v=spf1 a:foo.123-abc",                               // toplabel = 1*alphanum "-" ... alphanum
		"v=spf1 redirect=_spf.example.com",                   // §6.1
		"v=spf1 -all exp=explain.%{d}",                       // §6.2
		"v=spf1 -all foo=bar foo=baz x-y_z.1=%{c}%{r}%{t}",   // §6: unknown modifiers, any number
		"v=spf1 foo=",              // unknown-modifier = name "=" macro-string (may be empty)
		"v=spf1 a:x=y.example.com", // ":" comes first: a mechanism
	} {
		if _, err := parseSPFRecord(rec); err != nil {
			t.Errorf("parseSPFRecord(%q) = %v, want no error", rec, err)
		}
	}
}

func TestParseSPFRecordInvalid(t *testing.T) {
	for _, rec := range []string{
		"v=spf10",                    // §4.5: not a record
		"v=spf1\t-all",               // §12: SP only between terms
		"v=spf1 -all\x00",            // §12: visible ASCII only
		"v=spf1 a:\xef\xbb\xbfx.com", // §3.1: 7-bit ASCII only
		"v=spf1 -all foo",            // §4.6.1: unknown mechanism
		"v=spf1 allx",                // unknown mechanism
		"v=spf1 all:foo.com",         // §5.1: all takes no argument
		"v=spf1 include",             // §5.2: domain-spec required
		"v=spf1 include:",            // domain-spec cannot be empty
		"v=spf1 exists",              // §5.7: domain-spec required
		"v=spf1 a:",                  // §5.3
		"v=spf1 a:example.com:8080",  // §7.1: "com:8080" is not a toplabel
		"v=spf1 a:museum",            // §7.1: domain-end needs "." toplabel
		"v=spf1 a:museum.",           // same, with trailing dot
		"v=spf1 a:example.-com",      // toplabel cannot start with "-"
		"v=spf1 a:example.com-",      // nor end with it
		"v=spf1 a:abc.123",           // toplabel cannot be all digits
		"v=spf1 a:1.2.3.4",           // nor here
		"v=spf1 a:foo.com..",         // empty toplabel
		"v=spf1 a:foo%.com",          // §7.1: "%." is not a macro-expand
		"v=spf1 a:%{x}.com",          // unknown macro letter
		"v=spf1 a:%{d0}.com",         // §7.3: DIGIT must be nonzero
		"v=spf1 a:%{d.com",           // unterminated macro
		"v=spf1 a:%{dx}.com",         // bad delimiter
		"v=spf1 a:%{c}.example.com",  // §7.1: c, r, t only in exp text
		"v=spf1 -all exp=%{r}.example.com",
		"v=spf1 a/33",             // §5.6: IPv4 CIDR 0-32
		"v=spf1 a//129",           // IPv6 CIDR 0-128
		"v=spf1 a/032",            // §12: no leading zeros
		"v=spf1 a//0128",          // same for IPv6
		"v=spf1 a/24/64",          // dual-cidr is "/n//m"
		"v=spf1 a/",               // empty CIDR
		"v=spf1 a:foo.com/",       // domain-spec ending in "/"
		"v=spf1 mx//",             // empty IPv6 CIDR
		"v=spf1 ptr/24",           // §5.5: ptr takes no CIDR
		"v=spf1 ip4",              // §5.6: network required
		"v=spf1 ip4:1.2.3",        // not a dotted quad
		"v=spf1 ip4:01.2.3.4",     // qnum has no leading zeros
		"v=spf1 ip4:::1",          // ip4 with IPv6
		"v=spf1 ip6:1.2.3.4",      // ip6 with IPv4
		"v=spf1 ip6:fe80::1%eth0", // no zone
		"v=spf1 ip4:1.2.3.4/33",   // §5.6
		"v=spf1 ip4:1.2.3.4//64",  // ip4 has no IPv6 CIDR
		"v=spf1 ip6:::1/129",
		"v=spf1 redirect=",                     // §6.1: domain-spec required
		"v=spf1 redirect=a.com redirect=b.com", // §6: at most once
		"v=spf1 exp=a.com -all EXP=b.com",      // §6: at most once, case-insensitive
		"v=spf1 redirect=foo.com/24",           // "/" ends no domain-spec
		"v=spf1 -redirect=foo.com",             // §4.6.1: modifiers take no qualifier
		"v=spf1 redirect:foo.com",              // neither mechanism nor modifier
		"v=spf1 1foo=bar",                      // §12: name = ALPHA ...
		"v=spf1 foo=%",                         // unknown modifier still needs a macro-string
		"v=spf1 +all exists:foo%{q}.com",       // §4.6: errors anywhere, even after a match
	} {
		if _, err := parseSPFRecord(rec); !errors.Is(err, ErrSPFSyntax) {
			t.Errorf("parseSPFRecord(%q) = %v, want %v", rec, err, ErrSPFSyntax)
		}
	}
}

func TestParseSPFTermFields(t *testing.T) {
	for _, tc := range []struct {
		in           string
		qual         byte
		name, value  string
		cidr4, cidr6 int
	}{
		{"-a:foo:bar/baz.example.com/24//64", '-', "a", "foo:bar/baz.example.com", 24, 64},
		{"MX//0", 0, "mx", "", -1, 0},
		{"~ip6:2001:db8::/48", '~', "ip6", "2001:db8::", -1, 48},
		{"ip4:192.0.2.0/24", 0, "ip4", "192.0.2.0", 24, -1},
		{"Redirect=%{d}.spf.example.com", 0, "redirect", "%{d}.spf.example.com", -1, -1},
	} {
		got, err := parseSPFTerm(tc.in)
		if err != nil || got.Qualifier != tc.qual || got.Name != tc.name || got.Value != tc.value ||
			got.CIDR4 != tc.cidr4 || got.CIDR6 != tc.cidr6 {
			t.Errorf("parseSPFTerm(%q) = %c %q %q /%d //%d, %v; want %c %q %q /%d //%d",
				tc.in, got.Qualifier, got.Name, got.Value, got.CIDR4, got.CIDR6, err,
				tc.qual, tc.name, tc.value, tc.cidr4, tc.cidr6)
		}
	}
}

// TestExpandDomain uses the examples of RFC 7208 §7.4.
func TestExpandDomain(t *testing.T) {
	v4 := macroEnv{sender: "strong-bad@email.example.com", domain: "email.example.com",
		helo: "mx.example.org", ip: net.ParseIP("192.0.2.3"), validated: func() string { return "mx.example.org" }}
	v6 := v4
	v6.ip = net.ParseIP("2001:db8::cb01")
	for _, tc := range []struct {
		env      macroEnv
		in, want string
	}{
		{v4, "%{s}", "strong-bad@email.example.com"},
		{v4, "%{o}", "email.example.com"},
		{v4, "%{d}", "email.example.com"},
		{v4, "%{d4}", "email.example.com"},
		{v4, "%{d3}", "email.example.com"},
		{v4, "%{d2}", "example.com"},
		{v4, "%{d1}", "com"},
		{v4, "%{dr}", "com.example.email"},
		{v4, "%{d2r}", "example.email"},
		{v4, "%{l}", "strong-bad"},
		{v4, "%{l-}", "strong.bad"},
		{v4, "%{lr}", "strong-bad"},
		{v4, "%{lr-}", "bad.strong"},
		{v4, "%{l1r-}", "strong"},
		{v4, "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
		{v4, "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
		{v4, "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
		{v4, "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
		{v4, "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
		{v6, "%{ir}.%{v}._spf.%{d2}", "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"},
		{v4, "%{p}.%{h}.x", "mx.example.org.mx.example.org.x"},
		{v4, "%{S}.x", "strong-bad%40email.example.com.x"}, // §7.3: upper case is URL-escaped
		{v4, "a%%b%_c%-d.x", "a%b c%20d.x"},
		{v4, "foo:bar/baz.example.com", "foo:bar/baz.example.com"},
	} {
		toks, err := parseDomainSpec(tc.in)
		if err != nil {
			t.Fatalf("parseDomainSpec(%q) = %v", tc.in, err)
		}
		if got := tc.env.expandDomain(toks); got != tc.want {
			t.Errorf("expandDomain(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// §7.3: over 253 characters, labels are dropped from the left.
	toks, _ := parseDomainSpec("%{s}.%{s}.%{s}.%{s}.%{s}.%{s}.%{s}.%{s}.%{s}.example.com")
	long := macroEnv{sender: strings.Repeat("x", 40) + "@example.com"}
	if got := long.expandDomain(toks); len(got) > 253 || !strings.HasSuffix(got, ".example.com") || strings.HasPrefix(got, ".") {
		t.Errorf("expandDomain(long) = %q (%d), want at most 253 characters, whole labels", got, len(got))
	}
}

func TestTxtUnescape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`v=spf1 -all`, "v=spf1 -all"},
		{`a\239\187\191b`, "a\xef\xbb\xbfb"},
		{`\"q\" \\ \;`, `"q" \ ;`},
		{`trailing\`, `trailing\`},
		{`\999x`, "999x"},
	} {
		var b strings.Builder
		txtUnescape(&b, tc.in)
		if got := b.String(); got != tc.want {
			t.Errorf("txtUnescape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCheckSPFRewritten runs the records blitiri.com.ar/go/spf cannot
// evaluate alone through checkSPF against a loopback DNS server: a
// domain-spec with "/" (RFC 7208 §7.1) and the p macro (§7.3), and a
// syntax error after a match (§4.6).
func TestCheckSPFRewritten(t *testing.T) {
	srv := dnstest.Start(t, `
slash.example.com. TXT "v=spf1 -a:foo:bar/baz.example.com/24 mx:foo:bar/baz.example.com ~all"
p.example.com.     TXT "v=spf1 exists:%{p}.ok.example.com -all"
mx.p.example.com.  A 192.0.2.9
mx.p.example.com.ok.example.com. A 127.0.0.2
9.2.0.192.in-addr.arpa. PTR other.example.net.
9.2.0.192.in-addr.arpa. PTR mx.p.example.com.
other.example.net. A 192.0.2.9
late.example.com.  TXT "v=spf1 +all a:%{x}.example.com"
inc.example.com.   TXT "v=spf1 include:late.example.com"
`)
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 300}
	}
	srv.Add(&dns.A{Hdr: hdr("foo:bar/baz.example.com.", dns.TypeA), A: net.ParseIP("198.51.100.200")},
		&dns.MX{Hdr: hdr("foo:bar/baz.example.com.", dns.TypeMX), Preference: 0, Mx: "mx.p.example.com."})
	r, err := NewDNSResolver(DNSConfig{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ ip, from, want string }{
		{"198.51.100.1", "a@slash.example.com", SPFFail},    // -a matches the /24
		{"192.0.2.9", "a@slash.example.com", SPFPass},       // mx matches
		{"203.0.113.1", "a@slash.example.com", SPFSoftFail}, // neither
		{"192.0.2.9", "a@p.example.com", SPFPass},           // p = mx.p.example.com, a subdomain
		{"192.0.2.10", "a@p.example.com", SPFFail},          // no PTR: p = unknown
		{"192.0.2.10", "a@late.example.com", SPFPermError},  // error after the match
		{"192.0.2.10", "a@inc.example.com", SPFPermError},   // and in an included record
	} {
		got := checkSPF(context.Background(), r, net.ParseIP(tc.ip), "helo.example.com", tc.from)
		if got.Result != tc.want {
			t.Errorf("checkSPF(%s, %s) = %s (%s), want %s", tc.ip, tc.from, got.Result, got.Reason, tc.want)
		}
	}
}

// FuzzSPFRecord checks the record parser: no panics, a record it accepts
// is accepted again when rebuilt from its terms and after the stand-in
// rewrite, and expansion never yields a name over 253 characters with a
// label to drop.
func FuzzSPFRecord(f *testing.F) {
	f.Add("v=spf1 a:foo:bar/baz.example.com/24//64 -all")
	f.Add("v=spf1 exists:%{p}.%{ir}.%{v}._spf.%{d2} redirect=%{d}.x.example.com exp=e.%{d}")
	f.Add("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ptr mx//64 foo=%{c} ?all")
	f.Fuzz(func(t *testing.T, rec string) {
		terms, err := parseSPFRecord(rec)
		if err != nil {
			if !errors.Is(err, ErrSPFSyntax) {
				t.Fatalf("parseSPFRecord(%q) = %v, not %v", rec, err, ErrSPFSyntax)
			}
			return
		}
		raws := []string{"v=spf1"}
		for _, tm := range terms {
			raws = append(raws, tm.Raw)
		}
		if _, err := parseSPFRecord(strings.Join(raws, " ")); err != nil {
			t.Fatalf("parseSPFRecord(%q) accepted, its terms rejected: %v", rec, err)
		}
		s := &spfResolver{sender: "l@o.example", ip: net.ParseIP("192.0.2.1")}
		rw, _ := s.rewrite("d.example", terms)
		if _, err := parseSPFRecord(rw); err != nil {
			t.Fatalf("rewrite(%q) = %q, rejected: %v", rec, rw, err)
		}
		env := macroEnv{sender: s.sender, domain: "d.example", ip: s.ip, validated: func() string { return "p.example" }}
		for _, tm := range terms {
			if tm.Macro == nil || tm.Name == "ip4" || tm.Name == "ip6" {
				continue
			}
			if got := env.expandDomain(tm.Macro); len(got) > 253 && strings.Contains(got, ".") {
				t.Fatalf("expandDomain(%q) = %d characters", tm.Value, len(got))
			}
		}
	})
}
