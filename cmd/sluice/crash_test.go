package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// deliverOne sends msg to alice and reports whether LMTP acknowledged it
// (250 for the recipient) and the reply when it did not.
func deliverOne(addr, msg string) (acked bool, reply error) {
	c, err := smtpDial(addr)
	if err != nil {
		return false, err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return false, err
	}
	if err := c.Mail("s@client.test", nil); err != nil {
		return false, err
	}
	if err := c.Rcpt("alice@example.test", nil); err != nil {
		return false, err
	}
	w, err := c.Data()
	if err != nil {
		return false, err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return false, err
	}
	_, err = w.CloseWithLMTPResponse()
	if lerr, ok := err.(smtp.LMTPDataError); ok {
		for _, e := range lerr {
			return false, e
		}
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// crashMessage is message n of a test, padded to size bytes, ending in a
// marker a truncated copy lacks.
func crashMessage(n, size int) string {
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", size/64+1)
	return fmt.Sprintf("From: s@client.test\r\nTo: alice@example.test\r\nSubject: crash %d\r\nMessage-ID: <crash.%d@client.test>\r\n\r\n%send-of-message-%d\r\n", n, n, body, n)
}

// storedMessages maps each message number found in the Maildir to its
// copies, and fails on a copy that is not complete.
func storedMessages(t *testing.T, maildir string) map[int]int {
	t.Helper()
	re := regexp.MustCompile(`Message-ID: <crash\.(\d+)@client\.test>`)
	found := map[int]int{}
	for _, f := range maildirFiles(t, maildir) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s holds no test message:\n%.300s", f, b)
		}
		var n int
		fmt.Sscan(string(m[1]), &n)
		if !bytes.Contains(b, []byte(fmt.Sprintf("end-of-message-%d\n", n))) {
			t.Fatalf("%s holds a truncated copy of message %d", f, n)
		}
		found[n]++
	}
	return found
}

// TestKill9LosesNothing: sluice killed with SIGKILL in the middle of
// concurrent deliveries, twice, loses no message it acknowledged, and
// leaves no partial message where Dovecot would read it.
func TestKill9LosesNothing(t *testing.T) {
	root := t.TempDir()
	port := testutil.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	start := func() *exec.Cmd {
		t.Helper()
		cmd := sluiceCommand("serve", "-config", offlineConfig(t), "-lmtp", addr, "-mail-root", root)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if err := testutil.WaitPort(port, 20*time.Second); err != nil {
			cmd.Process.Kill()
			t.Fatal(err)
		}
		return cmd
	}
	var mu sync.Mutex
	acked := map[int]bool{}
	const rounds, perRound, senders = 2, 100, 4
	for r := 0; r < rounds; r++ {
		cmd := start()
		var wg sync.WaitGroup
		next := make(chan int)
		var killOnce sync.Once
		ackedThisRound := 0
		kill := func() { killOnce.Do(func() { cmd.Process.Signal(syscall.SIGKILL) }) }
		for s := 0; s < senders; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range next {
					ok, _ := deliverOne(addr, crashMessage(n, 16<<10))
					mu.Lock()
					if ok {
						acked[n] = true
						ackedThisRound++
					}
					done := ackedThisRound
					mu.Unlock()
					// Kill once half this round's messages are acknowledged,
					// with the other senders mid-transaction.
					if done >= perRound/2 {
						kill()
					}
				}
			}()
		}
		for i := 0; i < perRound; i++ {
			next <- r*perRound + i
		}
		close(next)
		wg.Wait()
		kill()
		cmd.Wait()
	}
	found := storedMessages(t, filepath.Join(root, "example.test/alice/Maildir"))
	lost := 0
	for n := range acked {
		if found[n] == 0 {
			lost++
			t.Errorf("message %d was acknowledged but is not in the Maildir", n)
		}
	}
	if len(acked) < rounds*perRound/2 || len(acked) == rounds*perRound {
		t.Fatalf("only %d of %d deliveries acknowledged: the test did not exercise a crash mid-stream", len(acked), rounds*perRound)
	}
	t.Logf("%d deliveries, %d acknowledged, %d on disk, %d acknowledged and lost", rounds*perRound, len(acked), len(found), lost)
}

