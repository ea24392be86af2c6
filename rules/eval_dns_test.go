package rules

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/mail"
)

func TestRBLSubtest(t *testing.T) {
	for _, tc := range []struct {
		sub, answer string
		want        bool
	}{
		{"127.0.0.2", "127.0.0.2", true},
		{"127.0.0.2", "127.0.0.3", false},
		{"2", "127.0.0.2", true},
		{"2", "127.0.0.3", true},
		{"2", "127.0.0.4", false},
		{"8", "127.0.0.10", true},
		{"8", "10.0.0.8", false}, // bitmasks read 127/8 only (bug 6803)
		{`^127\.0\.0\.[4567]$`, "127.0.0.5", true},
		{`^127\.0\.0\.[4567]$`, "127.0.0.8", false},
		{`^127\.0\.\d+\.0$`, "127.0.3.0", true},
		{"(?i:spamcop)", "Blocked - see https://www.SpamCop.net/bl.shtml?1.2.3.4", true},
		{"127.0.1.255", "127.0.1.255", true},
	} {
		st, err := compileRBLSubtest(tc.sub)
		if err != nil {
			t.Fatalf("compileRBLSubtest(%q): %v", tc.sub, err)
		}
		if got := st.match(tc.answer); got != tc.want {
			t.Errorf("subtest %q on %q = %v, want %v", tc.sub, tc.answer, got, tc.want)
		}
	}
	if _, err := compileRBLSubtest("(unclosed"); err == nil {
		t.Errorf("compileRBLSubtest(%q) succeeded", "(unclosed")
	}
}

func TestURISubtest(t *testing.T) {
	for _, tc := range []struct {
		in, canon string
	}{
		{"2", "2"},
		{"0x10", "16"},
		{"127.0.1.2", "2130706690-2130706690"},
		{"127.0.1.20-127.0.1.39", "2130706708-2130706727"},
		{"0.0.0.16/0.0.0.16", "16/16"},
		{"127.0.0.0/255.0.0.0", "2130706432/4278190080"},
	} {
		got, ok := ParseURISubtest(tc.in)
		if !ok || got != tc.canon {
			t.Errorf("ParseURISubtest(%q) = %q, %v, want %q", tc.in, got, ok, tc.canon)
		}
	}
	for _, bad := range []string{"", "abc", "1-", "127.0.0.300"} {
		if got, ok := ParseURISubtest(bad); ok {
			t.Errorf("ParseURISubtest(%q) = %q, want failure", bad, got)
		}
	}
	canon := func(s string) string {
		c, ok := ParseURISubtest(s)
		if !ok {
			t.Fatalf("ParseURISubtest(%q) failed", s)
		}
		return c
	}
	for _, tc := range []struct {
		sub, answer string
		want        bool
	}{
		{"", "127.0.0.2", true},
		{"", "10.0.0.2", false},
		{canon("2"), "127.0.0.2", true},
		{canon("2"), "127.0.0.4", false},
		{canon("2"), "10.0.0.2", false},
		{canon("127.0.1.2"), "127.0.1.2", true},
		{canon("127.0.1.2"), "127.0.1.3", false},
		{canon("127.0.1.20-127.0.1.39"), "127.0.1.25", true},
		{canon("127.0.1.20-127.0.1.39"), "127.0.1.40", false},
		{canon("127.0.0.0/255.0.0.0"), "127.9.9.9", true},
		{canon("127.0.0.0/255.0.0.0"), "128.0.0.1", false},
		{canon("0.0.0.16/0.0.0.16"), "127.0.0.17", true},
	} {
		if got := MatchURISubtest(tc.answer, tc.sub, false); got != tc.want {
			t.Errorf("MatchURISubtest(%q, %q) = %v, want %v", tc.answer, tc.sub, got, tc.want)
		}
	}
}

