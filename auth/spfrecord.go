package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrSPFSyntax is wrapped by the errors of an SPF record that does not
// follow the ABNF of RFC 7208 §12; check_host() then gives permerror
// (RFC 7208 §4.6).
var ErrSPFSyntax = errors.New("auth: SPF record syntax error")

// spfTerm is one term of an SPF record (RFC 7208 §4.6.1): a directive
// (qualifier and mechanism) or a modifier.
type spfTerm struct {
	// Raw is the term as written.
	Raw string
	// Qualifier is '+', '-', '?' or '~', or 0 when absent or a modifier.
	Qualifier byte
	// Name is the mechanism or modifier name, lower-cased.
	Name     string
	Modifier bool
	// Value is the domain-spec, IP network or macro-string after ":" or
	// "=", without the CIDR lengths; "" when absent.
	Value string
	// Macro is Value split into macro-string tokens, for domain-specs.
	Macro []macroToken
	// CIDR4 and CIDR6 are the prefix lengths, -1 when absent.
	CIDR4, CIDR6 int
}

// macroToken is a literal run, or one macro-expand (RFC 7208 §7.1).
type macroToken struct {
	// Literal is the text of a literal run, or the expansion of %%, %_
	// and %- (Letter 0, Escape true).
	Literal string
	// Escape marks the expansion of %%, %_ or %-: a macro-expand, not a
	// literal run.
	Escape bool
	// Letter is the macro letter, lower-cased; 0 for a literal.
	Letter byte
	// Upper asks for URL-escaping (an upper-case letter, §7.3).
	Upper bool
	// Digits is the DIGIT transformer, 0 when absent.
	Digits int
	// Reverse is the "r" transformer.
	Reverse bool
	// Delims are the delimiters; "" means ".".
	Delims string
}

// spfRecordVersion reports whether txt is an SPF record (RFC 7208 §4.5):
// "v=spf1", case-insensitive, alone or followed by a space. This is the
// selection blitiri.com.ar/go/spf makes, so both see the same records.
func spfRecordVersion(txt string) bool {
	return len(txt) >= 6 && strings.EqualFold(txt[:6], "v=spf1") && (len(txt) == 6 || txt[6] == ' ')
}

// parseSPFRecord checks a whole SPF record against RFC 7208 §12 before any
// of it is evaluated ("errors anywhere", §4.6), and returns its terms.
func parseSPFRecord(rec string) ([]spfTerm, error) {
	if !spfRecordVersion(rec) {
		return nil, fmt.Errorf("%w: no v=spf1 version", ErrSPFSyntax)
	}
	var terms []spfTerm
	redirects, exps := 0, 0
	// RFC 7208 §12: record = version terms *SP, terms = *( 1*SP term ):
	// terms are separated by spaces only, and made of visible ASCII.
	for _, raw := range strings.Split(rec[6:], " ") {
		if raw == "" {
			continue
		}
		for i := 0; i < len(raw); i++ {
			if raw[i] < 0x21 || raw[i] > 0x7e {
				return nil, fmt.Errorf("%w: character %q in term %q", ErrSPFSyntax, raw[i], raw)
			}
		}
		t, err := parseSPFTerm(raw)
		if err != nil {
			return nil, err
		}
		// RFC 7208 §6: redirect and exp appear at most once each.
		switch t.Name {
		case "redirect":
			redirects++
		case "exp":
			exps++
		}
		if t.Modifier && (redirects > 1 || exps > 1) {
			return nil, fmt.Errorf("%w: %s= given twice", ErrSPFSyntax, t.Name)
		}
		terms = append(terms, t)
	}
	return terms, nil
}

