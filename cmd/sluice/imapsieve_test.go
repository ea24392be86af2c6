package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestIMAPSieveLearns runs contrib/dovecot as shipped (only its paths
// changed) in a private Dovecot with Pigeonhole's imapsieve and
// extprograms: a user logs in over IMAP and MOVEs one message from INBOX
// into Spam, one from Spam into INBOX and one from Spam into Trash. Her
// Bayes database then holds the first as spam and the second as ham, and
// the third not at all.
func TestIMAPSieveLearns(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequirePeer(t, "dovecot", "sievec") // sievec: Debian's dovecot-sieve
	dir := testutil.PeerDir(t)
	const uid = 65534 // the mail uid of StartDovecot's userdb
	mkdir := func(p string) string {
		t.Helper()
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mailRoot := mkdir(filepath.Join(dir, "mail"))
	mkdir(filepath.Join(mailRoot, "example.test", "alice"))
	bayesDir := mkdir(filepath.Join(dir, "bayes"))
	sieveDir := mkdir(filepath.Join(dir, "sieve"))
	binDir := mkdir(filepath.Join(dir, "bin"))

	// The pipe programs run as the mail uid, which cannot reach the test
	// binary under go's 0700 build directory: copy it, and call it the
	// way sluiceCommand does.
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	testBin := filepath.Join(binDir, "sluice.test")
	if err := os.WriteFile(testBin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	sluiceBin := writeFile(t, filepath.Join(binDir, "sluice"), "#!/bin/sh\nSLUICE_TEST_EXEC=1 exec "+testBin+" \"$@\"\n")
	os.Chmod(sluiceBin, 0o755)
	db := filepath.Join(bayesDir, "bayes.db")
	cfg := writeFile(t, filepath.Join(dir, "sluice.toml"), fmt.Sprintf(
		"[auth]\nenabled = false\n[metrics]\nlisten = \"\"\n[rules]\nmode = \"builtin\"\n[bayes]\npath = %q\n", db))

	contrib := filepath.Join("..", "..", "contrib", "dovecot")
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(contrib, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, name := range []string{"report-spam.sieve", "report-ham.sieve"} {
		writeFile(t, filepath.Join(sieveDir, name), read(name))
	}
	for _, name := range []string{"learn-spam.sh", "learn-ham.sh"} {
		text := read(name)
		for old, repl := range map[string]string{"SLUICE=/usr/local/bin/sluice": "SLUICE=" + sluiceBin, "CONFIG=/etc/sluice/sluice.toml": "CONFIG=" + cfg} {
			if !strings.Contains(text, old) {
				t.Fatalf("%s has no line %q", name, old)
			}
			text = strings.Replace(text, old, repl, 1)
		}
		p := writeFile(t, filepath.Join(sieveDir, name), text)
		os.Chmod(p, 0o755)
	}
	conf := strings.ReplaceAll(read("90-sieve-learn.conf"), "/etc/dovecot/sieve/sluice", sieveDir)
	// The race detector's shadow memory needs an unlimited address space.
	if !strings.Contains(conf, "vsz_limit = 8G") {
		t.Fatal("90-sieve-learn.conf no longer raises vsz_limit")
	}
	conf = strings.Replace(conf, "vsz_limit = 8G", "vsz_limit = 0", 1)
	dc := testutil.StartDovecot(t, testutil.DovecotOptions{MailRoot: mailRoot, Extra: strings.Split(conf, "\n")})

	c, err := imapclient.DialInsecure(fmt.Sprintf("127.0.0.1:%d", dc.IMAPPort), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.test", "secret").Wait(); err != nil {
		t.Fatalf("LOGIN: %v\n%s", err, dc.Log())
	}
	for _, box := range []string{"Spam", "Trash"} {
		if err := c.Create(box, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", box, err)
		}
	}
	appendMsg := func(box, text string) imap.UID {
		t.Helper()
		raw := strings.ReplaceAll(text, "\n", "\r\n")
		cmd := c.Append(box, int64(len(raw)), nil)
		if _, err := io.WriteString(cmd, raw); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := cmd.Wait()
		if err != nil {
			t.Fatalf("APPEND %s: %v", box, err)
		}
		return data.UID
	}
	move := func(from string, uid imap.UID, to string) {
		t.Helper()
		if _, err := c.Select(from, nil).Wait(); err != nil {
			t.Fatalf("SELECT %s: %v", from, err)
		}
		if _, err := c.Move(imap.UIDSetNum(uid), to).Wait(); err != nil {
			t.Fatalf("MOVE %s -> %s: %v\n%s", from, to, err, dc.Log())
		}
	}
	toSpam, toInbox, toTrash := learnSpam(1), learnHam(1), learnSpam(2)
	// APPEND into Spam is no move (causes = COPY): it learns nothing.
	u1 := appendMsg("INBOX", toSpam)
	u2 := appendMsg("Spam", toInbox)
	u3 := appendMsg("Spam", toTrash)
	move("INBOX", u1, "Spam")
	move("Spam", u2, "INBOX")
	move("Spam", u3, "Trash")

	// imapsieve runs the scripts before MOVE answers; allow for a slow
	// machine all the same.
	user := []string{"-user", "alice@example.test"}
	var st map[string]int64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _, code := sluiceLearn(t, cfg, append(user, "-stats")...)
		if code == 0 {
			st = parseMagic(t, out)
			if st["nspam"] == 1 && st["nham"] == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's Bayes database: %v (exit %d), want nspam 1 nham 1\ndovecot log:\n%s", st, code, dc.Log())
		}
	}
	// Which messages: learning them again as what imapsieve learned them
	// changes nothing, and the one moved to Trash was never learned.
	files := t.TempDir()
	for _, tc := range []struct {
		class, text, want string
	}{
		{"-spam", toSpam, "learned 0, already known 1"},
		{"-ham", toInbox, "learned 0, already known 1"},
		{"-forget", toTrash, "forgotten 0, not learned before 1"},
	} {
		f := writeFile(t, filepath.Join(files, tc.class), tc.text)
		out, errs, _ := sluiceLearn(t, cfg, append(user, tc.class, f)...)
		if !strings.Contains(out, tc.want) {
			t.Errorf("sluice learn %s of a moved message:\n%s%s\nwant %q", tc.class, out, errs, tc.want)
		}
	}
	if st := learnStatsOf(t, cfg, db, user...); st["nspam"] != 1 || st["nham"] != 1 {
		t.Errorf("after the checks: %v", st)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("the global database was written (%v); imapsieve learns per user", err)
	}
}
