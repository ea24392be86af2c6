package lmtp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mail"
)

var loopback = func() []*net.IPNet {
	_, n, _ := net.ParseCIDR("127.0.0.0/8")
	return []*net.IPNet{n}
}()

// logBuffer is a log destination safe for the server and the test.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLogged is startServer with the server's log kept.
func startLogged(t *testing.T, cfg Config, b Backend) (string, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	s := New(cfg, slog.New(slog.NewTextHandler(logs, nil)), b)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return l.Addr().String(), logs
}

// replies reads n replies and fails unless each has the prefix wanted.
func (cv *conversation) expect(what string, wants ...string) {
	cv.t.Helper()
	for i, w := range wants {
		if got := strings.Join(cv.reply(), "\n"); !strings.HasPrefix(got, w) {
			cv.t.Fatalf("%s: reply %d = %q, want prefix %q", what, i, got, w)
		}
	}
}

// TestXFORWARDDefaultUntrusted: with the default configuration a TCP peer,
// loopback included, may not set the client address; a unix socket peer may.
func TestXFORWARDDefaultUntrusted(t *testing.T) {
	b := &fakeBackend{}
	_, addr := startServer(t, Config{}, b)
	cv := dial(t, addr)
	if got := cv.cmd("LHLO mx.test"); strings.Contains(got, "XFORWARD") {
		t.Fatalf("LHLO reply to a loopback TCP peer offers XFORWARD by default: %q", got)
	}
	fmt.Fprint(cv.c, "XFORWARD ADDR=192.0.2.9 IDENT=Q1\r\nMAIL FROM:<s@client.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n")
	cv.expect("pipelined", "550 5.7.0 Error: insufficient authorization", "250", "250", "354")
	fmt.Fprint(cv.c, "Subject: x\r\n\r\nx\r\n.\r\n")
	cv.expect("DATA", "250")
	if e := b.got[0]; e.ClientIP != nil || e.QueueID != "" {
		t.Fatalf("envelope = %+v, want no XFORWARD attributes from an untrusted peer", e)
	}

	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	l, err := Listen("unix:"+sock, 0o600, "")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{}, nil, b)
	go s.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ucv := &conversation{t: t, c: c, r: bufio.NewReader(c)}
	ucv.reply()
	if got := ucv.cmd("LHLO mx.test"); !strings.Contains(got, "250-XFORWARD") {
		t.Fatalf("LHLO reply on a unix socket lacks XFORWARD: %q", got)
	}
	if got := ucv.cmd("XFORWARD ADDR=192.0.2.9"); got != "250 2.0.0 Ok" {
		t.Fatalf("XFORWARD on a unix socket = %q, want 250", got)
	}
}

