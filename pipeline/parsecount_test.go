package pipeline

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/mail"
)

// parseAllocs returns the objects allocated so far directly in mail.Parse,
// by source line, from the allocation profile (runtime.MemProfileRate
// must be 1 for the counts to be exact). Every call of mail.Parse
// allocates one Message at the first allocating line of its body, so
// the difference of two readings at that line counts the calls between
// them; nothing in the production code is a hook for it.
func parseAllocs() map[int]int64 {
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	for {
		n, _ := runtime.MemProfile(nil, true)
		recs = make([]runtime.MemProfileRecord, n+256)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	byLine := map[int]int64{}
	for i := range recs {
		frames := runtime.CallersFrames(recs[i].Stack())
		for {
			fr, more := frames.Next()
			if !strings.HasPrefix(fr.Function, "runtime.") {
				if fr.Function == "github.com/sluice-mail/sluice/mail.Parse" {
					byLine[fr.Line] += recs[i].AllocObjects
				}
				break
			}
			if !more {
				break
			}
		}
	}
	return byLine
}

// parsesBetween counts the mail.Parse calls between two parseAllocs
// readings: the new allocations at the first line of mail.Parse that has
// any.
func parsesBetween(before, after map[int]int64) int64 {
	first := 0
	for line, n := range after {
		if n > before[line] && (first == 0 || line < first) {
			first = line
		}
	}
	return after[first] - before[first]
}

// TestOneParsePerDelivery: with the auth, spam and Sieve stages on and
// no report_safe rewrite, one delivery to two recipients parses the
// message once; the header fields the stages add are all in the copies.
func TestOneParsePerDelivery(t *testing.T) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()

	p, root := servePipeline(t)
	srv := dnstest.Start(t, authZone)
	res, err := auth.NewDNSResolver(auth.DNSConfig{Servers: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	p.cfg.Auth = &AuthStage{Resolver: res, AuthServID: "mx.test", Config: auth.Config{Sample: func(int) int { return 0 }}}
	env := &mail.Envelope{MailFrom: "a@client.test", Recipients: []string{"alice@example.test", "bob@example.test"},
		ClientIP: net.ParseIP("192.0.2.1"), ClientHelo: "mail.client.test"}
	raw := []byte("Authentication-Results: mx.test; spf=pass\r\nFrom: a@client.test\r\nTo: alice@example.test\r\n" +
		"Subject: lunch\r\nMessage-ID: <one@client.test>\r\n\r\nSee you at noon.\r\n")

	before := parseAllocs()
	for i, st := range p.Deliver(context.Background(), env, raw) {
		if st != nil {
			t.Fatalf("Deliver: recipient %d: %v", i, st)
		}
	}
	if got := parsesBetween(before, parseAllocs()); got != 1 {
		t.Fatalf("one delivery ran mail.Parse %d times, want 1", got)
	}
	files, _ := filepath.Glob(filepath.Join(root, "example.test", "alice", "Maildir", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("alice's new mail = %v, want one file", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(string(b), "\r\n", "\n")
	if !strings.Contains(out, "\nAuthentication-Results: mx.test;\n\tspf=pass") || !strings.Contains(out, "\nX-Spam-Status: No") ||
		strings.Contains(out, "mx.test; spf=pass\n") {
		t.Fatalf("delivered copy lacks the stages' fields or kept the forged one:\n%s", out)
	}
}
