package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/internal/testutil"
	"github.com/sluice-mail/sluice/mail"
)

// milterPostfix is a private Postfix with the documented milter lines
// pointing at milterPort, relaying mail for other domains to sink and
// delivering example.test over LMTP to lmtpPort.
func milterPostfix(t *testing.T, sink *testutil.Sink, milterPort, lmtpPort int) *testutil.Postfix {
	t.Helper()
	host, port, _ := strings.Cut(sink.Addr, ":")
	main := lines(docBlocks(t)["main.cf milter"], "inet:127.0.0.1:8891", fmt.Sprintf("inet:127.0.0.1:%d", milterPort))
	if len(main) < 2 {
		t.Fatal("docs/postfix.md has no main.cf name=milter block")
	}
	return testutil.StartPostfix(t, testutil.PostfixOptions{
		LMTP: fmt.Sprintf("inet:127.0.0.1:%d", lmtpPort),
		MainCF: append(main,
			"default_transport = smtp",
			"relay_transport = smtp",
			"relayhost = ["+host+"]:"+port,
			"smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
			"smtp_dns_support_level = disabled",
			// The external client is 127.0.0.2, which /etc/hosts does not
			// name: its reverse lookup would ask the system's resolver.
			"smtpd_peername_lookup = no",
		),
		MasterCF: []string{"smtp      unix  - - n -   - smtp"},
	})
}

// milterDNS serves SPF for client.test and the DKIM key of example.test
// (the zone file outboundSetup wrote).
func milterDNS(t *testing.T, keyZone string) *dnstest.Server {
	t.Helper()
	srv := dnstest.Start(t, `client.test. TXT "v=spf1 ip4:127.0.0.0/8 -all"
forged.test. TXT "v=spf1 ip4:192.0.2.99 -all"
_dmarc.forged.test. TXT "v=DMARC1; p=reject"`)
	b, err := os.ReadFile(keyZone)
	if err != nil {
		t.Fatal(err)
	}
	name, value, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	srv.AddTXT(name+".", value, 300)
	return srv
}

// waitSink waits for a message to rcpt at the sink.
func waitSink(t *testing.T, pf *testutil.Postfix, sk *testutil.Sink, rcpt string) []byte {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		pf.Flush()
		for _, m := range sk.Received() {
			if len(m.To) > 0 && m.To[0] == rcpt {
				return m.Data
			}
		}
	}
	t.Fatalf("no message to %s at the sink\npostfix log:\n%s", rcpt, pf.Log())
	return nil
}

var opendkimResult = regexp.MustCompile(`verification \(s=(\S+?),? d=(\S+?),.*\) (succeeded|failed)`)

// verifyOpenDKIM verifies msg's signature with OpenDKIM's verifier
// (`opendkim -t`), the published key given as TestPublicKeys (the zone
// file: the record loopback DNS serves). OpenDKIM's libunbound resolver
// cannot be pointed at a loopback server on a port other than 53.
func verifyOpenDKIM(t *testing.T, msg []byte, zone, domain string) {
	t.Helper()
	bin := testutil.RequirePeer(t, "/usr/sbin/opendkim")[0]
	dir := t.TempDir()
	conf := filepath.Join(dir, "opendkim.conf")
	os.WriteFile(conf, []byte("Mode v\nSyslog no\nTestPublicKeys "+zone+"\n"), 0o644)
	mf := filepath.Join(dir, "msg.eml")
	os.WriteFile(mf, msg, 0o644)
	out, err := exec.Command(bin, "-x", conf, "-t", mf).CombinedOutput()
	if err != nil {
		t.Fatalf("opendkim -t: %v\n%s", err, out)
	}
	m := opendkimResult.FindStringSubmatch(string(out))
	if m == nil || m[2] != domain || m[3] != "succeeded" {
		t.Fatalf("opendkim -t did not pass a d=%s signature:\n%s\nmessage:\n%s", domain, out, msg)
	}
}

