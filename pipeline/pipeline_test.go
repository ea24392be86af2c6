package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/lmtp"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/sieve"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestResolve(t *testing.T) {
	d := NewDirectory(DirectoryConfig{
		MailRoot: "/srv/mail", MailLocation: "%d/%n/Maildir", RecipientDelimiter: "+",
		Domains: []string{"Example.test"},
	})
	for _, tc := range []struct {
		addr, maildir, detail string
		err                   error
	}{
		{"alice@example.test", "/srv/mail/example.test/alice/Maildir", "", nil},
		{"Bob+Lists@EXAMPLE.test", "/srv/mail/example.test/bob/Maildir", "Lists", nil},
		{"+x@example.test", "/srv/mail/example.test/+x/Maildir", "", nil},
		{"alice@other.test", "", "", ErrUnknownDomain},
		{"../../etc@example.test", "", "", ErrBadAddress},
		{"a/b@example.test", "", "", ErrBadAddress},
		{".hidden@example.test", "", "", ErrBadAddress},
		{"a\x00b@example.test", "", "", ErrBadAddress},
		{"a\nb@example.test", "", "", ErrBadAddress},
		{"alice@..", "", "", ErrBadAddress},
		{"alice@exa/mple.test", "", "", ErrBadAddress},
		{"bob+../../x@example.test", "", "", ErrBadAddress},
		{"noat", "", "", ErrBadAddress},
		{"@example.test", "", "", ErrBadAddress},
		{`"a\b"@example.test`, "", "", ErrBadAddress},
	} {
		r, err := d.Resolve(tc.addr)
		if !errors.Is(err, tc.err) || (err == nil && (r.Maildir != tc.maildir || r.Detail != tc.detail)) {
			t.Errorf("Resolve(%q) = %q detail %q, %v; want %q detail %q, %v", tc.addr, r.Maildir, r.Detail, err, tc.maildir, tc.detail, tc.err)
		}
	}
}

func TestLoadUsers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	os.WriteFile(path, []byte("# users\nalice@example.test:{PLAIN}x:5000:5001::/home/alice::\n\nBob@Example.test\n"), 0o644)
	users, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	a, b := users["alice@example.test"], users["bob@example.test"]
	if a.Owner == nil || a.Owner.UID != 5000 || a.Owner.GID != 5001 || a.Home != "/home/alice" || b.Name != "bob@example.test" {
		t.Fatalf("LoadUsers = %+v", users)
	}
	d := NewDirectory(DirectoryConfig{MailRoot: "/m", MailLocation: "%h/Maildir", Users: users})
	if r, err := d.Resolve("alice@example.test"); err != nil || r.Maildir != "/home/alice/Maildir" || r.Owner.UID != 5000 {
		t.Fatalf("Resolve(alice) = %+v, %v", r, err)
	}
	if _, err := d.Resolve("carol@example.test"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("Resolve(carol) = %v, want ErrUnknownUser", err)
	}
	os.WriteFile(path, []byte("alice:x:y:z\n"), 0o644)
	if _, err := LoadUsers(path); err == nil || !strings.Contains(err.Error(), path+":1:") {
		t.Fatalf("LoadUsers(bad) = %v, want a file:line error", err)
	}
}

// serveLMTP runs p behind a real LMTP server on 127.0.0.1:0.
func serveLMTP(t *testing.T, p *Pipeline) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := lmtp.New(lmtp.Config{Hostname: "mx.test"}, quietLog(), p)
	go s.Serve(l)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return l.Addr().String()
}

// transaction sends one LMTP transaction line by line and returns every
// reply after LHLO, so that the test sees exactly what the MTA sees.
func transaction(t *testing.T, addr string, rcpts []string, msg string) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	read := func() string {
		var last string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			last = strings.TrimRight(line, "\r\n")
			if len(last) < 4 || last[3] != '-' {
				return last
			}
		}
	}
	read()
	fmt.Fprintf(c, "LHLO client.test\r\n")
	read()
	var replies []string
	fmt.Fprintf(c, "MAIL FROM:<s@client.test>\r\n")
	replies = append(replies, read())
	accepted := 0
	for _, rc := range rcpts {
		fmt.Fprintf(c, "RCPT TO:<%s>\r\n", rc)
		rep := read()
		if strings.HasPrefix(rep, "250") {
			accepted++
		}
		replies = append(replies, rep)
	}
	fmt.Fprintf(c, "DATA\r\n")
	replies = append(replies, read())
	fmt.Fprint(c, msg+".\r\n")
	for i := 0; i < accepted; i++ {
		replies = append(replies, read())
	}
	fmt.Fprintf(c, "QUIT\r\n")
	return replies
}

func countFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.Contains(path, "/new/") || strings.Contains(path, "/cur/")) {
			files = append(files, path)
		}
		return nil
	})
	return files
}

// TestThreeRecipients: valid, unknown and path-escaping recipients in one
// transaction are answered 250 / 550 5.1.1 / 550 5.1.3, and exactly one
// file is written.
func TestThreeRecipients(t *testing.T) {
	root := t.TempDir()
	dir := NewDirectory(DirectoryConfig{
		MailRoot: root, MailLocation: "%d/%n/Maildir", RecipientDelimiter: "+",
		Users: map[string]User{"alice@example.test": {Name: "alice@example.test"}},
	})
	addr := serveLMTP(t, New(Config{Hostname: "mx.test", Directory: dir}, quietLog()))
	got := transaction(t, addr, []string{"alice@example.test", "nobody@example.test", "../../etc@example.test"},
		"Subject: three\r\nMessage-ID: <three@client.test>\r\n\r\nhello\r\n")
	want := []string{"250", "250", "550 5.1.1", "550 5.1.3", "354", "250 2.0.0 <alice@example.test>"}
	if len(got) != len(want) {
		t.Fatalf("replies = %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("reply %d = %q, want prefix %q (all: %q)", i, got[i], want[i], got)
		}
	}
	files := countFiles(t, root)
	if len(files) != 1 || !strings.HasPrefix(files[0], filepath.Join(root, "example.test/alice/Maildir/new")+"/") {
		t.Fatalf("files written = %q, want exactly one in alice's new/", files)
	}
	if _, err := os.Stat(filepath.Join(root, "etc")); err == nil {
		t.Fatalf("a directory was created for ../../etc")
	}
	b, _ := os.ReadFile(files[0])
	for _, h := range []string{"Return-Path: <s@client.test>\n", "Delivered-To: alice@example.test\n", "Received: from client.test ([127.0.0.1])\n\tby mx.test with LMTP\n\t(envelope-from <s@client.test>)\n\tfor <alice@example.test>; "} {
		if !strings.Contains(string(b), h) {
			t.Fatalf("delivered message lacks %q:\n%s", h, b)
		}
	}
}

// TestPanicIsTemporary: a panic in a per-message stage (an eval function
// of the rules) or a per-recipient one (Sieve's duplicate tracker) is
// answered 451 4.3.0 for the affected recipients, and the server goes on.
func TestPanicIsTemporary(t *testing.T) {
	root := t.TempDir()
	dir := NewDirectory(DirectoryConfig{MailRoot: root, MailLocation: "%d/%n/Maildir"})
	evals := rules.NewEvalRegistry()
	evals.Register("check_boom", func(ec *rules.EvalContext, _ []string) (bool, error) {
		if strings.Contains(strings.Join(ec.Msg.Header("Subject", false), ""), "boom-message") {
			panic("rule engine crashed")
		}
		return false, nil
	})
	rs, err := rules.LoadString("boom.cf", "header BOOM eval:check_boom()\nscore BOOM 1\n", rules.Options{Evals: evals})
	if err != nil {
		t.Fatal(err)
	}
	dup, err := sieve.Compile("dup.sieve", []byte(`require "duplicate"; if duplicate { discard; }`), sieve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{
		Hostname:  "mx.test",
		Directory: dir,
		Spam:      &SpamStage{Rules: rs},
		Sieve: &SieveStage{Cache: sieve.NewCache(sieve.Options{}), Builtin: []*sieve.Script{dup}, Duplicates: func(user string) sieve.DuplicateTracker {
			if strings.HasPrefix(user, "bomb@") {
				var nilMap map[string]int
				nilMap["x"]++
			}
			return nil
		}},
	}, quietLog())
	addr := serveLMTP(t, p)

	got := transaction(t, addr, []string{"a@example.test", "b@example.test"}, "Subject: boom-message\r\n\r\nx\r\n")
	if !strings.HasPrefix(got[4], "451 4.3.0") || !strings.HasPrefix(got[5], "451 4.3.0") {
		t.Fatalf("per-message panic: replies = %q, want 451 4.3.0 for both", got)
	}
	got = transaction(t, addr, []string{"bomb@example.test", "ok@example.test"}, "Subject: fine\r\n\r\nx\r\n")
	if !strings.HasPrefix(got[4], "451 4.3.0 <bomb@") || !strings.HasPrefix(got[5], "250 2.0.0 <ok@") {
		t.Fatalf("per-recipient panic: replies = %q, want 451 for bomb and 250 for ok", got)
	}
	if files := countFiles(t, root); len(files) != 1 {
		t.Fatalf("files = %q, want only ok's copy", files)
	}
}