// dnsRulesText is a cut of the stock 20_dnsbl_tests.cf and 25_uribl.cf.
const dnsRulesText = `
util_rb_tld com
header __RCVD_IN_ZEN   eval:check_rbl('zen', 'zen.spamhaus.org.')
tflags __RCVD_IN_ZEN   net
header RCVD_IN_SBL     eval:check_rbl_sub('zen', '127.0.0.2')
tflags RCVD_IN_SBL     net
header RCVD_IN_XBL     eval:check_rbl('zen-lastexternal', 'zen.spamhaus.org.', '^127\.0\.0\.[4567]$')
tflags RCVD_IN_XBL     net
header RCVD_IN_PBL     eval:check_rbl('zen-lastexternal', 'zen.spamhaus.org.', '^127\.0\.0\.1[01]$')
tflags RCVD_IN_PBL     net
header RCVD_IN_PSBL    eval:check_rbl('psbl-lastexternal', 'psbl.surriel.com.')
tflags RCVD_IN_PSBL    net
header RCVD_IN_SPAMCOP eval:check_rbl_txt('spamcop', 'bl.spamcop.net.', '(?i:spamcop)')
tflags RCVD_IN_SPAMCOP net
header ENVFROM_LISTED  eval:check_rbl_envfrom('ef', 'ef.example.')
tflags ENVFROM_LISTED  net
header RCVD_IN_ZERO    eval:check_rbl('zero', 'zero.example.')
tflags RCVD_IN_ZERO    net
score  RCVD_IN_ZERO    0
urirhssub  URIBL_BLACK    multi.uribl.com. A 2
body       URIBL_BLACK    eval:check_uridnsbl('URIBL_BLACK')
tflags     URIBL_BLACK    net
urirhssub  URIBL_GREY     multi.uribl.com. A 4
body       URIBL_GREY     eval:check_uridnsbl('URIBL_GREY')
tflags     URIBL_GREY     net
urirhssub  URIBL_DBL_SPAM dbl.spamhaus.org. A 127.0.1.2
body       URIBL_DBL_SPAM eval:check_uridnsbl('URIBL_DBL_SPAM')
tflags     URIBL_DBL_SPAM net domains_only notrim
uridnsbl   URIBL_SBL      zen.spamhaus.org. TXT
body       URIBL_SBL      eval:check_uridnsbl('URIBL_SBL')
tflags     URIBL_SBL      net
uridnsbl_skip_domain skipped.com
`

// dnsZone lists the relay 192.0.2.99 and the domain spam-domain.com.
const dnsZone = `
99.2.0.192.zen.spamhaus.org. A 127.0.0.2
99.2.0.192.zen.spamhaus.org. A 127.0.0.4
99.2.0.192.bl.spamcop.net. TXT "Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.99"
spam-domain.com.multi.uribl.com. A 127.0.0.2
www.spam-domain.com.dbl.spamhaus.org. A 127.0.1.2
spam-domain.com. NS ns1.spam-host.com.
ns1.spam-host.com. A 192.0.2.53
53.2.0.192.zen.spamhaus.org. TXT "https://www.spamhaus.org/sbl/query/SBL1"
skipped.com.multi.uribl.com. A 127.0.0.2
bounce.spam-sender.com.ef.example. A 127.0.0.2
`

const dnsMsg = "Return-Path: <spammer@bounce.spam-sender.com>\r\nReceived: from mail.spam.test (mail.spam.test [192.0.2.99])\r\n" +
	"\tby mx.example.test (Postfix) with ESMTP id 4AB12;\r\n\tMon, 23 Nov 2026 10:00:00 +0000\r\n" +
	"From: <spammer@spam.test>\r\nTo: <bob@example.test>\r\nSubject: offer\r\n" +
	"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <dns1@spam.test>\r\n\r\n" +
	"Buy now at http://www.spam-domain.com/buy and http://skipped.com/x\r\n"

func loadDNSRules(t *testing.T) *Ruleset {
	t.Helper()
	rs, err := LoadString("dns.cf", dnsRulesText, Options{Net: true})
	if err != nil {
		t.Fatal(err)
	}
	if errs := rs.Lint().Errors; len(errs) > 0 {
		t.Fatalf("rule errors: %v", errs)
	}
	return rs
}

