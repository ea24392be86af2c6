package auth

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"github.com/sluice-mail/sluice/mail"
)

// Header returns the Authentication-Results field (RFC 8601) for r with
// the given authserv-id, folded with one method per line:
//
//	Authentication-Results: mx.example.org;
//		spf=pass smtp.mailfrom=a@example.com;
//		dkim=pass header.d=example.com header.s=sel header.a=rsa-sha256 header.b=AbCdEfGh;
//		dmarc=pass header.from=example.com
//
// Lines end in CRLF, the last one included. DNSBL results have no method
// in RFC 8601 and are left out.
func (r Results) Header(authservID string) string {
	var parts []string
	if r.SPF.Result != "" {
		s := &authres.SPFResult{Value: authres.ResultValue(r.SPF.Result)}
		if r.SPF.Identity == "helo" {
			s.Helo = r.SPF.Domain
		} else {
			s.From = r.SPF.Sender
		}
		parts = append(parts, formatResult(s))
	}
	if len(r.DKIM) == 0 {
		parts = append(parts, "dkim=none")
	}
	for _, d := range r.DKIM {
		// RFC 8601 §2.7.1 header.d, header.i, header.s, header.a; RFC 6008
		// header.b tells signatures of one domain apart.
		parts = append(parts, formatResult(&authres.GenericResult{
			Method: "dkim",
			Value:  authres.ResultValue(d.Result),
			Params: map[string]string{
				"header.d": d.Domain,
				"header.i": d.Identifier,
				"header.s": d.Selector,
				"header.a": d.Algorithm,
				"header.b": d.B,
			},
		}))
	}
	if r.DMARC.Result != "" {
		parts = append(parts, formatResult(&authres.DMARCResult{
			Value: authres.ResultValue(r.DMARC.Result),
			From:  r.DMARC.FromDomain,
		}))
	}
	id := authservID
	if id == "" {
		id = "localhost"
	}
	if len(parts) == 0 {
		return "Authentication-Results: " + id + "; none\r\n"
	}
	return "Authentication-Results: " + id + ";\r\n\t" + strings.Join(parts, ";\r\n\t") + "\r\n"
}

// formatResult formats one resinfo with go-msgauth's quoting rules.
func formatResult(r authres.Result) string {
	s := authres.Format("", []authres.Result{r})
	return strings.TrimSpace(strings.TrimPrefix(s, ";"))
}

// StripForged returns header (a header block, or a whole message) without
// the Authentication-Results fields that carry authservID: they cannot
// come from us, since we add ours after this, so they are forgeries
// (RFC 8601 §5). Other fields, their order and bytes are kept.
func StripForged(header []byte, authservID string) []byte {
	fields := mail.ParseHeader(header)
	forged := Forged(fields, authservID)
	if len(forged) == 0 {
		return header
	}
	h := mail.NewHeader(header, fields)
	h.Edit(mail.HeaderEdits{Remove: forged})
	return h.Bytes()
}

// Forged returns the indexes of the fields that are Authentication-Results
// fields carrying authservID, for removal (RFC 8601 §5): what StripForged
// removes, as an edit for a caller that renders the header itself.
func Forged(fields []mail.Field, authservID string) []int {
	var out []int
	for i := range fields {
		f := &fields[i]
		if strings.EqualFold(f.Name, "Authentication-Results") &&
			strings.EqualFold(servID(f.Unfolded()), authservID) {
			out = append(out, i)
		}
	}
	return out
}

// servID extracts the authserv-id from an Authentication-Results value
// (RFC 8601 §2.2): the first token, after comments, before the optional
// version and the ';'.
func servID(v string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	s, _, _ := strings.Cut(b.String(), ";")
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return ""
	}
	return strings.Trim(fields[0], `"`)
}
