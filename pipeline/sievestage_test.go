package pipeline

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/maildir"
	"github.com/sluice-mail/sluice/sieve"
)

// syncBuffer is a log sink safe for the pipeline's goroutines.
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

const rootSecret = "rootonlysecrettoken"

// TestHostileUserScript: a user's ~/.dovecot.sieve that is a symlink to
// /dev/zero, a FIFO, a symlink to a root-only file outside the home or a
// file over max_script_size is not run: the message is delivered to INBOX
// within 10 s, the administrator's after script still runs (its flag is on
// the stored message), and the log names the user and path but never the
// file's content.
func TestHostileUserScript(t *testing.T) {
	outside := t.TempDir()
	secretFile := filepath.Join(outside, "secret")
	if err := os.WriteFile(secretFile, []byte(rootSecret+";\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	after := filepath.Join(outside, "after.sieve")
	if err := os.WriteFile(after, []byte(`require "imap4flags"; addflag "\\Flagged";`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, script string)
		log   string
	}{
		{"symlink to /dev/zero", func(t *testing.T, script string) {
			if err := os.Symlink("/dev/zero", script); err != nil {
				t.Fatal(err)
			}
		}, "unsafe script path"},
		{"FIFO", func(t *testing.T, script string) {
			if err := syscall.Mkfifo(script, 0o666); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"symlink to a root-only file outside home", func(t *testing.T, script string) {
			if err := os.Symlink(secretFile, script); err != nil {
				t.Fatal(err)
			}
		}, "unsafe script path"},
		{"over max_script_size", func(t *testing.T, script string) {
			if err := os.WriteFile(script, []byte("keep;"+strings.Repeat("#", 2000)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "the limit (max_script_size) is 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			owner := &maildir.Owner{UID: 65534, GID: 65534}
			home := filepath.Join(root, "example.test", "alice")
			if err := os.MkdirAll(home, 0o755); err != nil {
				t.Fatal(err)
			}
			os.Chown(home, owner.UID, owner.GID)
			script := filepath.Join(home, ".dovecot.sieve")
			tc.setup(t, script)

			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			opts := sieve.Options{Limits: sieve.Limits{MaxScriptSize: 1024}}
			stage := &SieveStage{Cache: sieve.NewCache(opts), UserScript: "%h/.dovecot.sieve", UserDir: "%h/sieve", After: []string{after}}
			dir := NewDirectory(DirectoryConfig{MailRoot: root, MailLocation: "%d/%n/Maildir", Owner: owner})
			p := New(Config{Hostname: "mx.test", Directory: dir, Sieve: stage}, log)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan []error, 1)
			go func() {
				env := &mail.Envelope{MailFrom: "s@client.test", Recipients: []string{"alice@example.test"}}
				done <- p.Deliver(ctx, env, []byte("Subject: hostile\r\nMessage-ID: <h@client.test>\r\n\r\nhello\r\n"))
			}()
			var statuses []error
			select {
			case statuses = <-done:
			case <-ctx.Done():
				t.Fatalf("delivery did not finish within 10s")
			}
			if len(statuses) != 1 || statuses[0] != nil {
				t.Fatalf("Deliver = %v, want success", statuses)
			}
			out := logs.String()
			if strings.Contains(out, rootSecret) {
				t.Fatalf("log quotes the root-only file:\n%s", out)
			}
			files := countFiles(t, root)
			inbox := filepath.Join(home, "Maildir") + "/"
			if len(files) != 1 || !strings.HasPrefix(files[0], inbox) || strings.HasPrefix(files[0], inbox+".") {
				t.Fatalf("files = %q, want one message in %s", files, inbox)
			}
			if !strings.HasSuffix(files[0], ":2,F") {
				t.Fatalf("stored %s: want the after script's \\Flagged (:2,F)", files[0])
			}
			for _, want := range []string{"sieve user script not run", "user=alice@example.test", "path=" + script, tc.log} {
				if !strings.Contains(out, want) {
					t.Fatalf("log lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestPersonalInclude: include :personal reads the user's sieve directory.
func TestPersonalInclude(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "example.test", "alice")
	if err := os.MkdirAll(filepath.Join(home, "sieve"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(home, "sieve", "rules.sieve"), []byte(`require ["fileinto", "mailbox"]; fileinto :create "Filed";`), 0o644)
	os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte(`require "include"; include :personal "rules";`), 0o644)
	stage := &SieveStage{Cache: sieve.NewCache(sieve.Options{}), UserScript: "%h/.dovecot.sieve", UserDir: "%h/sieve"}
	dir := NewDirectory(DirectoryConfig{MailRoot: root, MailLocation: "%d/%n/Maildir"})
	p := New(Config{Hostname: "mx.test", Directory: dir, Sieve: stage}, quietLog())
	env := &mail.Envelope{MailFrom: "s@client.test", Recipients: []string{"alice@example.test"}}
	if st := p.Deliver(context.Background(), env, []byte("Subject: inc\r\n\r\nhello\r\n")); st[0] != nil {
		t.Fatalf("Deliver = %v", st)
	}
	files := countFiles(t, root)
	if len(files) != 1 || !strings.Contains(files[0], "/Maildir/.Filed/new/") {
		t.Fatalf("files = %q, want one in .Filed", files)
	}
}
