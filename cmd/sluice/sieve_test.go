package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/config"
)

// TestSieveDelivery covers the per-recipient Sieve stage over LMTP: the
// built-in spam script, a user's reject, a broken user script (kept), and
// editheader changing one recipient's copy only.
func TestSieveDelivery(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	cfg.Delivery.MailRoot = root
	script := func(user, src string) {
		home := filepath.Join(root, "example.test", user)
		os.MkdirAll(home, 0o755)
		os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte(src), 0o644)
	}
	script("rejecter", "require \"reject\";\nreject \"I do not want this\";\n")
	script("broken", "require \"fileinto\";\nfileinto \"Lists\"\nthis is not sieve;\n")
	script("editor", "require \"editheader\";\naddheader \"X-Edited\" \"yes\";\n")
	addr, _ := startInProcess(t, cfg)

	st := lmtpSend(t, addr, "s@client.test", []string{"alice@example.test", "rejecter@example.test", "broken@example.test", "editor@example.test"},
		testMessage("hello", "a normal message"))
	for _, rc := range []string{"alice@example.test", "broken@example.test", "editor@example.test"} {
		if st[rc] != nil {
			t.Fatalf("%s: status %v, want 250", rc, st[rc])
		}
	}
	var se *smtp.SMTPError
	if e, ok := st["rejecter@example.test"].(*smtp.SMTPError); ok {
		se = e
	}
	if se == nil || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) || !strings.Contains(se.Message, "I do not want this") {
		t.Fatalf("rejecter: status %v, want 550 5.7.1 with the script's reason", st["rejecter@example.test"])
	}
	inbox := func(user string) []string {
		return maildirFiles(t, filepath.Join(root, "example.test", user, "Maildir"))
	}
	if n := len(inbox("rejecter")); n != 0 {
		t.Fatalf("rejecter has %d messages, want 0", n)
	}
	if n := len(inbox("broken")); n != 1 {
		t.Fatalf("broken script: %d messages in INBOX, want 1 (implicit keep)", n)
	}
	ed, _ := os.ReadFile(inbox("editor")[0])
	al, _ := os.ReadFile(inbox("alice")[0])
	if !strings.Contains(string(ed), "X-Edited: yes") || strings.Contains(string(al), "X-Edited") {
		t.Fatalf("editheader must change the editor's copy only:\neditor:\n%s\nalice:\n%s", ed, al)
	}

	// GTUBE is spam under the built-in rules; the built-in script files it.
	if st := lmtpSend(t, addr, "s@client.test", []string{"alice@example.test"}, testMessage("gtube", gtube)); st["alice@example.test"] != nil {
		t.Fatalf("GTUBE delivery: %v", st)
	}
	spam := maildirFiles(t, filepath.Join(root, "example.test", "alice", "Maildir", ".Spam"))
	if len(spam) != 1 {
		t.Fatalf("GTUBE: %d messages in .Spam, want 1", len(spam))
	}
	if n := len(inbox("alice")); n != 1 {
		t.Fatalf("alice's INBOX holds %d messages after GTUBE, want 1", n)
	}
}

func TestSieveTestCommand(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.sieve")
	msg := filepath.Join(dir, "m.eml")
	os.WriteFile(script, []byte("require [\"fileinto\", \"imap4flags\", \"spamtest\", \"relational\", \"comparator-i;ascii-numeric\"];\n"+
		"if spamtest :value \"ge\" :comparator \"i;ascii-numeric\" \"5\" { addflag \"\\\\Seen\"; fileinto \"Spam\"; }\n"), 0o644)
	os.WriteFile(msg, []byte("Subject: hi\r\n\r\nbody\r\n"), 0o644)
	for _, tc := range []struct{ score, want string }{
		{"9", "fileinto Spam flags=\\Seen\n"},
		{"1", "implicit_keep\n"},
	} {
		var out, errb strings.Builder
		if code := run([]string{"sieve-test", "-spam-score", tc.score, script, msg}, &out, &errb); code != 0 {
			t.Fatalf("sieve-test = %d: %s", code, errb.String())
		}
		if out.String() != tc.want {
			t.Fatalf("sieve-test -spam-score %s printed %q, want %q", tc.score, out.String(), tc.want)
		}
	}
	bad := filepath.Join(dir, "bad.sieve")
	os.WriteFile(bad, []byte("require \"fileinto\";\nfileinto \"x\"\nkeep;\n"), 0o644)
	var out strings.Builder
	if code := run([]string{"lint", "-sieve", bad}, &out, &out); code != 1 || !strings.Contains(out.String(), bad+":2:1: missing semicolon") {
		t.Fatalf("lint -sieve of a broken script = %d %q, want 1 and %s:2:1: missing semicolon", code, out.String(), bad)
	}
}

// TestSieveDuplicate: the duplicate extension remembers Message-IDs per
// user across deliveries (in the state database).
func TestSieveDuplicate(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	cfg.Delivery.MailRoot = root
	home := filepath.Join(root, "example.test", "carol")
	os.MkdirAll(home, 0o755)
	os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("require \"duplicate\";\nif duplicate { discard; stop; }\n"), 0o644)
	addr, _ := startInProcess(t, cfg)
	for i := 0; i < 3; i++ {
		if st := lmtpSend(t, addr, "s@client.test", []string{"carol@example.test", "dave@example.test"}, testMessage("same id", "x")); st["carol@example.test"] != nil {
			t.Fatalf("delivery %d: %v", i, st)
		}
	}
	if n := len(maildirFiles(t, filepath.Join(root, "example.test", "carol", "Maildir"))); n != 1 {
		t.Fatalf("carol holds %d copies of one Message-ID, want 1", n)
	}
	if n := len(maildirFiles(t, filepath.Join(root, "example.test", "dave", "Maildir"))); n != 3 {
		t.Fatalf("dave (no script) holds %d copies, want 3", n)
	}
}
