package pipeline

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

// TestRelayQuitDropped: a next hop that accepts the message and hangs up
// at QUIT has it. Relay answers 250 (nil), so Postfix does not send it
// again, and the next hop saw one message.
func TestRelayQuitDropped(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var msgs atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				c.Write([]byte("220 next.hop ESMTP\r\n"))
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
					case "EHLO":
						c.Write([]byte("250-next.hop\r\n250 XFORWARD NAME ADDR HELO IDENT\r\n"))
					case "DATA":
						c.Write([]byte("354 go ahead\r\n"))
						for line != ".\r\n" {
							if line, err = r.ReadString('\n'); err != nil {
								return
							}
						}
						msgs.Add(1)
						c.Write([]byte("250 2.0.0 queued\r\n"))
					case "QUIT":
						return // hang up without 221
					default:
						c.Write([]byte("250 ok\r\n"))
					}
				}
			}()
		}
	}()
	r := &Relay{Pipeline: New(Config{}, quietLog()), NextHop: l.Addr().String(), Hostname: "filter.test"}
	env := &mail.Envelope{MailFrom: "a@example.org", Recipients: []string{"b@example.net"}, ClientIP: net.ParseIP("192.0.2.1"), ClientHelo: "client.example"}
	if err := r.Relay(context.Background(), env, []byte("Subject: hi\r\n\r\nbody\r\n")); err != nil {
		t.Fatalf("Relay(next hop drops at QUIT) = %v, want nil: the message was accepted", err)
	}
	if n := msgs.Load(); n != 1 {
		t.Errorf("next hop got %d messages, want 1", n)
	}
}
