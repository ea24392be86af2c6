package outbound

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/testutil"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sink.test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestRelaySmartHost submits through STARTTLS and AUTH PLAIN, as to a
// relay host.
func TestRelaySmartHost(t *testing.T) {
	cert, pool := selfSigned(t)
	snk := testutil.StartSink(t, &testutil.Sink{User: "relayuser", Pass: "relaypass"}, &tls.Config{Certificates: []tls.Certificate{cert}})
	msg := []byte("From: a@forward.example\r\n\r\nhi\r\n")
	cfg := RelayConfig{
		Addr:     snk.Addr,
		StartTLS: true,
		TLS:      &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
		Username: "relayuser",
		Password: "relaypass",
	}
	if err := NewRelay(cfg).Submit(bg(), "a@forward.example", []string{"b@x.example", "c@x.example"}, msg); err != nil {
		t.Fatalf("Submit(STARTTLS+AUTH) = %v", err)
	}
	got := snk.Received()
	if len(got) != 1 || !got[0].TLS || got[0].User != "relayuser" || len(got[0].To) != 2 {
		t.Fatalf("sink got %+v, want one message over TLS from relayuser to 2 recipients", got)
	}
	bad := cfg
	bad.Password = "wrong"
	// A refused login is our configuration's fault: temporary, never a bounce.
	if err := NewRelay(bad).Submit(bg(), "a@forward.example", []string{"b@x.example"}, msg); !IsTemporary(err) {
		t.Errorf("Submit(bad password) = %v, want temporary", err)
	}
	untrusted := cfg
	untrusted.TLS = &tls.Config{ServerName: "127.0.0.1"}
	if err := NewRelay(untrusted).Submit(bg(), "a@forward.example", []string{"b@x.example"}, msg); !IsTemporary(err) {
		t.Errorf("Submit(untrusted certificate) = %v, want temporary", err)
	}
	// A relay without STARTTLS is refused when TLS is required.
	plain := startSink(t)
	noTLS := cfg
	noTLS.Addr = plain.Addr
	if err := NewRelay(noTLS).Submit(bg(), "a@forward.example", []string{"b@x.example"}, msg); !IsTemporary(err) || len(plain.Received()) != 0 {
		t.Errorf("Submit(no STARTTLS offered) = %v, want temporary and nothing sent", err)
	}
}

// TestSendmail runs a stand-in sendmail script that records its arguments
// and input and exits with the status it is told to.
func TestSendmail(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "sendmail")
	os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > \""+dir+"/args\"\ncat > \""+dir+"/stdin\"\nexit $(cat \""+dir+"/status\" 2>/dev/null || echo 0)\n"), 0o755)
	sm := Sendmail{Path: script}
	msg := []byte("From: a@forward.example\r\n\r\n.\r\nhi\r\n")
	if err := sm.Submit(bg(), "SRS0=x@forward.example", []string{"b@x.example", "c@x.example"}, msg); err != nil {
		t.Fatalf("Submit = %v", err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if want := "-G\n-i\n-f\nSRS0=x@forward.example\n--\nb@x.example\nc@x.example\n"; string(args) != want {
		t.Errorf("sendmail args = %q, want %q", args, want)
	}
	if in, _ := os.ReadFile(filepath.Join(dir, "stdin")); string(in) != string(msg) {
		t.Errorf("sendmail stdin = %q, want %q", in, msg)
	}
	for _, tc := range []struct {
		status string
		temp   bool
	}{{"75", true}, {"1", true}, {"67", false}, {"65", false}} {
		os.WriteFile(filepath.Join(dir, "status"), []byte(tc.status), 0o644)
		err := sm.Submit(bg(), "", []string{"b@x.example"}, msg)
		if err == nil || IsTemporary(err) != tc.temp {
			t.Errorf("Submit(exit %s) = %v, want temporary=%v", tc.status, err, tc.temp)
		}
	}
	if err := sm.Submit(bg(), "a@x", []string{"-oQ/tmp"}, msg); err == nil || IsTemporary(err) {
		t.Errorf("Submit(recipient %q) = %v, want permanent refusal", "-oQ/tmp", err)
	}
	if err := (Sendmail{Path: filepath.Join(dir, "missing")}).Submit(bg(), "", []string{"b@x.example"}, msg); !IsTemporary(err) {
		t.Errorf("Submit(missing binary) = %v, want temporary", err)
	}
}

func TestCheckLoop(t *testing.T) {
	base := "From: a@origin.example\r\nDelivered-To: fred@forward.example\r\nDelivered-To: <Ann@Elsewhere.Example>\r\n\r\nbody\r\n"
	token := LoopToken("mx.forward.example", "fred@forward.example")
	for _, tc := range []struct {
		name string
		raw  string
		to   []string
		loop bool
	}{
		{"clean", base, []string{"bob@elsewhere.example"}, false},
		{"delivered-to chain", base, []string{"ann@elsewhere.example"}, true},
		{"our token", LoopHeader + ": " + token + "\r\n" + base, []string{"bob@elsewhere.example"}, true},
		{"another host's token", LoopHeader + ": " + LoopToken("mx2.example", "fred@forward.example") + "\r\n" + base, []string{"bob@elsewhere.example"}, false},
		{"29 hops", strings.Repeat("Received: from x by y\r\n", 29) + base, []string{"bob@elsewhere.example"}, false},
		{"30 hops", strings.Repeat("Received: from x\r\n\tby y\r\n", 30) + base, []string{"bob@elsewhere.example"}, true},
	} {
		err := CheckLoop([]byte(tc.raw), "mx.forward.example", "fred@forward.example", tc.to, 0)
		if got := errors.Is(err, ErrLoop); got != tc.loop {
			t.Errorf("%s: CheckLoop = %v, want loop=%v", tc.name, err, tc.loop)
		}
		if err != nil && IsTemporary(err) {
			t.Errorf("%s: CheckLoop = %v: temporary", tc.name, err)
		}
	}
}

// TestRedirectLoopStops sends a message around twice: the second redirect
// by the same recipient is refused as a loop and nothing is sent.
func TestRedirectLoopStops(t *testing.T) {
	snk := startSink(t)
	s := newTestSender(t, snk.Addr, nil, nil)
	raw := []byte("From: a@origin.example\r\nSubject: x\r\n\r\nbody\r\n")
	m := Msg{Kind: Redirect, From: "a@origin.example", To: []string{"bob@elsewhere.example"}, Raw: raw, Rcpt: "fred@forward.example"}
	if err := s.Send(bg(), m); err != nil {
		t.Fatal(err)
	}
	m.Raw = snk.Received()[0].Data
	if err := s.Send(bg(), m); !errors.Is(err, ErrLoop) || IsTemporary(err) {
		t.Fatalf("second Send = %v, want permanent ErrLoop", err)
	}
	if n := len(snk.Received()); n != 1 {
		t.Fatalf("sink received %d messages, want 1", n)
	}
}
