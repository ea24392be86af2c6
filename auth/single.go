package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// CheckSPF runs check_host() for one identity, for callers that check SPF
// before there is a message (the Postfix policy service at RCPT): the
// MAIL FROM identity for a mailFrom with a domain, the HELO identity for
// an empty mailFrom (RFC 7208 §2.3, §2.4). ctx bounds the lookups; a DNS
// failure or timeout is a temperror result.
func CheckSPF(ctx context.Context, r Resolver, ip net.IP, helo, mailFrom string) SPFResult {
	return checkSPF(ctx, r, ip, helo, mailFrom)
}

// CheckDNSBL queries up to max of lists for ip, as Check does: private,
// loopback and link-local addresses are never queried, and a list that
// fails or times out is not a hit; its error is returned beside the hits.
func CheckDNSBL(ctx context.Context, r Resolver, ip net.IP, lists []DNSBL, max int) ([]DNSBLHit, []error) {
	return checkDNSBL(ctx, r, ip, lists, max)
}

// ErrNoFCrDNS is wrapped by FCrDNS when ip has no PTR name whose
// addresses include ip; DNS failures are reported as the resolver's
// errors instead, so that a caller can tell them apart (a temporary
// failure must not refuse mail).
var ErrNoFCrDNS = errors.New("auth: no forward-confirmed reverse DNS name")

// FCrDNS returns a forward-confirmed reverse DNS name of ip: a PTR name
// (at most 10 are tried, as RFC 7208 §4.6.4 bounds PTR processing) whose
// A or AAAA records include ip. It is what Postfix calls the verified
// client name.
func FCrDNS(ctx context.Context, r Resolver, ip net.IP) (string, error) {
	names, err := r.LookupAddr(ctx, ip.String())
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("%w: %s has no PTR record", ErrNoFCrDNS, ip)
		}
		return "", err
	}
	if len(names) > 10 {
		names = names[:10]
	}
	network := "ip6"
	if ip.To4() != nil {
		network = "ip4"
	}
	var tempErr error
	for _, n := range names {
		n = strings.TrimSuffix(n, ".")
		addrs, err := r.LookupIP(ctx, network, n)
		if err != nil {
			if !isNotFound(err) && tempErr == nil {
				tempErr = err
			}
			continue
		}
		for _, a := range addrs {
			if a.Equal(ip) {
				return n, nil
			}
		}
	}
	if tempErr != nil {
		return "", tempErr
	}
	return "", fmt.Errorf("%w: no PTR name of %s resolves back to it", ErrNoFCrDNS, ip)
}

// isNotFound reports whether err is NXDOMAIN or NODATA.
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
