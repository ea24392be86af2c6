package lmtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mail"
)

// fakeBackend accepts recipients not starting with "bad" and answers each
// delivery with the statuses in reply (keyed by recipient).
type fakeBackend struct {
	mu      sync.Mutex
	reply   map[string]error
	got     []*mail.Envelope
	data    [][]byte
	release chan struct{} // when set, Deliver waits for it
}

func (b *fakeBackend) Recipient(_ context.Context, addr string) error {
	if strings.HasPrefix(addr, "bad") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	}
	if strings.HasPrefix(addr, "oops") {
		return errors.New("database exploded")
	}
	return nil
}

func (b *fakeBackend) Deliver(_ context.Context, env *mail.Envelope, data []byte) []error {
	if b.release != nil {
		<-b.release
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, env)
	b.data = append(b.data, bytes.Clone(data)) // data is gone after Deliver
	errs := make([]error, len(env.Recipients))
	for i, r := range env.Recipients {
		errs[i] = b.reply[r]
	}
	return errs
}

// startServer serves an LMTP Server on 127.0.0.1:0 and returns its address.
func startServer(t *testing.T, cfg Config, b Backend) (*Server, string) {
	t.Helper()
	s := New(cfg, nil, b)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s, l.Addr().String()
}

// conversation is a raw line-level LMTP client, so that tests see replies
// exactly as the MTA does.
type conversation struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *conversation {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cv := &conversation{t: t, c: c, r: bufio.NewReader(c)}
	cv.reply() // greeting
	return cv
}

// reply reads one (possibly multi-line) reply and returns its lines.
func (cv *conversation) reply() []string {
	cv.t.Helper()
	var lines []string
	for {
		cv.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := cv.r.ReadString('\n')
		if err != nil {
			cv.t.Fatalf("reading reply: %v (so far %q)", err, lines)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return lines
		}
	}
}

func (cv *conversation) cmd(format string, args ...any) string {
	cv.t.Helper()
	fmt.Fprintf(cv.c, format+"\r\n", args...)
	return strings.Join(cv.reply(), "\n")
}

func TestPerRecipientStatus(t *testing.T) {
	b := &fakeBackend{reply: map[string]error{
		"temp@x.test": errors.New("disk on fire"),
		"perm@x.test": &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected by sieve"},
	}}
	_, addr := startServer(t, Config{Hostname: "mx.test"}, b)
	cv := dial(t, addr)
	if got := cv.cmd("LHLO client.test"); !strings.Contains(got, "SIZE 52428800") || !strings.Contains(got, "PIPELINING") {
		t.Fatalf("LHLO reply = %q, want SIZE 52428800 and PIPELINING", got)
	}
	if got := cv.cmd("MAIL FROM:<s@client.test>"); !strings.HasPrefix(got, "250") {
		t.Fatalf("MAIL = %q", got)
	}
	for _, tc := range []struct{ rcpt, want string }{
		{"ok@x.test", "250"},
		{"bad@x.test", "550 5.1.1"},
		{"oops@x.test", "451 4.3.0"},
		{"temp@x.test", "250"},
		{"perm@x.test", "250"},
	} {
		if got := cv.cmd("RCPT TO:<%s>", tc.rcpt); !strings.HasPrefix(got, tc.want) {
			t.Fatalf("RCPT TO:<%s> = %q, want prefix %q", tc.rcpt, got, tc.want)
		}
	}
	if got := cv.cmd("DATA"); !strings.HasPrefix(got, "354") {
		t.Fatalf("DATA = %q", got)
	}
	fmt.Fprint(cv.c, "Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n")
	want := []string{"250 2.0.0 <ok@x.test>", "451 4.3.0 <temp@x.test>", "550 5.7.1 <perm@x.test>"}
	for _, w := range want {
		got := strings.Join(cv.reply(), "\n")
		if !strings.HasPrefix(got, w) {
			t.Fatalf("DATA status = %q, want prefix %q", got, w)
		}
	}
	if len(b.data) != 1 || string(b.data[0]) != "Subject: hi\r\n\r\n.dot\r\nbody\r\n" {
		t.Fatalf("backend got %q, want the dot-unstuffed message once", b.data)
	}
	if e := b.got[0]; e.MailFrom != "s@client.test" || e.LHLO != "client.test" || !strings.HasPrefix(e.PeerAddr, "127.0.0.1:") {
		t.Fatalf("envelope = %+v", e)
	}
}

