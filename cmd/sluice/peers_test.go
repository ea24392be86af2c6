package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestPostfixDeliversOverLMTP: a private Postfix receives a message over
// SMTP for two recipients and hands it to sluice over LMTP; each copy lands
// in its own Maildir with the right Delivered-To.
func TestPostfixDeliversOverLMTP(t *testing.T) {
	testutil.RequirePeer(t, "swaks")
	t.Run("inet", func(t *testing.T) {
		root := testutil.PeerDir(t)
		cfg := config.Default()
		cfg.Delivery.MailRoot = root
		cfg.LMTP.XForwardNetworks = []string{"127.0.0.1/32"}
		addr, logs := startInProcess(t, cfg)
		postfixTwoRecipients(t, root, "inet:"+addr)
		// Postfix passed the original client with XFORWARD.
		if l := logs.String(); !strings.Contains(l, "helo=swaks.client.test") || !strings.Contains(l, "client=127.0.0.1") {
			t.Fatalf("log lacks the XFORWARD client (helo=swaks.client.test):\n%s", l)
		}
	})
	t.Run("inet default", func(t *testing.T) {
		// Without xforward_networks a TCP peer, loopback too, is not
		// offered XFORWARD: delivery works, the client is not taken.
		root := testutil.PeerDir(t)
		cfg := config.Default()
		cfg.Delivery.MailRoot = root
		addr, logs := startInProcess(t, cfg)
		postfixTwoRecipients(t, root, "inet:"+addr)
		if l := logs.String(); strings.Contains(l, "helo=swaks.client.test") {
			t.Fatalf("XFORWARD taken from a TCP peer outside xforward_networks:\n%s", l)
		}
	})
	t.Run("unix", func(t *testing.T) {
		// Postfix's lmtp client runs as user postfix: the socket's group
		// is what lets it in.
		root := testutil.PeerDir(t)
		cfg := config.Default()
		cfg.Delivery.MailRoot = root
		cfg.LMTP.SocketGroup = "postfix"
		sock := filepath.Join(root, "lmtp.sock")
		logs := startUnix(t, cfg, sock)
		postfixTwoRecipients(t, root, "unix:"+sock)
		if l := logs.String(); !strings.Contains(l, "helo=swaks.client.test") || !strings.Contains(l, "client=127.0.0.1") {
			t.Fatalf("log lacks the XFORWARD client on the unix socket:\n%s", l)
		}
	})
}

func postfixTwoRecipients(t *testing.T, root, target string) {
	pf := testutil.StartPostfix(t, testutil.PostfixOptions{LMTP: target})

	out, err := exec.Command("swaks", "--server", fmt.Sprintf("127.0.0.1:%d", pf.SMTPPort),
		"--helo", "swaks.client.test", "--from", "sender@client.test", "--to", "alice@example.test,bob+lists@example.test",
		"--header", "Subject: via postfix", "--body", "hello from postfix").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	pf.WaitEmpty(30 * time.Second)

	for _, tc := range []struct{ user, rcpt string }{
		{"alice", "alice@example.test"},
		{"bob", "bob+lists@example.test"},
	} {
		files := maildirFiles(t, filepath.Join(root, "example.test", tc.user, "Maildir"))
		if len(files) != 1 {
			t.Fatalf("%s has %d messages, want 1\npostfix log:\n%s", tc.user, len(files), pf.Log())
		}
		b, _ := os.ReadFile(files[0])
		msg := string(b)
		if !strings.Contains(msg, "Delivered-To: "+tc.rcpt+"\n") || !strings.Contains(msg, "hello from postfix") {
			t.Fatalf("%s's copy lacks Delivered-To: %s or the body:\n%s", tc.user, tc.rcpt, msg)
		}
		if !strings.HasPrefix(msg, "Return-Path: <sender@client.test>\n") {
			t.Fatalf("%s's copy does not start with Return-Path:\n%s", tc.user, msg)
		}
	}
	if !pf.WaitLog("status=sent", 10*time.Second) {
		t.Fatalf("postfix did not log status=sent:\n%s", pf.Log())
	}
}

