package mail

import (
	"bytes"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// parsedURI is SpamAssassin's HTML::_parse_uri split; the has* fields
// tell "absent" from "empty".
type parsedURI struct {
	scheme, authority, path, query, fragment string
	hasScheme, hasAuth, hasQuery, hasFrag    bool
}

// parseURIRef splits u per RFC 3986 appendix B.
func parseURIRef(u string) parsedURI {
	var p parsedURI
	if i := strings.IndexAny(u, ":/?#"); i > 0 && u[i] == ':' {
		p.scheme, p.hasScheme = u[:i], true
		u = u[i+1:]
	}
	if strings.HasPrefix(u, "//") {
		u = u[2:]
		i := strings.IndexAny(u, "/?#")
		if i < 0 {
			i = len(u)
		}
		p.authority, p.hasAuth = u[:i], true
		u = u[i:]
	}
	if i := strings.IndexByte(u, '#'); i >= 0 {
		p.fragment, p.hasFrag = u[i+1:], true
		u = u[:i]
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		p.query, p.hasQuery = u[i+1:], true
		u = u[:i]
	}
	p.path = u
	return p
}

// removeDotSegments is RFC 3986 §5.2.4 as SpamAssassin writes it.
func removeDotSegments(in string) string {
	if strings.HasPrefix(in, "./") || strings.HasPrefix(in, "../") {
		in = "/" + in[strings.IndexByte(in, '/')+1:]
	}
	if !strings.Contains(in, "/.") {
		return in
	}
	res := make([]byte, 0, len(in))
	for in != "" {
		switch {
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.." || strings.HasPrefix(in, "/../"):
			if in == "/.." {
				in = "/"
			} else {
				in = in[3:]
			}
			if i := bytes.LastIndexByte(res, '/'); i >= 0 {
				res = res[:i]
			} else {
				res = res[:0]
			}
		default:
			j := 0
			if in[0] == '/' {
				j = 1
			}
			k := strings.IndexByte(in[j:], '/')
			if k < 0 {
				k = len(in)
			} else {
				k += j
			}
			res = append(res, in[:k]...)
			in = in[k:]
		}
	}
	return string(res)
}

// targetURI resolves r against base (RFC 3986 §5.2.2, non-strict, as
// SpamAssassin's HTML::target_uri).
func targetURI(base, r string) string {
	rp := parseURIRef(r)
	bp := parseURIRef(base)
	if rp.hasScheme && bp.hasScheme && rp.scheme == bp.scheme {
		rp.hasScheme = false
	}
	var t parsedURI
	if rp.hasScheme {
		t = parsedURI{scheme: rp.scheme, hasScheme: true, authority: rp.authority, hasAuth: rp.hasAuth,
			path: removeDotSegments(rp.path), query: rp.query, hasQuery: rp.hasQuery}
	} else {
		if rp.hasAuth {
			t.authority, t.hasAuth = rp.authority, true
			t.path = removeDotSegments(rp.path)
			t.query, t.hasQuery = rp.query, rp.hasQuery
		} else {
			switch {
			case rp.path == "":
				t.path = bp.path
				if rp.hasQuery {
					t.query, t.hasQuery = rp.query, true
				} else {
					t.query, t.hasQuery = bp.query, bp.hasQuery
				}
			case rp.path[0] == '/':
				t.path = removeDotSegments(rp.path)
				t.query, t.hasQuery = rp.query, rp.hasQuery
			default:
				var merged string
				if bp.hasAuth && bp.path == "" {
					merged = "/" + rp.path
				} else if i := strings.LastIndexByte(bp.path, '/'); i >= 0 {
					merged = bp.path[:i+1] + rp.path
				} else {
					merged = rp.path
				}
				t.path = removeDotSegments(merged)
				t.query, t.hasQuery = rp.query, rp.hasQuery
			}
			t.authority, t.hasAuth = bp.authority, bp.hasAuth
		}
		t.scheme, t.hasScheme = bp.scheme, bp.hasScheme
	}
	t.fragment, t.hasFrag = rp.fragment, rp.hasFrag
	var b strings.Builder
	if t.scheme != "" {
		b.WriteString(t.scheme)
		b.WriteByte(':')
	} else if t.hasAuth {
		la := strings.ToLower(t.authority)
		if strings.HasPrefix(la, "www") && wwwPrefix(la) {
			b.WriteString("http:")
		} else if strings.HasPrefix(la, "ftp") && ftpPrefix(la) {
			b.WriteString("ftp:")
		}
	}
	if t.hasAuth {
		b.WriteString("//")
		b.WriteString(t.authority)
	}
	b.WriteString(t.path)
	if t.hasQuery {
		b.WriteByte('?')
		b.WriteString(t.query)
	}
	if t.hasFrag {
		b.WriteByte('#')
		b.WriteString(t.fragment)
	}
	return b.String()
}

// wwwPrefix matches /^www\d*\./ on lower-case s.
func wwwPrefix(s string) bool {
	i := 3
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i < len(s) && s[i] == '.'
}

func ftpPrefix(s string) bool { return wwwPrefixN(s, 3) }

func wwwPrefixN(s string, n int) bool {
	i := n
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i < len(s) && s[i] == '.'
}

// Character classes of SpamAssassin's text URI scanner (_tbirdurire),
// which imitates what Thunderbird and Outlook Express linkify.
func isPerlSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isEndDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v', 0x1b, 0xa0, '>', '<', '"', '`', '}', ']', '{', '[', '|':
		return true
	}
	return false
}

func isStartDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v', 0x1b, 0xa0, '>', '<', '"', '\'', '`', ',', '{', '[', '(', '|':
		return true
	}
	return false
}

func isEndDelimEmail(c byte) bool {
	return c >= 0x80 || isEndDelim(c) || c == ',' || c == '(' || c == '\''
}

func isSchemelessStart(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v', 0x1b, 0xa0,
		'!', '"', '#', '$', '&', '\'', '(', ')', '*', '+', ',', '/', ':', ';', '<', '=', '>', '?', '@',
		'[', '\\', ']', '^', '`', '{', '|', '}', '~':
		return true
	}
	return false
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

func hasPrefixFold(s []byte, i int, p string) bool {
	if len(s)-i < len(p) {
		return false
	}
	for k := 0; k < len(p); k++ {
		if lowerByte(s[i+k]) != p[k] {
			return false
		}
	}
	return true
}

// runEnd returns the end of the run of bytes from i for which stop is false,
// or -1 when it is longer than max.
func runEnd(s []byte, i, max int, stop func(byte) bool) int {
	j := i
	for j < len(s) && !stop(s[j]) {
		j++
		if j-i > max {
			return -1
		}
	}
	return j
}

// textURIMatch tries the three alternatives of SpamAssassin's text URI
// regex at i; it returns the match end and its kind.
// mailEnd is where the run of local-part bytes containing i ends.
func textURIMatch(s []byte, i, mailEnd int) (int, byte) {
	// Known scheme or www./ftp. prefix.
	pl := 0
	switch c0 := lowerByte(s[i]); {
	case c0 != 'h' && c0 != 'f' && c0 != 'w':
	case hasPrefixFold(s, i, "http://"):
		pl = 7
	case hasPrefixFold(s, i, "https://"):
		pl = 8
	case hasPrefixFold(s, i, "ftp://"):
		pl = 6
	case hasPrefixFold(s, i, "www"):
		k := i + 3
		for k < len(s) && k < i+5 && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k < len(s) && s[k] == '.' {
			pl = k + 1 - i
		}
	case hasPrefixFold(s, i, "ftp."):
		pl = 4
	}
	if pl > 0 {
		if e := runEnd(s, i+pl, 2048, isEndDelim); e > i+pl {
			return e, 's'
		}
	}
	// mailto: or local@domain.
	if lowerByte(s[i]) == 'm' && hasPrefixFold(s, i, "mailto:") {
		if e := runEnd(s, i+7, 2048, isEndDelimEmail); e > i+7 {
			return e, 'm'
		}
	}
	if at := mailEnd; at > i && at-i <= 251 && at < len(s) && s[at] == '@' {
		if e := runEnd(s, at+1, 251, isEndDelimEmail); e > at+1 {
			return e, 'm'
		}
	}
	// Schemeless host name ending in a valid TLD.
	if i > 0 && !isSchemelessStart(s[i-1]) {
		return 0, 0
	}
	c := lowerByte(s[i])
	if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
		return 0, 0
	}
	h := i + 1
	for h < len(s) && h-i < 253 && (isLDH(s[h]) || s[h] == '.' || s[h] == '_') {
		h++
	}
	host := s[i:h]
	end := len(host)
	if end > 0 && host[end-1] == '.' {
		end--
	}
	d := -1
	for k := end - 1; k > 0; k-- {
		if host[k] == '.' {
			d = k
			break
		}
	}
	if d < 0 || !validTLD(string(host[d+1:end])) {
		return 0, 0
	}
	j := h
	if j < len(s) && s[j] == ':' {
		k := j + 1
		for k < len(s) && k-j <= 5 && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j+1 {
			j = k
		}
	}
	if j < len(s) && s[j] == '/' {
		if e := runEnd(s, j+1, 2048, isEndDelim); e > j+1 {
			j = e
		}
	}
	if j < len(s) && !isEndDelim(s[j]) {
		return 0, 0
	}
	return j, 'h'
}

