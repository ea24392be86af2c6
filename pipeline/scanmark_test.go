package pipeline

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
)

// scanPipeline has an auth stage and a one-rule spam stage, with key as
// Config.ScanKey.
func scanPipeline(t *testing.T, key string) *Pipeline {
	t.Helper()
	srv := dnstest.Start(t, authZone)
	res, err := auth.NewDNSResolver(auth.DNSConfig{Servers: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.LoadString("local.cf", "report_safe 0\nbody HAS_SPAMWORD /spamword/\nscore HAS_SPAMWORD 7\n", rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{
		Hostname: "mx.test",
		Auth:     &AuthStage{Resolver: res, AuthServID: "mx.test"},
		Spam:     &SpamStage{Rules: rs},
		ScanKey:  []byte(key),
	}, quietLog())
}

// TestScanMark: what Scan marks is not checked again by a pipeline with
// the same key (its verdict fields are kept); a changed verdict, body, or
// key, or a second mark, gets the message checked afresh.
func TestScanMark(t *testing.T) {
	p := scanPipeline(t, "k1")
	env := &mail.Envelope{MailFrom: "a@client.test", Recipients: []string{"b@example.test"}, ClientIP: net.ParseIP("192.0.2.1"), ClientHelo: "h.test"}
	in := "X-Sluice-Scanned: mx.test; v=1; b=forged\r\nFrom: a@client.test\r\nSubject: x\r\n\r\nspamword\r\n"
	m, err := p.Scan(context.Background(), env, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out := string(m.Out())
	if strings.Count(out, ScannedField+":") != 1 || strings.Contains(out, "b=forged") || !strings.Contains(out, "X-Spam-Status: Yes, score=7.0") {
		t.Fatalf("Scan output:\n%s", out)
	}
	// What the MTA hands on: its own Received on top.
	delivered := "Received: from h.test ([192.0.2.1])\r\n\tby mx.test (Postfix) with ESMTP id Q\r\n" + out
	check := func(p *Pipeline, msg string) *Message {
		t.Helper()
		m, err := p.Check(context.Background(), env, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := check(p, delivered); !m.Scanned || m.Verdict != nil || string(m.Out()) != delivered {
		t.Fatalf("marked mail checked again (scanned %v):\n%s", m.Scanned, m.Out())
	}
	// The same key in another process, as with [milter] scan_key_file.
	if m := check(scanPipeline(t, "k1"), delivered); !m.Scanned {
		t.Fatal("mark not trusted by a pipeline with the same key")
	}
	for name, msg := range map[string]string{
		"other key":   "",
		"verdict":     strings.Replace(delivered, "score=7.0", "score=-9.0", 1),
		"body":        strings.Replace(delivered, "spamword", "ham", 1),
		"subject":     strings.Replace(delivered, "Subject: ", "Subject: [re] ", 1),
		"second mark": ScannedField + ": mx.test; v=1; b=x\r\n" + delivered,
		"no authserv": strings.Replace(delivered, ScannedField+": mx.test", ScannedField+": other.test", 1),
	} {
		q := p
		if msg == "" {
			q, msg = scanPipeline(t, "k2"), delivered
		}
		m := check(q, msg)
		if m.Scanned || m.Verdict == nil {
			t.Errorf("%s: mark trusted", name)
		}
		if got := string(m.Out()); strings.Contains(got, "score=-9.0") {
			t.Errorf("%s: forged verdict kept:\n%s", name, got)
		}
	}
	// A DMARC quarantine travels in the mark, and is applied at delivery
	// (with enforcement) without checking again.
	qp := New(Config{
		Hostname:  "mx.test",
		Directory: NewDirectory(DirectoryConfig{MailRoot: t.TempDir(), MailLocation: "%d/%n/Maildir"}),
		Auth:      &AuthStage{Resolver: p.cfg.Auth.Resolver, AuthServID: "mx.test", EnforceDMARC: true, QuarantineFolder: "Spam"},
		ScanKey:   []byte("k1"),
	}, quietLog())
	qenv := &mail.Envelope{MailFrom: "x@quar.test", Recipients: []string{"bob@example.test"}, ClientIP: net.ParseIP("192.0.2.1"), ClientHelo: "h.test"}
	qm, err := qp.Scan(context.Background(), qenv, []byte("From: x@quar.test\r\nSubject: q\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(qm.Header), "a=quarantine;") {
		t.Fatalf("mark without a=quarantine:\n%s", qm.Header)
	}
	if m := check(qp, string(qm.Out())); !m.Scanned || m.Auth == nil || m.Auth.DMARC.Apply != "quarantine" {
		t.Fatalf("quarantine not carried: scanned %v auth %+v", m.Scanned, m.Auth)
	}
	if m := check(qp, strings.Replace(string(qm.Out()), " a=quarantine;", "", 1)); m.Scanned {
		t.Fatal("mark with a= removed still trusted")
	}
	// Without a key nothing is marked or trusted.
	q := scanPipeline(t, "")
	if m := check(q, delivered); m.Scanned {
		t.Fatal("mark trusted without a key")
	}
	if m, _ := q.Scan(context.Background(), env, []byte("From: a@client.test\r\n\r\nx\r\n")); strings.Contains(string(m.Out()), ScannedField) {
		t.Fatal("Scan marked without a key")
	}
}