// TestXFORWARDAfterRefusal talks as Postfix's lmtp(8) does: XFORWARD,
// MAIL, RCPT... and DATA in one write. A transaction whose recipients are
// all refused gets DATA refused; the XFORWARD values of the transactions
// that follow on the same connection must still be used.
func TestXFORWARDAfterRefusal(t *testing.T) {
	for _, rset := range []bool{false, true} {
		t.Run(fmt.Sprintf("rset=%v", rset), func(t *testing.T) {
			b := &fakeBackend{}
			_, addr := startServer(t, Config{XForwardNets: loopback}, b)
			cv := dial(t, addr)
			cv.cmd("LHLO mx.example.test")
			batch := func(ip, qid string, rcpts ...string) {
				if rset {
					fmt.Fprint(cv.c, "RSET\r\n")
				}
				fmt.Fprintf(cv.c, "XFORWARD NAME=client.test ADDR=%s PORT=44632\r\n"+
					"XFORWARD PROTO=ESMTP HELO=client.test IDENT=%s SOURCE=REMOTE\r\n"+
					"MAIL FROM:<sender@client.test>\r\n", ip, qid)
				for _, r := range rcpts {
					fmt.Fprintf(cv.c, "RCPT TO:<%s>\r\n", r)
				}
				fmt.Fprint(cv.c, "DATA\r\n")
				if rset {
					cv.expect("RSET", "250")
				}
			}
			// 1: every recipient refused, so DATA is refused.
			batch("192.0.2.1", "QID1", "bad1@x.test", "bad2@x.test")
			cv.expect("transaction 1", "250 2.0.0 Ok", "250 2.0.0 Ok", "250", "550 5.1.1", "550 5.1.1", "502")
			// 2: one recipient refused, the other accepted.
			batch("192.0.2.2", "QID2", "ok@x.test", "bad@x.test")
			cv.expect("transaction 2", "250 2.0.0 Ok", "250 2.0.0 Ok", "250", "250", "550 5.1.1", "354")
			fmt.Fprint(cv.c, "Subject: two\r\n\r\ntwo\r\n.\r\n")
			cv.expect("transaction 2 DATA", "250 2.0.0 <ok@x.test>")
			// 3: after a delivered message.
			batch("2001:db8::3", "QID3", "ok@x.test")
			cv.expect("transaction 3", "250 2.0.0 Ok", "250 2.0.0 Ok", "250", "250", "354")
			fmt.Fprint(cv.c, "Subject: three\r\n\r\nthree\r\n.\r\n")
			cv.expect("transaction 3 DATA", "250 2.0.0 <ok@x.test>")
			if len(b.got) != 2 {
				t.Fatalf("backend got %d messages, want 2", len(b.got))
			}
			for i, want := range []struct{ ip, qid string }{{"192.0.2.2", "QID2"}, {"2001:db8::3", "QID3"}} {
				if e := b.got[i]; e.ClientIP.String() != want.ip || e.QueueID != want.qid || e.ClientHelo != "client.test" {
					t.Fatalf("message %d envelope = %+v, want client %s, queue id %s", i+2, e, want.ip, want.qid)
				}
			}
		})
	}
}

// TestXFORWARDControlCharacters: a value that decodes to CR LF would be
// written into header fields; it is dropped.
func TestXFORWARDControlCharacters(t *testing.T) {
	b := &fakeBackend{}
	_, addr := startServer(t, Config{XForwardNets: loopback}, b)
	cv := dial(t, addr)
	cv.cmd("LHLO mx.test")
	cv.cmd("XFORWARD HELO=a+0D+0AX-Spam-Flag:+20NO ADDR=192.0.2.1")
	cv.cmd("MAIL FROM:<s@client.test>")
	cv.cmd("RCPT TO:<a@x.test>")
	cv.cmd("DATA")
	fmt.Fprint(cv.c, "Subject: x\r\n\r\nx\r\n.\r\n")
	cv.reply()
	if e := b.got[0]; e.ClientHelo != "" || e.ClientIP.String() != "192.0.2.1" {
		t.Fatalf("envelope = %+v, want the HELO dropped and the address kept", e)
	}
}

// TestLineTooLong: an over-long command line is answered 500 5.5.2 and the
// session goes on; an over-long message line fails the message for every
// recipient with a permanent 554 5.6.0, logged with the queue ID, and the
// next transaction on the connection works.
func TestLineTooLong(t *testing.T) {
	b := &fakeBackend{}
	addr, logs := startLogged(t, Config{XForwardNets: loopback}, b)
	cv := dial(t, addr)
	cv.cmd("LHLO mx.test")
	if got := cv.cmd("NOOP %s", strings.Repeat("x", maxCommandLine)); got != "500 5.5.2 Error: line too long" {
		t.Fatalf("over-long command = %q, want 500 5.5.2", got)
	}
	if got := cv.cmd("NOOP"); !strings.HasPrefix(got, "250") {
		t.Fatalf("NOOP after an over-long command = %q, want 250", got)
	}
	cv.cmd("XFORWARD ADDR=192.0.2.1 IDENT=LONGQID")
	cv.cmd("MAIL FROM:<s@client.test>")
	cv.cmd("RCPT TO:<a@x.test>")
	cv.cmd("RCPT TO:<b@x.test>")
	cv.cmd("DATA")
	fmt.Fprintf(cv.c, "Subject: long\r\n\r\n%s\r\nMAIL FROM:<evil@x.test>\r\n.\r\n", strings.Repeat("y", maxDataLine+1))
	cv.expect("over-long line", "554 5.6.0 <a@x.test>", "554 5.6.0 <b@x.test>")
	if len(b.got) != 0 {
		t.Fatalf("backend got %d messages, want none", len(b.got))
	}
	if l := logs.String(); !strings.Contains(l, "line too long") || !strings.Contains(l, "queue_id=LONGQID") {
		t.Fatalf("log lacks the refusal with its queue ID:\n%s", l)
	}
	cv.cmd("MAIL FROM:<s@client.test>")
	cv.cmd("RCPT TO:<a@x.test>")
	if got := cv.cmd("DATA"); !strings.HasPrefix(got, "354") {
		t.Fatalf("DATA after the refused message = %q, want 354", got)
	}
	fmt.Fprint(cv.c, "Subject: fine\r\n\r\n"+strings.Repeat("z", maxDataLine-2)+"\r\n.\r\n")
	cv.expect("next message", "250")
	if len(b.got) != 1 {
		t.Fatalf("backend got %d messages, want 1", len(b.got))
	}
}