// textURIs finds URIs in rendered text as SpamAssassin's
// _process_text_uri_list does and returns them with a scheme added.
func textURIs(paras [][]byte, seen map[string]bool, add func(string)) {
	for _, s := range paras {
		if bytes.IndexByte(s, '.') < 0 && bytes.IndexByte(s, '@') < 0 && bytes.IndexByte(s, ':') < 0 {
			continue
		}
		mailEnd := -1
		tokEnd := -1
		for i := 0; i < len(s); {
			if i > tokEnd {
				// Every URI form holds ".", "@" or ":" and no white space:
				// skip words without them.
				tokEnd = i
				hit := false
				for tokEnd < len(s) && !isPerlSpace(s[tokEnd]) {
					if c := s[tokEnd]; c == '.' || c == '@' || c == ':' {
						hit = true
					}
					tokEnd++
				}
				if !hit {
					i = tokEnd + 1
					continue
				}
			}
			if i >= mailEnd {
				// Local parts run to a delimiter or "@"; every start inside
				// one run shares its end.
				mailEnd = i
				for mailEnd < len(s) && !isEndDelimEmail(s[mailEnd]) && s[mailEnd] != '@' {
					mailEnd++
				}
			}
			ok := i == 0 || isStartDelim(s[i-1]) || isWordByte(s[i-1]) != isWordByte(s[i]) ||
				(i >= 3 && s[i-3] == 0x1b && s[i-2] == '(')
			if !ok {
				i++
				continue
			}
			end, kind := textURIMatch(s, i, mailEnd)
			if end <= i {
				i++
				continue
			}
			raw := string(s[i:end])
			i = end
			// Thunderbird: ")" ends the URI unless a "(" came before it.
			if p := strings.IndexByte(raw, ')'); p >= 0 && strings.IndexByte(raw[:p], '(') < 0 {
				raw = raw[:p]
			}
			raw = strings.TrimRight(raw, "-~!@#^&*()_+=:;'?,.")
			if seen[raw] {
				continue
			}
			seen[raw] = true
			if kind == 'm' && strings.IndexByte(raw, '@') < 0 {
				continue
			}
			lr := strings.ToLower(raw)
			if strings.HasPrefix(lr, "cid:") || strings.HasPrefix(lr, "mid:") || emptyURI(lr) {
				continue
			}
			u := raw
			if !(strings.HasPrefix(lr, "http:") || strings.HasPrefix(lr, "https:") || strings.HasPrefix(lr, "ftp:") || strings.HasPrefix(lr, "mailto:")) {
				switch {
				case strings.HasPrefix(lr, "ftp."):
					u = "ftp://" + u
				case strings.HasPrefix(lr, "www") && wwwPrefix(lr):
					u = "http://" + u
				case slashBeforeAt(u):
					u = "http://" + u
				case strings.IndexByte(u, '@') >= 0:
					at := strings.IndexByte(u, '@')
					if strings.IndexByte(u[at+1:], '.') < 1 || strings.Contains(u, "&nbsp;") {
						continue
					}
					u = "mailto:" + stripMailPrefix(u)
				default:
					if strings.IndexByte(u, '.') < 0 {
						continue
					}
					u = "http://" + u
				}
			}
			if strings.HasPrefix(strings.ToLower(u), "mailto:") {
				if hasPctEscape(u) {
					u = urlDecode(u)
				}
				at := strings.IndexByte(u, '@')
				if at < 0 {
					continue
				}
				host := u[at+1:]
				if k := strings.IndexAny(host, "?&>"); k >= 0 {
					host = host[:k]
				}
				for strings.HasSuffix(host, "%20") {
					host = host[:len(host)-3]
				}
				if !isDomainValid(host) {
					continue
				}
			}
			add(u)
		}
	}
}

func slashBeforeAt(u string) bool {
	s := strings.IndexByte(u, '/')
	return s >= 0 && strings.IndexByte(u[s+1:], '@') > 0
}

// stripMailPrefix drops "skype:", "mail:", "e-mail:" misparses.
func stripMailPrefix(u string) string {
	l := strings.ToLower(u)
	for _, p := range []string{"skype", "e-mail", "email", "e-mail", "mail", "-mail", ""} {
		if strings.HasPrefix(l, p+":") {
			rest := u[len(p):]
			return strings.TrimLeft(rest, ":")
		}
	}
	return u
}

