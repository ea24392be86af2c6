package policy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/internal/dnstest"
)

// startServer serves cfg on a loopback port over testZone (without a DNS
// cache, so that queries can be counted) and returns the address and the
// DNS server; it is shut down at the end of the test.
func startServer(t *testing.T, cfg ServerConfig) (*Server, string, *dnstest.Server) {
	t.Helper()
	dns := dnstest.Start(t, testZone)
	dns.Timeout("slow.test")
	r, err := auth.NewDNSResolver(auth.DNSConfig{Servers: []string{dns.Addr}, Timeout: time.Second, Attempts: 2, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "mx.example.test"
	}
	s := New(cfg, nil, r)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown = %v", err)
		}
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	return s, l.Addr().String(), dns
}

// wire renders a request as Postfix sends it.
func wire(req Request) string {
	var b strings.Builder
	for k, v := range req {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	b.WriteString("\n")
	return b.String()
}

// ask sends req on c and returns the action of the reply.
func ask(t testing.TB, c net.Conn, br *bufio.Reader, req Request) string {
	t.Helper()
	if _, err := io.WriteString(c, wire(req)); err != nil {
		t.Fatalf("write: %v", err)
	}
	return readAction(t, br)
}

func readAction(t testing.TB, br *bufio.Reader) string {
	t.Helper()
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading reply: %v", err)
	}
	if end, err := br.ReadString('\n'); err != nil || end != "\n" {
		t.Fatalf("reply %q not ended by an empty line: %q, %v", line, end, err)
	}
	action, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "action=")
	if !ok {
		t.Fatalf("reply %q: want action=", line)
	}
	return action
}

func dial(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// TestServerRecipients: one message with three recipients on one
// connection, as Postfix sends it, costs one set of lookups; the next
// message on the same connection is checked again.
func TestServerRecipients(t *testing.T) {
	_, addr, dns := startServer(t, ServerConfig{Config: Config{ExemptRecipients: []string{"postmaster@"}}})
	c, br := dial(t, addr)
	defer c.Close()
	req := rcptRequest("192.0.2.10", "mail.client.test", "a@fail.test", "bob@example.test")
	if got := ask(t, c, br, req); !strings.HasPrefix(got, "550 5.7.23 ") {
		t.Fatalf("first recipient: %q, want 550 5.7.23", got)
	}
	q := dns.Queries()
	// postmaster@ takes the mail, with the header; only once.
	for _, rcpt := range []string{"postmaster@example.test", "postmaster@other.test"} {
		req["recipient"] = rcpt
		want := "DUNNO"
		if rcpt == "postmaster@example.test" {
			want = "PREPEND Received-SPF: fail "
		}
		if got := ask(t, c, br, req); !strings.HasPrefix(got, want) {
			t.Fatalf("%s: %q, want %q", rcpt, got, want)
		}
	}
	req["recipient"] = "carol@example.test"
	if got := ask(t, c, br, req); !strings.HasPrefix(got, "550 5.7.23 ") {
		t.Fatalf("fourth recipient: %q, want 550 5.7.23", got)
	}
	if n := dns.Queries(); n != q {
		t.Fatalf("recipients of one message made %d more DNS queries, want 0", n-q)
	}
	// The next message is checked again, and Received-SPF is prepended
	// for its first recipient only: Postfix adds every PREPEND.
	next := rcptRequest("192.0.2.10", "mail.client.test", "a@pass.test", "bob@example.test")
	next["instance"] = "next"
	for i, want := range []string{"PREPEND Received-SPF: pass ", "DUNNO", "DUNNO"} {
		next["recipient"] = fmt.Sprintf("r%d@example.test", i)
		if got := ask(t, c, br, next); !strings.HasPrefix(got, want) {
			t.Fatalf("next message, recipient %d: %q, want %q", i, got, want)
		}
	}
}

// TestServerHostile: malformed requests are answered with a deferral and
// the connection is closed; a client that disconnects mid-request or goes
// idle is dropped; none of it stops the server.
func TestServerHostile(t *testing.T) {
	s, addr, _ := startServer(t, ServerConfig{IdleTimeout: 200 * time.Millisecond, Limits: Limits{MaxLineLength: 512, MaxAttributes: 50}})
	for _, in := range []string{
		"request=smtpd_access_policy\nthis line has no equals sign\n\n",
		"sender=" + strings.Repeat("x", 1000) + "\n\n",
		strings.Repeat("a=b\n", 51) + "\n",
		"=novalue\n\n",
	} {
		c, br := dial(t, addr)
		io.WriteString(c, in)
		if got := readAction(t, br); !strings.HasPrefix(got, "DEFER_IF_PERMIT 4.3.5 ") {
			t.Errorf("malformed %.30q: %q, want DEFER_IF_PERMIT 4.3.5", in, got)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("malformed %.30q: connection still open (%v)", in, err)
		}
		c.Close()
	}
	// Disconnect in the middle of a request, and in the middle of a check
	// (slow.test times out).
	for _, in := range []string{"request=smtpd_access_policy\nsender=a@", wire(rcptRequest("192.0.2.10", "x.test", "a@slow.test", "b@example.test"))} {
		c, _ := dial(t, addr)
		io.WriteString(c, in)
		c.Close()
	}
	// An idle connection is closed by the server.
	c, br := dial(t, addr)
	start := time.Now()
	if _, err := br.ReadByte(); err != io.EOF || time.Since(start) > 5*time.Second {
		t.Errorf("idle connection: read = %v after %v, want EOF after the idle timeout", err, time.Since(start))
	}
	c.Close()
	// The server still answers.
	c, br = dial(t, addr)
	defer c.Close()
	if got := ask(t, c, br, rcptRequest("192.0.2.10", "x.test", "a@pass.test", "b@example.test")); !strings.HasPrefix(got, "PREPEND Received-SPF: pass") {
		t.Fatalf("after the hostile clients: %q", got)
	}
	waitSessions(t, s, 1)
}

func waitSessions(t *testing.T, s *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.Sessions() != n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Sessions = %d, want %d", s.Sessions(), n)
		}
	}
}

