package auth

import (
	"strings"

	smail "github.com/sluice-mail/sluice/mail"
)

// fromDomain returns the domain of the RFC5322.From address, lower-cased,
// and whether there was exactly one From field with one address
// (RFC 7489 §6.6.1).
func fromDomain(fields []smail.Field) (string, bool) {
	var from []string
	for i := range fields {
		if strings.EqualFold(fields[i].Name, "From") {
			from = append(from, fields[i].Unfolded())
		}
	}
	if len(from) != 1 {
		return "", false
	}
	// mail.ParseAddressList reads display names, comments and groups as
	// lenient receivers do; what is left must be one addr-spec with a
	// plausible domain.
	addrs := smail.ParseAddressList(from[0])
	if len(addrs) != 1 {
		return "", false
	}
	i := strings.LastIndexByte(addrs[0], '@')
	if i < 0 {
		return "", false
	}
	d := strings.TrimSuffix(addrs[0][i+1:], ".")
	if d == "" || strings.ContainsFunc(d, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune(`<>,;@()"\\`, r)
	}) {
		return "", false
	}
	return strings.ToLower(d), true
}

// tagList parses a DKIM-style tag=value list (RFC 6376 §3.2), tolerating
// errors: malformed pairs are skipped.
func tagList(s string) map[string]string {
	tags := map[string]string{}
	for _, p := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := tags[k]; !dup {
			tags[k] = strings.Join(strings.Fields(v), "")
		}
	}
	return tags
}
