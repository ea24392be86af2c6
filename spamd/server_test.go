package spamd

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeScanner answers from the message text: "spam" in it is spam.
type fakeScanner struct {
	mu      sync.Mutex
	learned map[string]string // message → class
	users   []string
	block   chan struct{} // when set, Scan waits for it
}

func (f *fakeScanner) Scan(ctx context.Context, req *Request) (*Result, error) {
	f.mu.Lock()
	f.users = append(f.users, req.User)
	block := f.block
	f.mu.Unlock()
	if block != nil && bytes.Contains(req.Message, []byte("BLOCK")) {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	msg := string(req.Message)
	switch {
	case strings.Contains(msg, "PANIC"):
		panic("scanner exploded")
	case strings.Contains(msg, "FAIL"):
		return nil, errors.New("store down")
	}
	res := &Result{Required: 5, Score: 1.04, Symbols: []string{"A_RULE", "B_RULE"}}
	if strings.Contains(msg, "spam") {
		res.Spam, res.Score = true, 1000
	}
	if strings.Contains(msg, "edge") {
		res.Score = 4.96 // shows as 4.9, never 5.0, for a ham
	}
	if req.WantsReport() {
		res.Report = "the report\n\n"
	}
	if req.WantsMessage() {
		res.Message = append([]byte("X-Spam-Flag: YES\n"), req.Message...)
	}
	return res, nil
}

func (f *fakeScanner) Learn(ctx context.Context, req *Request) (Learned, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.learned == nil {
		f.learned = map[string]string{}
	}
	msg := string(req.Message)
	if req.RemoveLocal {
		_, ok := f.learned[msg]
		delete(f.learned, msg)
		return Learned{DidRemoveLocal: ok}, nil
	}
	if f.learned[msg] == req.Class {
		return Learned{}, nil
	}
	f.learned[msg] = req.Class
	return Learned{DidSetLocal: true}, nil
}

func startServer(t *testing.T, cfg Config, sc Scanner) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(cfg, nil, sc)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// exchange sends req, half-closes and returns everything spamd answered.
func exchange(t *testing.T, addr, req string) string {
	t.Helper()
	out, err := exchangeErr(addr, req)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exchangeErr sends req and reads the reply until the server closes.
func exchangeErr(addr, req string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil {
		return string(out), fmt.Errorf("reading the reply: %w", err)
	}
	return string(out), nil
}

func request(cmd, version, headers, msg string) string {
	return fmt.Sprintf("%s SPAMC/%s\r\n%sContent-length: %d\r\n\r\n%s", cmd, version, headers, len(msg), msg)
}

const hamMsg = "Subject: hi\n\nhello\n"
const spamMsg = "Subject: buy\n\nspam spam\n"

func TestCommands(t *testing.T) {
	addr := startServer(t, Config{}, &fakeScanner{})
	for _, tc := range []struct {
		name, req, want string
	}{
		{"check ham", request(Check, "1.5", "", hamMsg), "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 1.0 / 5.0\r\n\r\n"},
		{"check spam", request(Check, "1.5", "User: alice\r\n", spamMsg), "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"},
		{"check ham at the threshold", request(Check, "1.5", "", "edge"+hamMsg), "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 4.9 / 5.0\r\n\r\n"},
		{"symbols 1.5", request(Symbols, "1.5", "", hamMsg), "SPAMD/1.1 0 EX_OK\r\nContent-length: 13\r\nSpam: False ; 1.0 / 5.0\r\n\r\nA_RULE,B_RULE"},
		{"symbols 1.2", request(Symbols, "1.2", "", hamMsg), "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 1.0 / 5.0\r\n\r\nA_RULE,B_RULE\r\n"},
		{"report", request(Report, "1.5", "", hamMsg), "SPAMD/1.1 0 EX_OK\r\nContent-length: 12\r\nSpam: False ; 1.0 / 5.0\r\n\r\nthe report\n\n"},
		{"report_ifspam ham", request(ReportIfSpam, "1.5", "", hamMsg), "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: No ; 1.0 / 5.0\r\n\r\n"},
		{"report_ifspam spam", request(ReportIfSpam, "1.5", "", spamMsg), "SPAMD/1.1 0 EX_OK\r\nContent-length: 12\r\nSpam: Yes ; 1000.0 / 5.0\r\n\r\nthe report\n\n"},
		{"process 1.5", request(Process, "1.5", "", spamMsg), "SPAMD/1.1 0 EX_OK\r\nContent-length: 41\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nX-Spam-Flag: YES\n" + spamMsg},
		{"process 1.2", request(Process, "1.2", "", spamMsg), "SPAMD/1.1 0 EX_OK\r\nContent-length: 41\r\n\r\nX-Spam-Flag: YES\n" + spamMsg},
		{"process 1.0", "PROCESS SPAMC/1.0\r\n" + spamMsg, "SPAMD/1.0 0 EX_OK\r\nX-Spam-Flag: YES\n" + spamMsg},
		{"headers", request(Headers, "1.5", "", spamMsg), "SPAMD/1.1 0 EX_OK\r\nContent-length: 31\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nX-Spam-Flag: YES\nSubject: buy\n\n"},
		{"ping 1.5", "PING SPAMC/1.5\r\n\r\n", "SPAMD/1.5 0 PONG\r\n"},
		{"ping 1.2", "PING SPAMC/1.2\r\n", "SPAMD/1.5 0 PONG\r\n"},
		{"skip", "SKIP SPAMC/1.5\r\n\r\n", ""},
		{"no content-length", "CHECK SPAMC/1.5\r\n\r\n" + spamMsg, "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"},
		{"bare LF lines", "CHECK SPAMC/1.5\nContent-length: 24\n\n" + spamMsg, "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"},
		{"unknown header ignored", request(Check, "1.5", "X-Whatever: 1\r\n", hamMsg), "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 1.0 / 5.0\r\n\r\n"},
		{"zlib", zlibRequest(Check, spamMsg), "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exchange(t, addr, tc.req); got != tc.want {
				t.Fatalf("reply to %q\n got %q\nwant %q", tc.req, got, tc.want)
			}
		})
	}
}

