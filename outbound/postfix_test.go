package outbound

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestThroughPostfix sends a redirect through a private Postfix (the relay
// in production) to the sink: it arrives SRS-rewritten with every signature
// intact. The sink refuses one recipient, so Postfix bounces to the SRS
// address; the bounce reaches forward.example over LMTP, and Send(Bounce)
// returns it through Postfix to the original sender.
func TestThroughPostfix(t *testing.T) {
	shared := sharedDir(t)
	orig, err := os.ReadFile(filepath.Join(shared, "conformance", "dkim", "vectors", "rfc8463-appendixA3-ed25519-and-rsa.eml"))
	if err != nil {
		t.Fatal(err)
	}
	snk := startSink(t)
	snk.RejectRcpt = "nobody@elsewhere.example"
	inbox := testutil.StartSink(t, &testutil.Sink{LMTP: true}, nil)

	pf := testutil.StartPostfix(t, testutil.PostfixOptions{
		LMTP:    "inet:" + inbox.Addr,
		Domains: []string{"forward.example"},
		MainCF: []string{
			"smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
			"default_transport = smtp",
			"relay_transport = smtp",
			"relayhost = [127.0.0.1]:" + strings.Split(snk.Addr, ":")[1],
			"smtp_tls_security_level = none",
			// Under load postlogd can deadlock logging to its own socket
			// (then even "postfix stop" hangs); log to the absent syslog.
			"maillog_file =",
		},
		MasterCF: []string{"smtp      unix  - - n -   - smtp"},
	})
	if err := testutil.WaitPort(pf.SMTPPort, 10*time.Second); err != nil {
		t.Fatalf("postfix smtpd: %v", err)
	}
	pfLog := func() string { return "(maillog off: see maillog_file above)" }
	keys := forwardKeys(t)
	s := newTestSender(t, fmt.Sprintf("127.0.0.1:%d", pf.SMTPPort), keys, nil)
	ctx, cancel := contextWithTimeout(60 * time.Second)
	defer cancel()
	for _, to := range []string{"suzie@elsewhere.example", "nobody@elsewhere.example"} {
		if err := s.Send(ctx, Msg{Kind: Redirect, From: "joe@football.example.com", To: []string{to}, Raw: orig, Rcpt: "suzie@forward.example"}); err != nil {
			t.Fatalf("Send(redirect to %s) = %v\nmaillog:\n%s", to, err, pfLog())
		}
	}
	waitFor(t, "the forward at the sink", func() bool { return len(snk.Received()) >= 1 }, pfLog)
	m := snk.Received()[0]
	if !strings.HasPrefix(m.From, "SRS0=") || !strings.HasSuffix(m.From, "=football.example.com=joe@forward.example") || len(m.To) != 1 || m.To[0] != "suzie@elsewhere.example" {
		t.Fatalf("sink got %q → %v", m.From, m.To)
	}
	if !bytes.HasPrefix(m.Data, []byte("Received: ")) {
		t.Errorf("Postfix added no Received field")
	}
	want := []string{"rsa2026@forward.example", "ed2026@forward.example", "brisbane@football.example.com", "test@football.example.com"}
	origZone := filepath.Join(shared, "conformance", "dkim", "keys.zone")
	wantAllPass(t, "dkimpy", dkimpyVerify(t, m.Data, keys.zone, origZone), want...)
	wantAllPass(t, "opendkim", opendkimVerify(t, m.Data, keys.zone, origZone), want...)

	// Postfix bounces the refused copy to the SRS address, which is ours.
	waitFor(t, "the bounce over LMTP", func() bool { return len(inbox.Received()) >= 1 }, pfLog)
	b := inbox.Received()[0]
	if b.From != "" || len(b.To) != 1 || !strings.HasPrefix(b.To[0], "SRS0=") {
		t.Fatalf("LMTP got bounce %q → %v, want null sender to the SRS address", b.From, b.To)
	}
	if err := s.Send(ctx, Msg{Kind: Bounce, From: b.From, To: b.To, Raw: b.Data}); err != nil {
		t.Fatalf("Send(bounce) = %v", err)
	}
	waitFor(t, "the bounce at the original sender", func() bool { return len(snk.Received()) >= 2 }, pfLog)
	r := snk.Received()[1]
	if r.From != "" || len(r.To) != 1 || r.To[0] != "joe@football.example.com" || !bytes.Contains(r.Data, []byte("nobody@elsewhere.example")) {
		t.Fatalf("original sender got %q → %v:\n%s", r.From, r.To, r.Data)
	}
}

func waitFor(t *testing.T, what string, cond func() bool, log func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s\nmaillog:\n%s", what, log())
}
