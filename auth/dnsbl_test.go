package auth

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"
)

func TestDNSBLQuery(t *testing.T) {
	for _, tc := range []struct{ ip, zone, want string }{
		{"192.0.2.99", "zen.example.org", "99.2.0.192.zen.example.org"},
		{"192.0.2.99", "zen.example.org.", "99.2.0.192.zen.example.org"},
		{"::ffff:192.0.2.99", "bl.example", "99.2.0.192.bl.example"},
		// RFC 5782 §2.4's example.
		{"2001:db8:1:2:3:4:567:89ab", "ugly.example.com",
			"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com"},
	} {
		if got := dnsblQuery(net.ParseIP(tc.ip), tc.zone); got != tc.want {
			t.Errorf("dnsblQuery(%s, %q) = %q, want %q", tc.ip, tc.zone, got, tc.want)
		}
	}
}

func TestMatchSubtest(t *testing.T) {
	for _, tc := range []struct {
		addr, test string
		want       bool
	}{
		{"127.0.0.2", "127.0.0.2", true},
		{"127.0.0.3", "127.0.0.2", false},
		{"127.0.0.4", `^127\.0\.0\.[4567]$`, true},
		{"127.0.0.10", `^127\.0\.0\.[4567]$`, false},
		{"127.0.0.10", `^127\.0\.0\.1[01]$`, true},
		{"127.0.0.6", "4", true}, // bitmask
		{"127.0.0.6", "8", false},
		{"127.0.0.1", "1", true},
		{"10.0.0.1", "1", false}, // bitmask only inside 127/8
		{"127.0.1.255", "127.0.1.255", true},
	} {
		if got := MatchSubtest(tc.addr, tc.test); got != tc.want {
			t.Errorf("MatchSubtest(%q, %q) = %v, want %v", tc.addr, tc.test, got, tc.want)
		}
	}
}

const dnsblZone = `
99.2.0.192.zen.example.org.   A 127.0.0.2
99.2.0.192.zen.example.org.   A 127.0.0.4
99.2.0.192.rbl.example.net.   A 127.0.0.6
99.2.0.192.odd.example.net.   A 10.0.0.1
b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.zen.example.org. A 127.0.0.3
`

func TestDNSBL(t *testing.T) {
	srv := startZone(t, dnsblZone)
	srv.Timeout("99.2.0.192.slow.example.com")
	srv.ServFail("99.2.0.192.broken.example.com")
	r := testResolver(t, srv.Addr)
	lists := []DNSBL{
		{Set: "zen", Zone: "zen.example.org", Subtests: []DNSBLSubtest{
			{Name: "RCVD_IN_SBL", Test: "127.0.0.2"},
			{Name: "RCVD_IN_SBL_CSS", Test: "127.0.0.3"},
			{Name: "RCVD_IN_XBL", Test: `^127\.0\.0\.[4567]$`},
		}},
		{Set: "rblplus", Zone: "rbl.example.net", Subtests: []DNSBLSubtest{
			{Name: "RSS", Test: "4"}, {Name: "OPS", Test: "8"},
		}},
		{Set: "odd", Zone: "odd.example.net"},
		{Set: "slow", Zone: "slow.example.com"},
		{Set: "broken", Zone: "broken.example.com"},
		{Set: "clean", Zone: "clean.example.com"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	hits, errs := checkDNSBL(ctx, r, net.ParseIP("192.0.2.99"), lists, 10)
	if len(hits) != 2 {
		t.Fatalf("checkDNSBL = %+v, want zen and rblplus hits", hits)
	}
	if h := hits[0]; h.Set != "zen" || !slices.Equal(h.Subtests, []string{"RCVD_IN_SBL", "RCVD_IN_XBL"}) ||
		h.Query != "99.2.0.192.zen.example.org" || len(h.Addrs) != 2 {
		t.Errorf("zen hit = %+v", h)
	}
	if h := hits[1]; h.Set != "rblplus" || !slices.Equal(h.Subtests, []string{"RSS"}) {
		t.Errorf("rblplus hit = %+v", h)
	}
	// The timeout and the SERVFAIL are errors, not hits.
	if len(errs) != 2 {
		t.Errorf("checkDNSBL errors = %v, want 2 (timeout, SERVFAIL)", errs)
	}

	// IPv6, nibble format.
	hits, _ = checkDNSBL(context.Background(), r, net.ParseIP("2001:db8:1:2:3:4:567:89ab"), lists[:1], 10)
	if len(hits) != 1 || !slices.Equal(hits[0].Subtests, []string{"RCVD_IN_SBL_CSS"}) {
		t.Errorf("checkDNSBL(IPv6) = %+v, want RCVD_IN_SBL_CSS", hits)
	}

	// Bounded count: only the first list is asked.
	before := srv.Queries()
	checkDNSBL(context.Background(), r, net.ParseIP("192.0.2.1"), lists, 1)
	if q := srv.Queries() - before; q != 1 {
		t.Errorf("checkDNSBL with max 1 sent %d queries, want 1", q)
	}
	// Private and loopback clients are not looked up.
	if hits, _ := checkDNSBL(context.Background(), r, net.ParseIP("10.1.2.3"), lists, 10); hits != nil {
		t.Errorf("checkDNSBL(10.1.2.3) = %+v, want nothing", hits)
	}
}
