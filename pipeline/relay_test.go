package pipeline

import (
	"bufio"
	"context"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

// TestRelayQuitDropped: a next hop that accepts the message and hangs up
// at QUIT has it. Relay answers 250 (nil), so Postfix does not send it
// again, and the next hop saw one message.
func TestRelayQuitDropped(t *testing.T) {
	addr, msgs, _ := nextHop(t)
	r := &Relay{Pipeline: New(Config{}, quietLog()), NextHop: addr, Hostname: "filter.test"}
	env := &mail.Envelope{MailFrom: "a@example.org", Recipients: []string{"b@example.net"}, ClientIP: net.ParseIP("192.0.2.1"), ClientHelo: "client.example"}
	if err := r.Relay(context.Background(), env, []byte("Subject: hi\r\n\r\nbody\r\n")); err != nil {
		t.Fatalf("Relay(next hop drops at QUIT) = %v, want nil: the message was accepted", err)
	}
	if n := msgs.Load(); n != 1 {
		t.Errorf("next hop got %d messages, want 1", n)
	}
}

// nextHop starts a loopback SMTP server that accepts every message and
// hangs up at QUIT without 221. It counts the messages and their bytes.
func nextHop(t *testing.T) (string, *atomic.Int64, *atomic.Int64) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var msgs, size atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReaderSize(c, 64<<10)
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
						// ReadSlice: the sink runs in the test's process and
						// must not allocate per line.
						for {
							b, err := r.ReadSlice('\n')
							if err != nil {
								return
							}
							if string(b) == ".\r\n" {
								break
							}
							size.Add(int64(len(b)))
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
	return l.Addr().String(), &msgs, &size
}

// TestRelayMemory: the SMTP filter sends the new header and the body as
// received without joining them, so relaying a 20 MiB message allocates
// less than half the message (it had built the whole copy first).
func TestRelayMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("relays a 20 MiB message")
	}
	addr, msgs, size := nextHop(t)
	r := &Relay{Pipeline: New(Config{}, quietLog()), NextHop: addr, Hostname: "filter.test"}
	env := &mail.Envelope{MailFrom: "a@example.org", Recipients: []string{"b@example.net"}}
	if err := r.Relay(context.Background(), env, bigMessage(1000)); err != nil {
		t.Fatal(err)
	}
	raw := bigMessage(20 << 20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := r.Relay(context.Background(), env, raw)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Relay(%d MiB) allocated %.1f MiB = %.2fx", len(raw)>>20, float64(alloc)/(1<<20), float64(alloc)/float64(len(raw)))
	if alloc > uint64(len(raw))/2 {
		t.Errorf("Relay(%d bytes) allocated %d bytes, want less than half the message", len(raw), alloc)
	}
	if msgs.Load() != 2 || size.Load() < int64(len(raw)) {
		t.Errorf("next hop got %d messages, %d bytes; want 2 and at least %d", msgs.Load(), size.Load(), len(raw))
	}
}