// parseSPFTerm parses one directive or modifier (RFC 7208 §4.6.1, §12).
func parseSPFTerm(raw string) (spfTerm, error) {
	t := spfTerm{Raw: raw, CIDR4: -1, CIDR6: -1}
	bad := func(why string) (spfTerm, error) {
		return spfTerm{}, fmt.Errorf("%w: %s in %q", ErrSPFSyntax, why, raw)
	}
	// A modifier is name "=" ...; the first of ":", "/" and "=" tells a
	// modifier from a mechanism ("a:x=y" is a mechanism).
	if i := strings.IndexAny(raw, ":/="); i >= 0 && raw[i] == '=' {
		name := raw[:i]
		if !isSPFName(name) {
			return bad("invalid modifier name")
		}
		t.Modifier = true
		t.Name = strings.ToLower(name)
		t.Value = raw[i+1:]
		var err error
		switch t.Name {
		case "redirect", "exp":
			// RFC 7208 §6.1, §6.2: both take a domain-spec.
			t.Macro, err = parseDomainSpec(t.Value)
		default:
			// RFC 7208 §6: unknown modifiers are ignored, but must still
			// be name "=" macro-string.
			t.Macro, err = parseMacroString(t.Value, true)
		}
		if err != nil {
			return bad(err.Error())
		}
		return t, nil
	}
	rest := raw
	switch rest[0] {
	case '+', '-', '?', '~':
		t.Qualifier = rest[0]
		rest = rest[1:]
	}
	end := strings.IndexAny(rest, ":/")
	if end < 0 {
		end = len(rest)
	}
	t.Name = strings.ToLower(rest[:end])
	rest = rest[end:]
	var err error
	switch t.Name {
	case "all":
		// RFC 7208 §5.1.
		if rest != "" {
			return bad("all takes no argument")
		}
	case "include", "exists":
		// RFC 7208 §5.2, §5.7: a required domain-spec.
		if !strings.HasPrefix(rest, ":") {
			return bad(t.Name + " needs a domain-spec")
		}
		t.Value = rest[1:]
		t.Macro, err = parseDomainSpec(t.Value)
	case "a", "mx":
		// RFC 7208 §5.3, §5.4: [ ":" domain-spec ] [ dual-cidr-length ].
		rest, t.CIDR4, t.CIDR6, err = splitDualCIDR(rest)
		if err != nil {
			return bad(err.Error())
		}
		if rest != "" {
			if rest[0] != ':' {
				return bad("junk after " + t.Name)
			}
			t.Value = rest[1:]
			t.Macro, err = parseDomainSpec(t.Value)
		}
	case "ptr":
		// RFC 7208 §5.5: [ ":" domain-spec ], no CIDR.
		if rest != "" {
			if rest[0] != ':' {
				return bad("junk after ptr")
			}
			t.Value = rest[1:]
			t.Macro, err = parseDomainSpec(t.Value)
		}
	case "ip4", "ip6":
		// RFC 7208 §5.6: ip4 ":" ip4-network [ ip4-cidr-length ], and the
		// same for ip6.
		if !strings.HasPrefix(rest, ":") {
			return bad(t.Name + " needs a network")
		}
		network, cidr, hasCIDR := strings.Cut(rest[1:], "/")
		t.Value = network
		addr, perr := netip.ParseAddr(network)
		switch {
		case perr != nil || addr.Zone() != "":
			return bad("invalid address")
		case t.Name == "ip4" && !addr.Is4():
			return bad("ip4 with a non-IPv4 address")
		case t.Name == "ip6" && !addr.Is6():
			return bad("ip6 with a non-IPv6 address")
		}
		if hasCIDR {
			max := 32
			if t.Name == "ip6" {
				max = 128
			}
			n, err := parseCIDRLength(cidr, max)
			if err != nil {
				return bad(err.Error())
			}
			if t.Name == "ip4" {
				t.CIDR4 = n
			} else {
				t.CIDR6 = n
			}
		}
	default:
		return bad("unknown mechanism")
	}
	if err != nil {
		return bad(err.Error())
	}
	return t, nil
}

// isSPFName reports whether s is a modifier name (RFC 7208 §12):
// name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
func isSPFName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// splitDualCIDR cuts a trailing dual-cidr-length (RFC 7208 §5.6) off s.
// A domain-spec cannot end in "/" DIGIT (its toplabel has no "/", a
// macro-expand ends in "}", "%", "_" or "-"), so any such tail is CIDR.
func splitDualCIDR(s string) (rest string, c4, c6 int, err error) {
	c4, c6 = -1, -1
	if i := strings.LastIndex(s, "//"); i >= 0 && allDigits(s[i+2:]) {
		if c6, err = parseCIDRLength(s[i+2:], 128); err != nil {
			return "", -1, -1, err
		}
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 && allDigits(s[i+1:]) {
		if c4, err = parseCIDRLength(s[i+1:], 32); err != nil {
			return "", -1, -1, err
		}
		s = s[:i]
	}
	return s, c4, c6, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// parseCIDRLength parses a prefix length: "0" / %x31-39 0*1DIGIT for IPv4,
// 0*2DIGIT for IPv6 (RFC 7208 §12), at most max (§5.6). Leading zeros
// ("/032") are a syntax error.
func parseCIDRLength(s string, max int) (int, error) {
	maxDigits := 2
	if max > 32 {
		maxDigits = 3
	}
	if !allDigits(s) || len(s) > maxDigits || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("invalid CIDR length /%s", s)
	}
	n, _ := strconv.Atoi(s)
	if n > max {
		return 0, fmt.Errorf("CIDR length /%d over %d", n, max)
	}
	return n, nil
}

// parseDomainSpec checks a domain-spec (RFC 7208 §7.1):
//
//	domain-spec = macro-string domain-end
//	domain-end  = ( "." toplabel [ "." ] ) / macro-expand
//
// The c, r and t macro letters are for explanation text only.
func parseDomainSpec(s string) ([]macroToken, error) {
	if s == "" {
		return nil, errors.New("empty domain-spec")
	}
	toks, err := parseMacroString(s, false)
	if err != nil {
		return nil, err
	}
	last := toks[len(toks)-1]
	if last.Letter != 0 || last.Escape {
		return toks, nil // ends in a macro-expand
	}
	tail := strings.TrimSuffix(last.Literal, ".")
	dot := strings.LastIndexByte(tail, '.')
	if dot < 0 || !isTopLabel(tail[dot+1:]) {
		return nil, fmt.Errorf("domain-spec %q does not end in . toplabel", s)
	}
	return toks, nil
}

// isTopLabel reports whether s is a toplabel (RFC 7208 §7.1):
//
//	toplabel = ( *alphanum ALPHA *alphanum ) /
//	           ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
//
// that is, not all digits, and no "-" at either end (RFC 3696 §2).
func isTopLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	alpha, hyphen := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isAlpha(c):
			alpha = true
		case c == '-':
			hyphen = true
		case !isDigit(c):
			return false
		}
	}
	return alpha || hyphen
}

