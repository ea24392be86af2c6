package milter

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/outbound"
)

const testMsg = "From: Alice <alice@example.test>\r\n" +
	"To: bob@elsewhere.test\r\n" +
	"Subject: hello\r\n" +
	"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n" +
	"Message-ID: <m1@example.test>\r\n" +
	"Authentication-Results: mx.example.test; spf=pass (forged)\r\n" +
	"X-Spam-Flag: YES\r\n" +
	"\r\n" +
	"Hello Bob,\r\nthis is a test.\r\n"

// fakeChecker edits the header as the pipeline does: forged
// Authentication-Results and X-Spam-* out, ours in, the Subject rewritten
// for spam.
type fakeChecker struct {
	score float64
	err   error
	dmarc bool
	mu    sync.Mutex
	envs  []*mail.Envelope
}

func (c *fakeChecker) Check(_ context.Context, env *mail.Envelope, raw []byte) (Verdict, error) {
	c.mu.Lock()
	c.envs = append(c.envs, env)
	c.mu.Unlock()
	if c.err != nil {
		return Verdict{}, c.err
	}
	k := mail.HeaderLen(raw)
	fields := mail.ParseHeader(raw[:k])
	h := mail.NewHeader(raw[:k], fields)
	e := mail.HeaderEdits{Rewrite: map[int]string{}}
	e.Add = append(e.Add, mail.FieldAdd{Before: 0, Field: "Authentication-Results: mx.example.test;\r\n\tspf=none smtp.mailfrom=example.test\r\n"})
	for i, f := range fields {
		switch {
		case strings.EqualFold(f.Name, "Authentication-Results"), strings.HasPrefix(strings.ToLower(f.Name), "x-spam-"):
			e.Remove = append(e.Remove, i)
		case strings.EqualFold(f.Name, "Subject") && c.score >= 5:
			e.Rewrite[i] = "Subject: [SPAM] " + strings.TrimSpace(f.Value()) + "\r\n"
		}
	}
	e.Add = append(e.Add,
		mail.FieldAdd{Before: len(fields), Field: fmt.Sprintf("X-Spam-Status: No, score=%.1f\r\n", c.score)},
		mail.FieldAdd{Before: len(fields), Field: "X-Spam-Checker-Version: fake\r\n"})
	h.Edit(e)
	return Verdict{Header: h.Bytes(), Body: raw[k:], Scored: true, Score: c.score, DMARCReject: c.dmarc}, nil
}

