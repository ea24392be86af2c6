package milter

import (
	"bytes"
	"encoding/binary"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
)

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestClientDisconnects: an MTA that goes away mid-transaction (after the
// headers, mid-body, before end of data) leaves no session behind, and
// the server goes on serving.
func TestClientDisconnects(t *testing.T) {
	checker := &fakeChecker{}
	s, addr := startServer(t, Config{}, nil, checker)
	for stage := range 3 {
		c := gomilter.NewClient("tcp", addr)
		ss, err := c.Session(gomilter.NewMacroBag())
		if err != nil {
			t.Fatal(err)
		}
		ss.Conn("client.test", gomilter.FamilyInet, 25, "192.0.2.1")
		ss.Helo("client.test")
		ss.Mail("<a@x.test>", "")
		ss.Rcpt("<b@y.test>", "")
		ss.DataStart()
		ss.HeaderField("Subject", " cut short", nil)
		if stage > 0 {
			ss.HeaderEnd()
			ss.BodyChunk([]byte("half a bo"))
		}
		if stage > 1 {
			ss.BodyChunk([]byte("dy\r\n"))
		}
		ss.Close()
	}
	// A connection dropped before negotiating, and one mid-packet.
	rawDial(t, addr).Close()
	raw := rawDial(t, addr)
	raw.Write([]byte{0, 0, 0, 100, 'O', 0, 0})
	raw.Close()
	waitFor(t, "sessions to end", func() bool { return s.Sessions() == 0 })
	if _, act := exchange(t, addr, "192.0.2.1", "", testMsg); act.Type != gomilter.ActionAccept {
		t.Fatalf("after disconnects: %v", act)
	}
	if len(checker.envs) != 1 {
		t.Fatalf("checked %d messages; want only the complete one", len(checker.envs))
	}
}

// TestConcurrentSessions: 100 MTA connections at once, each signing or
// checking a message.
func TestConcurrentSessions(t *testing.T) {
	signer, _ := testSigner(t)
	checker := &fakeChecker{score: 1}
	s, addr := startServer(t, Config{SignNetworks: loopbackNet()}, signer, checker)
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := "192.0.2.1"
			if i%2 == 0 {
				ip = "10.0.0.1"
			}
			c := gomilter.NewClient("tcp", addr)
			ss, err := c.Session(gomilter.NewMacroBag())
			if err != nil {
				errs <- err.Error()
				return
			}
			defer ss.Close()
			ss.Conn("client.test", gomilter.FamilyInet, 25, ip)
			ss.Helo("client.test")
			ss.Mail("<alice@example.test>", "")
			ss.Rcpt("<b@y.test>", "")
			ss.DataStart()
			ss.HeaderField("From", " alice@example.test", nil)
			ss.HeaderField("Subject", " concurrent", nil)
			ss.HeaderEnd()
			ss.BodyChunk([]byte("body\r\n"))
			mods, act, err := ss.End()
			switch {
			case err != nil:
				errs <- err.Error()
			case act.Type != gomilter.ActionAccept:
				errs <- act.String()
			case len(mods) == 0:
				errs <- "no modifications"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if len(checker.envs) != 50 {
		t.Errorf("checked %d, want 50", len(checker.envs))
	}
	waitFor(t, "sessions to end", func() bool { return s.Sessions() == 0 })
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestNoLeaks: 10,000 sessions, some complete and some cut off, leave the
// goroutine and file descriptor counts where they were.
func TestNoLeaks(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	checker := &fakeChecker{}
	s, addr := startServer(t, Config{}, nil, checker)
	exchange(t, addr, "192.0.2.1", "", testMsg) // warm up the server's pools
	runtime.GC()
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)
	body := []byte("body\r\n")
	for i := range n {
		c := gomilter.NewClient("tcp", addr)
		ss, err := c.Session(gomilter.NewMacroBag())
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		ss.Conn("client.test", gomilter.FamilyInet, 25, "192.0.2.1")
		ss.Helo("client.test")
		ss.Mail("<a@x.test>", "")
		ss.Rcpt("<b@y.test>", "")
		ss.DataStart()
		ss.HeaderField("Subject", " leak test", nil)
		if i%3 != 0 {
			ss.HeaderEnd()
			ss.BodyChunk(body)
			if _, act, err := ss.End(); err != nil || act.Type != gomilter.ActionAccept {
				t.Fatalf("session %d: %v %v", i, act, err)
			}
		}
		ss.Close()
	}
	waitFor(t, "sessions to end", func() bool { return s.Sessions() == 0 })
	var g, fd int
	waitFor(t, "goroutines and descriptors back to baseline", func() bool {
		runtime.GC()
		g, fd = runtime.NumGoroutine(), openFDs(t)
		return g <= baseG+2 && fd <= baseFD+2
	})
	t.Logf("%d sessions: goroutines %d → %d, fds %d → %d", n, baseG, g, baseFD, fd)
	checker.mu.Lock()
	defer checker.mu.Unlock()
	if want := n - (n+2)/3 + 1; len(checker.envs) != want {
		t.Errorf("checked %d, want %d", len(checker.envs), want)
	}
}

// FuzzPackets: whatever an MTA sends after a good negotiation, the
// server neither crashes nor hangs, and goes on serving others.
func FuzzPackets(f *testing.F) {
	f.Add([]byte("C" + "client\x004\x00\x19127.0.0.1\x00"))
	f.Add([]byte("Mfrom@x\x00"))
	f.Add([]byte("LSubject\x00 hi\x00"))
	f.Add([]byte("Bbody"))
	f.Add([]byte("E"))
	f.Add([]byte("\xff\xff\xff\xff"))
	_, addr := startServer(f, Config{MaxMessageSize: 1 << 16}, nil, &fakeChecker{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := rawDial(t, addr)
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		// Negotiation: version 6, every action and protocol option.
		neg := []byte{'O', 0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0x1f, 0xff, 0xff}
		writePacket(c, neg)
		var hdr [4]byte
		if _, err := c.Read(hdr[:]); err != nil {
			t.Fatalf("no negotiation reply: %v", err)
		}
		// The fuzz data as packets: a length prefix each, cut where the
		// data says.
		for len(data) > 0 {
			n := int(data[0]%64) + 1
			n = min(n, len(data))
			writePacket(c, data[:n])
			data = data[n:]
		}
	})
}

func writePacket(c interface{ Write([]byte) (int, error) }, p []byte) {
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(p)))
	c.Write(append(l[:], p...))
}

// FuzzReadPacket: the packet reader never panics, and what it accepts is
// one whole packet whose length prefix is right.
func FuzzReadPacket(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 2, 'C', 'x'})
	f.Add([]byte{0, 0, 0, 5, 'C', 'h', 0, '4', 0})
	f.Add([]byte{0, 0, 0, 3, 'M', 'a', 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		pkt, err := readPacket(bytes.NewReader(data))
		if err != nil {
			return
		}
		if n := binary.BigEndian.Uint32(pkt); int(n) != len(pkt)-4 || !bytes.HasPrefix(data, pkt) {
			t.Fatalf("readPacket(%q) = %q", data, pkt)
		}
	})
}
