package outbound

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
)

// scriptedRelay is a line-level SMTP server on 127.0.0.1:0 that offers
// XFORWARD, records the commands it gets, and hangs up instead of
// answering the command named by dropAt.
type scriptedRelay struct {
	addr   string
	dropAt string

	mu   sync.Mutex
	cmds []string
	msgs int
}

func startScriptedRelay(t *testing.T, dropAt string) *scriptedRelay {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s := &scriptedRelay{addr: l.Addr().String(), dropAt: dropAt}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *scriptedRelay) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	c.Write([]byte("220 relay.test ESMTP\r\n"))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		s.mu.Lock()
		s.cmds = append(s.cmds, line)
		s.mu.Unlock()
		if verb == s.dropAt {
			return
		}
		switch verb {
		case "EHLO":
			c.Write([]byte("250-relay.test\r\n250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT\r\n250 8BITMIME\r\n"))
		case "DATA":
			c.Write([]byte("354 go ahead\r\n"))
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			s.mu.Lock()
			s.msgs++
			s.mu.Unlock()
			if s.dropAt == "." {
				return
			}
			c.Write([]byte("250 2.0.0 queued\r\n"))
		case "QUIT":
			c.Write([]byte("221 bye\r\n"))
			return
		default:
			c.Write([]byte("250 ok\r\n"))
		}
	}
}

func (s *scriptedRelay) got() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...), s.msgs
}

// TestQuitFailsAfterData: a relay that accepted the final dot and then
// hangs up at QUIT has the message; Submit reports it delivered, so that
// nobody sends it again. A hang-up before the final reply is temporary.
func TestQuitFailsAfterData(t *testing.T) {
	msg := []byte("From: a@example.org\r\n\r\nhi\r\n")
	fwd := Forwarded{Addr: "192.0.2.1", Name: "client.example", Helo: "helo name", Ident: "4XyzQ1"}

	s := startScriptedRelay(t, "QUIT")
	if err := NewRelay(RelayConfig{Addr: s.addr}).SubmitForwarded(bg(), "a@example.org", []string{"b@example.net"}, fwd, msg); err != nil {
		t.Fatalf("SubmitForwarded(relay drops at QUIT) = %v, want nil: the message was accepted", err)
	}
	cmds, msgs := s.got()
	if msgs != 1 {
		t.Errorf("relay got %d messages, want 1", msgs)
	}
	want := "XFORWARD ADDR=192.0.2.1 NAME=client.example HELO=helo+20name IDENT=4XyzQ1"
	if len(cmds) < 2 || cmds[1] != want {
		t.Errorf("commands = %q, want %q after EHLO", cmds, want)
	}

	s = startScriptedRelay(t, ".")
	if err := NewRelay(RelayConfig{Addr: s.addr}).Submit(bg(), "a@example.org", []string{"b@example.net"}, msg); !IsTemporary(err) {
		t.Errorf("Submit(relay drops before the final reply) = %v, want temporary", err)
	}
	if cmds, _ := s.got(); len(cmds) > 0 && strings.HasPrefix(cmds[1], "XFORWARD") {
		t.Errorf("Submit sent %q, want no XFORWARD without SubmitForwarded", cmds[1])
	}
}