// TestServerMaxConnections: past the limit a connection waits until one
// closes.
func TestServerMaxConnections(t *testing.T) {
	s, addr, _ := startServer(t, ServerConfig{MaxConnections: 2})
	req := rcptRequest("192.0.2.10", "x.test", "a@pass.test", "b@example.test")
	c1, br1 := dial(t, addr)
	ask(t, c1, br1, req)
	c2, br2 := dial(t, addr)
	ask(t, c2, br2, req)
	c3, br3 := dial(t, addr)
	defer c3.Close()
	io.WriteString(c3, wire(req))
	c3.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := br3.ReadByte(); err == nil {
		t.Fatal("third connection answered while two were open with MaxConnections 2")
	}
	if s.Sessions() != 2 {
		t.Fatalf("Sessions = %d, want 2", s.Sessions())
	}
	c1.Close()
	c3.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got := readAction(t, br3); !strings.HasPrefix(got, "PREPEND ") {
		t.Fatalf("third connection after one closed: %q", got)
	}
	c2.Close()
}

// TestServerConcurrent: 100 sessions at once, each with several messages.
func TestServerConcurrent(t *testing.T) {
	_, addr, _ := startServer(t, ServerConfig{MaxConnections: 100})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(c)
			for j := range 5 {
				sender, want := "a@pass.test", "PREPEND Received-SPF: pass "
				if (i+j)%2 == 1 {
					sender, want = "a@fail.test", "550 5.7.23 "
				}
				req := rcptRequest("192.0.2.10", "x.test", sender, "b@example.test")
				req["instance"] = fmt.Sprintf("%d.%d", i, j)
				io.WriteString(c, wire(req))
				line, err := br.ReadString('\n')
				br.ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "action="+want) {
					errs <- fmt.Errorf("session %d message %d: %q, %v; want %q", i, j, line, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestServerNoLeak: after 10,000 sessions (some cut off mid-request) the
// goroutines and file descriptors are back where they were.
func TestServerNoLeak(t *testing.T) {
	s, addr, _ := startServer(t, ServerConfig{})
	settle := func() (int, int) {
		time.Sleep(50 * time.Millisecond)
		runtime.GC()
		return runtime.NumGoroutine(), openFDs(t)
	}
	g0, f0 := settle()
	const sessions = 10000
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
					continue
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				req := rcptRequest("192.0.2.10", "x.test", "a@pass.test", "b@example.test")
				if i%10 == 0 {
					io.WriteString(c, "request=smtpd_access_policy\nsender=a")
					c.Close()
					continue
				}
				io.WriteString(c, wire(req))
				line, err := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if err != nil || !strings.HasPrefix(line, "action=PREPEND Received-SPF: pass") {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("session %d: %q, %v", i, line, err))
					mu.Unlock()
				}
			}
		})
	}
	for i := range sessions {
		work <- i
	}
	close(work)
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d sessions failed, first: %s", len(failed), failed[0])
	}
	waitSessions(t, s, 0)
	var g1, f1 int
	for deadline := time.Now().Add(5 * time.Second); ; {
		g1, f1 = settle()
		if g1 <= g0 && f1 <= f0 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("%d sessions: goroutines %d → %d, open fds %d → %d", sessions, g0, g1, f0, f1)
	if g1 > g0 || f1 > f0 {
		t.Fatalf("after %d sessions: goroutines %d → %d, fds %d → %d; want no growth", sessions, g0, g1, f0, f1)
	}
}

// BenchmarkServerRequest: one connection, one request per message, the
// answers from the resolver's cache after the first.
func BenchmarkServerRequest(b *testing.B) {
	dns := dnstest.Start(b, testZone)
	r, err := auth.NewDNSResolver(auth.DNSConfig{Servers: []string{dns.Addr}})
	if err != nil {
		b.Fatal(err)
	}
	s := New(ServerConfig{Config: Config{Hostname: "mx.example.test"}}, nil, r)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(l)
	defer s.Shutdown(context.Background())
	c, br := dial(b, l.Addr().String())
	defer c.Close()
	c.SetDeadline(time.Time{})
	req := rcptRequest("192.0.2.10", "mail.client.test", "a@pass.test", "bob@example.test")
	b.ResetTimer()
	for i := range b.N {
		req["instance"] = fmt.Sprint(i)
		if got := ask(b, c, br, req); !strings.HasPrefix(got, "PREPEND Received-SPF: pass") {
			b.Fatalf("reply %q", got)
		}
	}
}