func resolverFor(t *testing.T, srv *dnstest.Server) auth.Resolver {
	t.Helper()
	r, err := auth.NewDNSResolver(auth.DNSConfig{Servers: []string{srv.Addr}, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func hitNames(res Result) []string {
	var out []string
	for _, h := range res.Hits {
		out = append(out, h.Rule)
	}
	sort.Strings(out)
	return out
}

func TestDNSLookupPhase(t *testing.T) {
	rs := loadDNSRules(t)
	srv := dnstest.Start(t, dnsZone)
	msg := FromMail(mail.Parse([]byte(dnsMsg), mail.Options{}))
	eval := func(d *DNS) Result {
		t.Helper()
		return rs.Eval(context.Background(), msg, Input{DNS: d})
	}

	res := eval(&DNS{Resolver: resolverFor(t, srv)})
	got := map[string]bool{}
	for _, n := range hitNames(res) {
		got[n] = true
	}
	for _, want := range []string{"RCVD_IN_SBL", "RCVD_IN_XBL", "RCVD_IN_SPAMCOP", "ENVFROM_LISTED", "URIBL_BLACK", "URIBL_DBL_SPAM", "URIBL_SBL"} {
		if !got[want] {
			t.Errorf("%s did not fire; hits %v", want, hitNames(res))
		}
	}
	for _, not := range []string{"RCVD_IN_PBL", "RCVD_IN_PSBL", "URIBL_GREY", "RCVD_IN_ZERO"} {
		if got[not] {
			t.Errorf("%s fired; hits %v", not, hitNames(res))
		}
	}
	// zen asked once for the relay (shared by three rules), psbl, spamcop,
	// the envelope sender's host;
	// multi.uribl.com (shared by two rules) and dbl for one host
	// (skipped.com not asked), the NS chain (NS, A, TXT); the zero-scored
	// rule asks nothing.
	if res.DNS.Queries != 9 || res.DNS.OverBudget != 0 || res.DNS.TimedOut {
		t.Errorf("DNS stats = %+v, want 9 queries within budget", res.DNS)
	}

	// Network tests ran: score set 1, and 3 once Bayes takes part.
	if res.ScoreSet != 1 {
		t.Errorf("score set = %d, want 1", res.ScoreSet)
	}
	prob := 0.5
	if set := rs.Eval(context.Background(), msg, Input{DNS: &DNS{Resolver: resolverFor(t, srv)}, Bayes: &prob}).ScoreSet; set != 3 {
		t.Errorf("with Bayes: score set = %d, want 3", set)
	}
	// Without a lookup phase (spamassassin -L), nothing fires.
	if hits := hitNames(eval(nil)); len(hits) != 0 {
		t.Errorf("without DNS: hits %v", hits)
	}
	// A zone disabled from the configuration is not asked.
	res = eval(&DNS{Resolver: resolverFor(t, srv), DisabledZones: []string{"multi.uribl.com."}})
	for _, n := range hitNames(res) {
		if n == "URIBL_BLACK" {
			t.Errorf("URIBL_BLACK fired from a disabled zone")
		}
	}
	// The count budget.
	res = eval(&DNS{Resolver: resolverFor(t, srv), MaxQueries: 3})
	if res.DNS.Queries != 3 || res.DNS.OverBudget == 0 {
		t.Errorf("with MaxQueries 3: DNS stats = %+v", res.DNS)
	}
}

func TestDNSLookupNXDomain(t *testing.T) {
	rs := loadDNSRules(t)
	srv := dnstest.Start(t, "")
	msg := FromMail(mail.Parse([]byte(dnsMsg), mail.Options{}))
	res := rs.Eval(context.Background(), msg, Input{DNS: &DNS{Resolver: resolverFor(t, srv)}})
	if hits := hitNames(res); len(hits) != 0 {
		t.Errorf("NXDOMAIN zones: hits %v", hits)
	}
	if res.DNS.Queries == 0 || res.DNS.Failed != 0 {
		t.Errorf("DNS stats = %+v, want answered queries", res.DNS)
	}
}

func TestDNSLookupSlowServer(t *testing.T) {
	rs := loadDNSRules(t)
	srv := dnstest.Start(t, dnsZone)
	srv.Delay(3 * time.Second)
	msg := FromMail(mail.Parse([]byte(dnsMsg), mail.Options{}))
	start := time.Now()
	res := rs.Eval(context.Background(), msg, Input{DNS: &DNS{Resolver: resolverFor(t, srv), Timeout: 300 * time.Millisecond}})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Eval took %v with a 300ms DNS budget", d)
	}
	if !res.DNS.TimedOut || res.DNS.Failed == 0 {
		t.Errorf("DNS stats = %+v, want a timeout", res.DNS)
	}
	if hits := hitNames(res); len(hits) != 0 {
		t.Errorf("slow server: hits %v", hits)
	}
}

func TestDNSSettings(t *testing.T) {
	srv := dnstest.Start(t, dnsZone)
	msg := FromMail(mail.Parse([]byte(dnsMsg), mail.Options{}))
	for _, tc := range []struct {
		extra string
		want  []string
	}{
		{"skip_rbl_checks 1\n", []string{"URIBL_BLACK", "URIBL_DBL_SPAM", "URIBL_SBL"}},
		// uridnsbl_skip_domain does not apply to check_rbl_envfrom (as in
		// SpamAssassin 4.0.1: TestDNSEvalSpamAssassin).
		{"uridnsbl_skip_domain spam-sender.com\nskip_uribl_checks 1\n", []string{"ENVFROM_LISTED", "RCVD_IN_SBL", "RCVD_IN_SPAMCOP", "RCVD_IN_XBL"}},
		{"skip_uribl_checks 1\n", []string{"ENVFROM_LISTED", "RCVD_IN_SBL", "RCVD_IN_SPAMCOP", "RCVD_IN_XBL"}},
		{"dns_available no\n", nil},
		{"dns_query_restriction deny spamhaus.org\n", []string{"ENVFROM_LISTED", "RCVD_IN_SPAMCOP", "URIBL_BLACK"}},
		{"uridnsbl_skip_domain spam-domain.com\nskip_rbl_checks 1\n", nil},
	} {
		rs, err := LoadString("dns.cf", dnsRulesText+tc.extra, Options{Net: true})
		if err != nil {
			t.Fatal(err)
		}
		res := rs.Eval(context.Background(), msg, Input{DNS: &DNS{Resolver: resolverFor(t, srv)}})
		got := hitNames(res)
		if len(got) != len(tc.want) {
			t.Errorf("%q: hits %v, want %v", tc.extra, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q: hits %v, want %v", tc.extra, got, tc.want)
				break
			}
		}
	}
}

func FuzzParseURISubtest(f *testing.F) {
	for _, s := range []string{"2", "0x10", "127.0.1.2", "127.0.1.20-127.0.1.39", "0.0.0.16/0.0.0.16", "1-", "-", "0x", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseURISubtest(s)
		if !ok {
			return
		}
		// The canonical form is its own canonical form.
		if again, ok := ParseURISubtest(c); !ok || again != c {
			t.Fatalf("ParseURISubtest(%q) = %q, which parses again as %q, %v", s, c, again, ok)
		}
		MatchURISubtest("127.0.0.2", c, false)
	})
}

func FuzzRBLSubtest(f *testing.F) {
	for _, s := range []string{"2", "127.0.0.2", `^127\.0\.0\.[4567]$`, "(?i:spamcop)", "99999999999"} {
		f.Add(s, "127.0.0.2")
	}
	f.Fuzz(func(t *testing.T, sub, answer string) {
		st, err := compileRBLSubtest(sub)
		if err != nil {
			return
		}
		st.match(answer)
	})
}

// nsRHSRules are urinsrhsbl and urifullnsrhssub lines with the address-
// based uridnsbl over the same NS lookup, and check_rbl_headers,
// check_rbl_from_domain and check_rbl_rcvd.
const nsRHSRules = `
util_rb_tld com net org
urinsrhsbl      NS_RHS    ns.test. A
body            NS_RHS    eval:check_uridnsbl('NS_RHS')
tflags          NS_RHS    net
urifullnsrhssub FULL_NS   fullns.test. A 127.0.0.4
body            FULL_NS   eval:check_uridnsbl('FULL_NS')
tflags          FULL_NS   net
uridnsbl        NS_ADDR   addr.test. A
body            NS_ADDR   eval:check_uridnsbl('NS_ADDR')
tflags          NS_ADDR   net
header HDR_REPLYTO  eval:check_rbl_headers('h', 'hdr.test.', '127.0.0.2', 'Reply-To')
tflags HDR_REPLYTO  net
header FROM_DOMAIN  eval:check_rbl_from_domain('f', 'dom.test.')
tflags FROM_DOMAIN  net
header RCVD_HELO    eval:check_rbl_rcvd('r', 'rcvd.test.')
tflags RCVD_HELO    net domains_only
`

const nsRHSZone = `
uri-dom.com. NS ns1.dns-provider.net.
uri-dom.com. NS ns2.other-dns.org.
ns1.dns-provider.net. A 192.0.2.53
ns2.other-dns.org. A 192.0.2.54
dns-provider.net.ns.test. A 127.0.0.2
ns2.other-dns.org.fullns.test. A 127.0.0.4
54.2.0.192.addr.test. A 127.0.0.2
reply.bad-reply.com.hdr.test. A 127.0.0.2
from-dom.com.dom.test. A 127.0.0.2
helo.rcvd-host.com.rcvd.test. A 127.0.0.2
`

func TestDNSEvalNSRHS(t *testing.T) {
	rs, err := LoadString("ns.cf", nsRHSRules, Options{Net: true})
	if err != nil {
		t.Fatal(err)
	}
	if errs := rs.Lint().Errors; len(errs) > 0 {
		t.Fatalf("rule errors: %v", errs)
	}
	srv := dnstest.Start(t, nsRHSZone)
	msg := FromMail(mail.Parse([]byte("Received: from helo.rcvd-host.com (rdns.rcvd-host.com [192.0.2.77])\r\n"+
		"\tby mx.example.org (Postfix) with ESMTP id 4AB12CD;\r\n\tMon, 23 Nov 2026 10:00:00 +0000\r\n"+
		"From: <sender@mail.from-dom.com>\r\nReply-To: <r@reply.bad-reply.com>\r\nSubject: x\r\n\r\n"+
		"See http://www.uri-dom.com/page today.\r\n"), mail.Options{}))
	res := rs.Eval(context.Background(), msg, Input{DNS: &DNS{Resolver: resolverFor(t, srv)}})
	want := []string{"FROM_DOMAIN", "FULL_NS", "HDR_REPLYTO", "NS_ADDR", "NS_RHS", "RCVD_HELO"}
	if got := hitNames(res); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("hits %v, want %v", got, want)
	}
	// One NS question serves the three URI rules; every question fits
	// the default budget.
	if res.DNS.OverBudget != 0 || res.DNS.TimedOut {
		t.Errorf("DNS stats = %+v", res.DNS)
	}
	// The per-message budget bounds the chain too.
	res = rs.Eval(context.Background(), msg, Input{DNS: &DNS{Resolver: resolverFor(t, srv), MaxQueries: 4}})
	if res.DNS.Queries != 4 || res.DNS.OverBudget == 0 {
		t.Errorf("with MaxQueries 4: DNS stats = %+v", res.DNS)
	}
}

