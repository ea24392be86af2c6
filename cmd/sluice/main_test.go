package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestMain lets tests run this test binary as the sluice command itself
// (SLUICE_TEST_EXEC=1), so that crash tests can kill -9 a real process.
func TestMain(m *testing.M) {
	if os.Getenv("SLUICE_TEST_EXEC") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// offlineConfig writes a configuration for subprocess tests: no DNS
// (tests never reach the public DNS), no metrics listener.
func offlineConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "offline.toml")
	if err := os.WriteFile(path, []byte("[auth]\nenabled = false\n[metrics]\nlisten = \"\"\n[rules]\nmode = \"builtin\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sluiceCommand returns a command running "sluice args...".
func sluiceCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SLUICE_TEST_EXEC=1")
	return cmd
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startInProcess serves LMTP on a free loopback port with cfg and returns
// the address and the server's log; the server stops at the end of the test.
func startInProcess(t *testing.T, cfg config.Config) (string, *syncBuffer) {
	t.Helper()
	// A test may have reserved the LMTP address itself (Postfix needs it
	// first); otherwise take a free port.
	addr := cfg.LMTP.Listen[0]
	if addr == config.Default().LMTP.Listen[0] {
		addr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	}
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	cfg.LMTP.Listen = []string{addr}
	if cfg.Metrics.Listen == config.Default().Metrics.Listen {
		cfg.Metrics.Listen = "127.0.0.1:0"
	}
	if cfg.Rules.Mode == "auto" {
		// The stock SpamAssassin rules take seconds to compile; tests that
		// need them ask for them.
		cfg.Rules.Mode = "builtin"
	}
	if len(cfg.Auth.DNS) == 0 {
		// Tests never query the public DNS: auth runs only against a
		// loopback server the test provides.
		cfg.Auth.Enabled = false
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &syncBuffer{}
	var w io.Writer = logs
	if testing.Verbose() {
		w = io.MultiWriter(logs, os.Stderr)
	}
	log := slog.New(slog.NewTextHandler(w, nil))
	go func() { done <- serve(ctx, cfg, log, nil, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	if err := testutil.WaitPort(port, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return addr, logs
}

// startUnix serves LMTP on the unix socket sock with cfg and returns the
// server's log.
func startUnix(t *testing.T, cfg config.Config, sock string) *syncBuffer {
	t.Helper()
	cfg.LMTP.Listen = []string{"unix:" + sock}
	cfg.Metrics.Listen = ""
	cfg.Auth.Enabled = false
	cfg.Rules.Mode = "builtin"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), nil, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if _, err := os.Stat(sock); err == nil {
			t.Errorf("socket %s left behind after shutdown", sock)
		}
	})
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return logs
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no listener on %s", sock)
	return nil
}

// lmtpSend delivers msg over LMTP and returns the per-recipient statuses
// (nil for 250) keyed by recipient.
func lmtpSend(t *testing.T, addr, from string, rcpts []string, msg string) map[string]error {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from, nil); err != nil {
		t.Fatal(err)
	}
	got := make(map[string]error)
	var accepted []string
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			got[r] = err
			continue
		}
		accepted = append(accepted, r)
	}
	if len(accepted) == 0 {
		return got
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, msg)
	resp, err := w.CloseWithLMTPResponse()
	for r := range resp {
		got[r] = nil
	}
	if lerr, ok := err.(smtp.LMTPDataError); ok {
		for r, e := range lerr {
			got[r] = e
		}
	} else if err != nil {
		t.Fatalf("LMTP DATA: %v", err)
	}
	c.Quit()
	return got
}

// maildirFiles returns the files in new/ and cur/ of a Maildir folder dir.
func maildirFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range ents {
			files = append(files, filepath.Join(dir, sub, e.Name()))
		}
	}
	return files
}

func testMessage(subject, body string) string {
	return "From: Sender <sender@client.test>\r\nTo: alice@example.test\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@client.test>\r\n\r\n" + body + "\r\n"
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "sluice ") {
		t.Fatalf("sluice version = %d %q", code, out.String())
	}
	// It names the rules the configuration loads: here the built-in set.
	cfg := filepath.Join(t.TempDir(), "sluice.toml")
	os.WriteFile(cfg, []byte("[rules]\nmode = \"builtin\"\ncache_dir = \"off\"\n"), 0o644)
	out.Reset()
	if code := run([]string{"-version", "-config", cfg}, &out, io.Discard); code != 0 || !regexp.MustCompile(`(?m)^rules: builtin: \d+ rules, \d+ active, 0 errors`).MatchString(out.String()) {
		t.Fatalf("sluice -version -config %s = %d %q, want the built-in rules named", cfg, code, out.String())
	}
	if code := run([]string{"nope"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown command exit = %d, want 2", code)
	}
}

// TestSIGTERM: the real process exits 0 on SIGTERM after a delivery.
func TestSIGTERM(t *testing.T) {
	root := t.TempDir()
	port := testutil.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := sluiceCommand("serve", "-config", offlineConfig(t), "-lmtp", addr, "-mail-root", root)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := testutil.WaitPort(port, 10*time.Second); err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	if st := lmtpSend(t, addr, "s@client.test", []string{"alice@example.test"}, testMessage("before term", "x")); st["alice@example.test"] != nil {
		t.Fatalf("delivery = %v", st)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("sluice exited with %v after SIGTERM, want 0\n%s", err, errb.String())
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("sluice did not exit within 15s of SIGTERM")
	}
	for _, want := range []string{"result=delivered", "rcpt=alice@example.test", "msgid=<before.term@client.test>", "stopped"} {
		if !strings.Contains(errb.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestServeBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.toml")
	os.WriteFile(path, []byte("[lmtp]\nlisen = 1\n"), 0o644)
	var errb bytes.Buffer
	if code := run([]string{"serve", "-config", path}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "sluice.toml:2: unknown key lmtp.lisen") {
		t.Fatalf("serve with a typo = %d %q, want 1 and the file:line error", code, errb.String())
	}
}

type smtpClient = smtp.Client

func smtpDial(addr string) (*smtp.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return smtp.NewClientLMTP(conn), nil
}