// testSigner is an outbound.DKIM with one ed25519 key for example.test,
// and the TXT lookup that publishes it.
func testSigner(t *testing.T) (*outbound.DKIM, func(string) ([]string, error)) {
	t.Helper()
	key, err := outbound.GenerateKey("ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := outbound.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	d, err := outbound.NewDKIM(
		[]outbound.KeyTableEntry{{Name: "k", Domain: "example.test", Selector: "sel", Key: string(pem)}},
		[]outbound.SigningTableEntry{{Pattern: "*@example.test", KeyName: "k"}},
		outbound.DKIMConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return d, lookupFor(t, key.Public())
}

func lookupFor(t *testing.T, pub crypto.PublicKey) func(string) ([]string, error) {
	t.Helper()
	rec, err := outbound.DNSRecordValue(pub)
	if err != nil {
		t.Fatal(err)
	}
	return func(name string) ([]string, error) {
		if name == "sel._domainkey.example.test" {
			return []string{rec}, nil
		}
		return nil, errors.New("no such record")
	}
}

func startServer(t testing.TB, cfg Config, signer Signer, checker Checker) (*Server, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(cfg, log, signer, checker)
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, l.Addr().String()
}

func loopbackNet() []*net.IPNet {
	_, n, _ := net.ParseCIDR("10.0.0.0/8")
	return []*net.IPNet{n}
}

// exchange sends raw through a milter session as an MTA would and
// returns the modifications and the final action.
func exchange(t *testing.T, addr, clientIP, authen, raw string) ([]gomilter.ModifyAction, *gomilter.Action) {
	t.Helper()
	c := gomilter.NewClient("tcp", addr)
	macros := gomilter.NewMacroBag()
	s, err := c.Session(macros)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	step := func(act *gomilter.Action, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if act.StopProcessing() {
			t.Fatalf("milter stopped early: %v", act)
		}
	}
	step(s.Conn("client.test", gomilter.FamilyInet, 25, clientIP))
	step(s.Helo("client.test"))
	if authen != "" {
		macros.Set(gomilter.MacroAuthAuthen, authen)
	}
	step(s.Mail("<alice@example.test>", ""))
	step(s.Rcpt("<bob@elsewhere.test>", ""))
	step(s.DataStart())
	k := mail.HeaderLen([]byte(raw))
	for _, f := range mail.ParseHeader([]byte(raw[:k])) {
		_, v, _ := strings.Cut(string(f.Raw()), ":")
		step(s.HeaderField(f.Name, strings.ReplaceAll(v, "\r\n", "\n"), nil))
	}
	step(s.HeaderEnd())
	step(s.BodyChunk([]byte(raw[k:])))
	macros.Set(gomilter.MacroQueueId, "4QUEUEID")
	mods, act, err := s.End()
	if err != nil {
		t.Fatal(err)
	}
	return mods, act
}

// applyMods applies header modifications to raw as Postfix does (a
// deleted field leaves the list) and returns the message.
func applyMods(t *testing.T, raw string, mods []gomilter.ModifyAction) string {
	t.Helper()
	k := mail.HeaderLen([]byte(raw))
	var lines []string
	for _, f := range mail.ParseHeader([]byte(raw[:k])) {
		lines = append(lines, string(f.Raw()))
	}
	body := raw[k:]
	nameOf := func(l string) string { n, _, _ := strings.Cut(l, ":"); return n }
	render := func(name, value string) string {
		return name + ":" + strings.ReplaceAll(value, "\n", "\r\n") + "\r\n"
	}
	for _, m := range mods {
		switch m.Type {
		case gomilter.ActionAddHeader:
			lines = append(lines, render(m.HeaderName, m.HeaderValue))
		case gomilter.ActionInsertHeader:
			i := min(int(m.HeaderIndex), len(lines))
			lines = append(lines[:i], append([]string{render(m.HeaderName, m.HeaderValue)}, lines[i:]...)...)
		case gomilter.ActionChangeHeader:
			n := 0
			found := false
			for i, l := range lines {
				if strings.EqualFold(nameOf(l), m.HeaderName) {
					n++
					if n == int(m.HeaderIndex) {
						if m.HeaderValue == "" {
							lines = append(lines[:i], lines[i+1:]...)
						} else {
							lines[i] = render(m.HeaderName, m.HeaderValue)
						}
						found = true
						break
					}
				}
			}
			if !found && m.HeaderValue != "" {
				lines = append(lines, render(m.HeaderName, m.HeaderValue))
			}
		case gomilter.ActionReplaceBody:
			body = string(m.Body)
		default:
			t.Fatalf("unexpected modification %v", m)
		}
	}
	return strings.Join(lines, "") + "\r\n" + body
}

func TestSignInternalClient(t *testing.T) {
	signer, lookup := testSigner(t)
	checker := &fakeChecker{}
	_, addr := startServer(t, Config{SignNetworks: loopbackNet()}, signer, checker)
	for _, tc := range []struct{ name, ip, authen string }{
		{"sign_networks", "10.1.2.3", ""},
		{"sasl", "192.0.2.7", "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mods, act := exchange(t, addr, tc.ip, tc.authen, testMsg)
			if act.Type != gomilter.ActionAccept {
				t.Fatalf("action %v, want accept", act)
			}
			if len(mods) != 1 || mods[0].Type != gomilter.ActionInsertHeader || mods[0].HeaderIndex != 0 || mods[0].HeaderName != "DKIM-Signature" {
				t.Fatalf("modifications %v, want one DKIM-Signature inserted at the top", mods)
			}
			out := applyMods(t, testMsg, mods)
			verifs, err := dkim.VerifyWithOptions(strings.NewReader(out), &dkim.VerifyOptions{LookupTXT: lookup})
			if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
				t.Fatalf("verify: %v %+v\n%s", err, verifs, out)
			}
			// h= is OpenDKIM's default set, From oversigned.
			sig := strings.Join(strings.Fields(mods[0].HeaderValue), "")
			if !strings.Contains(sig, "h=From:From:Subject:Date:To:Message-ID;") {
				t.Errorf("signature %s, want h= OpenDKIM's fields present, From oversigned", sig)
			}
		})
	}
	if len(checker.envs) != 0 {
		t.Errorf("outbound mail was checked %d times; want not at all", len(checker.envs))
	}
}

