package outbound

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mail"
)

// forwardKeys signs for forward.example with an RSA and an ed25519 key.
func forwardKeys(t *testing.T) *testKeys {
	t.Helper()
	return writeTestKeys(t, []testKey{
		{"fwd-rsa", "forward.example", "rsa2026", cachedKey(t, "rsa-a", "rsa", 2048)},
		{"fwd-ed", "forward.example", "ed2026", cachedKey(t, "ed-a", "ed25519", 0)},
	}, "# forwarding domain: both keys\n*@forward.example fwd-rsa\n*@forward.example fwd-ed\n")
}

func newTestSender(t *testing.T, addr string, keys *testKeys, store State) *Sender {
	t.Helper()
	srs, err := NewSRS(SRSConfig{Secrets: []string{"s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := SenderConfig{
		Submitter: NewRelay(RelayConfig{Addr: addr, HeloName: "mx.forward.example", CommandTimeout: 10 * time.Second}),
		SRS:       srs,
		Store:     store,
		Hostname:  "mx.forward.example",
	}
	if keys != nil {
		cfg.DKIM = keys.dkim
	}
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRedirectSignedAndVerified forwards the RFC 8463 A.3 message (signed by
// football.example.com with ed25519 and RSA) through a loopback SMTP sink and
// checks every signature with dkimpy and OpenDKIM: ours two, and the
// original two, untouched.
func TestRedirectSignedAndVerified(t *testing.T) {
	shared := sharedDir(t)
	orig, err := os.ReadFile(filepath.Join(shared, "conformance", "dkim", "vectors", "rfc8463-appendixA3-ed25519-and-rsa.eml"))
	if err != nil {
		t.Fatal(err)
	}
	origZone := filepath.Join(shared, "conformance", "dkim", "keys.zone")
	keys := forwardKeys(t)
	snk := startSink(t)
	s := newTestSender(t, snk.Addr, keys, nil)
	err = s.Send(bg(), Msg{
		Kind: Redirect,
		From: "joe@football.example.com",
		To:   []string{"suzie@elsewhere.example"},
		Raw:  orig,
		Rcpt: "suzie@forward.example",
	})
	if err != nil {
		t.Fatalf("Send = %v", err)
	}
	got := snk.Received()
	if len(got) != 1 {
		t.Fatalf("sink received %d messages, want 1", len(got))
	}
	m := got[0]
	if !strings.HasPrefix(m.From, "SRS0=") || !strings.HasSuffix(m.From, "=football.example.com=joe@forward.example") {
		t.Errorf("MAIL FROM = %q, want SRS0=HHHH=TT=football.example.com=joe@forward.example", m.From)
	}
	if len(m.To) != 1 || m.To[0] != "suzie@elsewhere.example" {
		t.Errorf("RCPT TO = %v", m.To)
	}
	hdr, _ := splitMessage(m.Data)
	fields := mail.ParseHeader(hdr)
	var names []string
	for _, f := range fields[:6] {
		names = append(names, f.Name)
	}
	if want := "DKIM-Signature DKIM-Signature X-Sluice-Loop DKIM-Signature DKIM-Signature From"; strings.Join(names, " ") != want {
		t.Errorf("first fields = %v, want %s", names, want)
	}
	// The original fields follow ours byte for byte.
	origCRLF := toCRLF(orig)
	if !bytes.HasSuffix(m.Data, origCRLF) {
		t.Errorf("forwarded message does not end with the original message")
	}
	if sig := fields[0].Unfolded(); !strings.Contains(sig, "c=relaxed/relaxed") || !strings.Contains(sig, "h=From:") || strings.Count(strings.ToLower(sig), "from") < 2 {
		t.Errorf("our signature %q: want relaxed/relaxed and From oversigned", sig)
	}
	want := []string{"rsa2026@forward.example", "ed2026@forward.example", "brisbane@football.example.com", "test@football.example.com"}
	wantAllPass(t, "dkimpy", dkimpyVerify(t, m.Data, keys.zone, origZone), want...)
	wantAllPass(t, "opendkim", opendkimVerify(t, m.Data, keys.zone, origZone), want...)

	// The bounce to the SRS address goes back to the original sender.
	bounce := []byte("From: MAILER-DAEMON@elsewhere.example\r\nTo: " + m.From + "\r\nSubject: Undelivered Mail\r\n\r\nsorry\r\n")
	if err := s.Send(bg(), Msg{Kind: Bounce, From: "", To: []string{m.From}, Raw: bounce}); err != nil {
		t.Fatalf("Send(bounce) = %v", err)
	}
	got = snk.Received()
	if len(got) != 2 || got[1].From != "" || len(got[1].To) != 1 || got[1].To[0] != "joe@football.example.com" {
		t.Fatalf("bounce arrived as %+v, want null sender to joe@football.example.com", got[len(got)-1])
	}
	if err := s.Send(bg(), Msg{Kind: Bounce, To: []string{"SRS0=AAAA=AA=x.example=y@forward.example"}, Raw: bounce}); !errors.Is(err, ErrSRSInvalid) || IsTemporary(err) {
		t.Errorf("Send(bounce to forged SRS) = %v, want permanent ErrSRSInvalid", err)
	}
}

// TestRedirectOwnSignature signs an unsigned original with a second key of
// our own, forwards it, and checks both with dkimpy.
func TestRedirectOwnSignature(t *testing.T) {
	origKeys := writeTestKeys(t, []testKey{
		{"orig", "origin.example", "o1", cachedKey(t, "ed-b", "ed25519", 0)},
	}, "*@origin.example orig\n")
	orig := []byte("From: Ann <ann@origin.example>\nTo: fred@forward.example\nSubject: hello\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <1@origin.example>\n\nHi Fred.\n")
	orig, signed, err := origKeys.dkim.Sign(orig, "ann@origin.example")
	if err != nil || !signed {
		t.Fatalf("Sign(original) = %v, %v", signed, err)
	}
	keys := forwardKeys(t)
	snk := startSink(t)
	s := newTestSender(t, snk.Addr, keys, nil)
	if err := s.Send(bg(), Msg{Kind: Redirect, From: "ann@origin.example", To: []string{"fred@elsewhere.example"}, Raw: orig, Rcpt: "fred@forward.example"}); err != nil {
		t.Fatal(err)
	}
	m := snk.Received()[0]
	want := []string{"rsa2026@forward.example", "ed2026@forward.example", "o1@origin.example"}
	wantAllPass(t, "dkimpy", dkimpyVerify(t, m.Data, keys.zone, origKeys.zone), want...)
	wantAllPass(t, "opendkim", opendkimVerify(t, m.Data, keys.zone, origKeys.zone), want...)

	// The harness must see a failure: a changed body breaks every signature.
	tampered := bytes.Replace(m.Data, []byte("Hi Fred."), []byte("Hi Fred!"), 1)
	for who, res := range map[string][]sigResult{
		"dkimpy":   dkimpyVerify(t, tampered, keys.zone, origKeys.zone),
		"opendkim": opendkimVerify(t, tampered, keys.zone, origKeys.zone),
	} {
		if len(res) != 3 {
			t.Errorf("%s on tampered message: %d results, want 3", who, len(res))
		}
		for _, r := range res {
			if r.Pass {
				t.Errorf("%s: tampered message: signature d=%s s=%s passed", who, r.Domain, r.Selector)
			}
		}
	}
	if testing.Verbose() {
		t.Logf("forwarded message:\n%s", m.Data)
	}
}

func TestSignOnlyOurDomains(t *testing.T) {
	keys := forwardKeys(t)
	raw := []byte("From: x@other.example\r\n\r\nbody\r\n")
	for _, addr := range []string{"x@other.example", "x@sub.forward.example", "forward.example", ""} {
		out, signed, err := keys.dkim.Sign(raw, addr)
		if err != nil || signed || !bytes.Equal(out, raw) {
			t.Errorf("Sign(%q) = signed %v, %v, want unchanged", addr, signed, err)
		}
	}
	if out, signed, err := keys.dkim.Sign(raw, "Bob@Forward.Example"); err != nil || !signed || bytes.Count(out, []byte("DKIM-Signature:")) != 2 {
		t.Errorf("Sign(Bob@Forward.Example) = signed %v, %v, %d signatures; want 2", signed, err, bytes.Count(out, []byte("DKIM-Signature:")))
	}
}

func TestRelayFailures(t *testing.T) {
	// Nothing listens on a port we just closed: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	msg := []byte("From: a@forward.example\r\nTo: b@x.example\r\n\r\nhi\r\n")
	if err := NewRelay(RelayConfig{Addr: closed}).Submit(bg(), "a@forward.example", []string{"b@x.example"}, msg); !errors.Is(err, ErrTemporary) || !IsTemporary(err) {
		t.Errorf("Submit(relay down) = %v, want temporary", err)
	}
	snk := startSink(t)
	for _, tc := range []struct {
		code int
		temp bool
	}{{451, true}, {421, true}, {550, false}, {554, false}} {
		snk.SetFail(&smtp.SMTPError{Code: tc.code, Message: "no"})
		err := NewRelay(RelayConfig{Addr: snk.Addr}).Submit(bg(), "a@forward.example", []string{"b@x.example"}, msg)
		if err == nil || IsTemporary(err) != tc.temp {
			t.Errorf("Submit(relay %d) = %v, want temporary=%v", tc.code, err, tc.temp)
		}
	}
	snk.SetFail(nil)
	// A relay that accepts the connection and never answers: the context
	// deadline ends the wait, temporarily.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := contextWithTimeout(200 * time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := NewRelay(RelayConfig{Addr: hang.Addr().String()}).Submit(ctx, "", []string{"b@x.example"}, msg); !IsTemporary(err) {
		t.Errorf("Submit(silent relay) = %v, want temporary", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Submit(silent relay) took %v", d)
	}
}

// TestDeliveryLogExactlyOnce plays Postfix's retry: the relay is down on the
// first attempt (temporary error, nothing recorded), up on the second (sent,
// recorded), and a third attempt of the same action sends nothing.
func TestDeliveryLogExactlyOnce(t *testing.T) {
	store, err := OpenStore(StoreConfig{Path: filepath.Join(t.TempDir(), "outbound.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	snk := startSink(t)
	s := newTestSender(t, snk.Addr, nil, store)
	raw := []byte("From: a@origin.example\r\nMessage-ID: <m1@origin.example>\r\n\r\nhello\r\n")
	key := DeliveryKey{Message: MessageIdentity(raw), Recipient: "fred@forward.example", Action: "redirect:0:fred@elsewhere.example"}
	m := Msg{Kind: Redirect, From: "a@origin.example", To: []string{"fred@elsewhere.example"}, Raw: raw, Rcpt: "fred@forward.example", Key: &key}
	snk.SetFail(&smtp.SMTPError{Code: 451, Message: "try later"})
	if err := s.Send(bg(), m); !IsTemporary(err) {
		t.Fatalf("Send(relay 451) = %v, want temporary", err)
	}
	if done, _ := store.Done(bg(), key); done {
		t.Fatalf("Done after a failed send = true")
	}
	snk.SetFail(nil)
	for i := 0; i < 3; i++ {
		if err := s.Send(bg(), m); err != nil {
			t.Fatalf("Send #%d = %v", i, err)
		}
	}
	if n := len(snk.Received()); n != 1 {
		t.Fatalf("sink received %d messages, want exactly 1", n)
	}
	// A retried message gets different trace headers but the same identity.
	again := append([]byte("Received: from mx by here\r\nAuthentication-Results: x\r\n"), raw...)
	if MessageIdentity(again) != key.Message {
		t.Errorf("MessageIdentity changed with new trace headers")
	}
	for _, other := range []string{
		strings.Replace(string(raw), "<m1@", "<m2@", 1),
		"Subject: other\r\n" + string(raw),
		strings.Replace(string(raw), "hello", "hello!", 1),
	} {
		if MessageIdentity([]byte(other)) == key.Message {
			t.Errorf("MessageIdentity(%q) = that of %q", other, raw)
		}
	}
	if lf := strings.ReplaceAll(string(raw), "\r\n", "\n"); MessageIdentity([]byte(lf)) != key.Message {
		t.Errorf("MessageIdentity changed with LF line endings")
	}
	// Another action of the same recipient is independent.
	other := key
	other.Action = "redirect:1:joe@elsewhere.example"
	if done, _ := store.Done(bg(), other); done {
		t.Errorf("Done(other action) = true")
	}
}

func TestStoreExpiryAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbound.db")
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	store, err := OpenStore(StoreConfig{Path: path, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	k := DeliveryKey{Message: "m", Recipient: "R@x", Action: "a"}
	if err := store.Mark(bg(), k); err != nil {
		t.Fatal(err)
	}
	vk := VacationKey{Recipient: "r@x", Sender: "s@y", Handle: "h"}
	if ok, err := store.ClaimVacation(bg(), vk, 24*time.Hour); !ok || err != nil {
		t.Fatalf("ClaimVacation = %v, %v", ok, err)
	}
	store.Close()
	store, err = OpenStore(StoreConfig{Path: path, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if done, err := store.Done(bg(), DeliveryKey{Message: "m", Recipient: "r@X", Action: "a"}); !done || err != nil {
		t.Errorf("Done after reopen = %v, %v, want true (recipient case-insensitive)", done, err)
	}
	now = now.Add(6 * 24 * time.Hour)
	if n, err := store.Expire(); n != 1 || err != nil {
		t.Errorf("Expire at 6 days = %d, %v, want the vacation window only", n, err)
	}
	now = now.Add(24 * time.Hour)
	if done, _ := store.Done(bg(), k); done {
		t.Errorf("Done after 7 days = true")
	}
	if n, err := store.Expire(); n != 1 || err != nil {
		t.Errorf("Expire at 7 days = %d, %v, want 1", n, err)
	}
	store.Close()
}
