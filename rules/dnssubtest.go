package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// rblSubtest is a compiled check_rbl / check_rbl_sub sub-test, with the
// three forms of SpamAssassin's Dns.pm check_subtest: a decimal bitmask
// ("8": the answer, a 127/8 address read as a 32-bit number, shares a bit
// with it), a dotted quad compared as a string ("127.0.0.2"), and
// anything else a regular expression matched against the answer (an
// address, or the text of a TXT record).
type rblSubtest struct {
	mask  uint32
	exact string
	re    *regexp.Regexp
}

var rblNumericRE = regexp.MustCompile(`^\d+(?:\.\d+\.\d+\.\d+)?$`)

// compileRBLSubtest compiles s, as do_rbl_lookup does before a query.
func compileRBLSubtest(s string) (*rblSubtest, error) {
	if rblNumericRE.MatchString(s) {
		if !strings.Contains(s, ".") {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("rules: bad bitmask %q", s)
			}
			return &rblSubtest{mask: uint32(n)}, nil
		}
		return &rblSubtest{exact: s}, nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("rules: bad subtest regexp %q: %w", s, err)
	}
	return &rblSubtest{re: re}, nil
}

// match reports whether one answer (an A record's address or a TXT
// record's text) passes the sub-test.
func (t *rblSubtest) match(answer string) bool {
	switch {
	case t.re != nil:
		return t.re.MatchString(answer)
	case t.exact != "":
		return t.exact == answer
	}
	// Bug 6803: a bitmask only reads answers in 127.0.0.0/8.
	n, ok := ipv4Num(answer)
	return ok && n>>24 == 127 && n&t.mask != 0
}

// ipv4Num reads a dotted quad as a 32-bit number.
func ipv4Num(s string) (uint32, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return 0, false
	}
	var n uint32
	for _, p := range parts {
		v, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return 0, false
		}
		n = n<<8 | uint32(v)
	}
	return n, true
}

// ParseURISubtest canonicalises a urirhssub / uridnssub sub-test as
// URIDNSBL.pm's parse_and_canonicalize_subtest does: "m", "n1-n2" or
// "n/m", each number decimal, 0x-hex or a dotted quad. A single dotted
// quad becomes the range "n-n"; a single number stays a bitmask. The
// canonical form holds decimal numbers only.
func ParseURISubtest(s string) (string, bool) {
	s = strings.TrimSpace(s)
	n1, rest, delim := s, "", ""
	if i := strings.IndexAny(s, "/-"); i >= 0 {
		n1, rest, delim = s[:i], s[i+1:], s[i:i+1]
		if rest == "" {
			return "", false
		}
	}
	quad := false
	num := func(v string) (uint64, bool) {
		switch {
		case v == "":
			return 0, false
		case strings.HasPrefix(v, "0x"):
			if len(v) > 10 {
				return 0, false
			}
			n, err := strconv.ParseUint(v[2:], 16, 32)
			return n, err == nil
		case strings.Contains(v, "."):
			n, ok := ipv4Num(v)
			quad = quad || ok
			return uint64(n), ok
		case len(v) <= 10:
			n, err := strconv.ParseUint(v, 10, 64)
			return n, err == nil
		}
		return 0, false
	}
	a, ok := num(n1)
	if !ok {
		return "", false
	}
	if delim == "" {
		if quad {
			return fmt.Sprintf("%d-%d", a, a), true
		}
		return strconv.FormatUint(a, 10), true
	}
	b, ok := num(rest)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%d%s%d", a, delim, b), true
}

// MatchURISubtest reports whether an A answer passes a canonical URIBL
// sub-test, as URIDNSBL.pm's complete_dnsbl_lookup: an empty sub-test
// takes any answer in 127.0.0.0/8 (and any TXT answer), a bitmask an
// answer in 127/8 sharing a bit with it, "n1-n2" an address in the range,
// "n/m" an address equal to n under the mask m.
func MatchURISubtest(answer, subtest string, txt bool) bool {
	n, isIP := ipv4Num(answer)
	if subtest == "" {
		return txt || (isIP && n>>24 == 127)
	}
	if subtest == answer {
		return true
	}
	if !isIP {
		return false
	}
	a, rest, delim := subtest, "", ""
	if i := strings.IndexAny(subtest, "/-"); i >= 0 {
		a, rest, delim = subtest[:i], subtest[i+1:], subtest[i:i+1]
	}
	n1, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return false
	}
	v := uint64(n)
	if delim == "" {
		return v&n1 != 0 && n>>24 == 127
	}
	n2, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return false
	}
	if delim == "-" {
		return v >= n1 && v <= n2
	}
	return v&n2 == n1&n2
}