func TestInboundHeaders(t *testing.T) {
	signer, _ := testSigner(t)
	checker := &fakeChecker{score: 6}
	_, addr := startServer(t, Config{SignNetworks: loopbackNet()}, signer, checker)
	mods, act := exchange(t, addr, "192.0.2.1", "", testMsg)
	if act.Type != gomilter.ActionAccept {
		t.Fatalf("action %v, want accept", act)
	}
	got := applyMods(t, testMsg, mods)
	want, _ := checker.Check(context.Background(), &mail.Envelope{}, []byte(testMsg))
	wantMsg := string(want.Header) + string(want.Body)
	if got != wantMsg {
		t.Fatalf("message after modifications:\n%s\nwant:\n%s\nmodifications: %v", got, wantMsg, mods)
	}
	env := checker.envs[0]
	if env.MailFrom != "alice@example.test" || len(env.Recipients) != 1 || env.Recipients[0] != "bob@elsewhere.test" ||
		env.ClientIP.String() != "192.0.2.1" || env.ClientHelo != "client.test" || env.QueueID != "4QUEUEID" {
		t.Errorf("envelope %+v", env)
	}
}

func TestReject(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		checker  *fakeChecker
		wantCode uint16
		wantText string
	}{
		{"score", Config{RejectScore: 5}, &fakeChecker{score: 1000}, 550, "5.7.1 Message rejected as spam (score 1000.0"},
		{"score below", Config{RejectScore: 5}, &fakeChecker{score: 4.9}, 0, ""},
		{"score off", Config{}, &fakeChecker{score: 1000}, 0, ""},
		{"dmarc", Config{}, &fakeChecker{dmarc: true}, 550, "5.7.1 Rejected by the sender domain's DMARC policy"},
		{"tempfail", Config{}, &fakeChecker{err: ErrUnavailable}, 451, "4.7.1"},
		{"on_error accept", Config{OnErrorAccept: true}, &fakeChecker{err: ErrUnavailable}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startServer(t, tc.cfg, nil, tc.checker)
			mods, act := exchange(t, addr, "192.0.2.1", "", testMsg)
			if tc.wantCode == 0 {
				if act.Type != gomilter.ActionAccept {
					t.Fatalf("action %v, want accept", act)
				}
				return
			}
			if act.Type != gomilter.ActionRejectWithCode || act.SMTPCode != tc.wantCode || !strings.Contains(act.SMTPReply, tc.wantText) {
				t.Fatalf("action %v (%d %q), want %d %q", act, act.SMTPCode, act.SMTPReply, tc.wantCode, tc.wantText)
			}
			if len(mods) != 0 {
				t.Errorf("modifications %v with a refusal", mods)
			}
		})
	}
}

func TestNoChecker(t *testing.T) {
	_, addr := startServer(t, Config{}, nil, nil)
	_, act := exchange(t, addr, "192.0.2.1", "", testMsg)
	if act.SMTPCode != 451 {
		t.Fatalf("action %v, want 451 with no checks loaded", act)
	}
}

// TestSignerError: a key that cannot be used is our fault, so the
// message is refused for now.
func TestSignerError(t *testing.T) {
	_, addr := startServer(t, Config{SignNetworks: loopbackNet()}, failingSigner{}, nil)
	_, act := exchange(t, addr, "10.0.0.1", "", testMsg)
	if act.SMTPCode != 451 {
		t.Fatalf("action %v, want 451", act)
	}
}

