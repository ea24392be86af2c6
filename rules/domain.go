package rules

import "strings"

// RegistrableDomain returns the domain under a public suffix listed in
// tlds (util_rb_tld) or multiLevel (util_rb_2tld and util_rb_3tld):
// "mail.example.co.uk" with co.uk in multiLevel gives "example.co.uk",
// and a three-label suffix is tried before a two-label one, as
// SpamAssassin's RegistryBoundaries does. Unknown suffixes keep the last
// two labels. The host is returned unchanged when it is an IP address or
// a single label.
func RegistrableDomain(host string, tlds, multiLevel map[string]bool) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	labels := strings.Split(host, ".")
	if len(labels) < 2 || isIPv4(host) {
		return host
	}
	n := len(labels)
	if n >= 4 && multiLevel[strings.Join(labels[n-3:], ".")] {
		return strings.Join(labels[n-4:], ".")
	}
	if n >= 3 && multiLevel[strings.Join(labels[n-2:], ".")] {
		return strings.Join(labels[n-3:], ".")
	}
	return strings.Join(labels[n-2:], ".")
}

func isIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}
