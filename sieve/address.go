package sieve

import (
	"strings"

	"github.com/sluice-mail/sluice/mail"
)

// parseAddressList extracts the addr-specs of an address header value
// (RFC 5322 §3.4) with mail's parser.
func parseAddressList(v string) []string { return mail.ParseAddressList(v) }

// splitAddress splits an addr-spec at the last '@'. A quoted local part is unquoted.
func splitAddress(a string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return unquoteLocal(a), "", false
	}
	return unquoteLocal(a[:i]), a[i+1:], true
}

func unquoteLocal(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var b strings.Builder
		for i := 1; i < len(s)-1; i++ {
			if s[i] == '\\' && i+1 < len(s)-1 {
				i++
			}
			b.WriteByte(s[i])
		}
		return b.String()
	}
	return s
}

// addressPart extracts an RFC 5228 §2.7.4 / RFC 5233 address part; ok is
// false when the part does not exist (e.g. :detail without separator).
func addressPart(addr, part, sep string) (string, bool) {
	if part == "all" {
		return addr, true
	}
	local, domain, hasAt := splitAddress(addr)
	switch part {
	case "localpart":
		return local, true
	case "domain":
		if !hasAt {
			return "", false
		}
		return domain, true
	case "user", "detail":
		if sep == "" {
			sep = "+"
		}
		// RFC 5233 §4: the first occurrence of any separator character splits.
		i := strings.IndexAny(local, sep)
		if part == "user" {
			if i < 0 {
				return local, true
			}
			return local[:i], true
		}
		if i < 0 {
			return "", false
		}
		return local[i+1:], true
	}
	return addr, true
}

// validAddrSpec reports whether a is a plausible RFC 5322 addr-spec:
// non-empty ASCII local part and domain.
func validAddrSpec(a string) bool {
	l, d, ok := splitAddress(a)
	if !ok || l == "" || d == "" || !isASCII(a) {
		return false
	}
	return !strings.ContainsAny(d, " \t<>()[],;:@\"")
}

// headerAddresses parses an address header the way Pigeonhole does: when
// any entry is not a valid address, the whole (trimmed) value stands as a
// single invalid entry that only :all can match.
func headerAddresses(v string) (addrs []string, valid bool) {
	list := parseAddressList(v)
	if len(list) == 0 {
		if strings.Contains(v, ":") && strings.TrimSpace(v) != "" {
			return nil, true // an empty group
		}
		return []string{strings.TrimSpace(v)}, false
	}
	for _, a := range list {
		if !validAddrSpec(a) {
			return []string{strings.TrimSpace(v)}, false
		}
	}
	return list, true
}

// canonicalAddrSpec removes needless quoting from a local part
// (RFC 5321 §4.1.2: "Sirius"@x is Sirius@x).
func canonicalAddrSpec(a string) string {
	i := strings.LastIndexByte(a, '@')
	if i < 0 || !strings.HasPrefix(a, "\"") {
		return a
	}
	local := unquoteLocal(a[:i])
	if isDotAtom(local) {
		return local + a[i:]
	}
	return a
}

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isIdentChar(c) || c == '.' || strings.IndexByte("!#$%&'*+-/=?^`{|}~", c) >= 0) {
			return false
		}
	}
	return true
}

// parsePath parses an SMTP reverse or forward path (RFC 5321 §4.1.2):
// optional angle brackets, an ignored source route, then a mailbox. The
// null path "<>" yields "". ok is false for a syntax error.
func parsePath(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s == "<>" {
		return "", true
	}
	if strings.HasPrefix(s, "<") {
		if !strings.HasSuffix(s, ">") {
			return "", false
		}
		s = s[1 : len(s)-1]
	}
	if strings.ContainsAny(s, "<>") {
		return "", false
	}
	if strings.HasPrefix(s, "@") {
		colon := strings.IndexByte(s, ':')
		if colon < 0 {
			return "", false
		}
		for _, hop := range strings.Split(s[:colon], ",") {
			if !strings.HasPrefix(hop, "@") || !validDomain(hop[1:]) {
				return "", false
			}
		}
		s = s[colon+1:]
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		// A bare local part such as <MAILER-DAEMON> is accepted, as Pigeonhole does.
		return s, s != "" && looseLocal(s)
	}
	if at == 0 {
		return "", false
	}
	local, domain := s[:at], s[at+1:]
	if !validDomain(domain) {
		return "", false
	}
	if !looseLocal(local) && !(len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"') {
		return "", false
	}
	return s, true
}

func validDomain(d string) bool {
	if strings.HasPrefix(d, "[") && strings.HasSuffix(d, "]") {
		return len(d) > 2
	}
	if d == "" {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c == '-' || c == '_' || c >= 0x80 || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')) {
				return false
			}
		}
	}
	return true
}

// looseLocal accepts dot-atom local parts with stray dots, which Japanese
// mobile carriers are known for and Pigeonhole tolerates.
func looseLocal(s string) bool {
	return strings.Trim(s, ".") != "" && isDotAtom(strings.ReplaceAll(s, ".", ""))
}