type failingSigner struct{}

func (failingSigner) Sign([]byte, string) ([]byte, bool, error) {
	return nil, false, errors.New("key unreadable")
}

// TestTooLarge: a message over the limit is accepted as it is.
func TestTooLarge(t *testing.T) {
	checker := &fakeChecker{}
	_, addr := startServer(t, Config{MaxMessageSize: 100}, nil, checker)
	mods, act := exchange(t, addr, "192.0.2.1", "", testMsg+strings.Repeat("x", 200)+"\r\n")
	if act.Type != gomilter.ActionAccept || len(mods) != 0 || len(checker.envs) != 0 {
		t.Fatalf("action %v mods %v checked %d; want accepted untouched", act, mods, len(checker.envs))
	}
}

// TestManyMessagesOneConnection: a connection carries several
// transactions, an aborted one among them, each handled afresh.
func TestManyMessagesOneConnection(t *testing.T) {
	checker := &fakeChecker{}
	_, addr := startServer(t, Config{}, nil, checker)
	c := gomilter.NewClient("tcp", addr)
	s, err := c.Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Conn("client.test", gomilter.FamilyInet, 25, "192.0.2.1")
	s.Helo("client.test")
	s.Mail("<a@x.test>", "")
	s.Rcpt("<b@y.test>", "")
	s.DataStart()
	s.HeaderField("Subject", " aborted", nil)
	if err := s.Abort(nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.Mail(fmt.Sprintf("<a%d@x.test>", i), "")
		s.Rcpt("<b@y.test>", "")
		s.DataStart()
		s.HeaderField("Subject", fmt.Sprintf(" n%d", i), nil)
		s.HeaderEnd()
		s.BodyChunk([]byte("body\r\n"))
		_, act, err := s.End()
		if err != nil || act.Type != gomilter.ActionAccept {
			t.Fatalf("message %d: %v %v", i, act, err)
		}
	}
	if len(checker.envs) != 3 || checker.envs[2].MailFrom != "a2@x.test" {
		t.Fatalf("checked %d envelopes", len(checker.envs))
	}
}

func TestListen(t *testing.T) {
	sock := t.TempDir() + "/m.sock"
	for range 2 { // a stale socket is replaced
		l, err := Listen("unix:" + sock)
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
	}
	for _, bad := range []string{"unix:", "nonsense"} {
		if _, err := Listen(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("Listen(%q) = %v, want ErrConfig", bad, err)
		}
	}
}

func TestFromAddress(t *testing.T) {
	for in, want := range map[string]string{
		"From: Alice <alice@example.test>\r\n":    "alice@example.test",
		"From: bob@example.test (Bob)\r\n":        "bob@example.test",
		"To: x@y.test\r\n":                        "",
		"From: \"a, b\" <c@d.test>, e@f.test\r\n": "c@d.test",
	} {
		if got := fromAddress(mail.ParseHeader([]byte(in))); got != want {
			t.Errorf("fromAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

// rawDial opens a plain connection, for clients that misbehave.
func rawDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rewriteChecker answers as report_safe does: a new message whose header
// section runs on into its body, all of it in Header.
type rewriteChecker struct{}

func (rewriteChecker) Check(context.Context, *mail.Envelope, []byte) (Verdict, error) {
	return Verdict{Header: []byte("From: Alice <alice@example.test>\r\nX-Spam-Flag: YES\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nreport\r\n--b--\r\n")}, nil
}

func TestReplaceBody(t *testing.T) {
	_, addr := startServer(t, Config{}, nil, rewriteChecker{})
	mods, act := exchange(t, addr, "192.0.2.1", "", testMsg)
	if act.Type != gomilter.ActionAccept {
		t.Fatalf("action %v", act)
	}
	got := applyMods(t, testMsg, mods)
	if want := "From: Alice <alice@example.test>\r\nX-Spam-Flag: YES\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nreport\r\n--b--\r\n"; got != want {
		t.Fatalf("message after %v:\n%q\nwant\n%q", mods, got, want)
	}
}
