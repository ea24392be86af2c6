package auth

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// DNSBL is one DNS blocklist zone, configured the way SpamAssassin's
// check_rbl and check_rbl_sub rules describe one.
type DNSBL struct {
	// Set names the lookup, as SpamAssassin's set argument ("zen").
	Set string
	// Zone is the DNS zone queried, e.g. "zen.spamhaus.org".
	Zone string
	// Subtests map return codes to rule names (check_rbl_sub). A hit
	// records every subtest its answers match.
	Subtests []DNSBLSubtest
}

// DNSBLSubtest names one return-code test of a DNSBL.
type DNSBLSubtest struct {
	// Name is the rule name, e.g. "RCVD_IN_SBL".
	Name string
	// Test is a SpamAssassin sub-test, see MatchSubtest.
	Test string
}

// DNSBLHit is a listing of the client IP in one DNSBL: its zone answered
// with at least one address in 127.0.0.0/8.
type DNSBLHit struct {
	Set   string
	Zone  string
	Query string // the name queried, e.g. "2.0.0.127.zen.spamhaus.org"
	// Addrs are the 127.0.0.0/8 addresses returned, e.g. "127.0.0.2".
	Addrs []string
	// Subtests are the names of the configured subtests that matched.
	Subtests []string
}

// MatchSubtest reports whether a DNSBL answer addr matches a SpamAssassin
// sub-test (Mail::SpamAssassin::Dns check_subtest): a decimal number is a
// bitmask that hits when addr (as a 32-bit number, in 127.0.0.0/8) shares
// a bit with it; a dotted quad must equal addr; anything else is a regular
// expression matched against addr.
func MatchSubtest(addr, test string) bool {
	if n, err := strconv.ParseUint(test, 10, 32); err == nil {
		ip := net.ParseIP(addr).To4()
		return ip != nil && ip[0] == 127 && binary.BigEndian.Uint32(ip)&uint32(n) != 0
	}
	if isDottedQuad(test) {
		return test == addr
	}
	re, err := regexp.Compile(test)
	return err == nil && re.MatchString(addr)
}

func isDottedQuad(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 8); err != nil {
			return false
		}
	}
	return true
}

// dnsblQuery returns the name to query for ip in zone: the IPv4 octets
// reversed, or the 32 nibbles of an IPv6 address reversed (RFC 5782 §2.1,
// §2.4).
func dnsblQuery(ip net.IP, zone string) string {
	zone = strings.TrimSuffix(zone, ".")
	if v4 := ip.To4(); v4 != nil {
		return fmt.Sprintf("%d.%d.%d.%d.%s", v4[3], v4[2], v4[1], v4[0], zone)
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	v6 := ip.To16()
	for i := len(v6) - 1; i >= 0; i-- {
		b.WriteByte(hex[v6[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[v6[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString(zone)
	return b.String()
}

// dnsblListed is a DNSBL's answer for the IP: listed or not, or an error.
type dnsblListed struct {
	hit *DNSBLHit
	err error
}

// checkDNSBL queries up to max of the lists concurrently. A list that does
// not answer in time, or fails, is not a hit; its error is returned beside
// the hits, for logging.
func checkDNSBL(ctx context.Context, r Resolver, ip net.IP, lists []DNSBL, max int) ([]DNSBLHit, []error) {
	if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() {
		return nil, nil
	}
	if len(lists) > max {
		lists = lists[:max]
	}
	out := make([]dnsblListed, len(lists))
	var wg sync.WaitGroup
	for i, l := range lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = lookupDNSBL(ctx, r, ip, l)
		}()
	}
	wg.Wait()
	var hits []DNSBLHit
	var errs []error
	for _, o := range out {
		if o.hit != nil {
			hits = append(hits, *o.hit)
		}
		if o.err != nil {
			errs = append(errs, o.err)
		}
	}
	return hits, errs
}

func lookupDNSBL(ctx context.Context, r Resolver, ip net.IP, l DNSBL) dnsblListed {
	q := dnsblQuery(ip, l.Zone)
	addrs, err := r.LookupIP(ctx, "ip4", q)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return dnsblListed{}
		}
		return dnsblListed{err: fmt.Errorf("auth: DNSBL %s: %w", l.Zone, err)}
	}
	hit := &DNSBLHit{Set: l.Set, Zone: l.Zone, Query: q}
	for _, a := range addrs {
		// SpamAssassin bug 6803: answers outside 127.0.0.0/8 are not
		// listings (some lists answer so when they refuse a resolver).
		if v4 := a.To4(); v4 != nil && v4[0] == 127 {
			hit.Addrs = append(hit.Addrs, v4.String())
		}
	}
	if len(hit.Addrs) == 0 {
		return dnsblListed{}
	}
	for _, st := range l.Subtests {
		for _, a := range hit.Addrs {
			if MatchSubtest(a, st.Test) {
				hit.Subtests = append(hit.Subtests, st.Name)
				break
			}
		}
	}
	return dnsblListed{hit: hit}
}
