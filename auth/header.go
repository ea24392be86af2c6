package auth

import (
	"bytes"
	"net/mail"
	"strings"
)

// field is one header field as it appears in the message.
type field struct {
	name string // as written
	raw  []byte // the whole field with its folding and line ending
}

// value returns the unfolded field value without the leading blank.
func (f field) value() string {
	_, v, _ := bytes.Cut(f.raw, []byte(":"))
	s := strings.NewReplacer("\r\n", "", "\n", "").Replace(string(v))
	return strings.TrimSpace(s)
}

// splitHeader splits the header block at the start of raw into fields and
// returns them with the offset where the body starts. It is tolerant: a line
// without a colon is kept as a nameless field so that re-joining the fields
// reproduces the input exactly; a bare LF ends a line as CRLF does.
func splitHeader(raw []byte) ([]field, int) {
	var fields []field
	off := 0
	for off < len(raw) {
		end := bytes.IndexByte(raw[off:], '\n')
		if end < 0 {
			end = len(raw)
		} else {
			end += off + 1
		}
		line := raw[off:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return fields, end // the blank line ending the header
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			last := &fields[len(fields)-1]
			last.raw = raw[off-len(last.raw) : end]
		} else {
			name, _, ok := bytes.Cut(line, []byte(":"))
			f := field{raw: line}
			if ok {
				f.name = string(bytes.TrimRight(name, " \t"))
			}
			fields = append(fields, f)
		}
		off = end
	}
	return fields, off
}

// fromDomain returns the domain of the RFC5322.From address, lower-cased,
// and whether there was exactly one From field with one address
// (RFC 7489 §6.6.1).
func fromDomain(raw []byte) (string, bool) {
	fields, _ := splitHeader(raw)
	var from []string
	for _, f := range fields {
		if strings.EqualFold(f.name, "From") {
			from = append(from, f.value())
		}
	}
	if len(from) != 1 {
		return "", false
	}
	addrs, err := mail.ParseAddressList(from[0])
	if err != nil || len(addrs) == 0 {
		// Fall back to the text after the last '@' of something that
		// looks like an address, as lenient receivers do.
		v := from[0]
		if i := strings.LastIndexByte(v, '<'); i >= 0 {
			v = v[i+1:]
			if j := strings.IndexByte(v, '>'); j >= 0 {
				v = v[:j]
			}
		}
		_, d, ok := strings.Cut(strings.TrimSpace(v), "@")
		if !ok || d == "" || strings.ContainsFunc(d, func(r rune) bool {
			return r <= ' ' || r == 0x7f || strings.ContainsRune(`<>,;@()"\\`, r)
		}) {
			return "", false
		}
		return strings.ToLower(d), true
	}
	if len(addrs) != 1 {
		return "", false
	}
	i := strings.LastIndexByte(addrs[0].Address, '@')
	if i < 0 {
		return "", false
	}
	return strings.ToLower(strings.TrimSuffix(addrs[0].Address[i+1:], ".")), true
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
