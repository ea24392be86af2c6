package auth

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/dnstest"
)

func TestFCrDNS(t *testing.T) {
	srv := dnstest.Start(t, `
10.2.0.192.in-addr.arpa. PTR good.test.
good.test. A 192.0.2.10
11.2.0.192.in-addr.arpa. PTR liar.test.
11.2.0.192.in-addr.arpa. PTR second.test.
liar.test. A 192.0.2.99
second.test. A 192.0.2.11
12.2.0.192.in-addr.arpa. PTR liar.test.
13.2.0.192.in-addr.arpa. PTR slow.test.
`)
	srv.Timeout("slow.test")
	r, err := NewDNSResolver(DNSConfig{Servers: []string{srv.Addr}, Timeout: 100 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip, want string
		err      error // nil, ErrNoFCrDNS, or ErrTimeout for a DNS failure
	}{
		{"192.0.2.10", "good.test", nil},
		{"192.0.2.11", "second.test", nil},
		{"192.0.2.12", "", ErrNoFCrDNS},
		{"192.0.2.14", "", ErrNoFCrDNS},
		{"192.0.2.13", "", ErrTimeout},
	} {
		got, err := FCrDNS(context.Background(), r, net.ParseIP(tc.ip))
		if got != tc.want || (tc.err == nil) != (err == nil) || tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("FCrDNS(%s) = %q, %v; want %q, %v", tc.ip, got, err, tc.want, tc.err)
		}
	}
}
