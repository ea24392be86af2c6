package policy

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/internal/dnstest"
)

// testZone holds the SPF, PTR and DNSBL records the tests look up.
const testZone = `
pass.test.        TXT "v=spf1 ip4:192.0.2.10 -all"
fail.test.        TXT "v=spf1 -all"
soft.test.        TXT "v=spf1 ~all"
neutral.test.     TXT "v=spf1 ?all"
perm.test.        TXT "v=spf1 ip4:192.0.2.10 bogus:x -all"
helo-fail.test.   TXT "v=spf1 -all"
helo-pass.test.   TXT "v=spf1 ip4:192.0.2.10 -all"
10.2.0.192.in-addr.arpa. PTR helo-pass.test.
helo-pass.test.   A 192.0.2.10
11.2.0.192.in-addr.arpa. PTR liar.test.
liar.test.        A 192.0.2.200
99.2.0.192.bl.test. A 127.0.0.2
`

// newTestChecker returns a Checker over testZone, with slow.test timing
// out, and the DNS server.
func newTestChecker(t *testing.T, cfg Config) (*Checker, *dnstest.Server) {
	t.Helper()
	srv := dnstest.Start(t, testZone)
	srv.Timeout("slow.test")
	srv.Timeout("12.2.0.192.in-addr.arpa")
	r, err := auth.NewDNSResolver(auth.DNSConfig{Servers: []string{srv.Addr}, Timeout: 100 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "mx.example.test"
	}
	return NewChecker(cfg, r), srv
}

func rcptRequest(ip, helo, sender, rcpt string) Request {
	return Request{
		"request": "smtpd_access_policy", "protocol_state": "RCPT", "protocol_name": "ESMTP",
		"client_address": ip, "helo_name": helo, "sender": sender, "recipient": rcpt,
		"instance": "i." + ip + sender,
	}
}

func TestCheckSPF(t *testing.T) {
	_, mask, _ := net.ParseCIDR("198.51.100.0/24")
	base := Config{TempErrorDefer: true, ExemptRecipients: []string{"postmaster@", "abuse@", "@exempt.test", "vip@example.test"}, SkipNetworks: []*net.IPNet{mask}}
	for _, tc := range []struct {
		name   string
		cfg    func(*Config)
		req    Request
		action string // prefix of the wanted action
		reason string
	}{
		{"pass", nil, rcptRequest("192.0.2.10", "mail.client.test", "a@pass.test", "bob@example.test"),
			"PREPEND Received-SPF: pass (mx.example.test: domain of a@pass.test designates 192.0.2.10 as permitted sender) receiver=mx.example.test; client-ip=192.0.2.10; helo=mail.client.test; envelope-from=\"a@pass.test\"; identity=mailfrom;", "spf"},
		{"fail", nil, rcptRequest("192.0.2.10", "mail.client.test", "a@fail.test", "bob@example.test"),
			"550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see https://www.open-spf.org/Why?s=mfrom;id=a%40fail.test;ip=192.0.2.10;r=mx.example.test", "mailfrom_fail"},
		{"fail to postmaster", nil, rcptRequest("192.0.2.10", "x.test", "a@fail.test", "PostMaster@example.test"), "PREPEND Received-SPF: fail (", "exempt"},
		{"fail to abuse", nil, rcptRequest("192.0.2.10", "x.test", "a@fail.test", "abuse@other.test"), "PREPEND Received-SPF: fail (", "exempt"},
		{"fail to exempt domain", nil, rcptRequest("192.0.2.10", "x.test", "a@fail.test", "x@exempt.test"), "PREPEND Received-SPF: fail (", "exempt"},
		{"fail to exempt address", nil, rcptRequest("192.0.2.10", "x.test", "a@fail.test", "vip@example.test"), "PREPEND Received-SPF: fail (", "exempt"},
		{"fail not exempt", nil, rcptRequest("192.0.2.10", "x.test", "a@fail.test", "vip@other.test"), "550 5.7.23", "mailfrom_fail"},
		{"fail, reject off", func(c *Config) { c.MailFromReject = RejectOff }, rcptRequest("192.0.2.10", "x.test", "a@fail.test", "b@example.test"),
			"PREPEND Received-SPF: fail (mx.example.test: domain of a@fail.test does not designate 192.0.2.10 as permitted sender)", "spf"},
		{"fail, no check", func(c *Config) { c.MailFromReject = RejectNoCheck }, rcptRequest("192.0.2.10", "x.test", "a@fail.test", "b@example.test"), "DUNNO", "none"},
		{"softfail", nil, rcptRequest("192.0.2.10", "x.test", "a@soft.test", "b@example.test"), "PREPEND Received-SPF: softfail (mx.example.test: domain of transitioning a@soft.test", "spf"},
		{"softfail rejected", func(c *Config) { c.MailFromReject = RejectSoftfail }, rcptRequest("192.0.2.10", "x.test", "a@soft.test", "b@example.test"), "550 5.7.23 Message rejected due to: SPF softfail", "mailfrom_fail"},
		{"neutral not_pass", func(c *Config) { c.MailFromReject = RejectNotPass }, rcptRequest("192.0.2.10", "x.test", "a@neutral.test", "b@example.test"), "550 5.7.1 ", "mailfrom_fail"},
		{"neutral", nil, rcptRequest("192.0.2.10", "x.test", "a@neutral.test", "b@example.test"), "PREPEND Received-SPF: neutral (mx.example.test: 192.0.2.10 is neither permitted nor denied by domain of a@neutral.test)", "spf"},
		{"none", nil, rcptRequest("192.0.2.10", "x.test", "a@nothing.test", "b@example.test"), "PREPEND Received-SPF: none ", "spf"},
		{"temperror deferred", nil, rcptRequest("192.0.2.10", "x.test", "a@slow.test", "b@example.test"), "DEFER_IF_PERMIT 4.7.24 SPF temporary error for slow.test", "temperror"},
		{"temperror to postmaster", nil, rcptRequest("192.0.2.10", "x.test", "a@slow.test", "postmaster@example.test"), "PREPEND Received-SPF: temperror (", "exempt"},
		{"temperror header", func(c *Config) { c.TempErrorDefer = false }, rcptRequest("192.0.2.10", "x.test", "a@slow.test", "b@example.test"), "PREPEND Received-SPF: temperror ", "spf"},
		{"permerror header", nil, rcptRequest("192.0.2.10", "x.test", "a@perm.test", "b@example.test"), "PREPEND Received-SPF: permerror ", "spf"},
		{"permerror rejected", func(c *Config) { c.PermErrorReject = true }, rcptRequest("192.0.2.10", "x.test", "a@perm.test", "b@example.test"), "550 5.7.24 Message rejected due to: SPF permanent error for perm.test", "permerror"},
		{"helo fail", nil, rcptRequest("192.0.2.10", "helo-fail.test", "a@pass.test", "b@example.test"),
			"550 5.7.23 Message rejected due to: SPF fail - not authorized. Please see https://www.open-spf.org/Why?s=helo;id=postmaster%40helo-fail.test", "helo_fail"},
		{"helo fail, null mode", func(c *Config) { c.HELOReject = RejectNull }, rcptRequest("192.0.2.10", "helo-fail.test", "a@pass.test", "b@example.test"), "PREPEND Received-SPF: pass ", "spf"},
		{"helo fail, null mode, null sender", func(c *Config) { c.HELOReject = RejectNull }, rcptRequest("192.0.2.10", "helo-fail.test", "", "b@example.test"), "550 5.7.23", "helo_fail"},
		{"helo not checked", func(c *Config) { c.HELOReject = RejectNoCheck }, rcptRequest("192.0.2.10", "helo-fail.test", "a@pass.test", "b@example.test"), "PREPEND Received-SPF: pass ", "spf"},
		{"null sender uses helo", nil, rcptRequest("192.0.2.10", "helo-pass.test", "", "b@example.test"),
			`PREPEND Received-SPF: pass (mx.example.test: domain of postmaster@helo-pass.test designates 192.0.2.10 as permitted sender) receiver=mx.example.test; client-ip=192.0.2.10; helo=helo-pass.test; envelope-from=""; identity=helo;`, "spf"},
		{"skipped network", nil, rcptRequest("198.51.100.7", "x.test", "a@fail.test", "b@example.test"), "DUNNO", "skip"},
		{"not RCPT", nil, func() Request {
			r := rcptRequest("192.0.2.10", "x.test", "a@fail.test", "b@example.test")
			r["protocol_state"] = "DATA"
			return r
		}(), "DUNNO", "not_rcpt"},
		{"no client address", nil, rcptRequest("unknown", "x.test", "a@fail.test", "b@example.test"), "DUNNO", "skip"},
		{"hostile helo", nil, rcptRequest("192.0.2.10", "a\"b(c)\r\nX: y", "a@pass.test", "b@example.test"), `PREPEND Received-SPF: pass (mx.example.test: domain of a@pass.test designates 192.0.2.10 as permitted sender) receiver=mx.example.test; client-ip=192.0.2.10; helo="a\"b(c)X: y";`, "spf"},
	} {
		cfg := base
		if tc.cfg != nil {
			tc.cfg(&cfg)
		}
		c, _ := newTestChecker(t, cfg)
		d := c.Check(context.Background(), tc.req)
		if !strings.HasPrefix(d.Action, tc.action) || d.Reason != tc.reason {
			t.Errorf("%s: Check = %q (%s), want %q… (%s)", tc.name, d.Action, d.Reason, tc.action, tc.reason)
		}
	}
}

func TestCheckClient(t *testing.T) {
	bl := []auth.DNSBL{{Set: "bl", Zone: "bl.test"}}
	for _, tc := range []struct {
		name   string
		cfg    Config
		ip     string
		action string
		reason string
	}{
		{"dnsbl listed", Config{DNSBLs: bl}, "192.0.2.99", "554 5.7.1 Service unavailable; client [192.0.2.99] blocked using bl.test", "dnsbl"},
		{"dnsbl defer", Config{DNSBLs: bl, DNSBLAction: ActionDefer}, "192.0.2.99", "DEFER_IF_PERMIT 4.7.1 Service unavailable;", "dnsbl"},
		{"dnsbl warn", Config{DNSBLs: bl, DNSBLAction: ActionWarn}, "192.0.2.99", "PREPEND Received-SPF: fail", "spf"},
		{"dnsbl warn, no spf", Config{DNSBLs: bl, DNSBLAction: ActionWarn, MailFromReject: RejectNoCheck, HELOReject: RejectNoCheck}, "192.0.2.99", "WARN Service unavailable;", "none"},
		{"dnsbl off", Config{DNSBLs: bl, DNSBLAction: ActionOff}, "192.0.2.99", "PREPEND Received-SPF: fail", "spf"},
		{"dnsbl not listed", Config{DNSBLs: bl}, "192.0.2.10", "PREPEND Received-SPF: pass", "spf"},
		{"fcrdns confirmed", Config{FCrDNS: ActionReject}, "192.0.2.10", "PREPEND Received-SPF: pass", "spf"},
		{"fcrdns no ptr", Config{FCrDNS: ActionReject}, "192.0.2.99", "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.99]", "fcrdns"},
		{"fcrdns mismatch", Config{FCrDNS: ActionReject}, "192.0.2.11", "550 5.7.25 ", "fcrdns"},
		{"fcrdns mismatch warn", Config{FCrDNS: ActionWarn}, "192.0.2.11", "PREPEND Received-SPF: fail", "spf"},
		{"fcrdns mismatch warn, no spf", Config{FCrDNS: ActionWarn, MailFromReject: RejectNoCheck, HELOReject: RejectNoCheck}, "192.0.2.11", "WARN Client host rejected", "none"},
		{"fcrdns timeout", Config{FCrDNS: ActionReject}, "192.0.2.12", "DEFER_IF_PERMIT 4.7.25 ", "fcrdns"},
		{"fcrdns timeout warn", Config{FCrDNS: ActionWarn}, "192.0.2.12", "PREPEND Received-SPF: ", "spf"},
	} {
		// pass.test permits 192.0.2.10 only: SPF refuses nothing here, so
		// the client checks alone decide.
		if tc.cfg.MailFromReject == "" {
			tc.cfg.MailFromReject = RejectOff
		}
		c, _ := newTestChecker(t, tc.cfg)
		sender := "a@pass.test"
		d := c.Check(context.Background(), rcptRequest(tc.ip, "x.test", sender, "b@example.test"))
		if !strings.HasPrefix(d.Action, tc.action) || d.Reason != tc.reason {
			t.Errorf("%s: Check = %q (%s), want %q… (%s)", tc.name, d.Action, d.Reason, tc.action, tc.reason)
		}
		if warns := strings.Contains(tc.name, " warn") && !strings.Contains(tc.name, "timeout"); warns != (d.Warning != "") {
			t.Errorf("%s: Check warning = %q", tc.name, d.Warning)
		}
	}
}