// parseMacroString splits a macro-string (RFC 7208 §7.1) into tokens:
//
//	macro-string  = *( macro-expand / macro-literal )
//	macro-expand  = ( "%{" macro-letter transformers *delimiter "}" )
//	                / "%%" / "%_" / "%-"
//	macro-literal = %x21-24 / %x26-7E
//	transformers  = *DIGIT [ "r" ]
//	delimiter     = "." / "-" / "+" / "," / "/" / "_" / "="
//
// exp allows the c, r and t letters, which only explanation text may use.
func parseMacroString(s string, exp bool) ([]macroToken, error) {
	var toks []macroToken
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, macroToken{Literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if c < 0x21 || c > 0x7e {
				return nil, fmt.Errorf("character %q in macro-string", c)
			}
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return nil, errors.New("macro-string ends in %")
		}
		i++
		flush()
		switch s[i] {
		case '%', '_', '-':
			// RFC 7208 §7.1: "%%" is "%", "%_" a space, "%-" a
			// URL-encoded space.
			esc := map[byte]string{'%': "%", '_': " ", '-': "%20"}[s[i]]
			toks = append(toks, macroToken{Literal: esc, Escape: true})
			continue
		case '{':
		default:
			return nil, fmt.Errorf("%%%c is not a macro", s[i])
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, errors.New("unterminated macro")
		}
		m, err := parseMacroBody(s[i+1:i+end], exp)
		if err != nil {
			return nil, err
		}
		toks = append(toks, m)
		i += end
	}
	flush()
	return toks, nil
}

// parseMacroBody parses macro-letter transformers *delimiter (RFC 7208
// §7.1), the text between "%{" and "}".
func parseMacroBody(b string, exp bool) (macroToken, error) {
	var m macroToken
	if b == "" {
		return m, errors.New("empty macro")
	}
	l := b[0]
	m.Upper = l >= 'A' && l <= 'Z'
	l |= 0x20
	switch l {
	case 's', 'l', 'o', 'd', 'i', 'p', 'h', 'v':
	case 'c', 'r', 't':
		// RFC 7208 §7.1: c, r and t are only allowed in "exp" text.
		if !exp {
			return m, fmt.Errorf("macro letter %c outside explanation text", b[0])
		}
	default:
		return m, fmt.Errorf("unknown macro letter %q", b[0])
	}
	m.Letter = l
	i := 1
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	if i > 1 {
		n, err := strconv.Atoi(b[1:i])
		// RFC 7208 §7.3: a DIGIT transformer MUST be nonzero. Any count
		// beyond the 127 labels a name can have means all of them.
		if err != nil {
			n = 1000
		} else if n == 0 {
			return m, errors.New("zero DIGIT transformer")
		}
		m.Digits = n
	}
	if i < len(b) && b[i]|0x20 == 'r' {
		m.Reverse = true
		i++
	}
	m.Delims = b[i:]
	for j := i; j < len(b); j++ {
		if !strings.ContainsRune(".-+,/_=", rune(b[j])) {
			return m, fmt.Errorf("invalid delimiter %q in macro", b[j])
		}
	}
	return m, nil
}
