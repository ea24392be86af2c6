package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// rawLMTP is a line-level LMTP client: tests see replies as Postfix does.
type rawLMTP struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialLMTP(t *testing.T, addr string) *rawLMTP {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawLMTP{t: t, c: c, r: bufio.NewReader(c)}
}

// reply reads one reply, multi-line replies joined by newlines.
func (l *rawLMTP) reply() string {
	l.t.Helper()
	var lines []string
	for {
		line, err := l.r.ReadString('\n')
		if err != nil {
			l.t.Fatalf("reading reply: %v (so far %q)", err, lines)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

func (l *rawLMTP) send(s string) { fmt.Fprint(l.c, s) }

// TestDuplicateRecipientStoredOnce: three RCPT TO of the same address
// store one file and get three 250 replies after DATA.
func TestDuplicateRecipientStoredOnce(t *testing.T) {
	cfg := config.Default()
	cfg.Delivery.MailRoot = t.TempDir()
	addr, _ := startInProcess(t, cfg)
	c := dialLMTP(t, addr)
	c.reply()
	c.send("LHLO client.test\r\nMAIL FROM:<s@client.test>\r\n" + strings.Repeat("RCPT TO:<alice@example.test>\r\n", 3) + "DATA\r\n")
	for i, want := range []string{"250-", "250", "250", "250", "250", "354"} {
		if got := c.reply(); !strings.HasPrefix(got, want) {
			t.Fatalf("reply %d = %q, want prefix %q", i, got, want)
		}
	}
	c.send(testMessage("dup", "once") + ".\r\n")
	for i := 0; i < 3; i++ {
		if got := c.reply(); !strings.HasPrefix(got, "250 2.0.0 <alice@example.test>") {
			t.Fatalf("DATA reply %d = %q, want 250 for alice", i, got)
		}
	}
	if files := maildirFiles(t, filepath.Join(cfg.Delivery.MailRoot, "example.test/alice/Maildir")); len(files) != 1 {
		t.Fatalf("alice's Maildir holds %d files, want 1: %q", len(files), files)
	}
}

// TestServeLMTPSettings: serve passes the [lmtp] limits and XFORWARD
// networks to the server.
func TestServeLMTPSettings(t *testing.T) {
	xforward := func(nets []string) string {
		cfg := config.Default()
		cfg.Delivery.MailRoot = t.TempDir()
		cfg.LMTP.XForwardNetworks = nets
		addr, _ := startInProcess(t, cfg)
		c := dialLMTP(t, addr)
		c.reply()
		c.send("LHLO client.test\r\n")
		c.reply()
		c.send("XFORWARD ADDR=192.0.2.1\r\n")
		return c.reply()
	}
	if got := xforward(nil); got != "550 5.7.0 Error: insufficient authorization" {
		t.Fatalf("XFORWARD with no xforward_networks = %q, want 550 5.7.0", got)
	}
	if got := xforward([]string{"127.0.0.1"}); !strings.HasPrefix(got, "250") {
		t.Fatalf("XFORWARD from a listed network = %q, want 250", got)
	}

	cfg := config.Default()
	cfg.Delivery.MailRoot = t.TempDir()
	cfg.LMTP.MaxConnections = 1
	addr, _ := startInProcess(t, cfg)
	// The start-up probe's connection may still hold the one slot.
	var first *rawLMTP
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		first = dialLMTP(t, addr)
		got := first.reply()
		if strings.HasPrefix(got, "220") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("greeting = %q, want 220", got)
		}
	}
	if got := dialLMTP(t, addr).reply(); !strings.HasPrefix(got, "421 4.3.2") {
		t.Fatalf("greeting over max_connections = 1 = %q, want 421 4.3.2", got)
	}
}

// TestPostfixXForwardAfterRefusedDATA: a real Postfix delivers, over one
// cached LMTP connection, messages whose only recipient is refused (so its
// pipelined DATA is refused too) between messages for a real user. Each
// of those must be delivered at the first attempt with its own XFORWARD
// client.
func TestPostfixXForwardAfterRefusedDATA(t *testing.T) {
	testutil.RequirePeer(t, "swaks")
	root := testutil.PeerDir(t)
	users := filepath.Join(root, "users")
	if err := os.WriteFile(users, []byte("alice@example.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Delivery.MailRoot = root
	cfg.Delivery.UsersFile = users
	sock := filepath.Join(root, "lmtp.sock")
	cfg.LMTP.SocketGroup = "postfix"
	logs := startUnix(t, cfg, sock)
	pf := testutil.StartPostfix(t, testutil.PostfixOptions{
		LMTP: "unix:" + sock,
		MainCF: []string{
			// Hold the mail, then deliver it one message at a time over
			// one cached connection.
			"defer_transports = lmtp",
			"lmtp_destination_concurrency_limit = 1",
			"lmtp_connection_cache_time_limit = 30s",
		},
	})
	for i, rcpt := range []string{"nobody@example.test", "alice@example.test", "nobody@example.test", "alice@example.test", "nobody@example.test", "alice@example.test"} {
		out, err := exec.Command("swaks", "--server", fmt.Sprintf("127.0.0.1:%d", pf.SMTPPort),
			"--helo", "swaks.client.test", "--from", "sender@client.test", "--to", rcpt,
			"--header", fmt.Sprintf("Subject: message %d", i), "--body", "body").CombinedOutput()
		if err != nil {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
	}
	// Postfix moves mail from incoming to deferred at its own pace, slowly
	// on a loaded machine: wait generously.
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		q := pf.Queue()
		held := 0
		for _, e := range q {
			if e.QueueName == "deferred" {
				held++
			}
		}
		if held == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail not held: %+v", q)
		}
	}
	pf.Flush()
	pf.WaitEmpty(60 * time.Second)
	maillog := pf.Log()
	if !strings.Contains(maillog, "conn_use=") {
		t.Fatalf("Postfix did not reuse the LMTP connection; the test proves nothing:\n%s", maillog)
	}
	for _, line := range strings.Split(maillog, "\n") {
		if strings.Contains(line, "to=<alice@example.test>") && !strings.Contains(line, "status=sent") && !strings.Contains(line, "(deferred transport)") {
			t.Fatalf("alice's mail was not delivered at the first attempt: %s\nmaillog:\n%s", line, maillog)
		}
	}
	delivered := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "rcpt=alice@example.test") && strings.Contains(line, "result=delivered") {
			delivered++
			if !strings.Contains(line, "client=127.0.0.1") || !strings.Contains(line, "helo=swaks.client.test") {
				t.Fatalf("delivery without its XFORWARD client: %s", line)
			}
		}
	}
	if delivered != 3 {
		t.Fatalf("sluice delivered %d messages to alice, want 3:\n%s\nmaillog:\n%s", delivered, logs, maillog)
	}
}