// TestDovecotReadsMaildir: mail delivered over LMTP, one message to INBOX
// and a GTUBE message that the user's Sieve script flags and files into
// Spam; a private Dovecot IMAP server, running as an unprivileged user,
// lists both folders and returns the messages with the script's flags.
func TestDovecotReadsMaildir(t *testing.T) {
	testutil.RequireRoot(t)
	root := testutil.PeerDir(t)
	cfg := config.Default()
	cfg.Delivery.MailRoot = root
	cfg.Delivery.Owner = "65534:65534"
	cfg.Sieve.SpamFolder = "" // the user's script does the filing
	home := filepath.Join(root, "example.test", "alice")
	os.MkdirAll(home, 0o755)
	os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte(`require ["fileinto", "imap4flags", "mailbox"];
if header :is "X-Spam-Flag" "YES" {
	addflag ["\\Seen", "\\Flagged"];
	fileinto :create "Spam";
}
`), 0o644)
	addr, _ := startInProcess(t, cfg)

	for _, msg := range []string{testMessage("inbox mail", "for the inbox"), testMessage("spam mail", "for the spam folder "+gtube)} {
		if st := lmtpSend(t, addr, "sender@client.test", []string{"alice@example.test"}, msg); st["alice@example.test"] != nil {
			t.Fatalf("LMTP status = %v", st)
		}
	}

	dc := testutil.StartDovecot(t, testutil.DovecotOptions{MailRoot: root})
	c, err := imapclient.DialInsecure(fmt.Sprintf("127.0.0.1:%d", dc.IMAPPort), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.test", "secret").Wait(); err != nil {
		t.Fatalf("LOGIN: %v\n%s", err, dc.Log())
	}
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, b := range boxes {
		names[b.Mailbox] = true
	}
	if !names["INBOX"] || !names["Spam"] {
		t.Fatalf("LIST = %v, want INBOX and Spam\n%s", names, dc.Log())
	}
	for _, tc := range []struct {
		box, want string
		seen      bool
	}{
		{"INBOX", "for the inbox", false},
		{"Spam", "X-Spam-Flag: YES", true},
	} {
		if _, err := c.Select(tc.box, nil).Wait(); err != nil {
			t.Fatalf("SELECT %s: %v", tc.box, err)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
			Flags:       true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		}).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("FETCH %s = %d messages, %v\n%s", tc.box, len(msgs), err, dc.Log())
		}
		var body string
		for _, b := range msgs[0].BodySection {
			body = string(b.Bytes)
		}
		if !strings.Contains(body, tc.want) || !strings.Contains(body, "Delivered-To: alice@example.test") {
			t.Fatalf("FETCH %s body = %q, want %q and Delivered-To", tc.box, body, tc.want)
		}
		seen, flagged := false, false
		for _, f := range msgs[0].Flags {
			seen = seen || f == imap.FlagSeen
			flagged = flagged || f == imap.FlagFlagged
		}
		if seen != tc.seen || flagged != tc.seen {
			t.Fatalf("FETCH %s flags = %v, want \\Seen and \\Flagged %v", tc.box, msgs[0].Flags, tc.seen)
		}
	}
}

// TestCrashSafety kills sluice with SIGKILL in the middle of a stream of
// deliveries, restarts it, and checks that every message answered 250 is
// present and complete.
func TestCrashSafety(t *testing.T) {
	root := t.TempDir()
	port := testutil.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfgFile := offlineConfig(t)
	start := func() *exec.Cmd {
		cmd := sluiceCommand("serve", "-config", cfgFile, "-lmtp", addr, "-mail-root", root)
		cmd.Stderr = io.Discard
		if testing.Verbose() {
			cmd.Stderr = os.Stderr
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if err := testutil.WaitPort(port, 10*time.Second); err != nil {
			cmd.Process.Kill()
			t.Fatal(err)
		}
		return cmd
	}
	cmd := start()

	// Four clients deliver numbered messages until the process dies.
	type ack struct{ n int }
	acks := make(chan ack, 10000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const clients = 4
	done := make(chan struct{}, clients)
	body := strings.Repeat("0123456789abcdef", 256) // 4 KiB
	for w := 0; w < clients; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; ctx.Err() == nil && i < 2000; i++ {
				n := w*100000 + i
				if ok := crashSend(addr, n, body); ok {
					acks <- ack{n}
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	cancel()
	for w := 0; w < clients; w++ {
		<-done
	}
	close(acks)

	cmd = start()
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	present := map[string]string{}
	for _, f := range maildirFiles(t, filepath.Join(root, "example.test", "alice", "Maildir")) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if s, ok := strings.CutPrefix(line, "Subject: crash "); ok {
				present[s] = string(b)
			}
		}
	}
	acked := 0
	for a := range acks {
		acked++
		msg, ok := present[fmt.Sprint(a.n)]
		if !ok {
			t.Fatalf("message %d was answered 250 but is not in the Maildir", a.n)
		}
		if !strings.HasSuffix(msg, body+"\nend "+fmt.Sprint(a.n)+"\n") {
			t.Fatalf("message %d is incomplete: %d bytes", a.n, len(msg))
		}
	}
	if acked == 0 {
		t.Fatalf("no message was acknowledged before the kill")
	}
	t.Logf("%d messages acknowledged before SIGKILL, all present and complete; %d files in total", acked, len(present))
	// The restarted process serves again.
	if st := lmtpSend(t, addr, "s@client.test", []string{"alice@example.test"}, testMessage("after restart", "x")); st["alice@example.test"] != nil {
		t.Fatalf("delivery after restart = %v", st)
	}
}

// crashSend delivers message n and reports whether it was answered 250.
func crashSend(addr string, n int, body string) bool {
	errc := make(chan bool, 1)
	go func() {
		c, err := smtpDial(addr)
		if err != nil {
			errc <- false
			return
		}
		defer c.Close()
		ok := false
		if c.Hello("client.test") == nil && c.Mail("s@client.test", nil) == nil && c.Rcpt("alice@example.test", nil) == nil {
			w, err := c.Data()
			if err == nil {
				fmt.Fprintf(w, "Subject: crash %d\r\n\r\n%s\r\nend %d\r\n", n, body, n)
				_, err = w.CloseWithLMTPResponse()
				ok = err == nil
			}
		}
		errc <- ok
	}()
	select {
	case ok := <-errc:
		return ok
	case <-time.After(10 * time.Second):
		return false
	}
}
