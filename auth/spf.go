package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

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
	sr := &spfResolver{r: r, ip: ip, helo: helo, sender: res.Sender}
	result, err := spf.CheckHostWithSender(ip, helo, res.Sender,
		spf.WithResolver(sr), spf.WithContext(ctx))
	res.Result = string(result)
	if err != nil {
		res.Reason = err.Error()
	}
	return res
}

// spfResolver adapts a Resolver to spf.DNSResolver, which recognises DNS
// failures only as a bare *net.DNSError. It also sees every SPF record the
// library fetches, so it checks their syntax and rewrites the terms the
// library would evaluate wrongly (see LookupTXT). One spfResolver serves
// one check_host() run.
type spfResolver struct {
	r Resolver
	// ip, helo and sender are check_host()'s arguments, for macros.
	ip           net.IP
	helo, sender string

	mu sync.Mutex
	// aliases maps the stand-in names of rewritten domain-specs to them.
	aliases map[string]spfAlias
	// validated caches the p macro's value per <domain>: it costs a PTR
	// query and up to 10 address queries (RFC 7208 §4.6.4).
	validated map[string]string
}

// spfAlias is a domain-spec the library cannot expand, with the <domain>
// of the record it came from.
type spfAlias struct {
	macro  []macroToken
	domain string
}

// LookupTXT checks the SPF record among the answers against the full ABNF
// before the library evaluates any of it (RFC 7208 §4.6: a syntax error
// anywhere in the record is a permerror, even after a match). A bad record
// becomes an error that is not a *net.DNSError, which the library turns
// into permerror.
func (s *spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
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
	terms, err := parseSPFRecord(rec)
	if err != nil {
		return nil, err
	}
	if rw, ok := s.rewrite(name, terms); ok {
		out := make([]string, 0, len(v))
		for _, txt := range v {
			if spfRecordVersion(txt) {
				txt = rw
			}
			out = append(out, txt)
		}
		v = out
	}
	return v, nil
}

// rewrite replaces the domain-spec of each a, mx and exists mechanism the
// library cannot evaluate with a stand-in name that the lookups below
// expand themselves: a domain-spec with "/" in it (RFC 7208 §7.1: any
// visible character but "%" may appear, "a:foo:bar/baz.example.com" is
// valid), which the library takes for a CIDR length, and one using the p
// macro (§7.3), which the library expands to "unknown". These mechanisms
// only look the name up, so the stand-in changes nothing else. It reports
// whether anything was rewritten.
func (s *spfResolver) rewrite(domain string, terms []spfTerm) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	var b strings.Builder
	b.WriteString("v=spf1")
	for _, t := range terms {
		b.WriteByte(' ')
		if !t.needsAlias() {
			b.WriteString(t.Raw)
			continue
		}
		if s.aliases == nil {
			s.aliases = map[string]spfAlias{}
		}
		alias := fmt.Sprintf("a%d.sluice-spf-alias.invalid", len(s.aliases))
		s.aliases[alias] = spfAlias{macro: t.Macro, domain: domain}
		if t.Qualifier != 0 {
			b.WriteByte(t.Qualifier)
		}
		b.WriteString(t.Name + ":" + alias)
		if t.CIDR4 >= 0 {
			fmt.Fprintf(&b, "/%d", t.CIDR4)
		}
		if t.CIDR6 >= 0 {
			fmt.Fprintf(&b, "//%d", t.CIDR6)
		}
		changed = true
	}
	return b.String(), changed
}

// unalias returns the name a stand-in from rewrite stands for, expanded;
// other names are returned as they are.
func (s *spfResolver) unalias(ctx context.Context, name string) string {
	s.mu.Lock()
	a, ok := s.aliases[name]
	s.mu.Unlock()
	if !ok {
		return name
	}
	env := macroEnv{sender: s.sender, domain: a.domain, ip: s.ip, helo: s.helo,
		validated: func() string { return s.pMacro(ctx, a.domain) }}
	return env.expandDomain(a.macro)
}

// pMacro returns the p macro's value for domain, looked up once per run.
func (s *spfResolver) pMacro(ctx context.Context, domain string) string {
	s.mu.Lock()
	v, ok := s.validated[domain]
	s.mu.Unlock()
	if ok {
		return v
	}
	v = validatedName(ctx, s.r, s.ip, domain)
	s.mu.Lock()
	if s.validated == nil {
		s.validated = map[string]string{}
	}
	s.validated[domain] = v
	s.mu.Unlock()
	return v
}

func (s *spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	name = s.unalias(ctx, name)
	v, err := s.r.LookupMX(ctx, name)
	return v, bareDNSError(name, err)
}

func (s *spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	host = s.unalias(ctx, host)
	ips, err := s.r.LookupIP(ctx, "ip", host)
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip}
	}
	return out, bareDNSError(host, err)
}

func (s *spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
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