// TestPostfixMilter: a real Postfix with smtpd_milters pointing at
// sluice's milter (LMTP in the same process). A message from an internal
// client leaves Postfix DKIM-signed, and dkimpy and OpenDKIM verify it
// against the key in loopback DNS; GTUBE from an external client is
// refused 550 at the end of DATA; external ham is delivered over LMTP with
// the milter's Authentication-Results and X-Spam-*, not checked again.
func TestPostfixMilter(t *testing.T) {
	testutil.RequirePeer(t, "swaks")
	sk := testutil.StartSink(t, &testutil.Sink{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}, nil)
	milterPort, lmtpPort := testutil.FreePort(t), testutil.FreePort(t)
	pf := milterPostfix(t, sk, milterPort, lmtpPort)
	cfg, root, zone := outboundSetup(t, "127.0.0.1:1")
	dns := milterDNS(t, zone)
	cfg.Auth.DNS = []string{dns.Addr}
	cfg.LMTP.Listen = []string{fmt.Sprintf("127.0.0.1:%d", lmtpPort)}
	cfg.LMTP.Hostname = "mx.example.test"
	cfg.Milter.Listen = []string{fmt.Sprintf("127.0.0.1:%d", milterPort)}
	cfg.Milter.SignNetworks = []string{"127.0.0.1"}
	cfg.Milter.RejectScore = 5
	cfg.Auth.EnforceDMARC = true
	cfg.Sieve.Enabled = false
	_, logs := startInProcess(t, cfg)
	if err := testutil.WaitPort(milterPort, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	t.Run("internal signed", func(t *testing.T) {
		out := swaks(t, pf, "127.0.0.1", "alice@example.test", "friend@elsewhere.test", "signed by the milter", "outbound body")
		if !strings.Contains(out, "250 2.0.0 Ok: queued") {
			t.Fatalf("swaks:\n%s", out)
		}
		msg := waitSink(t, pf, sk, "friend@elsewhere.test")
		if strings.Contains(string(msg), "X-Spam-") || strings.Contains(string(msg), "Authentication-Results") {
			t.Errorf("outbound mail got spam headers:\n%s", msg)
		}
		verifyDKIM(t, msg, zone, "example.test")
		verifyOpenDKIM(t, msg, zone, "example.test")
	})
	t.Run("external GTUBE refused", func(t *testing.T) {
		out := swaks(t, pf, "127.0.0.2", "sender@client.test", "bob@example.test", "spam", "spam body\n"+gtube)
		if !regexp.MustCompile(`<\*\* 550 5\.7\.1 Message rejected as spam \(score 1\d\d\d`).MatchString(out) {
			t.Fatalf("swaks did not get 550 5.7.1 with the score at end of DATA:\n%s", out)
		}
	})
	t.Run("DMARC p=reject refused", func(t *testing.T) {
		out := swaks(t, pf, "127.0.0.2", "ceo@forged.test", "bob@example.test", "wire money", "urgent")
		if !strings.Contains(out, "<** 550 5.7.1 Rejected by the sender domain's DMARC policy") {
			t.Fatalf("swaks did not get 550 5.7.1 for DMARC p=reject:\n%s", out)
		}
	})
	t.Run("external ham delivered once checked", func(t *testing.T) {
		out := swaks(t, pf, "127.0.0.2", "sender@client.test", "bob@example.test", "ham", "a plain message")
		if !strings.Contains(out, "250 2.0.0 Ok: queued") {
			t.Fatalf("swaks:\n%s", out)
		}
		dir := filepath.Join(root, "example.test", "bob", "Maildir")
		var files []string
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && len(files) == 0; time.Sleep(200 * time.Millisecond) {
			files, _ = filepath.Glob(filepath.Join(dir, "new", "*"))
		}
		if len(files) != 1 {
			t.Fatalf("%d messages delivered, want 1\npostfix log:\n%s", len(files), pf.Log())
		}
		b, _ := os.ReadFile(files[0])
		k := mail.HeaderLen(b)
		count := map[string]int{}
		for _, f := range mail.ParseHeader(b[:k]) {
			count[strings.ToLower(f.Name)]++
		}
		if count["authentication-results"] != 1 || count["x-spam-status"] != 1 || count["x-sluice-scanned"] != 1 ||
			!strings.Contains(string(b), "spf=pass") {
			t.Fatalf("delivered message lacks the milter's fields (%v):\n%s", count, b)
		}
		// The delivery line has no verdict: LMTP did not score it again.
		found := false
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "msg=delivery") && strings.Contains(line, "rcpt=bob@example.test") {
				found = true
				if strings.Contains(line, "score=") {
					t.Fatalf("LMTP scored milter-checked mail again:\n%s", line)
				}
			}
		}
		if !found {
			t.Fatalf("no delivery line for bob in the log:\n%s", logs)
		}
	})
}

// startMilterOnly runs `sluice serve` with the milter alone on a free
// port and returns the port.
func startMilterOnly(t *testing.T, cfg config.Config) int {
	t.Helper()
	port := testutil.FreePort(t)
	cfg.LMTP.Listen = nil
	cfg.Milter.Listen = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	cfg.Metrics.Listen = ""
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(w, nil)), nil, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	if err := testutil.WaitPort(port, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return port
}

