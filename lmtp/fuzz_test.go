package lmtp

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptConn is a connection whose client side is a fixed input.
type scriptConn struct {
	r      io.Reader
	addr   net.Addr
	once   sync.Once
	closed chan struct{}
}

func (c *scriptConn) Read(p []byte) (int, error)      { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)     { return len(p), nil }
func (c *scriptConn) Close() error                    { c.once.Do(func() { close(c.closed) }); return nil }
func (c *scriptConn) LocalAddr() net.Addr             { return c.addr }
func (c *scriptConn) RemoteAddr() net.Addr            { return c.addr }
func (c *scriptConn) SetDeadline(time.Time) error     { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error {
	return nil
}

// oneListener hands out one connection, then waits to be closed.
type oneListener struct {
	c    net.Conn
	once sync.Once
	done chan struct{}
}

func (l *oneListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}
func (l *oneListener) Close() error   { return nil }
func (l *oneListener) Addr() net.Addr { return l.c.LocalAddr() }

type delivered struct {
	From  string
	Rcpts []string
	Data  string
	Helo  string
	QID   string
}

// serveScript runs one LMTP connection whose client sends input, through
// the connection layer or (raw) straight into go-smtp, and returns what
// the backend got.
func serveScript(t *testing.T, input []byte, raw bool) []delivered {
	b := &fakeBackend{}
	s := New(Config{Hostname: "mx.test"}, slog.New(slog.NewTextHandler(io.Discard, nil)), b)
	c := &scriptConn{r: bytes.NewReader(input), addr: &net.UnixAddr{Name: "@", Net: "unix"}, closed: make(chan struct{})}
	l := &oneListener{c: c, done: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if raw {
			s.srv.Serve(l)
		} else {
			s.Serve(l)
		}
	}()
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("connection not finished after 10s; input %q", input)
	}
	close(l.done)
	s.srv.Close()
	<-served
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []delivered
	for i, e := range b.got {
		out = append(out, delivered{From: e.MailFrom, Rcpts: e.Recipients, Data: string(b.data[i]), Helo: e.ClientHelo, QID: e.QueueID})
	}
	return out
}

// FuzzXForward feeds arbitrary client input through the XFORWARD reader
// and go-smtp. It must never hang or panic, never let a control character
// into an XFORWARD attribute, and, on input without XFORWARD or over-long
// lines, deliver exactly what go-smtp alone delivers: the layer is
// transparent, in and out of DATA, after refused commands and with BDAT.
func FuzzXForward(f *testing.F) {
	f.Add([]byte("LHLO mx\r\nXFORWARD NAME=c ADDR=192.0.2.1 PORT=1\r\nXFORWARD HELO=h IDENT=Q SOURCE=REMOTE\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\nSubject: x\r\n\r\nXFORWARD HELO=evil\r\n.\r\nQUIT\r\n"))
	f.Add([]byte("LHLO mx\r\nMAIL FROM:<s@x>\r\nRCPT TO:<bad@x>\r\nDATA\r\nMAIL FROM:<t@x>\r\nRCPT TO:<a@x>\r\nDATA\r\nbody\r\n.\r\n"))
	f.Add([]byte("LHLO mx\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nBDAT 12 LAST\r\nDATA\r\n.\r\n\r\nRSET\r\n"))
	f.Add([]byte("LHLO mx\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\nx\n.\r\n..\r\n.\n\r\n.\r\nNOOP\r\n"))
	f.Fuzz(func(t *testing.T, input []byte) {
		got := serveScript(t, input, false)
		for _, d := range got {
			if hasControl(d.Helo) || hasControl(d.QID) {
				t.Fatalf("XFORWARD attribute with a control character: %+v", d)
			}
		}
		if bytes.Contains(bytes.ToUpper(input), []byte("XFORWARD")) {
			return
		}
		for _, line := range bytes.Split(input, []byte("\n")) {
			if len(line) >= maxCommandLine-1 {
				return
			}
		}
		if want := serveScript(t, input, true); !reflect.DeepEqual(got, want) {
			t.Fatalf("input %q\nthrough the XFORWARD reader: %+v\ngo-smtp alone: %+v", input, got, want)
		}
	})
}

// TestXForwardSeedsTransparent keeps the fuzz seeds' meaning in plain
// test runs: the first delivers with XFORWARD attributes, the message
// content that looks like XFORWARD stays content.
func TestXForwardSeedsTransparent(t *testing.T) {
	in := "LHLO mx\r\nXFORWARD HELO=h IDENT=Q\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\nSubject: x\r\n\r\nXFORWARD HELO=evil\r\n.\r\n"
	got := serveScript(t, []byte(in), false)
	if len(got) != 1 || got[0].Helo != "h" || got[0].QID != "Q" || !strings.Contains(got[0].Data, "XFORWARD HELO=evil") {
		t.Fatalf("serveScript(%q) = %+v", in, got)
	}
}
