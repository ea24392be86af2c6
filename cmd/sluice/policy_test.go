package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// swaksFrom sends one message from sender to rcpt through the private
// Postfix and returns swaks's transcript and whether it succeeded.
func swaksFrom(t *testing.T, pf *testutil.Postfix, sender, rcpt, subject string) (string, bool) {
	t.Helper()
	return swaksSend(t, pf, "", "swaks.client.test", sender, rcpt, subject, "policy test body\n")
}

// swaks submits one message from the loopback address local and returns
// swaks' transcript; a refusal is not an error here.
func swaks(t *testing.T, pf *testutil.Postfix, local, from, to, subject, body string) string {
	t.Helper()
	out, _ := swaksSend(t, pf, local, "mail.client.test", from, to, subject, body)
	return out
}

// swaksSend submits one message through the private Postfix, from the
// loopback address local unless it is empty, and returns swaks'
// transcript and whether it exited 0.
func swaksSend(t *testing.T, pf *testutil.Postfix, local, helo, from, to, subject, body string) (string, bool) {
	t.Helper()
	args := []string{"--server", fmt.Sprintf("127.0.0.1:%d", pf.SMTPPort), "--helo", helo,
		"--from", from, "--to", to, "--header", "Subject: " + subject, "--body", body}
	if local != "" {
		args = append(args, "--local-interface", local)
	}
	out, err := exec.Command("swaks", args...).CombinedOutput()
	return string(out), err == nil
}

// TestPostfixPolicyService: a real Postfix with the main.cf lines of
// docs/postfix.md ("## Policy service") asks sluice's policy service at
// RCPT: an SPF -all fail is refused 550 5.7.23, a pass is delivered with
// Received-SPF: pass prepended, a DNS timeout defers with a 4xx, and
// postmaster@ takes the failing sender's mail; the FCrDNS check, set to
// warn, logs the client without a PTR record.
func TestPostfixPolicyService(t *testing.T) {
	testutil.RequirePeer(t, "swaks")
	blocks := docBlocks(t)
	if blocks["main.cf policy"] == "" {
		t.Fatal("docs/postfix.md has no main.cf name=policy block")
	}
	dns := dnstest.Start(t, `
pass.client.test. TXT "v=spf1 ip4:127.0.0.1 -all"
fail.client.test. TXT "v=spf1 -all"
`)
	dns.Timeout("slow.client.test")
	root := testutil.PeerDir(t)
	pport := testutil.FreePort(t)
	cfg := config.Default()
	cfg.Delivery.MailRoot = root
	cfg.LMTP.Hostname = "mx.example.test"
	cfg.Auth.DNS = []string{dns.Addr}
	cfg.Auth.DNSTimeout = 300 * time.Millisecond
	cfg.Policy.Listen = []string{fmt.Sprintf("127.0.0.1:%d", pport)}
	// The test client is on loopback, which the default skips.
	cfg.Policy.SkipNetworks = nil
	// 127.0.0.1 has no PTR record here: the warning is logged, SPF
	// still decides.
	cfg.Policy.FCrDNS = "warn"
	lmtpAddr, logs := startInProcess(t, cfg)
	if err := testutil.WaitPort(pport, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	pf := testutil.StartPostfix(t, testutil.PostfixOptions{
		LMTP: "inet:" + lmtpAddr,
		// The test client is in the instance's mynetworks, which the
		// documented lines permit before asking the policy service.
		MainCF: append(lines(blocks["main.cf policy"], "10045", fmt.Sprint(pport)), "mynetworks = 192.0.2.1/32"),
	})

	out, ok := swaksFrom(t, pf, "sender@fail.client.test", "alice@example.test", "spf fail")
	if ok || !strings.Contains(out, "<** 550 5.7.23 <alice@example.test>: Recipient address rejected: Message rejected due to: SPF fail - not authorized.") {
		t.Errorf("SPF fail: want 550 5.7.23 at RCPT, got (ok %v):\n%s", ok, out)
	}
	out, ok = swaksFrom(t, pf, "sender@slow.client.test", "alice@example.test", "spf temperror")
	if ok || !strings.Contains(out, "<** 450 4.7.24 <alice@example.test>: Recipient address rejected: SPF temporary error for slow.client.test") {
		t.Errorf("DNS timeout: want 450 4.7.24 at RCPT, got (ok %v):\n%s", ok, out)
	}
	if out, ok := swaksFrom(t, pf, "sender@fail.client.test", "postmaster@example.test", "to postmaster"); !ok {
		t.Errorf("SPF fail to postmaster@: want accepted, got:\n%s", out)
	}
	if out, ok := swaksFrom(t, pf, "sender@pass.client.test", "bob@example.test", "spf pass"); !ok {
		t.Fatalf("SPF pass: want accepted, got:\n%s", out)
	}
	pf.WaitEmpty(30 * time.Second)
	msg := onlyMessage(t, filepath.Join(root, "example.test/bob/Maildir"), pf)
	want := "Received-SPF: pass (mx.example.test: domain of sender@pass.client.test designates 127.0.0.1 as permitted sender) receiver=mx.example.test; client-ip=127.0.0.1; helo=swaks.client.test; envelope-from=\"sender@pass.client.test\"; identity=mailfrom;"
	if !strings.Contains(msg, want) {
		t.Errorf("delivered message lacks %q:\n%s", want, msg)
	}
	pm := onlyMessage(t, filepath.Join(root, "example.test/postmaster/Maildir"), pf)
	if !strings.Contains(pm, "Received-SPF: fail ") {
		t.Errorf("postmaster's copy lacks Received-SPF: fail:\n%s", pm)
	}
	if !strings.Contains(logs.String(), `warning="Client host rejected: cannot find your hostname, [127.0.0.1]"`) {
		t.Errorf("sluice's log lacks the FCrDNS warning:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "reason=mailfrom_fail") {
		t.Errorf("sluice's log lacks the refusal:\n%s", logs)
	}
}

// TestServePolicyUnix: serve runs the policy service on a unix socket
// beside LMTP, answers the protocol there, and removes the socket at
// shutdown.
func TestServePolicyUnix(t *testing.T) {
	dns := dnstest.Start(t, `fail.client.test. TXT "v=spf1 -all"`)
	dir := t.TempDir()
	sock := filepath.Join(dir, "policy.sock")
	cfg := config.Default()
	cfg.Delivery.MailRoot = filepath.Join(dir, "mail")
	cfg.Auth.DNS = []string{dns.Addr}
	cfg.LMTP.Hostname = "mx.example.test"
	cfg.Policy.Listen = []string{"unix:" + sock}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg.LMTP.Listen = []string{fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	cfg.Metrics.Listen = ""
	cfg.Rules.Mode = "builtin"
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), nil, nil) }()
	var c net.Conn
	var err error
	for i := 0; i < 200; i++ {
		if c, err = net.Dial("unix", sock); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		cancel()
		t.Fatalf("no policy listener on %s: %v", sock, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\nhelo_name=x.client.test\nsender=a@fail.client.test\nrecipient=b@example.test\ninstance=1\n\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || !strings.HasPrefix(line, "action=550 5.7.23 Message rejected due to: SPF fail") {
		t.Errorf("policy reply = %q, %v; want action=550 5.7.23", line, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Errorf("socket %s left behind after shutdown", sock)
	}
}