// TestRBLEnvfromRelays: check_rbl_envfrom looks up the envelope sender
// the relays record (Received "envelope-from") when the message has no
// Return-Path, as PerMsgStatus::get_envelope_from does.
func TestRBLEnvfromRelays(t *testing.T) {
	rs := loadDNSRules(t)
	srv := dnstest.Start(t, dnsZone)
	const raw = "Received: from mail.spam.test ([192.0.2.99] helo=mail.spam.test)\r\n" +
		"\tby mx.example.test with esmtp (Exim 4.96)\r\n\t(envelope-from <spammer@bounce.spam-sender.com>)\r\n" +
		"\tid 1abcde-000123-AB; Mon, 23 Nov 2026 10:00:00 +0000\r\n" +
		"From: <spammer@spam.test>\r\nTo: <bob@example.test>\r\nSubject: offer\r\n" +
		"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <dns2@spam.test>\r\n\r\nhello\r\n"
	msg := FromMail(mail.Parse([]byte(raw), mail.Options{}))
	if got := msg.Header("EnvelopeFrom", true); len(got) != 0 {
		t.Fatalf("the message answers EnvelopeFrom itself (%q): the test needs the relays' fallback", got)
	}
	res := rs.Eval(context.Background(), msg, Input{DNS: &DNS{Resolver: resolverFor(t, srv)}})
	if !slices.Contains(hitNames(res), "ENVFROM_LISTED") {
		t.Errorf("ENVFROM_LISTED did not fire from the relays' envelope-from; hits %v", hitNames(res))
	}
}

