package auth

import (
	"context"
	"testing"
)

func TestOrgDomain(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Mail.Example.COM.", "example.com"},
		{"a.b.example.co.uk", "example.co.uk"},
		{"co.uk", "co.uk"},
		{"com", "com"},
		// Private section ignored (RFC 7489 §3.2 uses the ICANN part).
		{"foo.blogspot.com", "blogspot.com"},
		{"x.y.github.io", "github.io"},
		// Unlisted TLD: the implicit "*" rule.
		{"a.b.example.test", "example.test"},
		{"", ""},
	} {
		if got := OrgDomain(tc.in); got != tc.want {
			t.Errorf("OrgDomain(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

const dmarcZone = `
_dmarc.example.com.      TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com"
_dmarc.own.example.com.  TXT "v=DMARC1; p=none"
_dmarc.strict.example.org. TXT "v=DMARC1; p=reject; adkim=s; aspf=s"
_dmarc.pct.example.org.  TXT "v=DMARC1; p=reject; pct=30"
_dmarc.pctq.example.org. TXT "v=DMARC1; p=quarantine; pct=30"
_dmarc.example.org.      TXT "v=DMARC1; p=quarantine"
_dmarc.bad.example.net.  TXT "v=DMARC1; p=bogus"
_dmarc.two.example.net.  TXT "v=DMARC1; p=reject"
_dmarc.two.example.net.  TXT "v=DMARC1; p=none"
_dmarc.lax.example.net.  TXT "v=DMARC1; p=reject; ri=soon; fo=x; adkim=q"
_dmarc.rua.example.net.  TXT "v=DMARC1; p=bogus; rua=mailto:dmarc@example.net"
_dmarc.other.example.net. TXT "v=spf1 -all"
_dmarc.other.example.net. TXT "v=DMARC1;p=reject"
`

func TestDMARC(t *testing.T) {
	srv := startZone(t, dmarcZone)
	srv.ServFail("_dmarc.tempfail.example.net")
	r := testResolver(t, srv.Addr)

	spfPass := func(domain string) SPFResult { return SPFResult{Result: SPFPass, Domain: domain} }
	spfFail := func(domain string) SPFResult { return SPFResult{Result: SPFFail, Domain: domain} }
	dkimPass := func(domain string) []DKIMResult { return []DKIMResult{{Result: DKIMPass, Domain: domain}} }
	dkimFail := func(domain string) []DKIMResult { return []DKIMResult{{Result: DKIMFail, Domain: domain}} }

	for _, tc := range []struct {
		name  string
		from  string
		spf   SPFResult
		dkim  []DKIMResult
		roll  int
		want  string // Result
		apply string
		// optional checks
		policy, recordDomain string
		spfAligned, dkimAlig bool
	}{
		{name: "spf aligned exact", from: "example.com", spf: spfPass("example.com"),
			want: DMARCPass, apply: PolicyNone, policy: PolicyReject, recordDomain: "example.com", spfAligned: true},
		{name: "spf aligned relaxed", from: "example.com", spf: spfPass("bounce.example.com"),
			want: DMARCPass, apply: PolicyNone, spfAligned: true},
		{name: "dkim aligned relaxed", from: "example.com", spf: spfFail("example.com"), dkim: dkimPass("mail.example.com"),
			want: DMARCPass, apply: PolicyNone, dkimAlig: true},
		{name: "spf pass unaligned", from: "example.com", spf: spfPass("example.net"),
			want: DMARCFail, apply: PolicyReject, policy: PolicyReject},
		{name: "dkim pass unaligned", from: "example.com", spf: spfFail("example.com"), dkim: dkimPass("example.net"),
			want: DMARCFail, apply: PolicyReject},
		{name: "dkim fail aligned", from: "example.com", dkim: dkimFail("example.com"),
			want: DMARCFail, apply: PolicyReject},
		{name: "strict spf subdomain", from: "strict.example.org", spf: spfPass("bounce.strict.example.org"),
			want: DMARCFail, apply: PolicyReject},
		{name: "strict dkim org domain", from: "strict.example.org", dkim: dkimPass("example.org"),
			want: DMARCFail, apply: PolicyReject},
		{name: "strict exact", from: "strict.example.org", spf: spfPass("strict.example.org"), dkim: dkimPass("strict.example.org"),
			want: DMARCPass, apply: PolicyNone, spfAligned: true, dkimAlig: true},
		{name: "org fallback uses sp", from: "news.example.com", spf: spfFail("news.example.com"),
			want: DMARCFail, apply: PolicyQuarantine, policy: PolicyQuarantine, recordDomain: "example.com"},
		{name: "org fallback relaxed pass", from: "news.example.com", dkim: dkimPass("example.com"),
			want: DMARCPass, apply: PolicyNone, recordDomain: "example.com", dkimAlig: true},
		{name: "own record on subdomain uses p", from: "own.example.com", spf: spfFail("own.example.com"),
			want: DMARCFail, apply: PolicyNone, policy: PolicyNone, recordDomain: "own.example.com"},
		{name: "no sp falls back to p", from: "a.b.example.org", spf: spfFail("a.b.example.org"),
			want: DMARCFail, apply: PolicyQuarantine, policy: PolicyQuarantine, recordDomain: "example.org"},
		{name: "no intermediate lookup", from: "a.own.example.com", spf: spfFail("a.own.example.com"),
			want: DMARCFail, apply: PolicyQuarantine, recordDomain: "example.com"},
		{name: "pct sampled in", from: "pct.example.org", spf: spfFail("pct.example.org"), roll: 29,
			want: DMARCFail, apply: PolicyReject},
		{name: "pct sampled out reject", from: "pct.example.org", spf: spfFail("pct.example.org"), roll: 30,
			want: DMARCFail, apply: PolicyQuarantine, policy: PolicyReject},
		{name: "pct sampled out quarantine", from: "pctq.example.org", spf: spfFail("pctq.example.org"), roll: 99,
			want: DMARCFail, apply: PolicyNone, policy: PolicyQuarantine},
		{name: "no record", from: "example.net", spf: spfFail("example.net"), want: DMARCNone, apply: PolicyNone},
		{name: "no from", from: "", want: DMARCNone, apply: PolicyNone},
		{name: "dns temperror", from: "tempfail.example.net", spf: spfPass("tempfail.example.net"),
			want: DMARCTempError, apply: PolicyNone},
		{name: "aligned spf temperror", from: "example.com", spf: SPFResult{Result: SPFTempError, Domain: "example.com"},
			want: DMARCTempError, apply: PolicyNone},
		{name: "syntax permerror", from: "bad.example.net", want: DMARCPermError, apply: PolicyNone},
		{name: "bad optional tags ignored", from: "lax.example.net", dkim: dkimPass("mail.lax.example.net"),
			want: DMARCPass, apply: PolicyNone, dkimAlig: true},
		{name: "bad optional tags ignored fail", from: "lax.example.net",
			want: DMARCFail, apply: PolicyReject, policy: PolicyReject},
		{name: "bad p with rua is p=none", from: "rua.example.net",
			want: DMARCFail, apply: PolicyNone, policy: PolicyNone},
		{name: "two records", from: "two.example.net", want: DMARCNone, apply: PolicyNone},
		{name: "non-dmarc txt ignored", from: "other.example.net", want: DMARCFail, apply: PolicyReject},
	} {
		got := checkDMARC(context.Background(), r, tc.from, tc.spf, tc.dkim, tc.roll)
		if got.Result != tc.want || got.Apply != tc.apply {
			t.Errorf("%s: checkDMARC(%q) = %s apply %s (%+v), want %s apply %s",
				tc.name, tc.from, got.Result, got.Apply, got, tc.want, tc.apply)
		}
		if tc.policy != "" && got.Policy != tc.policy {
			t.Errorf("%s: checkDMARC(%q).Policy = %q, want %q", tc.name, tc.from, got.Policy, tc.policy)
		}
		if tc.recordDomain != "" && got.RecordDomain != tc.recordDomain {
			t.Errorf("%s: checkDMARC(%q).RecordDomain = %q, want %q", tc.name, tc.from, got.RecordDomain, tc.recordDomain)
		}
		if got.SPFAligned != tc.spfAligned || got.DKIMAligned != tc.dkimAlig {
			t.Errorf("%s: checkDMARC(%q) aligned spf=%v dkim=%v, want spf=%v dkim=%v",
				tc.name, tc.from, got.SPFAligned, got.DKIMAligned, tc.spfAligned, tc.dkimAlig)
		}
	}
}