func zlibRequest(cmd, msg string) string {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	io.WriteString(w, msg)
	w.Close()
	return fmt.Sprintf("%s SPAMC/1.5\r\nCompress: zlib\r\nContent-length: %d\r\n\r\n%s", cmd, z.Len(), z.String())
}

func TestErrors(t *testing.T) {
	addr := startServer(t, Config{MaxMessageSize: 1000}, &fakeScanner{})
	bomb := func() string {
		var z bytes.Buffer
		w := zlib.NewWriter(&z)
		w.Write(make([]byte, 100000))
		w.Close()
		return fmt.Sprintf("CHECK SPAMC/1.5\r\nCompress: zlib\r\nContent-length: %d\r\n\r\n%s", z.Len(), z.String())
	}
	for _, tc := range []struct {
		name, req, want string
	}{
		{"unknown command", "FROB SPAMC/1.5\r\n\r\n", "SPAMD/1.0 76 Bad header line: FROB SPAMC/1.5\r\n"},
		{"not spamc", "GET / HTTP/1.0\r\n\r\n", "SPAMD/1.0 76 Bad header line: GET / HTTP/1.0\r\n"},
		{"empty", "", "SPAMD/1.0 76 Bad header line: (closed before headers)\r\n"},
		{"bad header", "CHECK SPAMC/1.5\r\nnocolon\r\n\r\n", "SPAMD/1.0 76 Bad header line: (header not in 'Name: value' format)\r\n"},
		{"bad length", "CHECK SPAMC/1.5\r\nContent-length: 12x\r\n\r\n", "SPAMD/1.0 76 Bad header line: (Content-Length contains non-numeric bytes)\r\n"},
		{"short body", "CHECK SPAMC/1.5\r\nContent-length: 100\r\n\r\nshort", "SPAMD/1.0 76 Bad header line: (Content-Length mismatch: Expected 100 bytes, got 5 bytes)\r\n"},
		{"eof in headers", "CHECK SPAMC/1.5\r\nUser: a\r\n", "SPAMD/1.0 76 Bad header line: (EOF during headers)\r\n"},
		{"control chars in user", "CHECK SPAMC/1.5\r\nUser: a\x01b\r\n\r\n", "SPAMD/1.0 76 Bad header line: (User header contains control chars)\r\n"},
		{"too big", request(Check, "1.5", "", strings.Repeat("x", 1001)), "SPAMD/1.0 65 Message too big: the limit is 1000 bytes\r\n"},
		{"too big without length", "CHECK SPAMC/1.5\r\n\r\n" + strings.Repeat("x", 1001), "SPAMD/1.0 65 Message too big: the limit is 1000 bytes\r\n"},
		{"zlib bomb", bomb(), "SPAMD/1.0 65 Message too big: the limit is 1000 bytes\r\n"},
		{"zlib without length", "CHECK SPAMC/1.5\r\nCompress: zlib\r\n\r\nxx", "SPAMD/1.0 69 Service Unavailable: Compress requires Content-length header\r\n"},
		{"not zlib", "CHECK SPAMC/1.5\r\nCompress: zlib\r\nContent-length: 2\r\n\r\nxx", "SPAMD/1.0 69 Service Unavailable: zlib: zlib: invalid header\r\n"},
		{"gzip", "CHECK SPAMC/1.5\r\nCompress: gzip\r\n\r\n", "SPAMD/1.0 76 Bad header line: (compression type not supported: gzip)\r\n"},
		{"too many headers", "CHECK SPAMC/1.5\r\n" + strings.Repeat("X: y\r\n", 300), "SPAMD/1.0 76 Bad header line: (too many headers)\r\n"},
		{"long line", "CHECK SPAMC/1.5\r\nX: " + strings.Repeat("y", 9000) + "\r\n\r\n", "SPAMD/1.0 76 Bad header line: (line too long)\r\n"},
		{"scanner fails", request(Check, "1.5", "", "FAIL"), "SPAMD/1.0 75 EX_TEMPFAIL: temporary failure, try again later\r\n"},
		{"scanner panics", request(Check, "1.5", "", "PANIC"), "SPAMD/1.0 70 EX_SOFTWARE: internal error\r\n"},
		{"tell disabled", request(Tell, "1.5", "Message-class: spam\r\nSet: local\r\n", spamMsg), "SPAMD/1.0 69 Service Unavailable: TELL commands are not enabled, set spamd.allow_tell.\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exchange(t, addr, tc.req); got != tc.want {
				t.Fatalf("reply\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	// The server survived the panic.
	if got := exchange(t, addr, "PING SPAMC/1.5\r\n\r\n"); got != "SPAMD/1.5 0 PONG\r\n" {
		t.Fatalf("PING after a panic = %q", got)
	}
}

func TestTell(t *testing.T) {
	sc := &fakeScanner{}
	addr := startServer(t, Config{AllowTell: true}, sc)
	learn := request(Tell, "1.5", "Message-class: spam\r\nSet: local\r\n", spamMsg)
	for _, tc := range []struct {
		name, req, want string
	}{
		{"learn", learn, "SPAMD/1.1 0 EX_OK\r\nDidSet: local\r\n\r\n\r\n"},
		{"learn again", learn, "SPAMD/1.1 0 EX_OK\r\n\r\n\r\n"},
		{"relearn as ham", request(Tell, "1.5", "Message-class: ham\r\nSet: local\r\n", spamMsg), "SPAMD/1.1 0 EX_OK\r\nDidSet: local\r\n\r\n\r\n"},
		{"forget", request(Tell, "1.5", "Remove: local\r\n", spamMsg), "SPAMD/1.1 0 EX_OK\r\nDidRemove: local\r\n\r\n\r\n"},
		{"forget again", request(Tell, "1.5", "Remove: local\r\n", spamMsg), "SPAMD/1.1 0 EX_OK\r\n\r\n\r\n"},
		{"remote only", request(Tell, "1.5", "Message-class: spam\r\nSet: remote\r\n", spamMsg), "SPAMD/1.1 0 EX_OK\r\n\r\n\r\n"},
		{"set and remove", request(Tell, "1.5", "Message-class: spam\r\nSet: local\r\nRemove: local\r\n", spamMsg),
			"SPAMD/1.0 76 Bad header line: Unable to set local and remove local in the same operation.\r\n"},
		{"set without class", request(Tell, "1.5", "Set: local\r\n", spamMsg), "SPAMD/1.0 76 Bad header line: (Set requires a Message-class header)\r\n"},
		{"bad class", request(Tell, "1.5", "Message-class: eggs\r\nSet: local\r\n", spamMsg), "SPAMD/1.0 76 Bad header line: (Message-class header contains invalid class)\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exchange(t, addr, tc.req); got != tc.want {
				t.Fatalf("reply\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestAllowedIPs(t *testing.T) {
	addr := startServer(t, Config{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, &fakeScanner{})
	// Closed unread, the connection may end in a reset rather than EOF;
	// either is a refusal, a reply is not.
	if got, err := exchangeErr(addr, "PING SPAMC/1.5\r\n\r\n"); got != "" || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("a client outside allowed_ips got %q (%v), want the connection closed", got, err)
	}
	s := New(Config{}, nil, &fakeScanner{})
	for _, tc := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, true},
		{&net.TCPAddr{IP: net.ParseIP("::1")}, true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1")}, true},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1")}, false},
		{&net.UnixAddr{Name: "@", Net: "unix"}, true},
	} {
		if got := s.allowed(tc.addr); got != tc.want {
			t.Errorf("default allowed(%v) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// TestMaxConnections: with one slot, a second client waits until the
// first is answered.
func TestMaxConnections(t *testing.T) {
	sc := &fakeScanner{block: make(chan struct{})}
	addr := startServer(t, Config{MaxConnections: 1}, sc)
	first := make(chan string)
	go func() { first <- exchange(t, addr, request(Check, "1.5", "", "BLOCK"+hamMsg)) }()
	for deadline := time.Now().Add(5 * time.Second); ; {
		sc.mu.Lock()
		n := len(sc.users)
		sc.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first request never reached the scanner")
		}
		time.Sleep(10 * time.Millisecond)
	}
	second := make(chan string)
	go func() { second <- exchange(t, addr, "PING SPAMC/1.5\r\n\r\n") }()
	select {
	case got := <-second:
		t.Fatalf("second client answered %q while the only slot was busy", got)
	case <-time.After(300 * time.Millisecond):
	}
	close(sc.block)
	if got := <-first; !strings.Contains(got, "Spam: False") {
		t.Fatalf("first reply %q", got)
	}
	if got := <-second; got != "SPAMD/1.5 0 PONG\r\n" {
		t.Fatalf("second reply %q", got)
	}
}

func TestTimeouts(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		addr := startServer(t, Config{ReadTimeout: 200 * time.Millisecond}, &fakeScanner{})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "CHECK SPAMC/1.5\r\nContent-length: 100\r\n\r\npartial")
		c.SetDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(c)
		if want := "SPAMD/1.0 79 Timeout: (reading the request)\r\n"; string(got) != want {
			t.Fatalf("stalled client got %q, want %q", got, want)
		}
	})
	t.Run("scan", func(t *testing.T) {
		sc := &fakeScanner{block: make(chan struct{})}
		addr := startServer(t, Config{ScanTimeout: 200 * time.Millisecond}, sc)
		got := exchange(t, addr, request(Check, "1.5", "", "BLOCK"+hamMsg))
		if want := "SPAMD/1.0 79 Timeout: (0 second timeout while trying to CHECK)\r\n"; got != want {
			t.Fatalf("slow scan got %q, want %q", got, want)
		}
	})
}

func TestUserHeader(t *testing.T) {
	sc := &fakeScanner{}
	addr := startServer(t, Config{}, sc)
	exchange(t, addr, request(Check, "1.5", "User: alice@example.org\r\n", hamMsg))
	exchange(t, addr, request(Check, "1.5", "", hamMsg))
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.users) != 2 || sc.users[0] != "alice@example.org" || sc.users[1] != "" {
		t.Fatalf("scanner saw users %q, want [alice@example.org \"\"]", sc.users)
	}
}

func TestPerlNumber(t *testing.T) {
	for in, want := range map[string]float64{"1.5": 1.5, "1.2": 1.2, "1": 1, "1.": 1, "x": 0, "": 0, "2.0beta": 2, "1.5.1": 1.5} {
		if got := perlNumber(in); got != want {
			t.Errorf("perlNumber(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestHeaderSection(t *testing.T) {
	for in, want := range map[string]string{
		"A: 1\nB: 2\n\nbody\n\nmore": "A: 1\nB: 2\n\n",
		"A: 1\r\n\r\nbody":           "A: 1\r\n\r\n",
		"A: 1\n":                     "A: 1\n",
	} {
		if got := string(headerSection([]byte(in))); got != want {
			t.Errorf("headerSection(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMaxBytesInFlight: while one request holds 800 of 1000 bytes, a
// second of 800 is told to retry before its message is read.
func TestMaxBytesInFlight(t *testing.T) {
	sc := &fakeScanner{block: make(chan struct{})}
	addr := startServer(t, Config{MaxMessageSize: 1000, MaxBytesInFlight: 1000}, sc)
	msg := strings.Repeat("x", 800)
	first := make(chan string)
	go func() { first <- exchange(t, addr, request(Check, "1.5", "", "BLOCK"+msg[5:])) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		sc.mu.Lock()
		n := len(sc.users)
		sc.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first request never reached the scanner")
		}
	}
	if got, want := exchange(t, addr, request(Check, "1.5", "", msg)), "SPAMD/1.0 75 EX_TEMPFAIL: too much mail in flight, try again later\r\n"; got != want {
		t.Fatalf("second request got %q, want %q", got, want)
	}
	if got := exchange(t, addr, request(Check, "1.5", "", "small")); !strings.Contains(got, "EX_OK") {
		t.Fatalf("a small request beside it got %q", got)
	}
	close(sc.block)
	<-first
	if got := exchange(t, addr, request(Check, "1.5", "", msg)); !strings.Contains(got, "EX_OK") {
		t.Fatalf("after the first ended, the same request got %q", got)
	}
}

// TestDebianSpamcRequests: requests Debian's spamc 4.0.1 sent (captured
// from spamc -c, -L spam, -K, -y -u) parse as protocol 1.5 with their
// headers.
func TestDebianSpamcRequests(t *testing.T) {
	for _, tc := range []struct {
		file, cmd, user, class string
		setLocal               bool
		length                 int64
	}{
		{"spamc-check.req", Check, "root", "", false, 600},
		{"spamc-learn.req", Tell, "root", "spam", true, 600},
		{"spamc-ping.req", Ping, "", "", false, -1},
		{"spamc-symbols_user.req", Symbols, "alice@example.org", "", false, 600},
	} {
		raw, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		req, err := ReadRequest(bufio.NewReader(bytes.NewReader(raw)), 1<<20)
		if err != nil {
			t.Fatalf("ReadRequest(%s) = %v", tc.file, err)
		}
		if req.Command != tc.cmd || req.Version != "1.5" || req.User != tc.user || req.Class != tc.class ||
			req.SetLocal != tc.setLocal || req.ContentLength != tc.length || int64(len(req.Message)) != max(tc.length, 0) {
			t.Errorf("ReadRequest(%s) = %+v (message %d bytes)", tc.file, *req, len(req.Message))
		}
	}
}