// TestStorageFailureIsTemporary: a Maildir that cannot be written gives
// 451, never 5xx, and leaves no file behind.
func TestStorageFailureIsTemporary(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores permission bits; make the path impossible instead.
		root := t.TempDir()
		os.WriteFile(filepath.Join(root, "example.test"), []byte("a file, not a dir"), 0o644)
		checkTempFail(t, root)
		return
	}
	root := t.TempDir()
	os.Chmod(root, 0o500)
	defer os.Chmod(root, 0o700)
	checkTempFail(t, root)
}

func checkTempFail(t *testing.T, root string) {
	t.Helper()
	p := New(Config{Hostname: "mx.test", Directory: NewDirectory(DirectoryConfig{MailRoot: root, MailLocation: "%d/%n/Maildir"})}, quietLog())
	st := p.Deliver(context.Background(), &mail.Envelope{MailFrom: "s@x", Recipients: []string{"a@example.test"}}, []byte("Subject: x\r\n\r\nx\r\n"))
	if st[0] != StatusTempFail {
		t.Fatalf("Deliver to an unwritable root = %v, want %v", st[0], StatusTempFail)
	}
}

func TestIdentify(t *testing.T) {
	raw := "Received: from client.test (localhost [127.0.0.1])\r\n\tby mx.example.test (Postfix) with ESMTP id 4AbCdE12\r\n\tfor <a@x>; Mon, 1 Jan 2026 00:00:00 +0000\r\nMessage-Id: <m1@x>\r\nReceived: by other id NOPE\r\n\r\nbody id X\r\n"
	if id, q := identify(mail.ParseHeader([]byte(raw))); id != "<m1@x>" || q != "4AbCdE12" {
		t.Fatalf("identify = %q, %q; want <m1@x>, 4AbCdE12", id, q)
	}
}

// TestContextEnded: when the message's context ends while a stage carries
// on regardless (here an eval function), no recipient is filed and each is
// answered 451 4.4.7.
func TestContextEnded(t *testing.T) {
	root := t.TempDir()
	dir := NewDirectory(DirectoryConfig{MailRoot: root, MailLocation: "%d/%n/Maildir"})
	ctx, cancel := context.WithCancel(context.Background())
	evals := rules.NewEvalRegistry()
	evals.Register("check_slow", func(*rules.EvalContext, []string) (bool, error) {
		cancel() // the deadline passes while the rules run
		return false, nil
	})
	rs, err := rules.LoadString("slow.cf", "header SLOW eval:check_slow()\nscore SLOW 1\n", rules.Options{Evals: evals})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{Hostname: "mx.test", Directory: dir, Spam: &SpamStage{Rules: rs}}, quietLog())
	st := p.Deliver(ctx, &mail.Envelope{MailFrom: "s@x", Recipients: []string{"a@example.test", "b@example.test"}}, []byte("Subject: x\r\n\r\nx\r\n"))
	for i, s := range st {
		if s != StatusTimeout {
			t.Fatalf("status %d after the context ended = %v, want %v", i, s, StatusTimeout)
		}
	}
	if files := countFiles(t, root); len(files) != 0 {
		t.Fatalf("after the context ended: files %q; want none", files)
	}
}