// TestDuplicateRecipient: the same address three times is delivered once,
// and each RCPT still gets its reply after DATA (RFC 2033 §4.2), the same
// as the first one's.
func TestDuplicateRecipient(t *testing.T) {
	b := &fakeBackend{reply: map[string]error{
		"perm@x.test": &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected by sieve"},
	}}
	_, addr := startServer(t, Config{}, b)
	cv := dial(t, addr)
	cv.cmd("LHLO mx.test")
	fmt.Fprint(cv.c, "MAIL FROM:<s@client.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<perm@x.test>\r\n"+
		"RCPT TO:<a@X.TEST>\r\nRCPT TO:<perm@x.test>\r\nDATA\r\n")
	cv.expect("pipelined", "250", "250", "250", "250", "250", "250", "354")
	fmt.Fprint(cv.c, "Subject: dup\r\n\r\nx\r\n.\r\n")
	cv.expect("DATA", "250 2.0.0 <a@x.test>", "250 2.0.0 <a@x.test>", "550 5.7.1 <perm@x.test>", "250 2.0.0 <a@X.TEST>", "550 5.7.1 <perm@x.test>")
	if len(b.got) != 1 || strings.Join(b.got[0].Recipients, ",") != "a@x.test,perm@x.test" {
		t.Fatalf("backend got %d messages, recipients %v; want one message for a@x.test,perm@x.test", len(b.got), b.got[0].Recipients)
	}
}

func TestMaxConnections(t *testing.T) {
	_, addr := startServer(t, Config{MaxConnections: 2, Hostname: "mx.test"}, &fakeBackend{})
	dial(t, addr)
	second := dial(t, addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	third := &conversation{t: t, c: c, r: bufio.NewReader(c)}
	if got := strings.Join(third.reply(), "\n"); got != "421 4.3.2 mx.test Too many connections, try again later" {
		t.Fatalf("greeting over max_connections = %q, want 421 4.3.2", got)
	}
	second.cmd("QUIT")
	second.c.Close()
	// The slot is freed once the server has closed its side.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		cv := &conversation{t: t, c: c, r: bufio.NewReader(c)}
		got := strings.Join(cv.reply(), "\n")
		c.Close()
		if strings.HasPrefix(got, "220") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("greeting after a connection closed = %q, want 220", got)
		}
	}
}