func TestSizeLimit(t *testing.T) {
	b := &fakeBackend{}
	_, addr := startServer(t, Config{MaxMessageSize: 1000}, b)
	cv := dial(t, addr)
	cv.cmd("LHLO client.test")
	if got := cv.cmd("MAIL FROM:<s@client.test> SIZE=5000"); !strings.HasPrefix(got, "552") {
		t.Fatalf("MAIL with SIZE over limit = %q, want 552", got)
	}
	cv.cmd("MAIL FROM:<s@client.test>")
	cv.cmd("RCPT TO:<a@x.test>")
	cv.cmd("RCPT TO:<b@x.test>")
	cv.cmd("DATA")
	fmt.Fprintf(cv.c, "Subject: big\r\n\r\n%s\r\n.\r\n", strings.Repeat("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", 100))
	for i := 0; i < 2; i++ {
		if got := strings.Join(cv.reply(), "\n"); !strings.HasPrefix(got, "552") {
			t.Fatalf("status %d for oversized message = %q, want 552", i, got)
		}
	}
	if len(b.got) != 0 {
		t.Fatalf("backend got %d deliveries for an oversized message, want 0", len(b.got))
	}
}

func TestShutdownWaitsForDelivery(t *testing.T) {
	b := &fakeBackend{release: make(chan struct{})}
	s, addr := startServer(t, Config{}, b)
	cv := dial(t, addr)
	cv.cmd("LHLO client.test")
	cv.cmd("MAIL FROM:<s@client.test>")
	cv.cmd("RCPT TO:<a@x.test>")
	cv.cmd("DATA")
	fmt.Fprint(cv.c, "Subject: slow\r\n\r\nbody\r\n.\r\n")
	time.Sleep(100 * time.Millisecond) // let the delivery start

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatalf("new connection accepted during shutdown")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v before the delivery in flight finished", err)
	default:
	}
	close(b.release)
	if got := strings.Join(cv.reply(), "\n"); !strings.HasPrefix(got, "250") {
		t.Fatalf("in-flight delivery status = %q, want 250", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
}

func TestListenUnixStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lmtp.sock")
	l, err := Listen("unix:"+path, 0o660, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen("unix:"+path, 0o660, ""); err == nil {
		t.Fatalf("second Listen on a live socket succeeded, want an error")
	}
	// Simulate a crash: the socket file stays behind with no listener.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	l, err = Listen("unix:"+path, 0o640, "")
	if err != nil {
		t.Fatalf("Listen over a stale socket = %v, want success", err)
	}
	defer l.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o640 {
		t.Fatalf("socket mode = %o, want 640", got)
	}
	regular := filepath.Join(t.TempDir(), "file")
	os.WriteFile(regular, nil, 0o600)
	if _, err := Listen("unix:"+regular, 0o660, ""); err == nil {
		t.Fatalf("Listen over a regular file succeeded, want an error")
	}
}

// TestXFORWARD: the command is advertised, answered in pipeline order,
// its attributes reach the envelope, and message content that looks like
// it is left alone.
func TestXFORWARD(t *testing.T) {
	b := &fakeBackend{}
	_, addr := startServer(t, Config{XForwardNets: loopback}, b)
	cv := dial(t, addr)
	if got := cv.cmd("LHLO mx.test"); !strings.Contains(got, "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE") {
		t.Fatalf("LHLO reply lacks XFORWARD: %q", got)
	}
	// Everything pipelined in one write, as Postfix does.
	fmt.Fprint(cv.c, "XFORWARD NAME=mail.client.test ADDR=IPV6:2001:db8::1 PORT=4321\r\n"+
		"XFORWARD PROTO=ESMTP HELO=client+2Etest IDENT=4AbC SOURCE=REMOTE\r\n"+
		"MAIL FROM:<s@client.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n")
	for i, want := range []string{"250 2.0.0 Ok", "250 2.0.0 Ok", "250", "250", "354"} {
		if got := strings.Join(cv.reply(), "\n"); !strings.HasPrefix(got, want) {
			t.Fatalf("pipelined reply %d = %q, want prefix %q", i, got, want)
		}
	}
	fmt.Fprint(cv.c, "Subject: x\r\n\r\nXFORWARD NAME=evil\r\n.\r\n")
	if got := strings.Join(cv.reply(), "\n"); !strings.HasPrefix(got, "250") {
		t.Fatalf("DATA status = %q", got)
	}
	e := b.got[0]
	if e.ClientIP.String() != "2001:db8::1" || e.ClientHelo != "client.test" || e.ClientName != "mail.client.test" || e.QueueID != "4AbC" {
		t.Fatalf("envelope = %+v, want the XFORWARD attributes", e)
	}
	if !strings.Contains(string(b.data[0]), "XFORWARD NAME=evil") {
		t.Fatalf("message content was altered: %q", b.data[0])
	}
	// Attributes belong to one transaction only.
	cv.cmd("MAIL FROM:<s2@client.test>")
	cv.cmd("RCPT TO:<a@x.test>")
	cv.cmd("DATA")
	fmt.Fprint(cv.c, "Subject: y\r\n\r\ny\r\n.\r\n")
	cv.reply()
	if e := b.got[1]; e.ClientIP != nil || e.QueueID != "" {
		t.Fatalf("second transaction inherited XFORWARD attributes: %+v", e)
	}
}

// TestXFORWARDUntrusted: a peer outside XForwardNets is not offered it.
func TestXFORWARDUntrusted(t *testing.T) {
	_, n, _ := net.ParseCIDR("192.0.2.0/24")
	_, addr := startServer(t, Config{XForwardNets: []*net.IPNet{n}}, &fakeBackend{})
	cv := dial(t, addr)
	if got := cv.cmd("LHLO mx.test"); strings.Contains(got, "XFORWARD") {
		t.Fatalf("LHLO reply to an untrusted peer offers XFORWARD: %q", got)
	}
	if got := cv.cmd("XFORWARD ADDR=192.0.2.9"); got != "550 5.7.0 Error: insufficient authorization" {
		t.Fatalf("XFORWARD from an untrusted peer = %q, want Postfix's 550 5.7.0", got)
	}
}

// TestSpool delivers a message larger than the spool threshold: the
// backend gets it byte for byte, and the spool directory is empty after.
func TestSpool(t *testing.T) {
	b := &fakeBackend{}
	dir := t.TempDir()
	_, addr := startServer(t, Config{Spool: mail.SpoolConfig{Dir: dir, Threshold: 4096}}, b)
	body := strings.Repeat("The quick brown fox jumps over the lazy dog.\r\n", 2000)
	msg := "Subject: spooled\r\n\r\n" + body
	cv := dial(t, addr)
	cv.cmd("LHLO client.test")
	cv.cmd("MAIL FROM:<s@client.test>")
	cv.cmd("RCPT TO:<a@x.test>")
	cv.cmd("DATA")
	fmt.Fprintf(cv.c, "%s.\r\n", msg)
	if got := strings.Join(cv.reply(), "\n"); !strings.HasPrefix(got, "250") {
		t.Fatalf("status for a spooled message = %q, want 250", got)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.data) != 1 || string(b.data[0]) != msg {
		t.Fatalf("backend got %d messages, want the one sent (%d bytes) byte for byte", len(b.data), len(msg))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool dir holds %d files after the transaction, want none", len(ents))
	}
}

// TestShutdownClosesIdle: Shutdown with nothing in flight stops accepting,
// closes idle connections (the MTA reconnects elsewhere or later) and
// never panics, however its steps interleave with go-smtp's (run many
// times: go-smtp's Shutdown and Close closing one channel used to race).
func TestShutdownClosesIdle(t *testing.T) {
	for i := 0; i < 50; i++ {
		s := New(Config{}, nil, &fakeBackend{})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve(l) }()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		cancel()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := r.ReadString('\n'); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("idle connection after Shutdown: read %v, want it closed", err)
		}
		c.Close()
		if err := <-served; err != nil {
			t.Fatalf("Serve after Shutdown = %v, want nil", err)
		}
	}
}

// connCtxBackend records the context Recipient is called with.
type connCtxBackend struct {
	fakeBackend
	ctxs chan context.Context
}

func (b *connCtxBackend) Recipient(ctx context.Context, addr string) error {
	b.ctxs <- ctx
	return nil
}

// TestConnectionContext checks that the backend sees the connection's
// context: live while the client is connected, done once it hangs up.
func TestConnectionContext(t *testing.T) {
	b := &connCtxBackend{ctxs: make(chan context.Context, 1)}
	_, addr := startServer(t, Config{}, b)
	cv := dial(t, addr)
	cv.cmd("LHLO mta")
	cv.cmd("MAIL FROM:<a@example.org>")
	if r := cv.cmd("RCPT TO:<b@example.org>"); !strings.HasPrefix(r, "250") {
		t.Fatalf("RCPT = %q, want 250", r)
	}
	ctx := <-b.ctxs
	if err := ctx.Err(); err != nil {
		t.Fatalf("Recipient's context ended while connected: %v", err)
	}
	cv.c.Close()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Recipient's context still live 5s after the client hung up")
	}
}