// emptyURI matches /^\w+:\/{0,2}$/.
func emptyURI(l string) bool {
	i := 0
	for i < len(l) && isWordByte(l[i]) {
		i++
	}
	if i == 0 || i >= len(l) || l[i] != ':' {
		return false
	}
	rest := l[i+1:]
	return rest == "" || rest == "/" || rest == "//"
}

func hasPctEscape(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' {
			if _, ok := unhex(s[i+1]); ok {
				if _, ok := unhex(s[i+2]); ok {
					return true
				}
			}
		}
	}
	return false
}

// urlDecode is SpamAssassin's Util::url_encode (sic): it decodes %XX
// escapes of printable characters other than reserved ones, and escapes
// raw control, space, 8-bit, '"', '%', '<' and '>' bytes.
func urlDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				v := h<<4 | l
				// SpamAssassin keeps %20, %7f and escapes of control and
				// 8-bit bytes (first digit 0, 1, 8, 9, a-f).
				esc := strings.ToLower(s[i+1 : i+3])
				keep := esc == "20" || esc == "7f" || strings.IndexByte("0189abcdef", esc[0]) >= 0
				if !keep && v >= 0x20 && v < 0x80 {
					b.WriteByte(v)
				} else {
					b.WriteString(s[i : i+3])
				}
				i += 2
				continue
			}
		}
		if c <= 0x20 || c >= 0x7f || c == '"' || c == '%' || c == '<' || c == '>' {
			b.WriteByte('%')
			b.WriteString(strconv.FormatUint(uint64(c)>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(c)&0xf, 16))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// isDomainValid is RegistryBoundaries::is_domain_valid: no white space and
// a last label that is a valid TLD.
func isDomainValid(d string) bool {
	d = strings.ToLower(d)
	if strings.ContainsAny(d, " \t\r\n\f\v") {
		return false
	}
	i := strings.LastIndexByte(d, '.')
	return i >= 0 && i < len(d)-1 && validTLD(d[i+1:])
}

// idnToASCII converts a non-ASCII host to its A-label form (RFC 5891), or
// lower-cases it.
func idnToASCII(h string) string {
	if isASCIIString(h) {
		return strings.ToLower(h)
	}
	if a, err := idna.Lookup.ToASCII(h); err == nil {
		return a
	}
	if a, err := idna.Punycode.ToASCII(strings.ToLower(h)); err == nil {
		return a
	}
	return strings.ToLower(h)
}

// uriDomain is RegistryBoundaries::uri_to_domain: it returns the host of
// the URI when it is an IP address or a valid FQDN with a valid TLD.
func uriDomain(uri string) (string, bool) {
	u := strings.ToLower(uri)
	if strings.HasPrefix(u, "javascript:") || strings.HasPrefix(u, "cid:") || strings.HasPrefix(u, "file:") {
		return "", false
	}
	if strings.HasPrefix(u, "mailto:") {
		u = u[7:]
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		if strings.Count(u, "@") > 1 {
			return "", false
		}
		i := strings.LastIndexByte(u, '@')
		if i < 0 {
			return "", false
		}
		u = u[i+1:]
	} else {
		k := 0
		for k < len(u) && u[k] >= 'a' && u[k] <= 'z' {
			k++
		}
		if k > 0 && k < len(u) && u[k] == ':' {
			u = u[k+1:]
			for n := 0; n < 2 && strings.HasPrefix(u, "/"); n++ {
				u = u[1:]
			}
		}
		if i := strings.IndexAny(u, "/?#"); i >= 0 {
			u = u[:i]
		}
		if i := strings.LastIndexByte(u, '@'); i >= 0 {
			u = u[i+1:]
		}
		if i := strings.LastIndexByte(u, ':'); i >= 0 && isDigits(u[i+1:]) {
			u = u[:i]
		}
	}
	if hasReservedEscape(u) {
		return "", false
	}
	host := idnToASCII(u)
	if isIPv4(host) {
		return host, true
	}
	if !isFQDNValid(host) || !isDomainValid(host) {
		return "", false
	}
	return host, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hasReservedEscape matches /%(?:2[1-9a-f]|[3-6][0-9a-f]|7[0-9a-e])/:
// an escaped printable character in a host name is an evasion.
func hasReservedEscape(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		h, ok1 := unhex(s[i+1])
		l, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			continue
		}
		v := h<<4 | l
		if v >= 0x21 && v <= 0x7e {
			return true
		}
	}
	return false
}

func isIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || !isDigits(p) {
			return false
		}
		if n, _ := strconv.Atoi(p); n > 255 {
			return false
		}
	}
	return true
}
