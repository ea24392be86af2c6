package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/mail"
)

// TestStockAuthRules: with SpamAssassin's stock rules and sluice's own
// SPF/DKIM/DMARC checks (against a loopback DNS server), a genuine message
// hits SPF_PASS, DKIM_VALID, DKIM_VALID_AU and DMARC_PASS, and a forged one
// hits SPF_FAIL and DMARC_REJECT.
func TestStockAuthRules(t *testing.T) {
	dir := stockRules(t)
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, "sluice test key, not a secret!!")
	key := ed25519.NewKeyFromSeed(seed)
	zone := `
sender.test. TXT "v=spf1 ip4:192.0.2.10 -all"
_dmarc.sender.test. TXT "v=DMARC1; p=reject"
sel._domainkey.sender.test. TXT "v=DKIM1; k=ed25519; p=` + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)) + `"
`
	dns := dnstest.Start(t, zone)
	cfg := config.Default()
	cfg.Auth.DNS = []string{dns.Addr}
	cfg.Rules.Mode, cfg.Rules.Dirs = "dirs", []string{dir}
	p, err := newPipeline(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, buildOpts{})
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\nSubject: quarterly figures\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <auth1@sender.test>\r\n\r\nThe figures are attached as promised.\r\n"
	var signed strings.Builder
	if err := dkim.Sign(&signed, strings.NewReader(msg), &dkim.SignOptions{Domain: "sender.test", Selector: "sel", Signer: key}); err != nil {
		t.Fatal(err)
	}
	hits := func(ip, raw string) map[string]bool {
		t.Helper()
		env := &mail.Envelope{MailFrom: "alice@sender.test", Recipients: []string{"bob@example.test"}, ClientIP: net.ParseIP(ip), ClientHelo: "mail.sender.test"}
		m, err := p.Check(context.Background(), env, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, h := range m.Verdict.Hits {
			got[h.Rule] = true
		}
		// Zero-scored rules are not listed as hits; the Status header shows
		// the rules that fired with a score, and Authentication-Results the checks.
		t.Logf("%s: hits %v\n%s", ip, got, m.Header)
		return got
	}
	good := hits("192.0.2.10", signed.String())
	for _, r := range []string{"SPF_PASS", "DKIM_VALID", "DKIM_VALID_AU", "DMARC_PASS"} {
		if !good[r] {
			t.Errorf("genuine message does not hit %s", r)
		}
	}
	forged := hits("198.51.100.7", msg)
	for _, r := range []string{"SPF_FAIL", "DMARC_REJECT"} {
		if !forged[r] {
			t.Errorf("forged message does not hit %s", r)
		}
	}
}