// TestDiskFull: with the mail root's file system full, deliveries get a
// temporary failure and /readyz says not ready; nothing acknowledged is
// lost or truncated; once space is freed, deliveries succeed again.
func TestDiskFull(t *testing.T) {
	testutil.RequireRoot(t)
	root := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", root).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", root).Run() })
	old := readyInterval
	readyInterval = 20 * time.Millisecond
	t.Cleanup(func() { readyInterval = old })

	mport := testutil.FreePort(t)
	cfg := config.Default()
	cfg.Delivery.Domains = []string{"example.test"}
	cfg.Delivery.MailRoot = root
	cfg.LMTP.MaxMessageSize = 256 << 10
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", mport)
	addr, _ := startInProcess(t, cfg)
	readyz := func() int {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", mport))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// Leave about 1 MiB free, then deliver 64 KiB messages until one fails.
	filler := filepath.Join(root, "filler")
	if err := os.WriteFile(filler, bytes.Repeat([]byte("x"), 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	acked := map[int]bool{}
	var refusal error
	for n := 0; n < 100 && refusal == nil; n++ {
		ok, reply := deliverOne(addr, crashMessage(n, 64<<10))
		if ok {
			acked[n] = true
			continue
		}
		refusal = reply
	}
	se, isSMTP := refusal.(*smtp.SMTPError)
	if !isSMTP || se.Code/100 != 4 {
		t.Fatalf("delivery into a full file system = %v, want a 4xx", refusal)
	}
	var code int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if code = readyz(); code == 503 {
			break
		}
	}
	if code != 503 {
		t.Fatalf("/readyz = %d with the disk full, want 503", code)
	}
	found := storedMessages(t, filepath.Join(root, "example.test/alice/Maildir"))
	for n := range acked {
		if found[n] != 1 {
			t.Errorf("acknowledged message %d: %d copies on disk, want 1", n, found[n])
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if ok, reply := deliverOne(addr, crashMessage(1000, 64<<10)); !ok {
		t.Fatalf("delivery after space was freed = %v, want 250", reply)
	}
	t.Logf("%d acknowledged before the disk filled, then %d %s", len(acked), se.Code, se.Message)
}

// TestSpoolDiskFull: a message that does not fit in the spool's file
// system gets 452 4.3.1 (never a 5xx, never a 250), nothing of it is
// filed, the spool is left empty, and the server goes on delivering.
func TestSpoolDiskFull(t *testing.T) {
	testutil.RequireRoot(t)
	spool := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", spool).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", spool).Run() })
	root := t.TempDir()
	cfg := config.Default()
	cfg.Delivery.Domains = []string{"example.test"}
	cfg.Delivery.MailRoot = root
	cfg.LMTP.SpoolDir = spool
	cfg.LMTP.SpoolThreshold = 64 << 10
	addr, _ := startInProcess(t, cfg)

	ok, reply := deliverOne(addr, crashMessage(1, 1<<20))
	se, isSMTP := reply.(*smtp.SMTPError)
	if ok || !isSMTP || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		t.Fatalf("a 1 MiB message into a 256 KiB spool = acked %v, %v; want 452 4.3.1", ok, reply)
	}
	if ok, reply := deliverOne(addr, crashMessage(2, 128<<10)); !ok {
		t.Fatalf("a spooled message that fits, after the failure = %v, want 250", reply)
	}
	found := storedMessages(t, filepath.Join(root, "example.test/alice/Maildir"))
	if found[1] != 0 || found[2] != 1 {
		t.Errorf("filed copies: message 1 %d (want 0), message 2 %d (want 1)", found[1], found[2])
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Errorf("spool holds %d entries after the deliveries, want 0", len(left))
	}
}
