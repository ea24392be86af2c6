package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
	"github.com/sluice-mail/sluice/outbound"
)

// outboundSetup generates a DKIM key, tables and SRS secrets for
// example.test and returns a configuration relaying to the sink.
func outboundSetup(t testing.TB, sinkAddr string) (config.Config, string, string) {
	t.Helper()
	dir := t.TempDir()
	var rec bytes.Buffer
	if code := run([]string{"dkim-keygen", "-d", "example.test", "-s", "sel", "-dir", filepath.Join(dir, "dkim")}, &rec, io.Discard); code != 0 {
		t.Fatalf("dkim-keygen = %d", code)
	}
	zone := filepath.Join(dir, "keys.zone")
	os.WriteFile(zone, []byte("sel._domainkey.example.test "+outbound.ParseDNSRecord(rec.String())+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "KeyTable"), []byte("sel._domainkey.example.test example.test:sel:"+filepath.Join(dir, "dkim", "sel.private")+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "SigningTable"), []byte("*@example.test sel._domainkey.example.test\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "srs"), []byte("test-secret\n"), 0o600)

	cfg := config.Default()
	cfg.Delivery.MailRoot = filepath.Join(dir, "mail")
	cfg.Delivery.Domains = []string{"example.test"}
	cfg.Outbound.Relay = sinkAddr
	cfg.Outbound.DKIMKeyTable = filepath.Join(dir, "KeyTable")
	cfg.Outbound.DKIMSigningTable = filepath.Join(dir, "SigningTable")
	cfg.Outbound.SRSSecretsFile = filepath.Join(dir, "srs")
	return cfg, cfg.Delivery.MailRoot, zone
}

func userScript(t *testing.T, root, user, src string) {
	t.Helper()
	home := filepath.Join(root, "example.test", user)
	os.MkdirAll(home, 0o755)
	os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte(src), 0o644)
}

// TestRedirectRelayDown: with the relay down the recipient gets 4xx
// (after its fileinto copy was filed); after the relay is back the retry
// sends the forward once, SRS-rewritten and DKIM-signed, and files nothing
// twice.
func TestRedirectRelayDown(t *testing.T) {
	sk := &testutil.Sink{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), RejectRcpt: "nobody@elsewhere.test"}
	cfg, root, zone := outboundSetup(t, sk.Addr)
	userScript(t, root, "alice", "require [\"fileinto\", \"mailbox\"];\nfileinto :create \"Lists\";\nredirect \"friend@elsewhere.test\";\n")
	addr, _ := startInProcess(t, cfg)
	msg := "From: Sender <sender@client.test>\r\nTo: alice@example.test\r\nSubject: forward me\r\nMessage-ID: <fwd1@client.test>\r\n\r\nplease forward\r\n"

	st := lmtpSend(t, addr, "sender@client.test", []string{"alice@example.test"}, msg)
	se, _ := st["alice@example.test"].(*smtp.SMTPError)
	if se == nil || se.Code/100 != 4 {
		t.Fatalf("relay down: status %v, want 4xx", st["alice@example.test"])
	}
	lists := filepath.Join(root, "example.test", "alice", "Maildir", ".Lists")
	if n := len(maildirFiles(t, lists)); n != 1 {
		t.Fatalf("after the failed attempt .Lists holds %d, want 1", n)
	}

	testutil.StartSink(t, sk, nil)
	for i := 0; i < 2; i++ { // Postfix's retry, then a needless second one
		if st := lmtpSend(t, addr, "sender@client.test", []string{"alice@example.test"}, msg); st["alice@example.test"] != nil {
			t.Fatalf("retry %d with the relay up: %v", i, st)
		}
	}
	if n := len(maildirFiles(t, lists)); n != 1 {
		t.Fatalf(".Lists holds %d copies after the retries, want exactly 1", n)
	}
	got := sk.Received()
	if len(got) != 1 {
		t.Fatalf("sink received %d forwards, want exactly 1", len(got))
	}
	fwd := got[0]
	if !strings.HasPrefix(fwd.From, "SRS0=") || !strings.HasSuffix(fwd.From, "@example.test") || len(fwd.To) != 1 || fwd.To[0] != "friend@elsewhere.test" {
		t.Fatalf("forward envelope = %q -> %q, want an SRS0 sender at example.test to friend@elsewhere.test", fwd.From, fwd.To)
	}
	if !strings.Contains(string(fwd.Data), "please forward") || !strings.Contains(string(fwd.Data), "Delivered-To: alice@example.test") {
		t.Fatalf("forwarded message:\n%s", fwd.Data)
	}
	verifyDKIM(t, fwd.Data, zone, "example.test")
}

