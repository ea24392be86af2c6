package policy

import (
	"fmt"
	"net"
	"strings"

	"github.com/sluice-mail/sluice/auth"
)

// receivedSPF renders the Received-SPF field (RFC 7208 §9.1) of result r,
// on one line: the result, a comment in the words of the RFC's examples,
// and the key-value pairs.
func receivedSPF(receiver string, ip net.IP, helo, sender string, r auth.SPFResult) string {
	who := r.Sender
	if who == "" {
		who = sender
	}
	var comment string
	switch r.Result {
	case auth.SPFPass:
		comment = fmt.Sprintf("domain of %s designates %s as permitted sender", who, ip)
	case auth.SPFFail:
		comment = fmt.Sprintf("domain of %s does not designate %s as permitted sender", who, ip)
	case auth.SPFSoftFail:
		comment = fmt.Sprintf("domain of transitioning %s does not designate %s as permitted sender", who, ip)
	case auth.SPFNeutral:
		comment = fmt.Sprintf("%s is neither permitted nor denied by domain of %s", ip, who)
	case auth.SPFNone:
		comment = fmt.Sprintf("domain of %s does not designate permitted sender hosts", who)
	case auth.SPFTempError:
		comment = fmt.Sprintf("error in processing during lookup of %s: DNS error", r.Domain)
	default:
		comment = fmt.Sprintf("domain of %s uses an invalid SPF record", who)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Received-SPF: %s (%s: %s) ", r.Result, commentText(receiver), commentText(comment))
	fmt.Fprintf(&b, "receiver=%s; client-ip=%s; helo=%s; envelope-from=%s; identity=%s;",
		value(receiver), ip, value(helo), value(sender), r.Identity)
	return b.String()
}

// value renders a key-value value: a dot-atom as it is, anything else as
// a quoted-string (RFC 5322 §3.2.4), control characters dropped.
func value(s string) string {
	s = oneLine(s)
	if s != "" && isDotAtom(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(s) {
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}

// isDotAtom reports whether s is an RFC 5322 dot-atom of ASCII atext.
func isDotAtom(s string) bool {
	if strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, c := range []byte(s) {
		isAlnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !isAlnum && !strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", rune(c)) {
			return false
		}
	}
	return true
}

// commentText makes s safe inside a comment: no parentheses, backslashes
// or control characters.
func commentText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '(' || r == ')' || r == '\\':
			return '_'
		}
		return r
	}, oneLine(s))
}

// oneLine drops control characters (a line break would end the header
// field, or the policy reply).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
