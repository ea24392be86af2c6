package outbound

import (
	"bytes"
	"strings"
)

// headerField is one field of a message header as it appears on the wire.
type headerField struct {
	name string // as written
	raw  []byte // name, colon, value and continuation lines, with line endings
}

// value returns the unfolded value without the leading space.
func (f headerField) value() string {
	i := bytes.IndexByte(f.raw, ':')
	v := string(f.raw[i+1:])
	v = strings.ReplaceAll(v, "\r\n", "")
	v = strings.ReplaceAll(v, "\n", "")
	return strings.TrimSpace(v)
}

// parseHeader splits a raw header (RFC 5322 §2.2) into fields, tolerating
// bare LF line endings. Lines that are neither fields nor continuations are
// attached to the previous field, as most MTAs do.
func parseHeader(hdr []byte) []headerField {
	var fields []headerField
	for len(hdr) > 0 {
		end := bytes.IndexByte(hdr, '\n')
		if end < 0 {
			end = len(hdr) - 1
		}
		line := hdr[:end+1]
		hdr = hdr[end+1:]
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			last := &fields[len(fields)-1]
			last.raw = append(last.raw, line...)
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			if len(fields) > 0 {
				last := &fields[len(fields)-1]
				last.raw = append(last.raw, line...)
			}
			continue
		}
		fields = append(fields, headerField{
			name: strings.TrimRight(string(line[:colon]), " \t"),
			raw:  append([]byte(nil), line...),
		})
	}
	return fields
}

// headerValues returns the unfolded values of every field called name.
func headerValues(hdr []byte, name string) []string {
	var vs []string
	for _, f := range parseHeader(hdr) {
		if strings.EqualFold(f.name, name) {
			vs = append(vs, f.value())
		}
	}
	return vs
}

// headerValue returns the first value of the field name, or "".
func headerValue(hdr []byte, name string) string {
	if vs := headerValues(hdr, name); len(vs) > 0 {
		return vs[0]
	}
	return ""
}
