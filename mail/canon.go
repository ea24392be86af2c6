package mail

import (
	"strconv"
	"strings"
)

// canonicalizeURI returns uri and the variants SpamAssassin's
// Util::uri_list_canonicalize derives from it (without configured
// redirector_patterns): backslashes as slashes, the "//" after http:
// restored, harmless %-escapes and numeric character references
// decoded, default ports dropped, IDN hosts in A-label form, user info
// and control characters removed, numeric IPv4 forms written as dotted
// quads, and URIs embedded after a redirector ("?url=http://...").
func canonicalizeURI(uri string) []string {
	out := make([]string, 0, 4)
	seen := make(map[string]bool, 4)
	addOut := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	queue := []string{uri}
	for n := 0; n < len(queue) && n < 16; n++ {
		u := queue[n]
		u = strings.ReplaceAll(u, "\n", "")
		u = strings.TrimSpace(u)
		u = strings.ReplaceAll(u, "\r", "")
		if u != "" {
			addOut(u)
		}
		if len(u) <= 1 || u[0] == '#' || u[0] == '?' || u[0] == '&' || (u[0] == '/' && !strings.HasPrefix(u, "//")) {
			continue
		}
		isMailto := hasPrefixFoldString(u, "mailto:")
		if isMailto || (strings.IndexByte(u, '@') >= 0 && strings.IndexByte(u[:strings.IndexByte(u, '@')], ':') < 0) {
			mailtoVariants(u, isMailto, addOut)
			continue
		}
		nu := strings.ReplaceAll(u, `\`, "/")
		// http:/x, http:x → http://x
		if hasPrefixFoldString(nu, "http:") || hasPrefixFoldString(nu, "https:") {
			c := strings.IndexByte(nu, ':')
			rest := nu[c+1:]
			for k := 0; k < 2 && strings.HasPrefix(rest, "/"); k++ {
				rest = rest[1:]
			}
			nu = nu[:c+1] + "//" + rest
		}
		if hasPctEscape(nu) {
			nu = urlDecode(nu)
		}
		if !hasScheme(nu) {
			if strings.HasPrefix(nu, "ftp.") {
				nu = "ftp://" + nu
			} else {
				nu = "http://" + nu
			}
		}
		// http://host?x → http://host/?x
		if proto, hostEnd := httpHostEnd(nu); proto > 0 && hostEnd < len(nu) && (nu[hostEnd] == '?' || nu[hostEnd] == '#') {
			nu = nu[:hostEnd] + "/" + nu[hostEnd:]
		}
		nu = decodeCharRefs(nu)
		if nu != u {
			addOut(nu)
		}
		protoLen, _ := httpHostEnd(nu)
		if protoLen == 0 {
			continue
		}
		proto := strings.ToLower(nu[:protoLen])
		after := nu[protoLen:]
		authEnd := strings.IndexAny(after, "/?#")
		if authEnd < 0 {
			authEnd = len(after)
		}
		authority := after[:authEnd]
		userinfo := ""
		if at := strings.IndexByte(authority, '@'); at >= 0 {
			userinfo = authority[:at+1]
		}
		hostPort := authority[len(userinfo):]
		host := hostPort
		if c := strings.IndexByte(hostPort, ':'); c >= 0 {
			host = hostPort[:c]
		}
		if host == "" {
			continue
		}
		rest := after[len(userinfo)+len(host):]
		port := ""
		restNoPort := ""
		if strings.HasPrefix(rest, ":") {
			k := 1
			for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
				k++
			}
			port = rest[1:k]
			if (proto == "http://" && port == "80") || (proto == "https://" && port == "443") {
				restNoPort = rest[k:]
				addOut(proto + host + restNoPort)
			}
		}
		if port == "" {
			if proto == "http://" {
				port = "80"
			} else {
				port = "443"
			}
		}
		nhost := idnToASCII(host)
		if nhost != strings.ToLower(host) {
			addOut(proto + nhost + rest)
			if restNoPort != "" {
				addOut(proto + nhost + restNoPort)
			}
			host = nhost
		}
		if strings.IndexFunc(host, func(r rune) bool { return r <= 0x20 }) >= 0 {
			host = strings.Map(func(r rune) rune {
				if r <= 0x20 {
					return -1
				}
				return r
			}, host)
			addOut(proto + host + rest)
		}
		// Hard-coded redirector: an http URI inside the rest.
		if cand := redirectTarget(rest); cand != "" && len(queue) < 16 {
			queue = append(queue, cand)
		}
		// A host still holding "@" (a second user info) loses it.
		if at := strings.IndexByte(host, '@'); at >= 0 {
			host = host[at+1:]
			addOut(proto + host + rest)
		}
		if t := strings.TrimRightFunc(host, func(r rune) bool { return !(r < 0x80 && isLDH(byte(r)) && r != '-') }); t != host {
			host = t
			addOut(proto + host + rest)
		}
		if ip, ok := numericIPv4(host); ok {
			addOut(proto + ip + rest)
		} else if proto == "http://" && userinfo == "" && port == "80" && nhost != "localhost" {
			// "http://example/" → "http://www.example.com/", unless valid.
			h := strings.TrimPrefix(nhost, "www.")
			if strings.IndexByte(h, '.') < 0 && h != "" && !isDomainValid(nhost) {
				addOut(proto + "www." + h + ".com" + rest)
			}
		}
	}
	return out
}

// hasScheme matches /^[-_a-z0-9]+:/i.
func hasScheme(s string) bool {
	i := 0
	for i < len(s) && (isWordByte(s[i]) || s[i] == '-') {
		i++
	}
	return i > 0 && i < len(s) && s[i] == ':'
}

// httpHostEnd returns the length of "http://" or "https://" at the start
// of s (0 when absent) and where the host name ends.
func httpHostEnd(s string) (int, int) {
	p := 0
	switch {
	case hasPrefixFoldString(s, "http://"):
		p = 7
	case hasPrefixFoldString(s, "https://"):
		p = 8
	default:
		return 0, 0
	}
	e := strings.IndexAny(s[p:], "/?#")
	if e < 0 {
		return p, len(s)
	}
	return p, p + e
}

// decodeCharRefs decodes numeric character references of printable ASCII
// and the various full stops SpamAssassin knows (&#x2e; &#12290; ...).
func decodeCharRefs(s string) string {
	if strings.IndexByte(s, '&') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '&' && i+2 < len(s) && s[i+1] == '#' {
			j := i + 2
			hex := j < len(s) && (s[j] == 'x' || s[j] == 'X')
			if hex {
				j++
			}
			k := j
			for k < len(s) && k-j < 10 {
				c := s[k]
				if c >= '0' && c <= '9' || (hex && (c|0x20) >= 'a' && (c|0x20) <= 'f') {
					k++
					continue
				}
				break
			}
			if k > j && k < len(s) && s[k] == ';' {
				base := 10
				if hex {
					base = 16
				}
				v, err := strconv.ParseUint(s[j:k], base, 32)
				if err == nil {
					switch {
					case v >= 33 && v <= 126:
						b.WriteByte(byte(v))
						i = k
						continue
					case v == 0x2e || v == 12290 || v == 65294 || v == 65377:
						b.WriteByte('.')
						i = k
						continue
					}
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// numericIPv4 converts hosts written as 0x-hex, octal or decimal dotted
// quads, one hex number or one decimal number to a dotted quad.
func numericIPv4(h string) (string, bool) {
	lh := strings.ToLower(h)
	parts := strings.Split(lh, ".")
	if len(parts) == 4 {
		var out [4]string
		for i, p := range parts {
			if p == "" {
				return "", false
			}
			switch {
			case strings.HasPrefix(p, "0x") && len(p) > 2 && isHex(p[2:]):
				v, err := strconv.ParseUint(p[2:], 16, 64)
				if err != nil {
					return "", false
				}
				out[i] = strconv.FormatUint(v, 10)
			case isDigits(p):
				q := strings.TrimLeft(p, "0")
				if len(q) < len(p) && q != "" {
					if v, err := strconv.ParseUint(q, 8, 64); err == nil {
						q = strconv.FormatUint(v, 10)
					}
				}
				if q == "" {
					q = ""
				}
				out[i] = q
			default:
				return "", false
			}
		}
		return out[0] + "." + out[1] + "." + out[2] + "." + out[3], true
	}
	if len(parts) != 1 {
		return "", false
	}
	var v uint64
	switch {
	case strings.HasPrefix(lh, "0x") && len(lh) > 2 && isHex(lh[2:]):
		x := lh[2:]
		if len(x) > 8 {
			x = x[len(x)-8:]
		}
		v, _ = strconv.ParseUint(x, 16, 64)
	case isDigits(lh) && lh != "":
		var err error
		v, err = strconv.ParseUint(lh, 10, 64)
		if err != nil {
			return "", false
		}
		v &= 0xffffffff
	default:
		return "", false
	}
	return strconv.Itoa(int(v>>24&0xff)) + "." + strconv.Itoa(int(v>>16&0xff)) + "." + strconv.Itoa(int(v>>8&0xff)) + "." + strconv.Itoa(int(v&0xff)), true
}

// URIs returns SpamAssassin's uri list: every URI found in the rendered
// body text (with http://, ftp:// or mailto: added to schemeless ones,
// kept only when their host has a valid TLD) and in HTML attributes
// (resolved against <base>), each with its canonical variants, without
// duplicates, in order of discovery. This is what "uri" rules match.
func (m *Message) URIs() []string {
	if m.urisDone {
		return m.uris
	}
	m.urisDone = true
	seenOut := map[string]bool{}
	add := func(variants []string) {
		for _, v := range variants {
			if len(v) > maxURILength {
				v = v[:maxURILength]
			}
			if !seenOut[v] {
				seenOut[v] = true
				m.uris = append(m.uris, v)
			}
		}
	}
	seenRaw := map[string]bool{}
	textURIs(m.Body(), seenRaw, func(u string) {
		variants := canonicalizeURI(u)
		for _, v := range variants {
			if _, ok := uriDomain(v); ok {
				add(variants)
				return
			}
		}
	})
	for _, h := range m.HTML() {
		for _, u := range h.URIs {
			add(canonicalizeURI(u.URI))
		}
		for _, k := range h.anchorKeys {
			if k == "" {
				add([]string{""})
				continue
			}
			add(canonicalizeURI(k))
		}
	}
	return m.uris
}

// hasPrefixFoldString reports whether s starts with the lower-case ASCII
// prefix p, ignoring ASCII case.
func hasPrefixFoldString(s, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if lowerByte(s[i]) != p[i] {
			return false
		}
	}
	return true
}

// mailtoVariants adds the bare-address forms of a mailto: or user@host
// URI (SpamAssassin's uri_list_canonicalize).
func mailtoVariants(u string, isMailto bool, addOut func(string)) {
	// mailto:user@host?subject=... and similar: the bare address.
	at := strings.IndexByte(u, '@')
	if at > 0 {
		if q := strings.IndexByte(u[at:], '?'); q > 1 {
			addOut(u[:at+q])
		}
		if a := strings.IndexByte(u[at:], '&'); a > 1 && strings.IndexByte(u[at:at+a], '?') < 0 {
			addOut(u[:at+a])
		}
	}
	if strings.Contains(u, "%20") {
		rest := u
		if isMailto {
			rest = rest[7:]
		}
		for strings.HasPrefix(rest, "%20") {
			rest = rest[3:]
		}
		if at := strings.IndexByte(rest, '@'); at > 0 {
			e := at + 1
			for e < len(rest) && rest[e] != '?' && rest[e] != '&' && rest[e] != '%' {
				e++
			}
			if e > at+1 {
				addOut("mailto:" + rest[:e])
			}
		}
	}
	if lt := strings.IndexByte(u, '<'); lt >= 0 && !strings.ContainsAny(u[:lt], "?&") {
		if gt := strings.IndexByte(u[lt:], '>'); gt > 0 {
			inner := u[lt+1 : lt+gt]
			if at := strings.IndexByte(inner, '@'); at > 0 && at < len(inner)-1 {
				addOut("mailto:" + inner)
			}
		}
	}
}

// redirectTarget returns the first http or https URI inside rest, up to
// "&" or "#", when it holds a dot; else "".
func redirectTarget(rest string) string {
	lr := strings.ToLower(rest)
	if !strings.Contains(lr, "http:") && !strings.Contains(lr, "https:") {
		return ""
	}
	i := strings.Index(lr, "http")
	for i >= 0 {
		cand := rest[i:]
		lc := lr[i:]
		if strings.HasPrefix(lc, "http:") || strings.HasPrefix(lc, "https:") {
			e := strings.IndexAny(cand, "&#")
			if e < 0 {
				e = len(cand)
			}
			cand = cand[:e]
			if strings.IndexByte(cand, '.') >= 0 {
				return cand
			}
			return ""
		}
		j := strings.Index(lr[i+4:], "http")
		if j < 0 {
			return ""
		}
		i += 4 + j
	}
	return ""
}

// AnchorMailtos returns the href values of <a> elements that start with
// "mailto:" (any case) and that the rendered text does not also show, in
// order, without duplicates: the uri_detail_list entries of type "a" but
// not "parsed" that SpamAssassin's FreeMail plugin adds to the addresses
// it finds in the body.
func (m *Message) AnchorMailtos() []string {
	var out []string
	var inText map[string]bool
	seen := map[string]bool{}
	for _, h := range m.HTML() {
		for _, u := range h.URIs {
			if u.Tag != "a" || !hasPrefixFoldString(u.URI, "mailto:") || seen[u.URI] {
				continue
			}
			seen[u.URI] = true
			if inText == nil {
				inText = map[string]bool{}
				textURIs(m.Body(), map[string]bool{}, func(t string) { inText[t] = true })
			}
			if !inText[u.URI] {
				out = append(out, u.URI)
			}
		}
	}
	return out
}
