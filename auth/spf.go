package auth

import (
	"context"
	"errors"
	"net"
	"strings"

	"blitiri.com.ar/go/spf"
)

// SPF results (RFC 7208 §2.6), also the Authentication-Results values.
const (
	SPFNone      = "none"
	SPFNeutral   = "neutral"
	SPFPass      = "pass"
	SPFFail      = "fail"
	SPFSoftFail  = "softfail"
	SPFTempError = "temperror"
	SPFPermError = "permerror"
)

// SPFResult is the outcome of the SPF check.
type SPFResult struct {
	// Result is one of the seven SPF* constants.
	Result string
	// Identity is "mailfrom", or "helo" for the HELO check and for a null
	// reverse-path.
	Identity string
	// Domain is the domain checked: the MAIL FROM domain, or the HELO name.
	Domain string
	// Sender is the <sender> of check_host(): MAIL FROM, or
	// postmaster@HELO for a null reverse-path (RFC 7208 §2.4).
	Sender string
	// Reason is a human-readable detail (the matched mechanism, the error).
	Reason string
}

// checkSPF runs check_host() for the MAIL FROM identity, or the HELO
// identity when the reverse-path is null (RFC 7208 §2.3, §2.4).
func checkSPF(ctx context.Context, r Resolver, ip net.IP, helo, mailFrom string) SPFResult {
	res := SPFResult{Identity: "mailfrom", Sender: mailFrom}
	local, domain, found := strings.Cut(mailFrom, "@")
	switch {
	case mailFrom == "" || !found:
		// RFC 7208 §2.4: a null reverse-path (or one without a domain)
		// makes the HELO name the checked domain, with postmaster as the
		// local-part.
		res.Identity = "helo"
		domain = helo
		res.Sender = "postmaster@" + helo
	case local == "":
		// RFC 7208 §4.3: an empty local-part becomes "postmaster".
		res.Sender = "postmaster@" + domain
	}
	domain = strings.TrimSuffix(domain, ".")
	res.Domain = domain
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") || net.ParseIP(domain) != nil {
		// RFC 7208 §4.3: a domain that is not a multi-label domain name
		// (a bare HELO word, an address literal) gives none.
		res.Result = SPFNone
		res.Reason = "not a domain name"
		return res
	}
	if ip == nil {
		// Unknown client (pipe mode without arguments): nothing to check,
		// and no reason to blame the sender.
		res.Result = SPFNone
		res.Reason = "no client IP"
		return res
	}
	// check_host() takes the domain from the sender; the HELO name is
	// passed too, for the %{h} macro.
	result, err := spf.CheckHostWithSender(ip, helo, res.Sender,
		spf.WithResolver(spfResolver{r}), spf.WithContext(ctx))
	res.Result = string(result)
	if err != nil {
		res.Reason = err.Error()
	}
	return res
}

// spfResolver adapts a Resolver to spf.DNSResolver, which recognises DNS
// failures only as a bare *net.DNSError.
type spfResolver struct{ r Resolver }

// LookupTXT checks the SPF record among the answers against the full ABNF
// before the library evaluates any of it (RFC 7208 §4.6: a syntax error
// anywhere in the record is a permerror, even after a match). A bad record
// becomes an error that is not a *net.DNSError, which the library turns
// into permerror.
func (s spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := s.r.LookupTXT(ctx, name)
	if err != nil {
		return v, bareDNSError(name, err)
	}
	n, rec := 0, ""
	for _, txt := range v {
		if spfRecordVersion(txt) {
			n++
			rec = txt
		}
	}
	if n != 1 {
		// None, or several: the library gives none or permerror.
		return v, nil
	}
	if _, err := parseSPFRecord(rec); err != nil {
		return nil, err
	}
	return v, nil
}

func (s spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := s.r.LookupMX(ctx, name)
	return v, bareDNSError(name, err)
}

func (s spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := s.r.LookupIP(ctx, "ip", host)
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip}
	}
	return out, bareDNSError(host, err)
}

func (s spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := s.r.LookupAddr(ctx, addr)
	return v, bareDNSError(addr, err)
}

// bareDNSError turns err into a *net.DNSError, classifying anything
// unrecognised as temporary (a DNS failure is never a hard result).
func bareDNSError(name string, err error) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de
	}
	timeout := errors.Is(err, context.DeadlineExceeded)
	return &net.DNSError{Err: err.Error(), Name: name, IsTimeout: timeout, IsTemporary: true}
}