// TestRBLAccreditor: check_rbl_accreditor looks the relays up, as
// check_rbl, only when the message asserts the rule's accreditor (an
// a--TAG label in the envelope sender, or an Accreditor field).
func TestRBLAccreditor(t *testing.T) {
	rs, err := LoadString("acc.cf", `header ACCREDITED eval:check_rbl_accreditor('acc', 'zen.spamhaus.org.', '127.0.0.2', 'bondedsender')
tflags ACCREDITED net
score ACCREDITED -1
`, Options{Net: true})
	if err != nil {
		t.Fatal(err)
	}
	if errs := rs.Lint().Errors; len(errs) > 0 {
		t.Fatalf("rule errors: %v", errs)
	}
	srv := dnstest.Start(t, dnsZone)
	for _, tt := range []struct {
		name, rp, extra string
		want            bool
	}{
		{"envelope label", "<list@a--bondedsender.mail.spam.test>", "", true},
		{"Accreditor field", "<list@mail.spam.test>", "Accreditor: BondedSender, parm=1\r\n", true},
		{"other accreditor", "<list@a--someoneelse.mail.spam.test>", "Accreditor: other\r\n", false},
		{"none", "<list@mail.spam.test>", "", false},
	} {
		raw := strings.Replace(dnsMsg, "Return-Path: <spammer@bounce.spam-sender.com>\r\n", "Return-Path: "+tt.rp+"\r\n"+tt.extra, 1)
		msg := FromMail(mail.Parse([]byte(raw), mail.Options{}))
		res := rs.Eval(context.Background(), msg, Input{DNS: &DNS{Resolver: resolverFor(t, srv)}})
		if got := slices.Contains(hitNames(res), "ACCREDITED"); got != tt.want {
			t.Errorf("%s: ACCREDITED %v, want %v (hits %v, %d queries)", tt.name, got, tt.want, hitNames(res), res.DNS.Queries)
		}
	}
}
