package dnstest

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func exchange(t *testing.T, addr, netw, name string, qtype uint16) (*dns.Msg, error) {
	t.Helper()
	c := &dns.Client{Net: netw, Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := c.Exchange(m, addr)
	return r, err
}

func TestServer(t *testing.T) {
	s := Start(t, `
a.example.com. A 192.0.2.1
c.example.com. CNAME a.example.com.
x.y.example.com. TXT "deep"
loop1.example. CNAME loop2.example.
loop2.example. CNAME loop1.example.
`)
	s.ServFail("bad.example.com")
	s.Timeout("slow.example.com", dns.TypeTXT)
	for _, tc := range []struct {
		name    string
		qtype   uint16
		rcode   int
		answers int
	}{
		{"a.example.com", dns.TypeA, dns.RcodeSuccess, 1},
		{"A.EXAMPLE.COM", dns.TypeA, dns.RcodeSuccess, 1},
		{"a.example.com", dns.TypeTXT, dns.RcodeSuccess, 0},
		{"c.example.com", dns.TypeA, dns.RcodeSuccess, 2},
		{"y.example.com", dns.TypeTXT, dns.RcodeSuccess, 0},
		{"nx.example.com", dns.TypeA, dns.RcodeNameError, 0},
		{"bad.example.com", dns.TypeA, dns.RcodeServerFailure, 0},
		{"loop1.example", dns.TypeA, dns.RcodeServerFailure, 0},
		{"slow.example.com", dns.TypeA, dns.RcodeNameError, 0},
	} {
		for _, netw := range []string{"udp", "tcp"} {
			r, err := exchange(t, s.Addr, netw, tc.name, tc.qtype)
			if err != nil {
				t.Errorf("%s %s %s: %v", netw, tc.name, dns.TypeToString[tc.qtype], err)
				continue
			}
			if r.Rcode != tc.rcode || len(r.Answer) != tc.answers {
				t.Errorf("%s %s %s = rcode %d, %d answers, want %d, %d",
					netw, tc.name, dns.TypeToString[tc.qtype], r.Rcode, len(r.Answer), tc.rcode, tc.answers)
			}
		}
	}
	if _, err := exchange(t, s.Addr, "udp", "slow.example.com", dns.TypeTXT); err == nil {
		t.Errorf("query for a timed-out name was answered")
	}
}
