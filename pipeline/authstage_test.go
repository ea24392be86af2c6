package pipeline

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
)

const authZone = `
client.test. TXT "v=spf1 ip4:192.0.2.1 -all"
forged.test. TXT "v=spf1 ip4:192.0.2.99 -all"
_dmarc.forged.test. TXT "v=DMARC1; p=reject"
_dmarc.quar.test. TXT "v=DMARC1; p=quarantine"
quar.test. TXT "v=spf1 -all"
`

func authPipeline(t *testing.T, root string, enforce bool) *Pipeline {
	t.Helper()
	srv := dnstest.Start(t, authZone)
	res, err := auth.NewDNSResolver(auth.DNSConfig{Servers: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{
		Hostname:  "mx.test",
		Directory: NewDirectory(DirectoryConfig{MailRoot: root, MailLocation: "%d/%n/Maildir"}),
		Auth: &AuthStage{Resolver: res, AuthServID: "mx.test", EnforceDMARC: enforce, QuarantineFolder: "Spam",
			Config: auth.Config{Sample: func(int) int { return 0 }}},
	}, quietLog())
}

func TestAuthStage(t *testing.T) {
	root := t.TempDir()
	p := authPipeline(t, root, false)
	env := &mail.Envelope{MailFrom: "a@client.test", Recipients: []string{"bob@example.test"}, ClientIP: net.ParseIP("192.0.2.1"), ClientHelo: "mail.client.test"}
	raw := "Authentication-Results: mx.test; spf=pass smtp.mailfrom=forger@evil.test\r\nFrom: a@client.test\r\nSubject: x\r\n\r\nbody\r\n"
	out, err := p.Filter(context.Background(), env, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Fatalf("Filter returned %d copies, want 1", len(out))
	}
	got := string(out[0].Bytes())
	if !strings.HasPrefix(got, "Authentication-Results: mx.test;") || !strings.Contains(got, "spf=pass") {
		t.Fatalf("Filter output lacks our Authentication-Results with spf=pass:\n%s", got)
	}
	if strings.Contains(got, "forger@evil.test") {
		t.Fatalf("forged Authentication-Results with our authserv-id survived:\n%s", got)
	}
}

func TestAuthStageReceivedFallback(t *testing.T) {
	ip, helo := receivedClient(mail.ParseHeader([]byte("Received: from mail.client.test (mail.client.test\r\n [192.0.2.1])\r\n\tby mx.test (Postfix) with ESMTP id X\r\nReceived: from inner ([10.0.0.1])\r\n\r\nbody")))
	if ip.String() != "192.0.2.1" || helo != "mail.client.test" {
		t.Fatalf("receivedClient = %v, %q; want 192.0.2.1, mail.client.test", ip, helo)
	}
	if ip, _ := receivedClient(mail.ParseHeader([]byte("Subject: none\r\n\r\nReceived: from x ([1.2.3.4])\r\n"))); ip != nil {
		t.Fatalf("receivedClient read a body line: %v", ip)
	}
}

func TestDMARCEnforced(t *testing.T) {
	root := t.TempDir()
	p := authPipeline(t, root, true)
	deliver := func(from string) error {
		env := &mail.Envelope{MailFrom: "x@" + from, Recipients: []string{"bob@example.test"}, ClientIP: net.ParseIP("192.0.2.1"), ClientHelo: "h.test"}
		return p.Deliver(context.Background(), env, []byte("From: x@"+from+"\r\nSubject: x\r\n\r\nbody\r\n"))[0]
	}
	if err := deliver("forged.test"); err != StatusDMARCReject {
		t.Fatalf("DMARC p=reject with enforcement: status %v, want %v", err, StatusDMARCReject)
	}
	if err := deliver("quar.test"); err != nil {
		t.Fatalf("DMARC p=quarantine: status %v, want delivery", err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "example.test/bob/Maildir/.Spam/new/*"))
	if len(files) != 1 {
		t.Fatalf("quarantined mail: %d files in .Spam/new, want 1", len(files))
	}
	if _, err := os.Stat(filepath.Join(root, "example.test/bob/Maildir/new")); err != nil {
		t.Fatal(err)
	}
}

// TestDNSBLFiresRules: a DNSBL answer mapped to a rule name fires that
// (net) rule in the rule engine; a listed-but-unmatched code does not.
func TestDNSBLFiresRules(t *testing.T) {
	srv := dnstest.Start(t, "1.2.0.192.bl.test. A 127.0.0.2\n")
	res, err := auth.NewDNSResolver(auth.DNSConfig{Servers: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.LoadString("local.cf", `
header RCVD_IN_TEST eval:check_rbl('bl', 'bl.test.')
tflags RCVD_IN_TEST net
score RCVD_IN_TEST 3
header RCVD_IN_OTHER eval:check_rbl_sub('bl', '127.0.0.4')
tflags RCVD_IN_OTHER net
score RCVD_IN_OTHER 4
`, rules.Options{Net: true})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{
		Hostname: "mx.test",
		Auth: &AuthStage{Resolver: res, AuthServID: "mx.test", Config: auth.Config{DNSBLs: []auth.DNSBL{{
			Set: "bl", Zone: "bl.test",
			Subtests: []auth.DNSBLSubtest{{Name: "RCVD_IN_TEST", Test: "127.0.0.2"}, {Name: "RCVD_IN_OTHER", Test: "127.0.0.4"}},
		}}}},
		Spam: &SpamStage{Rules: rs},
	}, quietLog())
	for _, tc := range []struct {
		ip   string
		want float64
	}{{"192.0.2.1", 3}, {"192.0.2.9", 0}} {
		env := &mail.Envelope{MailFrom: "a@client.test", Recipients: []string{"b@example.test"}, ClientIP: net.ParseIP(tc.ip)}
		m, err := p.Check(context.Background(), env, []byte("From: a@client.test\r\nSubject: x\r\n\r\nbody\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if m.Verdict.Score != tc.want {
			t.Fatalf("client %s: score %v (hits %v), want %v", tc.ip, m.Verdict.Score, m.Verdict.Hits, tc.want)
		}
	}
}
