package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestReload: SIGHUP while deliveries run applies a changed score to later
// messages, fails no delivery, and rejects a broken rules file, keeping
// the rules in force.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "local.cf")
	writeRules := func(body string) {
		t.Helper()
		// Write and rename so a reload never reads half a file.
		tmp := rulesFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Rename(tmp, rulesFile)
	}
	writeRules("required_score 5\nadd_header all Status \"_YESNO_, score=_SCORE_ required=_REQD_ tests=_TESTS_\"\nbody MAGIC /magicword/\nscore MAGIC 1.0\n")
	cfgFile := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("[auth]\nenabled = false\n[metrics]\nlisten = \"\"\n[rules]\nmode = \"dirs\"\ndirs = [%q]\n[sieve]\nenabled = false\n", rulesFile)), 0o644)
	root := filepath.Join(dir, "mail")
	port := testutil.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := sluiceCommand("serve", "-config", cfgFile, "-lmtp", addr, "-mail-root", root)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	if err := testutil.WaitPort(port, 20*time.Second); err != nil {
		t.Fatal(err)
	}

	// A stream of deliveries runs throughout; every one must get 250.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	sent := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c, err := smtpDial(addr)
			if err == nil {
				err = sendOne(c, fmt.Sprintf("Subject: stream %d\r\n\r\nmagicword\r\n", i))
			}
			mu.Lock()
			sent++
			if err != nil {
				failures = append(failures, err.Error())
			}
			mu.Unlock()
		}
	}()

	scoreOf := func(subject string) string {
		t.Helper()
		st := lmtpSend(t, addr, "s@client.test", []string{"bob@example.test"}, "Subject: "+subject+"\r\n\r\nmagicword\r\n")
		if st["bob@example.test"] != nil {
			t.Fatalf("delivery of %q: %v", subject, st)
		}
		for _, f := range maildirFiles(t, filepath.Join(root, "example.test/bob/Maildir")) {
			b, _ := os.ReadFile(f)
			if bytes.Contains(b, []byte("Subject: "+subject+"\n")) {
				m := regexp.MustCompile(`score=([-0-9.]+)`).FindSubmatch(b)
				if m == nil {
					t.Fatalf("no score in %q:\n%s", subject, b)
				}
				return string(m[1])
			}
		}
		t.Fatalf("message %q not found", subject)
		return ""
	}
	waitLog := func(what string, n int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if strings.Count(logs.String(), what) >= n {
				return
			}
		}
		t.Fatalf("log never said %q %d times:\n%s", what, n, logs.String())
	}

	if got := scoreOf("before"); got != "1.0" {
		t.Fatalf("score before reload = %s, want 1.0", got)
	}
	writeRules("required_score 5\nadd_header all Status \"_YESNO_, score=_SCORE_ required=_REQD_ tests=_TESTS_\"\nbody MAGIC /magicword/\nscore MAGIC 2.5\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog("msg=reloaded", 1)
	if got := scoreOf("after"); got != "2.5" {
		t.Fatalf("score after reload = %s, want 2.5", got)
	}
	writeRules("body MAGIC /magicword/\nscore MAGIC 9\nbody BROKEN /(unclosed/\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog("reload failed", 1)
	if got := scoreOf("after broken"); got != "2.5" {
		t.Fatalf("score after a broken reload = %s, want the old rules' 2.5", got)
	}
	// A configuration naming a Sieve script that does not exist is refused
	// on reload as at start-up; the old set stays in force.
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("[auth]\nenabled = false\n[metrics]\nlisten = \"\"\n[rules]\nmode = \"dirs\"\ndirs = [%q]\n[sieve]\nbefore = [%q]\n", rulesFile, filepath.Join(dir, "missing.sieve"))), 0o644)
	writeRules("required_score 5\nadd_header all Status \"_YESNO_, score=_SCORE_ required=_REQD_ tests=_TESTS_\"\nbody MAGIC /magicword/\nscore MAGIC 7\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog("reload failed", 2)
	if !strings.Contains(logs.String(), "missing.sieve") {
		t.Fatalf("the failed reload does not name the missing script:\n%s", logs.String())
	}
	if got := scoreOf("after missing script"); got != "2.5" {
		t.Fatalf("score after a reload naming a missing script = %s, want the old rules' 2.5", got)
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(failures) > 0 || sent == 0 {
		t.Fatalf("%d of %d streamed deliveries failed during reloads: %q", len(failures), sent, failures)
	}
	t.Logf("%d deliveries during two reloads, none failed", sent)
}

// sendOne delivers msg to alice over an open LMTP client and closes it.
func sendOne(cl *smtpClient, msg string) error {
	defer cl.Close()
	if err := cl.Hello("client.test"); err != nil {
		return err
	}
	if err := cl.Mail("s@client.test", nil); err != nil {
		return err
	}
	if err := cl.Rcpt("alice@example.test", nil); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	_, err = w.CloseWithLMTPResponse()
	return err
}
