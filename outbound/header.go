package outbound

import (
	"strings"

	"github.com/sluice-mail/sluice/mail"
)

// headerValues returns the values of every field called name in hdr, as
// written (not decoded): unfolded and trimmed.
func headerValues(hdr []byte, name string) []string {
	var vs []string
	fields := mail.ParseHeader(hdr)
	for i := range fields {
		if strings.EqualFold(fields[i].Name, name) {
			vs = append(vs, fields[i].Unfolded())
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