func TestMaxSessionTime(t *testing.T) {
	_, addr := startServer(t, Config{MaxSessionTime: 300 * time.Millisecond, Hostname: "mx.test"}, &fakeBackend{})
	cv := dial(t, addr)
	if got := cv.cmd("LHLO client.test"); !strings.HasPrefix(got, "250") {
		t.Fatalf("LHLO = %q", got)
	}
	// Idle past the cap: the server speaks first.
	start := time.Now()
	if got := strings.Join(cv.reply(), "\n"); !strings.HasPrefix(got, "421 4.4.2 mx.test Session time limit") {
		t.Fatalf("reply after max_session_time = %q, want 421 4.4.2", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("421 came after %v, want it at the session cap", d)
	}
	cv.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := cv.r.ReadString('\n'); err == nil {
		t.Fatalf("connection still open after the 421")
	}
}

func TestMaxBytesInFlight(t *testing.T) {
	b := &fakeBackend{}
	_, addr := startServer(t, Config{MaxMessageSize: 1000, MaxBytesInFlight: 1500}, b)
	holder := dial(t, addr)
	holder.cmd("LHLO client.test")
	if got := holder.cmd("MAIL FROM:<s@client.test> SIZE=1000"); !strings.HasPrefix(got, "250") {
		t.Fatalf("MAIL SIZE=1000 = %q, want 250", got)
	}
	cv := dial(t, addr)
	cv.cmd("LHLO client.test")
	if got := cv.cmd("MAIL FROM:<s@client.test> SIZE=800"); got != "452 4.3.1 Insufficient system storage, try again later" {
		t.Fatalf("MAIL SIZE=800 with 1000 of 1500 bytes held = %q, want 452 4.3.1", got)
	}
	// Without SIZE the limit is met while the message arrives.
	cv.cmd("MAIL FROM:<s@client.test>")
	cv.cmd("RCPT TO:<a@x.test>")
	cv.cmd("RCPT TO:<b@x.test>")
	cv.cmd("DATA")
	fmt.Fprintf(cv.c, "Subject: big\r\n\r\n%s\r\n.\r\n", strings.Repeat("x", 900))
	cv.expect("DATA over the budget", "452 4.3.1 <a@x.test>", "452 4.3.1 <b@x.test>")
	if len(b.got) != 0 {
		t.Fatalf("backend got %d messages, want 0", len(b.got))
	}
	holder.cmd("RSET")
	if got := cv.cmd("MAIL FROM:<s@client.test> SIZE=800"); !strings.HasPrefix(got, "250") {
		t.Fatalf("MAIL SIZE=800 after the other transaction ended = %q, want 250", got)
	}
}

// ctxBackend waits in Deliver until its context ends (or forever when
// deaf), and reports what the context said.
type ctxBackend struct {
	deaf    bool
	release chan struct{}
	cause   chan error
}

func (b *ctxBackend) Recipient(context.Context, string) error { return nil }

func (b *ctxBackend) Deliver(ctx context.Context, env *mail.Envelope, _ []byte) []error {
	if b.deaf {
		<-b.release
	} else {
		<-ctx.Done()
	}
	b.cause <- ctx.Err()
	errs := make([]error, len(env.Recipients))
	for i := range errs {
		errs[i] = ctx.Err()
	}
	return errs
}

func sendOne(t *testing.T, addr string) *conversation {
	t.Helper()
	cv := dial(t, addr)
	cv.cmd("LHLO client.test")
	cv.cmd("MAIL FROM:<s@client.test>")
	cv.cmd("RCPT TO:<a@x.test>")
	cv.cmd("DATA")
	fmt.Fprint(cv.c, "Subject: slow\r\n\r\nbody\r\n.\r\n")
	return cv
}

// TestMessageTimeout: a message not processed within message_timeout is
// answered 451 4.4.7, never 250, whether the backend gives up on its
// cancelled context or ignores it.
func TestMessageTimeout(t *testing.T) {
	for _, deaf := range []bool{false, true} {
		t.Run(fmt.Sprintf("deaf=%v", deaf), func(t *testing.T) {
			b := &ctxBackend{deaf: deaf, release: make(chan struct{}), cause: make(chan error, 1)}
			defer close(b.release)
			_, addr := startServer(t, Config{MessageTimeout: 200 * time.Millisecond}, b)
			cv := sendOne(t, addr)
			start := time.Now()
			cv.expect("DATA", "451 4.4.7 <a@x.test>")
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("answered after %v, want about message_timeout", d)
			}
			if !deaf {
				if err := <-b.cause; err != context.DeadlineExceeded {
					t.Fatalf("backend context ended with %v, want DeadlineExceeded", err)
				}
			}
		})
	}
}

// TestClientGoneCancels: a client that hangs up while its message is
// processed cancels the backend's context.
func TestClientGoneCancels(t *testing.T) {
	b := &ctxBackend{cause: make(chan error, 1)}
	_, addr := startServer(t, Config{MessageTimeout: time.Minute}, b)
	cv := sendOne(t, addr)
	time.Sleep(100 * time.Millisecond)
	cv.c.Close()
	select {
	case err := <-b.cause:
		if err != context.Canceled {
			t.Fatalf("backend context ended with %v, want Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("backend context not cancelled after the client hung up")
	}
}
