package auth

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const resolverZone = `
a.example.com.      60 A     192.0.2.1
a.example.com.      60 AAAA  2001:db8::1
a.example.com.      60 TXT   "one" "two"
v4.example.com.        A     192.0.2.2
alias.example.com.     CNAME a.example.com.
example.com.           MX    10 mx.example.com.
deep.sub.example.com.  A     192.0.2.3
1.2.0.192.in-addr.arpa. PTR  a.example.com.
`

func TestResolverLookups(t *testing.T) {
	srv := startZone(t, resolverZone)
	srv.ServFail("servfail.example.com")
	srv.Timeout("timeout.example.com")
	// A TXT record too large for a 1232-octet UDP answer: TCP fallback.
	srv.AddTXT("big.example.com", strings.Repeat("x", 3000), 60)
	r := testResolver(t, srv.Addr)
	ctx := context.Background()

	txt, err := r.LookupTXT(ctx, "a.example.com")
	if err != nil || len(txt) != 1 || txt[0] != "onetwo" {
		t.Errorf("LookupTXT(a) = %q, %v, want [onetwo]", txt, err)
	}
	ips, err := r.LookupIP(ctx, "ip", "alias.example.com")
	if err != nil || len(ips) != 2 {
		t.Errorf("LookupIP(alias) = %v, %v, want 2 addresses via CNAME", ips, err)
	}
	ips, err = r.LookupIP(ctx, "ip", "v4.example.com")
	if err != nil || len(ips) != 1 || !ips[0].Equal(net.ParseIP("192.0.2.2")) {
		t.Errorf("LookupIP(v4) = %v, %v, want [192.0.2.2] despite NODATA for AAAA", ips, err)
	}
	mx, err := r.LookupMX(ctx, "example.com")
	if err != nil || len(mx) != 1 || mx[0].Host != "mx.example.com." || mx[0].Pref != 10 {
		t.Errorf("LookupMX = %v, %v", mx, err)
	}
	names, err := r.LookupAddr(ctx, "192.0.2.1")
	if err != nil || len(names) != 1 || names[0] != "a.example.com." {
		t.Errorf("LookupAddr = %q, %v", names, err)
	}
	txt, err = r.LookupTXT(ctx, "big.example.com")
	if err != nil || len(txt) != 1 || len(txt[0]) != 3000 {
		t.Errorf("LookupTXT(big) = %d records, %v, want one of 3000 octets", len(txt), err)
	}

	for _, tc := range []struct {
		name     string
		want     error
		notFound bool
		timeout  bool
		temp     bool
	}{
		{"nx.example.com", ErrNXDomain, true, false, false},
		{"v4.example.com", ErrNoData, true, false, false},
		{"sub.example.com", ErrNoData, true, false, false}, // empty non-terminal
		{"servfail.example.com", ErrServFail, false, false, true},
		{"timeout.example.com", ErrTimeout, false, true, true},
	} {
		_, err := r.LookupTXT(ctx, tc.name)
		var de *net.DNSError
		if !errors.Is(err, tc.want) || !errors.As(err, &de) {
			t.Errorf("LookupTXT(%q) error = %v, want %v as *net.DNSError", tc.name, err, tc.want)
			continue
		}
		if de.IsNotFound != tc.notFound || de.IsTimeout != tc.timeout || de.Temporary() != tc.temp {
			t.Errorf("LookupTXT(%q) = %+v, want IsNotFound %v IsTimeout %v Temporary %v",
				tc.name, de, tc.notFound, tc.timeout, tc.temp)
		}
	}
}

func TestResolverCache(t *testing.T) {
	srv := startZone(t, resolverZone)
	now := time.Unix(1e9, 0)
	r, err := NewDNSResolver(DNSConfig{
		Servers:   []string{srv.Addr},
		Timeout:   time.Second,
		CacheSize: 2,
		Now:       func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lookup := func(name string) {
		t.Helper()
		r.LookupTXT(ctx, name)
	}
	lookup("a.example.com")
	lookup("a.example.com")
	lookup("nx.example.com") // negative answers are cached too
	lookup("nx.example.com")
	if q := srv.Queries(); q != 2 {
		t.Errorf("after repeated lookups: %d queries, want 2", q)
	}
	now = now.Add(61 * time.Second) // a.example.com's TTL is 60
	lookup("a.example.com")
	if q := srv.Queries(); q != 3 {
		t.Errorf("after TTL expiry: %d queries, want 3", q)
	}
	// Size 2: a third name evicts the least recently used (nx).
	lookup("v4.example.com")
	lookup("nx.example.com")
	if q := srv.Queries(); q != 5 {
		t.Errorf("after eviction: %d queries, want 5", q)
	}
	if n := r.lru.Len(); n > 2 {
		t.Errorf("cache holds %d entries, want at most 2", n)
	}
}

func TestResolverDeadline(t *testing.T) {
	srv := startZone(t, "")
	srv.Timeout("slow.example.com")
	r, err := NewDNSResolver(DNSConfig{Servers: []string{srv.Addr}, Timeout: 5 * time.Second, Attempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = r.LookupTXT(ctx, "slow.example.com")
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("LookupTXT(slow) = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("LookupTXT(slow) took %v despite a 100ms ctx deadline", d)
	}
}

func TestResolverResolvConf(t *testing.T) {
	srv := startZone(t, resolverZone)
	host, _, _ := net.SplitHostPort(srv.Addr)
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("nameserver "+host+"\noptions timeout:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := NewDNSResolver(DNSConfig{ResolvConf: path})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.servers) != 1 || r.servers[0] != net.JoinHostPort(host, "53") {
		t.Errorf("servers from resolv.conf = %v, want [%s]", r.servers, net.JoinHostPort(host, "53"))
	}
	if _, err := NewDNSResolver(DNSConfig{ResolvConf: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Errorf("NewDNSResolver(missing resolv.conf) succeeded, want an error")
	}
}

func TestResolverSharesQueries(t *testing.T) {
	srv := startZone(t, resolverZone)
	srv.Delay(100 * time.Millisecond)
	r := testResolver(t, srv.Addr)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := r.LookupTXT(context.Background(), "a.example.com"); err != nil {
				t.Errorf("LookupTXT(a) = %v", err)
			}
		})
	}
	wg.Wait()
	if q := srv.Queries(); q != 1 {
		t.Errorf("10 concurrent lookups sent %d queries, want 1", q)
	}
}

// Both the package's resolver and the standard library's satisfy Resolver.
var (
	_ Resolver = (*DNSResolver)(nil)
	_ Resolver = net.DefaultResolver
)
