package mail

import "strings"

// ParseAddressList extracts the addr-specs of an address-list as RFC 5322
// §3.4 reads it, for consumers that need the standard's reading rather
// than SpamAssassin's (ParseAddresses): Sieve's address test (RFC 5228
// §5.1), whose results Pigeonhole is the reference for. It tolerates what
// real mail holds: display names, comments, groups anywhere in the list,
// obsolete source routes and white space around the "@" and dots, missing
// angle brackets. An entry that cannot be parsed is returned as written,
// white space removed; nothing is cut at a second "@". It never fails.
func ParseAddressList(v string) []string {
	var out []string
	var cur strings.Builder // text outside <> for the current entry
	var angle strings.Builder
	inAngle, sawAngle := false, false
	flush := func() {
		var a string
		if sawAngle {
			a = angle.String()
		} else {
			a = cur.String()
		}
		a = strings.TrimSpace(a)
		if a != "" {
			out = append(out, stripRoute(a))
		}
		cur.Reset()
		angle.Reset()
		inAngle, sawAngle = false, false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			// Quoted string: copy through (it may be a quoted local part).
			j := i + 1
			for j < len(v) && v[j] != '"' {
				if v[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(v) {
				j = len(v) - 1
			}
			if inAngle {
				angle.WriteString(v[i : j+1])
			} else {
				cur.WriteString(v[i : j+1])
			}
			i = j
		case c == '(':
			depth := 1
			j := i + 1
			for j < len(v) && depth > 0 {
				switch v[j] {
				case '\\':
					j++
				case '(':
					depth++
				case ')':
					depth--
				}
				j++
			}
			i = j - 1
			cur.WriteByte(' ')
		case c == '<':
			inAngle, sawAngle = true, true
			angle.Reset()
		case c == '>' && inAngle:
			inAngle = false
		case c == ':' && !inAngle && !sawAngle && !strings.Contains(cur.String(), "@"):
			// Group name: drop it.
			cur.Reset()
		case c == ';' && !inAngle:
			flush()
		case c == ',' && !inAngle:
			flush()
		default:
			if inAngle {
				angle.WriteByte(c)
			} else {
				cur.WriteByte(c)
			}
		}
	}
	flush()
	return out
}

// stripRoute removes an obsolete source route and white space from an addr-spec.
func stripRoute(a string) string {
	if strings.HasPrefix(a, "@") {
		if i := strings.IndexByte(a, ':'); i >= 0 {
			a = a[i+1:]
		}
	}
	if !strings.Contains(a, "\"") {
		a = strings.Join(strings.Fields(a), "")
	}
	return a
}
