package sieve

import (
	"strings"

	"github.com/sluice-mail/sluice/mail"
)

// bodySpecs registers the commands and tests of body.
func bodySpecs(add func(*spec)) {
	// RFC 5173 body.
	add(&spec{name: "body", test: true, ext: "body", tags: matchingTags(
		tagDef{name: "raw", group: "transform", param: noParam},
		tagDef{name: "content", group: "transform", param: argStringList, paramName: "content types"},
		tagDef{name: "text", group: "transform", param: noParam}),
		pos:   []posDef{{typ: argStringList, name: "key list"}},
		check: func(v *validator, n *node) bool { return checkKeys(v, n, 0) }, eval: evalBody})
}

func evalBody(r *run, n *node) (bool, error) {
	keys := r.arg(n, 0)
	var vals []string
	limit := r.opts.Limits.MaxMatchBytes
	clip := func(b []byte) string {
		if len(b) > limit {
			b = b[:limit]
		}
		return string(b)
	}
	switch {
	case r.msg.RawBody() == nil:
		// RFC 5173 §5: a message without a body has no body to match.
	case n.has("raw"):
		vals = []string{clip(r.msg.RawBody())}
	case n.has("content"):
		types := r.strs(n.tags["content"].strs)
		for _, p := range r.allParts() {
			if !contentTypeMatches(p.ContentType, types) {
				continue
			}
			switch {
			case strings.HasPrefix(p.ContentType, "multipart/"):
				// RFC 5173 §5.2: the prologue and epilogue of a multipart.
				for _, b := range [][]byte{p.Prologue, p.Epilogue} {
					if len(bytesTrimSpace(b)) > 0 {
						vals = append(vals, clip(b))
					}
				}
			case p.ContentType == "message/rfc822":
				// RFC 5173 §5.2: the header of the enclosed message.
				vals = append(vals, clip(headerBlock(p.Body)))
			default:
				if len(p.Body) > 0 {
					vals = append(vals, clip(p.Body))
				}
			}
		}
	default:
		for _, p := range r.allParts() {
			if (strings.HasPrefix(p.ContentType, "text/") || p.ContentType == "application/xhtml+xml") && len(p.Body) > 0 {
				body := p.Body
				if p.ContentType == "text/html" || p.ContentType == "application/xhtml+xml" {
					body = mail.HTMLText(body)
				}
				vals = append(vals, clip(body))
			}
		}
	}
	saved := r.match
	ok, err := r.matchValues(n, vals, keys)
	// RFC 5173 §6: body does not set match variables.
	r.match = saved
	return ok, err
}

func bytesTrimSpace(b []byte) []byte { return []byte(strings.TrimSpace(string(b))) }

// headerBlock returns the header of a message including its last CRLF.
func headerBlock(msg []byte) []byte {
	s := string(msg)
	for _, sep := range []string{"\r\n\r\n", "\n\n"} {
		if i := strings.Index(s, sep); i >= 0 {
			return msg[:i+len(sep)/2]
		}
	}
	return msg
}

// contentTypeMatches implements RFC 5173 §5.2's content type list.
func contentTypeMatches(ct string, types []string) bool {
	for _, t := range types {
		t = strings.ToLower(t)
		switch {
		case t == "":
			return true
		case strings.Count(t, "/") > 1:
		case strings.Contains(t, "/"):
			if ct == t {
				return true
			}
		default:
			if strings.HasPrefix(ct, t+"/") {
				return true
			}
		}
	}
	return false
}