// TestPostfixMilterRulesUnloadable: with the rules unloadable and
// on_error = "tempfail", inbound mail gets 451 at the end of DATA, and
// signing goes on.
func TestPostfixMilterRulesUnloadable(t *testing.T) {
	testutil.RequirePeer(t, "swaks")
	sk := testutil.StartSink(t, &testutil.Sink{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}, nil)
	cfg, _, zone := outboundSetup(t, "127.0.0.1:1")
	cfg.Rules.Mode = "dirs"
	cfg.Rules.Dirs = []string{filepath.Join(t.TempDir(), "missing")}
	cfg.Auth.Enabled = false
	cfg.Milter.SignNetworks = []string{"127.0.0.1"}
	cfg.Milter.OnError = "tempfail"
	port := startMilterOnly(t, cfg)
	pf := milterPostfix(t, sk, port, testutil.FreePort(t))
	out := swaks(t, pf, "127.0.0.2", "sender@client.test", "bob@example.test", "inbound", "body")
	if !strings.Contains(out, "<** 451 4.7.1") {
		t.Fatalf("swaks did not get 451 4.7.1 at end of DATA:\n%s", out)
	}
	out = swaks(t, pf, "127.0.0.1", "alice@example.test", "friend@elsewhere.test", "outbound", "body")
	if !strings.Contains(out, "250 2.0.0 Ok: queued") {
		t.Fatalf("swaks:\n%s", out)
	}
	msg := waitSink(t, pf, sk, "friend@elsewhere.test")
	verifyDKIM(t, msg, zone, "example.test")
	verifyOpenDKIM(t, msg, zone, "example.test")
}

// TestMilterOnlyReload: `sluice serve` with the milter alone starts with
// rules it cannot load (inbound mail: 451), and SIGHUP with the rules
// fixed puts the checks in force.
func TestMilterOnlyReload(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.Enabled = false
	cfg.Rules.Mode = "dirs"
	cfg.Rules.Dirs = []string{filepath.Join(t.TempDir(), "missing")}
	port := testutil.FreePort(t)
	cfg.LMTP.Listen = nil
	cfg.Milter.Listen = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	cfg.Metrics.Listen = ""
	fixed := cfg
	fixed.Rules.Mode, fixed.Rules.Dirs = "builtin", nil
	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, quiet(), hup, func() (config.Config, error) { return fixed, nil })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	if err := testutil.WaitPort(port, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	send := func() *gomilter.Action {
		t.Helper()
		s, err := gomilter.NewClient("tcp", fmt.Sprintf("127.0.0.1:%d", port)).Session(gomilter.NewMacroBag())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.Conn("client.test", gomilter.FamilyInet, 25, "192.0.2.1")
		s.Helo("client.test")
		s.Mail("<a@client.test>", "")
		s.Rcpt("<b@example.test>", "")
		s.DataStart()
		s.HeaderField("From", " a@client.test", nil)
		s.HeaderField("Subject", " reload", nil)
		s.HeaderEnd()
		s.BodyChunk([]byte(gtube + "\r\n"))
		_, act, err := s.End()
		if err != nil {
			t.Fatal(err)
		}
		return act
	}
	if act := send(); act.SMTPCode != 451 {
		t.Fatalf("with rules unloadable: %v, want 451", act)
	}
	hup <- syscall.SIGHUP
	var act *gomilter.Action
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if act = send(); act.Type == gomilter.ActionAccept {
			return
		}
	}
	t.Fatalf("after the reload: %v, want accept", act)
}

