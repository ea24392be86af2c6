package pipeline

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/lmtp"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/sieve"
)

// stockRules loads the SpamAssassin rules installed on this machine, as
// `serve` does by default, else sluice's built-in set; once per test binary.
var stockRules = sync.OnceValues(func() (*rules.Ruleset, error) {
	opt := rules.Options{Plugins: rules.DefaultPlugins()}
	if dirs := config.AutoRuleDirs(); len(dirs) > 0 {
		return rules.Load(dirs, opt)
	}
	name, text := config.BuiltinRules()
	return rules.LoadString(name, text, opt)
})

// servePipeline builds the pipeline `serve` runs on its defaults (stock
// rules, the built-in spam script), delivering under a temporary root.
func servePipeline(t testing.TB) (*Pipeline, string) {
	t.Helper()
	rs, err := stockRules()
	if err != nil {
		t.Fatal(err)
	}
	name, text := config.BuiltinSpamSieve("Spam")
	sc, err := sieve.Compile(name, []byte(text), sieve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	p := New(Config{
		Hostname:  "mx.test",
		Directory: NewDirectory(DirectoryConfig{MailRoot: root, MailLocation: "%d/%n/Maildir", Domains: []string{"example.test"}}),
		Spam:      &SpamStage{Rules: rs},
		Sieve:     &SieveStage{Cache: sieve.NewCache(sieve.Options{}), Builtin: []*sieve.Script{sc}},
	}, quietLog())
	return p, root
}

// bigMessage is a plain-text message of at least size bytes, like the one
// scripts/soak.sh sends in burst mode.
func bigMessage(size int) []byte {
	var b bytes.Buffer
	b.Grow(size + 128)
	b.WriteString("From: s@client.test\r\nTo: alice@example.test\r\nSubject: burst\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n")
	for b.Len() < size {
		b.WriteString("The quick brown fox jumps over the lazy dog, again and again and again.\r\n")
	}
	return b.Bytes()
}

// delivered returns the one message file under root.
func delivered(t testing.TB, root string) []byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "*", "*", "Maildir", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("delivered files = %v, want one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeliverMemory bounds what delivering one large message allocates:
// the rules read a bounded prefix of the message, and the copy filed is
// streamed from the message as received (new header section, then the
// body where it lies), so the total stays well under the message's own
// size however large it is.
func TestDeliverMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("delivers a 20 MiB message")
	}
	p, root := servePipeline(t)
	raw := bigMessage(20 << 20)
	env := &mail.Envelope{MailFrom: "s@client.test", Recipients: []string{"alice@example.test"}}
	// A small message first, so that one-time set-up is not counted.
	if errs := p.Deliver(context.Background(), env, bigMessage(1000)); errs[0] != nil {
		t.Fatal(errs[0])
	}
	os.RemoveAll(filepath.Join(root, "example.test", "alice", "Maildir", "new"))
	os.MkdirAll(filepath.Join(root, "example.test", "alice", "Maildir", "new"), 0o700)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	errs := p.Deliver(context.Background(), env, raw)
	runtime.ReadMemStats(&after)
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Deliver(%d MiB) allocated %.1f MiB = %.2fx", len(raw)>>20, float64(alloc)/(1<<20), float64(alloc)/float64(len(raw)))
	// Less than the message itself: one copy of it anywhere fails (the
	// race detector's own allocations included).
	if max := uint64(len(raw)); alloc > max {
		t.Errorf("Deliver(%d bytes) allocated %d bytes, want less than 1x (%d)", len(raw), alloc, max)
	}
	got := delivered(t, root)
	// Maildir stores LF line ends, as Dovecot does.
	body := bytes.ReplaceAll(raw[bytes.Index(raw, []byte("\r\n\r\n"))+4:], []byte("\r\n"), []byte("\n"))
	if !bytes.HasSuffix(got, body) {
		t.Errorf("delivered body differs from the body received (%d bytes filed for a %d-byte body)", len(got), len(body))
	}
}

// TestSpooledDelivery sends a message larger than the spool threshold over
// LMTP: its body is filed byte for byte and the spool dir is empty after.
func TestSpooledDelivery(t *testing.T) {
	p, root := servePipeline(t)
	spool := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := lmtp.New(lmtp.Config{Hostname: "mx.test", Spool: mail.SpoolConfig{Dir: spool, Threshold: 64 << 10}}, quietLog(), p)
	go s.Serve(l)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	raw := bigMessage(3 << 20)
	replies := transaction(t, l.Addr().String(), []string{"alice@example.test"}, string(raw))
	if got := replies[len(replies)-1]; !strings.HasPrefix(got, "250") {
		t.Fatalf("replies = %q, want 250 last", replies)
	}
	got := delivered(t, root)
	body := bytes.ReplaceAll(raw[bytes.Index(raw, []byte("\r\n\r\n"))+4:], []byte("\r\n"), []byte("\n"))
	if !bytes.HasSuffix(got, body) {
		t.Errorf("delivered body differs from the body sent (%d bytes filed for a %d-byte body)", len(got), len(body))
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 0 {
		t.Errorf("spool dir holds %d files after delivery, want none", len(ents))
	}
}
