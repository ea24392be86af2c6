package main

import (
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestNXServer(t *testing.T) {
	s, err := startNX()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, net := range []string{"udp", "tcp"} {
		q := new(dns.Msg)
		q.SetQuestion("juno.com.", dns.TypeTXT)
		q.SetEdns0(4096, false)
		c := &dns.Client{Net: net, Timeout: 5 * time.Second}
		r, _, err := c.Exchange(q, s.Addr)
		if err != nil {
			t.Fatalf("%s: %v", net, err)
		}
		if r.Rcode != dns.RcodeNameError || !r.RecursionAvailable || r.IsEdns0() == nil {
			t.Fatalf("%s: answer %v, want NXDOMAIN with RA and OPT", net, r)
		}
	}
}

func TestTreeCPU(t *testing.T) {
	// Burn a little CPU so the reading is not zero at 10 ms resolution.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	got, err := treeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self, _ := selfCPU()
	if got <= 0 || got > self+time.Second {
		t.Fatalf("treeCPU(self) = %v, rusage says %v", got, self)
	}
	if _, err := treeCPU(1 << 30); err == nil {
		t.Fatal("treeCPU(no such process) succeeded")
	}
}