// TestPostfixMilterSpamMarked: with reject_score off, GTUBE from an
// external client passes marked through a real Postfix. With the built-in
// rules (report_safe 0): forged X-Spam-* removed, the Subject rewritten in
// place (a change action), X-Spam-* added, other fields kept. With
// report_safe 1: the body replaced by the report (a body action).
func TestPostfixMilterSpamMarked(t *testing.T) {
	testutil.RequirePeer(t, "swaks")
	send := func(t *testing.T, cfg config.Config) []byte {
		t.Helper()
		sk := testutil.StartSink(t, &testutil.Sink{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}, nil)
		cfg.Auth.Enabled = false
		cfg.Milter.SignNetworks = []string{"127.0.0.1"}
		pf := milterPostfix(t, sk, startMilterOnly(t, cfg), testutil.FreePort(t))
		out, err := exec.Command("swaks", "--server", fmt.Sprintf("127.0.0.1:%d", pf.SMTPPort),
			"--local-interface", "127.0.0.2", "--from", "sender@client.test", "--to", "victim@elsewhere.test",
			"--header", "Subject: cheap pills", "--add-header", "X-Spam-Flag: NO", "--add-header", "X-Keep: middle",
			"--body", "buy now\n"+gtube).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "250 2.0.0 Ok: queued") {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
		return waitSink(t, pf, sk, "victim@elsewhere.test")
	}
	t.Run("headers", func(t *testing.T) {
		cfg := config.Default()
		cfg.Rules.Mode = "builtin"
		msg := send(t, cfg)
		k := mail.HeaderLen(msg)
		var subjects, flags, names []string
		for _, f := range mail.ParseHeader(msg[:k]) {
			names = append(names, f.Name)
			switch strings.ToLower(f.Name) {
			case "subject":
				subjects = append(subjects, f.Unfolded())
			case "x-spam-flag":
				flags = append(flags, strings.TrimSpace(f.Unfolded()))
			}
		}
		if len(subjects) != 1 || !strings.Contains(subjects[0], "*****SPAM***** cheap pills") {
			t.Errorf("Subject fields %q, want one, rewritten\n%s", subjects, msg)
		}
		if len(flags) != 1 || flags[0] != "YES" {
			t.Errorf("X-Spam-Flag fields %q, want the forged one gone and ours YES\n%s", flags, msg)
		}
		if !strings.Contains(strings.Join(names, ","), "X-Keep") || !strings.Contains(string(msg), "X-Spam-Status: Yes") {
			t.Errorf("fields %v\n%s", names, msg)
		}
	})
	t.Run("report_safe", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "local.cf"), []byte("required_score 5\nreport_safe 1\n"+
			"body GTUBE /XJS\\*C4JDBQADN1\\.NSBN3\\*2IDNEN\\*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL\\*C\\.34X/\nscore GTUBE 1000\n"), 0o644)
		cfg := config.Default()
		cfg.Rules.Mode, cfg.Rules.Dirs = "dirs", []string{dir}
		msg := send(t, cfg)
		body := string(msg[mail.HeaderLen(msg):])
		if !strings.Contains(body, "Content analysis details") || !strings.Contains(body, "message/rfc822") || !strings.Contains(body, gtube) {
			t.Errorf("body is not report_safe's report with the original attached:\n%s", msg)
		}
	})
}

// TestPostfixMilterUnixSocket: Postfix reaches the milter on a unix
// socket made with lmtp.socket_mode and socket_group (Postfix's group).
func TestPostfixMilterUnixSocket(t *testing.T) {
	testutil.RequirePeer(t, "swaks")
	sk := testutil.StartSink(t, &testutil.Sink{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}, nil)
	cfg, _, zone := outboundSetup(t, "127.0.0.1:1")
	cfg.Auth.Enabled = false
	cfg.Rules.Mode = "builtin"
	cfg.LMTP.Listen = nil
	cfg.LMTP.SocketGroup = "postfix"
	cfg.Metrics.Listen = ""
	dir := t.TempDir()
	// Postfix's smtpd runs as the postfix user: the directories must let
	// it through; the socket itself is 0660, group postfix.
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	sock := filepath.Join(dir, "milter.sock")
	cfg.Milter.Listen = []string{"unix:" + sock}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, quiet(), nil, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if _, err := os.Stat(sock); err == nil {
			t.Errorf("socket %s left behind", sock)
		}
	})
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 100 {
			t.Fatal("no milter socket")
		}
		time.Sleep(50 * time.Millisecond)
	}
	host, port, _ := strings.Cut(sk.Addr, ":")
	main := lines(docBlocks(t)["main.cf milter"], "inet:127.0.0.1:8891", "unix:"+sock)
	pf := testutil.StartPostfix(t, testutil.PostfixOptions{
		LMTP: fmt.Sprintf("inet:127.0.0.1:%d", testutil.FreePort(t)),
		MainCF: append(main, "default_transport = smtp", "relay_transport = smtp", "relayhost = ["+host+"]:"+port,
			"smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination", "smtp_dns_support_level = disabled"),
		MasterCF: []string{"smtp      unix  - - n -   - smtp"},
	})
	out := swaks(t, pf, "127.0.0.1", "alice@example.test", "friend@elsewhere.test", "over a unix socket", "body")
	if !strings.Contains(out, "250 2.0.0 Ok: queued") {
		t.Fatalf("swaks:\n%s\npostfix log:\n%s", out, pf.Log())
	}
	verifyDKIM(t, waitSink(t, pf, sk, "friend@elsewhere.test"), zone, "example.test")
}
