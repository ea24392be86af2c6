package pipeline

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/maildir"
	"github.com/sluice-mail/sluice/sieve"
)

// treeSnapshot describes every entry under dir, to prove nothing was
// written there.
func treeSnapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := e.Info()
		fmt.Fprintf(&b, "%s %v %d %d\n", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	return b.String()
}

// TestHostileMaildir: a user's symlinks and FIFOs in their Maildir never
// make sluice write outside the mail root. A folder that is a symlink or a
// FIFO gets the message in INBOX; an INBOX whose tmp or new is a symlink,
// or a user directory that is one, gets 4xx.
func TestHostileMaildir(t *testing.T) {
	tests := []struct {
		name   string
		plant  func(t *testing.T, maildir, outside string)
		status string // "" for delivered
		inbox  bool   // the message is in INBOX
	}{
		{"symlinked folder", func(t *testing.T, md, out string) {
			os.Symlink(out, filepath.Join(md, ".Junk"))
		}, "", true},
		{"FIFO as folder", func(t *testing.T, md, out string) {
			syscall.Mkfifo(filepath.Join(md, ".Junk"), 0o600)
		}, "", true},
		{"symlinked tmp in INBOX", func(t *testing.T, md, out string) {
			os.Remove(filepath.Join(md, "tmp"))
			os.Symlink(out, filepath.Join(md, "tmp"))
		}, "451 4.3.0", false},
		{"symlinked new in INBOX", func(t *testing.T, md, out string) {
			os.Remove(filepath.Join(md, "new"))
			os.Symlink(out, filepath.Join(md, "new"))
		}, "451 4.3.0", false},
		{"symlinked user directory", func(t *testing.T, md, out string) {
			user := filepath.Dir(md)
			os.RemoveAll(user)
			os.Symlink(out, user)
		}, "451 4.3.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "mail")
			outside := filepath.Join(base, "outside")
			os.Mkdir(outside, 0o755)
			os.WriteFile(filepath.Join(outside, "passwd"), []byte("root:x:0:0\n"), 0o644)
			md := filepath.Join(root, "example.test", "alice", "Maildir")
			for _, sub := range []string{"cur", "new", "tmp"} {
				os.MkdirAll(filepath.Join(md, sub), 0o700)
			}
			tt.plant(t, md, outside)
			cfg := DirectoryConfig{MailRoot: root, MailLocation: "%d/%n/Maildir"}
			if os.Geteuid() == 0 {
				cfg.Owner = &maildir.Owner{UID: 65534, GID: 65534}
			}
			junk, err := sieve.Compile("junk.sieve", []byte(`require ["fileinto", "mailbox"]; fileinto :create "Junk";`), sieve.Options{})
			if err != nil {
				t.Fatal(err)
			}
			p := New(Config{Hostname: "mx.test", Directory: NewDirectory(cfg), Sieve: &SieveStage{Cache: sieve.NewCache(sieve.Options{}), Builtin: []*sieve.Script{junk}}}, quietLog())
			before := treeSnapshot(t, outside)

			done := make(chan []error, 1)
			go func() {
				done <- p.Deliver(context.Background(), &mail.Envelope{MailFrom: "s@x", Recipients: []string{"alice@example.test"}}, []byte("Subject: x\r\n\r\nx\r\n"))
			}()
			var st []error
			select {
			case st = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Deliver hangs")
			}
			got := ""
			if se, ok := st[0].(*smtp.SMTPError); ok {
				got = fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
			} else if st[0] != nil {
				got = st[0].Error()
			}
			if got != tt.status {
				t.Errorf("Deliver() status = %q, want %q", got, tt.status)
			}
			if after := treeSnapshot(t, outside); after != before {
				t.Errorf("wrote outside the mail root:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if n := len(countFiles(t, root)); tt.inbox && n != 1 {
				t.Errorf("%d files delivered, want 1 in INBOX", n)
			}
			if names, _ := os.ReadDir(filepath.Join(md, "new")); tt.inbox && len(names) != 1 {
				t.Errorf("INBOX new/ holds %d files, want 1", len(names))
			}
		})
	}
}
