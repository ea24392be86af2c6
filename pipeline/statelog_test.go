package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/sieve"
)

// fakeLog is a DeliveryLog in memory that can be made to fail.
type fakeLog struct {
	mu   sync.Mutex
	done map[string]bool
	err  error
}

func (l *fakeLog) Done(_ context.Context, msg, rcpt, action string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done[msg+rcpt+action], l.err
}

func (l *fakeLog) Mark(_ context.Context, msg, rcpt, action string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	l.done[msg+rcpt+action] = true
	return nil
}

// countingOutbound counts redirects; it keeps no log of its own.
type countingOutbound struct{ redirects int }

func (o *countingOutbound) Redirect(context.Context, *Message, Recipient, string, []byte) error {
	o.redirects++
	return nil
}

func (o *countingOutbound) Vacation(context.Context, *Message, Recipient, *sieve.Vacation) error {
	return nil
}

// TestDeliveryLogUnavailable: a recipient whose script files a copy and
// redirects is deferred (4xx) before anything is filed while the delivery
// log cannot be read (Redis down); once it can, the retry files one copy
// and a second retry files none.
func TestDeliveryLogUnavailable(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "example.test", "alice")
	os.MkdirAll(home, 0o755)
	os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("redirect \"friend@elsewhere.test\";\nkeep;\n"), 0o644)
	stage := &SieveStage{Cache: sieve.NewCache(sieve.Options{}), UserScript: "%h/.dovecot.sieve", UserDir: "%h/sieve"}
	log := &fakeLog{done: map[string]bool{}, err: errors.New("redis down")}
	out := &countingOutbound{}
	dir := NewDirectory(DirectoryConfig{MailRoot: root, MailLocation: "%d/%n/Maildir"})
	p := New(Config{Hostname: "mx.test", Directory: dir, Sieve: stage, Outbound: out, Log: log}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	deliver := func() error {
		env := &mail.Envelope{MailFrom: "s@client.test", Recipients: []string{"alice@example.test"}}
		return p.Deliver(context.Background(), env, []byte("Subject: s\r\nMessage-ID: <s@client.test>\r\n\r\nhello\r\n"))[0]
	}
	var se *smtp.SMTPError
	if err := deliver(); !errors.As(err, &se) || se.Code/100 != 4 {
		t.Fatalf("Deliver with the log down = %v, want 4xx", err)
	}
	if files := countFiles(t, root); len(files) != 0 || out.redirects != 0 {
		t.Fatalf("with the log down: files %q (want none), %d redirects (want 0)", files, out.redirects)
	}
	log.err = nil
	for i := range 2 {
		if err := deliver(); err != nil {
			t.Fatalf("retry %d = %v", i, err)
		}
	}
	if files := countFiles(t, root); len(files) != 1 {
		t.Fatalf("after the retries: files %q, want one copy", files)
	}
}
