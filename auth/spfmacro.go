package auth

import (
	"context"
	"net"
	"strings"
)

// needsAlias reports whether t is an a, mx or exists mechanism whose
// domain-spec blitiri.com.ar/go/spf cannot expand: one with "/" in it, or
// with the p macro.
func (t spfTerm) needsAlias() bool {
	if t.Modifier || (t.Name != "a" && t.Name != "mx" && t.Name != "exists") {
		return false
	}
	if strings.Contains(t.Value, "/") {
		return true
	}
	for _, m := range t.Macro {
		if m.Letter == 'p' {
			return true
		}
	}
	return false
}

// macroEnv holds what the macros of a domain-spec expand to (RFC 7208
// §7.3).
type macroEnv struct {
	sender, domain, helo string
	ip                   net.IP
	// validated returns the p macro's value; it costs DNS lookups, so it
	// is called only when a p macro is expanded.
	validated func() string
}

// expandDomain expands a parsed domain-spec for a DNS query (RFC 7208 §7.3),
// truncating it from the left, whole labels at a time, to 253 characters.
func (e macroEnv) expandDomain(toks []macroToken) string {
	var b strings.Builder
	for _, m := range toks {
		if m.Letter == 0 {
			b.WriteString(m.Literal)
			continue
		}
		b.WriteString(e.expand(m))
	}
	name := b.String()
	for len(name) > 253 {
		i := strings.IndexByte(name, '.')
		if i < 0 {
			break
		}
		name = name[i+1:]
	}
	return name
}

// expand returns one macro's value with its transformers applied (RFC 7208
// §7.3): split on the delimiters, reversed with "r", the rightmost DIGIT
// parts kept, joined with "." and, for an upper-case letter, URL-escaped.
func (e macroEnv) expand(m macroToken) string {
	var v string
	switch m.Letter {
	case 's':
		v = e.sender
	case 'l', 'o':
		at := strings.LastIndexByte(e.sender, '@')
		if m.Letter == 'l' {
			v = e.sender[:max(at, 0)]
		} else {
			v = e.sender[at+1:]
		}
	case 'd':
		v = e.domain
	case 'i':
		v = ipMacro(e.ip)
	case 'p':
		v = e.validated()
	case 'v':
		v = "ip6"
		if e.ip.To4() != nil {
			v = "in-addr"
		}
	case 'h':
		v = e.helo
	}
	delims := m.Delims
	if delims == "" {
		delims = "."
	}
	var parts []string
	start := 0
	for i := 0; i < len(v); i++ {
		if strings.IndexByte(delims, v[i]) >= 0 {
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	parts = append(parts, v[start:])
	if m.Reverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	if m.Digits > 0 && m.Digits < len(parts) {
		parts = parts[len(parts)-m.Digits:]
	}
	v = strings.Join(parts, ".")
	if m.Upper {
		v = urlEscape(v)
	}
	return v
}

// ipMacro is the i macro: dotted quad for IPv4, dot-separated nibbles for
// IPv6 (RFC 7208 §7.3).
func ipMacro(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i, c := range ip.To16() {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteByte(hex[c>>4])
		b.WriteByte('.')
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// urlEscape escapes every byte outside RFC 3986's unreserved set, as RFC
// 7208 §7.3 asks of upper-case macros.
func urlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// validatedName is the p macro (RFC 7208 §7.3): among the PTR names of ip
// (at most 10, §4.6.4) whose addresses include ip, domain itself, else a
// subdomain of domain, else any; "unknown" when none validates or DNS
// fails.
func validatedName(ctx context.Context, r Resolver, ip net.IP, domain string) string {
	names, err := r.LookupAddr(ctx, ip.String())
	if err != nil {
		return "unknown"
	}
	if len(names) > 10 {
		names = names[:10]
	}
	network := "ip6"
	if ip.To4() != nil {
		network = "ip4"
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	var valid []string
	for _, n := range names {
		n = strings.TrimSuffix(n, ".")
		addrs, err := r.LookupIP(ctx, network, n)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if a.Equal(ip) {
				valid = append(valid, n)
				break
			}
		}
	}
	for _, n := range valid {
		if strings.EqualFold(n, domain) {
			return n
		}
	}
	for _, n := range valid {
		if strings.HasSuffix(strings.ToLower(n), "."+domain) {
			return n
		}
	}
	if len(valid) > 0 {
		return valid[0]
	}
	return "unknown"
}