// TestVacation: one reply per sender per window, none to list mail.
func TestVacation(t *testing.T) {
	sk := &testutil.Sink{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), RejectRcpt: "nobody@elsewhere.test"}
	testutil.StartSink(t, sk, nil)
	cfg, root, zone := outboundSetup(t, sk.Addr)
	userScript(t, root, "bob", "require \"vacation\";\nvacation :days 1 :subject \"Away\" \"I am away until Monday.\";\n")
	addr, _ := startInProcess(t, cfg)
	for i, extra := range []string{"", "", "List-Id: <list.client.test>\r\n"} {
		from := "sender@client.test"
		if extra != "" {
			from = "other@client.test"
		}
		msg := fmt.Sprintf("From: %s\r\nTo: bob@example.test\r\n%sSubject: hello %d\r\nMessage-ID: <v%d@client.test>\r\n\r\nhi\r\n", from, extra, i, i)
		if st := lmtpSend(t, addr, from, []string{"bob@example.test"}, msg); st["bob@example.test"] != nil {
			t.Fatalf("delivery %d: %v", i, st)
		}
	}
	got := sk.Received()
	if len(got) != 1 {
		t.Fatalf("sink received %d vacation replies, want 1", len(got))
	}
	r := got[0]
	if r.From != "" || r.To[0] != "sender@client.test" || !strings.Contains(string(r.Data), "Auto-Submitted: auto-replied") ||
		!strings.Contains(string(r.Data), "Subject: Away") || !strings.Contains(string(r.Data), "In-Reply-To: <v0@client.test>") {
		t.Fatalf("vacation reply %q -> %q:\n%s", r.From, r.To, r.Data)
	}
	verifyDKIM(t, r.Data, zone, "example.test")
}

// verifyDKIM checks with dkimpy that msg carries a passing signature of
// domain, with keys from zone.
func verifyDKIM(t *testing.T, msg []byte, zone, domain string) {
	t.Helper()
	py := testutil.RequirePeer(t, "/usr/bin/python3")[0]
	if err := exec.Command(py, "-c", "import dkim").Run(); err != nil {
		if testutil.InCI() {
			t.Fatalf("peer missing: python3-dkim")
		}
		t.Skip("peer missing: python3-dkim")
	}
	f := filepath.Join(t.TempDir(), "msg.eml")
	os.WriteFile(f, msg, 0o644)
	out, err := exec.Command(py, "../../outbound/testdata/dkimpy_verify.py", zone, f).CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "d="+domain+" s=sel pass") {
		t.Fatalf("dkimpy did not pass a d=%s signature:\n%s\nmessage:\n%s", domain, out, msg)
	}
}

// TestRedirectThroughPostfix: a Sieve redirect goes out through a real
// Postfix's queue to the sink, SRS-rewritten and signed; a forward the
// sink refuses bounces to the SRS address, comes back over LMTP, and is
// sent on to the original sender.
func TestRedirectThroughPostfix(t *testing.T) {
	testutil.RequirePeer(t, "swaks")
	sk := &testutil.Sink{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), RejectRcpt: "nobody@elsewhere.test"}
	testutil.StartSink(t, sk, nil)
	lmtpPort := testutil.FreePort(t)
	pf := testutil.StartPostfix(t, testutil.PostfixOptions{
		LMTP: fmt.Sprintf("inet:127.0.0.1:%d", lmtpPort),
		MainCF: []string{
			// Outbound mail, and only outbound mail, goes to the sink.
			"default_transport = smtp",
			"relay_transport = smtp",
			"relayhost = [" + sk.Addr[:strings.LastIndexByte(sk.Addr, ':')] + "]:" + sk.Addr[strings.LastIndexByte(sk.Addr, ':')+1:],
			"smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
			"smtp_dns_support_level = disabled",
		},
		MasterCF: []string{"smtp      unix  - - n -   - smtp"},
	})
	cfg, root, zone := outboundSetup(t, fmt.Sprintf("127.0.0.1:%d", pf.SMTPPort))
	userScript(t, root, "alice", "redirect \"friend@elsewhere.test\";\n")
	userScript(t, root, "bob", "redirect \"nobody@elsewhere.test\";\n")
	cfg.LMTP.Listen = []string{fmt.Sprintf("127.0.0.1:%d", lmtpPort)}
	startInProcess(t, cfg)

	out, err := exec.Command("swaks", "--server", fmt.Sprintf("127.0.0.1:%d", pf.SMTPPort),
		"--from", "sender@client.test", "--to", "alice@example.test,bob@example.test",
		"--header", "Subject: forward through postfix", "--body", "via postfix").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	var fwd, bounce *testutil.SinkMsg
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && (fwd == nil || bounce == nil); time.Sleep(200 * time.Millisecond) {
		pf.Flush()
		for _, m := range sk.Received() {
			switch {
			case m.To[0] == "friend@elsewhere.test":
				fwd = &m
			case m.To[0] == "sender@client.test" && m.From == "":
				bounce = &m
			}
		}
	}
	if fwd == nil || bounce == nil {
		t.Fatalf("sink got forward=%v bounce=%v; want both\npostfix log:\n%s", fwd != nil, bounce != nil, pf.Log())
	}
	if !strings.HasPrefix(fwd.From, "SRS0=") || !strings.HasSuffix(fwd.From, "@example.test") {
		t.Fatalf("forward sent with envelope sender %q, want SRS0=...@example.test", fwd.From)
	}
	verifyDKIM(t, fwd.Data, zone, "example.test")
	if !strings.Contains(string(bounce.Data), "nobody@elsewhere.test") {
		t.Fatalf("bounce does not name the refused address:\n%s", bounce.Data)
	}
}
