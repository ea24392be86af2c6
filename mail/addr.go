package mail

import (
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Address is one entry of an address header as SpamAssassin's relaxed
// parser (Util::parse_header_addresses) reads it.
type Address struct {
	// Phrase is the display name (quotes removed), or a comment when no
	// name is given; "" when absent.
	Phrase string
	// Addr is the address (local@domain), "" when the entry has none or
	// it is malformed.
	Addr string
	// User and Host split Addr at its first "@".
	User, Host string

	hasPhrase bool // Phrase was given, even if empty
}

// ParseAddresses reads a raw (undecoded) address header value such as
// From, To or Reply-To the relaxed way SpamAssassin does: a group name is
// skipped, entries are separated by "," or ";", a phrase may precede an
// address in angle brackets, a bare address or a bare phrase may stand
// alone, and a trailing comment is the phrase when none is given
// (RFC 5322 §3.4 with obsolete and broken forms accepted). It never fails.
func ParseAddresses(value string) []Address {
	s := strings.TrimRight(value, " \t\r\n")
	s = strings.ReplaceAll(s, `\\`, "")
	// Group syntax: "name:" up front (RFC 5322 §3.4) is dropped.
	if i := strings.IndexAny(s, "\"()<>:"); i > 0 && s[i] == ':' {
		s = strings.TrimLeft(s[i+1:], " \t\r\n")
	}
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []Address
	for len(s) > 0 && len(out) < 1000 {
		a, rest, ok := parseOneAddress(s)
		if !ok {
			break
		}
		out = append(out, a)
		if len(rest) == len(s) {
			break
		}
		s = rest
		if strings.TrimSpace(s) == "" {
			break
		}
	}
	// Whatever could not be parsed may still hold <user@host>.
	if strings.IndexByte(s, '@') >= 0 && strings.TrimSpace(s) != "" && len(out) < 1000 {
		for rest := s; ; {
			i := strings.IndexByte(rest, '<')
			if i < 0 {
				break
			}
			rest = rest[i+1:]
			j := strings.IndexByte(rest, '>')
			if j < 0 {
				break
			}
			if addr, ok := matchMailre(rest[:j]); ok && addr == rest[:j] && validParsedAddr(addr) {
				a := Address{Addr: cutSecondAt(addr)}
				a.User, a.Host, _ = strings.Cut(a.Addr, "@")
				out = append(out, a)
			}
			rest = rest[j+1:]
		}
	}
	return out
}

func isWSP(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'
}

func skipWS(s string, i int) int {
	for i < len(s) && isWSP(s[i]) {
		i++
	}
	return i
}

// scanQuoted returns the index after a quoted string starting at s[i]=='"',
// or -1 when it does not close.
func scanQuoted(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// scanPhrase reads ( "quoted" | [^",;<]+ )+ from i; it returns the end.
func scanPhrase(s string, i int) int {
	j := i
	for j < len(s) {
		if s[j] == '"' {
			k := scanQuoted(s, j)
			if k < 0 {
				break
			}
			j = k
			continue
		}
		k := j
		for k < len(s) && s[k] != '"' && s[k] != ',' && s[k] != ';' && s[k] != '<' {
			k++
		}
		if k == j {
			break
		}
		j = k
	}
	return j
}

// scanComment reads an optional "\s*( ... )" at i; returns comment, end.
func scanComment(s string, i int) (string, int, bool) {
	j := skipWS(s, i)
	if j >= len(s) || s[j] != '(' {
		return "", i, false
	}
	for k := j + 1; k < len(s); k++ {
		switch s[k] {
		case '\\':
			k++
		case '(':
			return "", i, false
		case ')':
			return s[j+1 : k], k + 1, true
		}
	}
	return "", i, false
}

// scanEnd checks for \s*([,;]|\z) at i and returns the index after it.
func scanEnd(s string, i int) (int, bool) {
	j := skipWS(s, i)
	if j == len(s) {
		return j, true
	}
	if s[j] == ',' || s[j] == ';' {
		return j + 1, true
	}
	return 0, false
}

// matchMailre matches SpamAssassin's header_address_mailre at the start
// of s: a quoted or unquoted local part, "@", and a domain or [ip].
func matchMailre(s string) (string, bool) {
	i := 0
	if i < len(s) && s[i] == '"' {
		k := scanQuoted(s, i)
		if k < 0 {
			return "", false
		}
		i = k
	} else {
		for i < len(s) && !isWSP(s[i]) && strings.IndexByte("@<>()[],:;", s[i]) < 0 {
			i++
		}
		if i == 0 {
			return "", false
		}
	}
	if i >= len(s) || s[i] != '@' {
		return "", false
	}
	i++
	if i < len(s) && s[i] == '[' {
		k := i + 1
		for k < len(s) && (s[k] >= '0' && s[k] <= '9' || s[k] == ':' || s[k] == '.') {
			k++
		}
		if k < len(s) && s[k] == ']' && k > i+1 {
			return s[:k+1], true
		}
	}
	k := i
	for k < len(s) && !isWSP(s[k]) && strings.IndexByte("\"<>()[],:;", s[k]) < 0 {
		k++
	}
	if k == i {
		return "", false
	}
	return s[:k], true
}

func validParsedAddr(a string) bool {
	return a != "" && !strings.HasPrefix(a, `""@`) && strings.Count(a, `"`) != 1
}

func cutSecondAt(a string) string {
	i := strings.IndexByte(a, '@')
	if i < 0 {
		return a
	}
	if j := strings.IndexByte(a[i+1:], '@'); j >= 0 {
		return a[:i+1+j]
	}
	return a
}

// removeComments drops non-nested "( ... )" comments.
func removeComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '(' {
			if k := strings.IndexByte(s[i+1:], ')'); k >= 0 && strings.IndexByte(s[i+1:i+1+k], '(') < 0 {
				i += k + 1
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseOneAddress applies header_address_re once at the start of s.
func parseOneAddress(s string) (Address, string, bool) {
	i := skipWS(s, 0)
	var phrase, addr, comment string
	hasPhrase, hasAddr, angle := false, false, false

	// Form 1: [phrase] <address> [<dup>...]
	for _, withPhrase := range []bool{true, false} {
		j := i
		ph := ""
		if withPhrase {
			k := scanPhrase(s, j)
			if k == j {
				continue
			}
			ph = s[j:k]
			j = skipWS(s, k)
		}
		if j >= len(s) || s[j] != '<' {
			continue
		}
		k := strings.IndexByte(s[j+1:], '>')
		if k < 0 {
			continue
		}
		inner := strings.TrimSpace(s[j+1 : j+1+k])
		j = j + 1 + k + 1
		// Duplicate enclosures some mailers emit.
		for {
			t := skipWS(s, j)
			if t < len(s) && s[t] == '<' {
				if e := strings.IndexByte(s[t+1:], '>'); e >= 0 {
					j = t + 1 + e + 1
					continue
				}
			}
			break
		}
		c, j2, hasC := scanComment(s, j)
		end, ok := scanEnd(s, j2)
		if !ok {
			continue
		}
		if withPhrase {
			phrase, hasPhrase = ph, true
		}
		addr, hasAddr, angle = inner, true, true
		if hasC {
			comment = c
		}
		return finishAddress(phrase, hasPhrase, addr, hasAddr, angle, comment, hasC), s[end:], true
	}
	// Form 2: a bare address.
	if a, ok := matchMailre(s[i:]); ok {
		j := i + len(a)
		c, j2, hasC := scanComment(s, j)
		if end, ok := scanEnd(s, j2); ok {
			return finishAddress("", false, a, true, false, c, hasC), s[end:], true
		}
	}
	// Form 3: a bare phrase.
	k := scanPhrase(s, i)
	if k > i {
		c, j2, hasC := scanComment(s, k)
		if end, ok := scanEnd(s, j2); ok {
			return finishAddress(s[i:k], true, "", false, false, c, hasC), s[end:], true
		}
	}
	return Address{}, s, false
}

func finishAddress(phrase string, hasPhrase bool, addr string, hasAddr, angle bool, comment string, hasComment bool) Address {
	if hasAddr && angle {
		addr = removeComments(addr)
		if m, ok := matchMailre(addr); !ok || m != addr {
			hasAddr = false
		}
	}
	if hasAddr && !validParsedAddr(addr) {
		hasAddr = false
	}
	if hasPhrase {
		// Unquote quoted strings, drop comments elsewhere.
		var b strings.Builder
		for i := 0; i < len(phrase); {
			if phrase[i] == '"' {
				k := scanQuoted(phrase, i)
				if k > 0 {
					q := phrase[i+1 : k-1]
					q = unescapeQuoted(q)
					b.WriteString(q)
					i = k
					continue
				}
			}
			k := i + 1
			for k < len(phrase) && phrase[k] != '"' {
				k++
			}
			b.WriteString(removeComments(phrase[i:k]))
			i = k
		}
		phrase = b.String()
		if !hasAddr {
			if m, ok := matchMailre(phrase); ok && m == phrase && validParsedAddr(phrase) {
				host := phrase[strings.IndexByte(phrase, '@')+1:]
				if j := strings.IndexByte(host, '@'); j >= 0 {
					host = host[:j]
				}
				if isFQDNValid(host) {
					addr, hasAddr = phrase, true
					phrase, hasPhrase = "", false
				}
			}
		}
		if hasPhrase && ((hasAddr && phrase == addr) || phrase == "") {
			phrase, hasPhrase = "", false
		}
	}
	if !hasPhrase && hasComment {
		phrase, hasPhrase = comment, true
	}
	a := Address{Phrase: phrase, hasPhrase: hasPhrase}
	if hasAddr {
		a.Addr = cutSecondAt(addr)
		a.User, a.Host, _ = strings.Cut(a.Addr, "@")
	}
	return a
}

// unescapeQuoted removes quoted-pair backslashes (RFC 5322 §3.2.1).
func unescapeQuoted(q string) string {
	if strings.IndexByte(q, '\\') < 0 {
		return q
	}
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if q[i] == '\\' && i+1 < len(q) {
			i++
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// HeaderAddr returns the addresses in a raw header value: SpamAssassin's
// ":addr" modifier. Give it raw values (Header(name, true)).
func HeaderAddr(value string) []string {
	var out []string
	for _, a := range ParseAddresses(value) {
		if a.Addr != "" {
			out = append(out, a.Addr)
		}
	}
	return out
}

// HeaderName returns the display names in a raw header value:
// SpamAssassin's ":name" modifier. Unless raw, names are RFC 2047-decoded,
// white space is collapsed and trimmed, and single quotes around the whole
// name are removed (":name:raw" keeps the phrase as written).
func HeaderName(value string, raw bool) []string {
	var out []string
	for _, a := range ParseAddresses(value) {
		p := a.Phrase
		if !a.hasPhrase {
			continue
		}
		if !raw {
			p = DecodeHeader(p, "pms:get:name")
			if strings.TrimSpace(p) != "" {
				p = strings.Join(strings.Fields(p), " ")
				if len(p) >= 2 && p[0] == '\'' && p[len(p)-1] == '\'' {
					p = p[1 : len(p)-1]
				}
			}
		}
		out = append(out, p)
	}
	return out
}

// AddrHost returns the host part of an address as SpamAssassin's ":addr:host"
// takes it: everything after the last "@" up to white space, or "".
func AddrHost(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	h := addr[i+1:]
	if j := strings.IndexFunc(h, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }); j >= 0 {
		h = h[:j]
	}
	return h
}

// HeaderHost returns the first valid host name in a header value, as
// SpamAssassin's ":host" modifier finds it: the domain after the last "@"
// when it is a valid FQDN, else the first word that ends in a valid
// top-level domain and is a valid FQDN. It returns "" when there is none.
func HeaderHost(value string) string {
	if i := strings.LastIndexByte(value, '@'); i >= 0 {
		tok := value[i+1:]
		if j := strings.IndexFunc(tok, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }); j >= 0 {
			tok = tok[:j]
		}
		if h, _, ok := hostInToken(tok); ok && isFQDNValid(h) {
			return h
		}
	}
	for _, tok := range strings.Fields(value) {
		for tok != "" {
			h, end, ok := hostInToken(tok)
			if !ok {
				break
			}
			if isFQDNValid(h) {
				return h
			}
			tok = tok[end:]
		}
	}
	return ""
}

// hostInToken finds the longest prefix of tok that ends in "." and a valid
// TLD not followed by ".", "_" or "-"; it does not start after one of
// those characters. It returns the host and where it ends.
func hostInToken(tok string) (string, int, bool) {
	for len(tok) > 0 && (tok[0] == '.' || tok[0] == '_' || tok[0] == '-') {
		tok = tok[1:]
	}
	for d := strings.LastIndexByte(tok, '.'); d > 0; d = strings.LastIndexByte(tok[:d], '.') {
		k := d + 1
		for k < len(tok) && isLDH(tok[k]) && tok[k] != '-' {
			k++
		}
		if k == d+1 || d > 251 {
			continue
		}
		if k < len(tok) && (tok[k] == '.' || tok[k] == '_' || tok[k] == '-') {
			continue
		}
		if validTLD(tok[d+1 : k]) {
			return tok[:k], k, true
		}
	}
	return "", 0, false
}

func isLDH(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// validTLD reports whether label is a top-level domain of the ICANN
// section of the public suffix list (SpamAssassin's valid_tlds).
func validTLD(label string) bool {
	if label == "" || len(label) > 63 {
		return false
	}
	for i := 0; i < len(label); i++ {
		if !isLDH(label[i]) {
			return false
		}
	}
	l := strings.ToLower(label)
	s, icann := publicsuffix.PublicSuffix(l)
	return icann && s == l
}

// isFQDNValid is SpamAssassin's is_fqdn_valid: at most 253 bytes, at
// least two labels of 1 to 63 letters, digits, "_" and "-" (no hyphen at
// either end), "_" only below the second level. It does not check the TLD.
func isFQDNValid(host string) bool {
	h := strings.ToLower(host)
	for strings.HasSuffix(h, ".") {
		h = h[:len(h)-1]
	}
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return false
	}
	for i, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
			if c == '_' && i >= len(labels)-2 {
				return false
			}
		}
	}
	return true
}

// Domain returns the registrable domain of a host name (one label plus
// its public suffix, via golang.org/x/net/publicsuffix): SpamAssassin's
// ":domain" modifier and trim_domain. A host that is already a public
// suffix, an IP address or unparsable is returned lower-cased as is.
func Domain(host string) string {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if h == "" {
		return ""
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return h
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(h)
	if err != nil {
		return h
	}
	return d
}

// HeaderIP returns the first IP address in a header value, as
// SpamAssassin's ":ip" modifier finds it: a dotted-quad IPv4 address not
// touching another dot, or an IPv6 address; "" when there is none.
func HeaderIP(value string) string {
	for i := 0; i < len(value); i++ {
		c := value[i]
		isHexDigit := c >= '0' && c <= '9' || (c|0x20) >= 'a' && (c|0x20) <= 'f' || c == ':'
		if !isHexDigit || (i > 0 && (isWordByte(value[i-1]) || value[i-1] == '.' || value[i-1] == ':')) {
			continue
		}
		j := i
		for j < len(value) && (value[j] >= '0' && value[j] <= '9' || (value[j]|0x20) >= 'a' && (value[j]|0x20) <= 'f' || value[j] == '.' || value[j] == ':') {
			j++
		}
		tok := value[i:j]
		if j < len(value) && isWordByte(value[j]) {
			i = j
			continue
		}
		if isIPv4(tok) {
			return tok
		}
		if strings.Count(tok, ":") >= 2 {
			if a, err := netip.ParseAddr(tok); err == nil && a.Is6() {
				return tok
			}
		}
		i = j
	}
	return ""
}

// ReverseIP returns the address in reverse-lookup order, as ":revip" does:
// "192.0.2.1" becomes "1.2.0.192"; IPv6 addresses become their reversed
// nibbles. Anything else is returned unchanged.
func ReverseIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a.Is4() {
		b := a.As4()
		return itoa(int(b[3])) + "." + itoa(int(b[2])) + "." + itoa(int(b[1])) + "." + itoa(int(b[0]))
	}
	b := a.As16()
	const hx = "0123456789abcdef"
	out := make([]byte, 0, 63)
	for i := 15; i >= 0; i-- {
		if len(out) > 0 {
			out = append(out, '.')
		}
		out = append(out, hx[b[i]&0xf], '.', hx[b[i]>>4])
	}
	return string(out)
}
