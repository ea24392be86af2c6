package rules

import "strings"

// Address is one mailbox of an address header, as the :addr and :name
// header modifiers see it.
type Address struct {
	Name string // display name, unquoted, or the comment of an old-style address
	Addr string // local@domain (or whatever stands in its place)
}

// HeaderAddresses splits an address header value (RFC 5322 §3.4) into its
// mailboxes leniently, as SpamAssassin's :addr and :name do: commas split
// outside quotes, angle brackets and comments; "Name <addr>" and
// "addr (Name)" forms; group names are dropped.
func HeaderAddresses(v string) []Address {
	var out []Address
	for _, part := range splitAddressList(v) {
		part = strings.TrimSpace(part)
		if i := groupColon(part); i >= 0 {
			part = strings.TrimSpace(part[i+1:])
		}
		part = strings.TrimRight(part, "; \t")
		if part == "" {
			continue
		}
		var a Address
		if lt := strings.LastIndexByte(part, '<'); lt >= 0 {
			gt := strings.IndexByte(part[lt:], '>')
			if gt < 0 {
				a.Addr = strings.TrimSpace(part[lt+1:])
			} else {
				a.Addr = strings.TrimSpace(part[lt+1 : lt+gt])
			}
			a.Name = unquote(strings.TrimSpace(stripComments(part[:lt])))
		} else {
			comment := ""
			if i := strings.IndexByte(part, '('); i >= 0 {
				if j := strings.LastIndexByte(part, ')'); j > i {
					comment = part[i+1 : j]
				}
			}
			a.Addr = strings.TrimSpace(stripComments(part))
			a.Name = unquote(strings.TrimSpace(comment))
		}
		out = append(out, a)
	}
	return out
}

// groupColon returns the index of a group's "name:" colon, or -1.
func groupColon(s string) int {
	inQ := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQ = !inQ
		case '<', '@', '(':
			if !inQ {
				return -1
			}
		case ':':
			if !inQ {
				return i
			}
		}
	}
	return -1
}

func splitAddressList(v string) []string {
	var parts []string
	depth, angle, inQ := 0, 0, false
	start := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\':
			i++
		case c == '"' && depth == 0:
			inQ = !inQ
		case inQ:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '<' && depth == 0:
			angle++
		case c == '>' && depth == 0 && angle > 0:
			angle--
		case c == ',' && depth == 0 && angle == 0:
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}

func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	inQ := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' && depth == 0:
			inQ = !inQ
		case c == '(' && !inQ:
			depth++
			continue
		case c == ')' && !inQ && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
		s = strings.ReplaceAll(s, `\"`, `"`)
		s = strings.ReplaceAll(s, `\\`, `\`)
	}
	return s
}

// RegistrableDomain returns the domain under a public suffix listed in
// tlds (util_rb_tld) or twoLevel (util_rb_2tld): "mail.example.co.uk" with
// co.uk in twoLevel gives "example.co.uk". Unknown suffixes keep the last
// two labels. The host is returned unchanged when it is an IP address or
// a single label.
func RegistrableDomain(host string, tlds, twoLevel map[string]bool) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	labels := strings.Split(host, ".")
	if len(labels) < 2 || isIPv4(host) {
		return host
	}
	n := len(labels)
	if n >= 3 && twoLevel[strings.Join(labels[n-2:], ".")] {
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
