package sieve

import (
	"fmt"
	"net/url"
	"strings"
)

// notifySpecs registers the commands and tests of enotify.
func notifySpecs(add func(*spec)) {
	// RFC 5435 enotify with the RFC 5436 mailto method.
	add(&spec{name: "notify", ext: "enotify", tags: []tagDef{
		{name: "from", param: argString, paramName: "from address"},
		{name: "importance", param: argString, paramName: "importance"},
		{name: "options", param: argStringList, paramName: "options"},
		{name: "message", param: argString, paramName: "message"}},
		pos: []posDef{{typ: argString, name: "method"}}, check: checkNotify, exec: execNotify})
	add(&spec{name: "valid_notify_method", test: true, ext: "enotify",
		pos: []posDef{{typ: argStringList, name: "notification-uris"}}, eval: evalValidNotifyMethod})
	add(&spec{name: "notify_method_capability", test: true, ext: "enotify", tags: matchingTags(),
		pos: []posDef{{typ: argString, name: "notification-uri"}, {typ: argString, name: "notification-capability"},
			{typ: argStringList, name: "key-list"}}, eval: evalNotifyMethodCapability})
}

// Notification is a notify action (RFC 5435) with the mailto method
// (RFC 5436) parsed, ready for an outbound sender.
type Notification struct {
	// Method is the notification URI as given.
	Method string
	// From is :from ("" when not given), Importance is "1", "2" or "3"
	// (default "2"), Options are the :options strings, Message is :message
	// ("" when not given: the sender composes a default).
	From, Importance, Message string
	Options                   []string
	// To and Cc are the mailto recipients (RFC 6068 §2: the address part,
	// then to= and cc= fields), duplicates removed, as "display <addr>"
	// strings as written after percent-decoding.
	To, Cc []string
	// Subject and Body come from the mailto subject= and body= fields.
	Subject, Body string
	// Headers are the other mailto header fields allowed in a notification.
	Headers []HeaderField
	// Suppressed says why no notification should be sent ("" means send).
	Suppressed string
}

// mailtoURI is the parsed form of an RFC 6068 mailto URI.
type mailtoURI struct {
	to, cc        []string
	subject, body string
	headers       []HeaderField
}

// RFC 5436 §2.3: header fields a mailto URI may not set.
var mailtoReserved = map[string]bool{"from": true, "sender": true, "auto-submitted": true, "received": true,
	"return-path": true, "message-id": true, "date": true, "reply-to": true, "bcc": true,
	"mime-version": true, "content-type": true, "content-transfer-encoding": true}

// parseMailto parses and validates a mailto URI; the error says what is wrong.
func parseMailto(uri string) (*mailtoURI, error) {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok {
		return nil, fmt.Errorf("invalid notify method URI %q", uri)
	}
	if !strings.EqualFold(scheme, "mailto") {
		return nil, fmt.Errorf("invalid or unsupported notify method %q", scheme)
	}
	addrPart, query, _ := strings.Cut(rest, "?")
	m := &mailtoURI{}
	addRcpts := func(list *[]string, enc string) error {
		if strings.ContainsAny(enc, " <>\"[]\\^`{|};") {
			if strings.ContainsAny(enc, ";") || !strings.Contains(enc, "%") {
				return fmt.Errorf("invalid character in mailto recipient %q", enc)
			}
		}
		dec, err := url.PathUnescape(enc)
		if err != nil {
			return fmt.Errorf("invalid percent-encoding in %q", enc)
		}
		for _, a := range splitRecipients(dec) {
			if _, ok := mailboxAddress(a); !ok {
				return fmt.Errorf("invalid mailto recipient %q", a)
			}
			*list = append(*list, strings.TrimSpace(a))
		}
		return nil
	}
	if addrPart != "" {
		if err := addRcpts(&m.to, addrPart); err != nil {
			return nil, err
		}
	}
	if query != "" {
		for _, field := range strings.Split(query, "&") {
			hname, hvalue, _ := strings.Cut(field, "=")
			if strings.ContainsAny(hname, "<>\"'`{}|\\^[]") || strings.ContainsAny(hvalue, "<>\"`{}|\\^") {
				return nil, fmt.Errorf("invalid character in mailto header field %q", field)
			}
			name, err := url.QueryUnescape(hname)
			if err != nil || !validFieldName(name) {
				return nil, fmt.Errorf("invalid mailto header field name %q", hname)
			}
			switch strings.ToLower(name) {
			case "to":
				if err := addRcpts(&m.to, hvalue); err != nil {
					return nil, err
				}
				continue
			case "cc":
				if err := addRcpts(&m.cc, hvalue); err != nil {
					return nil, err
				}
				continue
			}
			value, err := url.PathUnescape(hvalue)
			if err != nil {
				return nil, fmt.Errorf("invalid percent-encoding in %q", hvalue)
			}
			switch strings.ToLower(name) {
			case "subject":
				m.subject = value
			case "body":
				m.body = value
			default:
				if !mailtoReserved[strings.ToLower(name)] {
					m.headers = append(m.headers, HeaderField{Name: name, Value: value})
				}
			}
		}
	}
	if len(m.to) == 0 && len(m.cc) == 0 {
		return nil, fmt.Errorf("mailto URI %q has no recipients", uri)
	}
	return m, nil
}

// splitRecipients splits a comma-separated address list outside quotes.
func splitRecipients(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if !quoted && depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func checkNotify(v *validator, n *node) bool {
	uri := n.pargs[0].strs[0]
	if v.isConstant(uri) {
		if _, err := parseMailto(uri); err != nil {
			v.errorf(n.pargs[0].pos, "notify command: %v", err)
			return false
		}
	}
	if f, ok := n.tagStr("from"); ok && v.isConstant(f) {
		if _, ok := mailboxAddress(f); !ok {
			v.errorf(n.tags["from"].pos, "notify command: invalid :from address '%s' for the mailto method", f)
			return false
		}
	}
	if imp, ok := n.tagStr("importance"); ok && v.isConstant(imp) && imp != "1" && imp != "2" && imp != "3" {
		v.errorf(n.tags["importance"].pos, "notify command: invalid :importance value '%s'", imp)
		return false
	}
	if t := n.tags["options"]; t != nil {
		for _, o := range t.strs {
			if v.isConstant(o) && !validNotifyOption(o) {
				v.errorf(t.pos, "notify command: invalid option '%s'", o)
				return false
			}
		}
	}
	return true
}

// validNotifyOption checks RFC 5435 §3.3 "name=value" options.
func validNotifyOption(o string) bool {
	name, value, ok := strings.Cut(o, "=")
	if !ok || name == "" || name[0] == '_' || !isIdentChar(name[0]) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isIdentChar(name[i]) && name[i] != '.' && name[i] != '-' {
			return false
		}
	}
	return !strings.ContainsAny(value, "\r\n")
}

func execNotify(r *run, n *node) error {
	uri := r.arg1(n, 0)
	m, err := parseMailto(uri)
	if err != nil {
		return rtErr(n, "notify action: %v", err)
	}
	nt := &Notification{Method: uri, Importance: "2", Subject: m.subject, Body: m.body, Headers: m.headers}
	nt.From, _ = r.tag(n, "from")
	if imp, ok := r.tag(n, "importance"); ok {
		nt.Importance = imp
	}
	nt.Message, _ = r.tag(n, "message")
	if t := n.tags["options"]; t != nil {
		nt.Options = r.strs(t.strs)
	}
	// RFC 5436 §2.7: each recipient gets at most one notification per message.
	seen := map[string]bool{}
	for _, a := range r.actions {
		if a.Notify != nil {
			for _, x := range append(append([]string(nil), a.Notify.To...), a.Notify.Cc...) {
				spec, _ := mailboxAddress(x)
				seen[strings.ToLower(spec)] = true
			}
		}
	}
	dedup := func(list []string) []string {
		var out []string
		for _, x := range list {
			spec, _ := mailboxAddress(x)
			if k := strings.ToLower(spec); !seen[k] {
				seen[k] = true
				out = append(out, x)
			}
		}
		return out
	}
	nt.To, nt.Cc = dedup(m.to), dedup(m.cc)
	// RFC 5436 §2.7: never notify about automatically generated mail.
	for _, as := range headerValues(r.header, "auto-submitted", false) {
		if !strings.EqualFold(strings.TrimSpace(strings.SplitN(as, ";", 2)[0]), "no") {
			nt.Suppressed = "message is auto-submitted"
		}
	}
	if len(nt.To)+len(nt.Cc) == 0 && nt.Suppressed == "" {
		nt.Suppressed = "all recipients already notified"
	}
	return r.addAction(n, Action{Kind: NotifyAction, Notify: nt})
}

func evalValidNotifyMethod(r *run, n *node) (bool, error) {
	for _, u := range r.arg(n, 0) {
		if _, err := parseMailto(u); err != nil {
			return false, nil
		}
	}
	return true, nil
}

// evalNotifyMethodCapability answers RFC 5435 §5: mailto's "online" is "maybe".
func evalNotifyMethodCapability(r *run, n *node) (bool, error) {
	if _, err := parseMailto(r.arg1(n, 0)); err != nil {
		return false, nil
	}
	if !strings.EqualFold(r.arg1(n, 1), "online") {
		return false, nil
	}
	return r.matchValues(n, []string{"maybe"}, r.arg(n, 2))
}

// encodeURL percent-encodes everything but RFC 3986 unreserved characters
// (RFC 5435 §6 :encodeurl).
// A character is never split: the result stops short of limit instead.
func encodeURL(s string, limit int) string {
	var b strings.Builder
	for _, r := range s {
		var piece string
		if r < 0x80 && (isIdentChar(byte(r)) || r == '-' || r == '.' || r == '~') {
			piece = string(r)
		} else {
			for _, c := range []byte(string(r)) {
				piece += fmt.Sprintf("%%%02X", c)
			}
		}
		if limit > 0 && b.Len()+len(piece) > limit {
			break
		}
		b.WriteString(piece)
	}
	return b.String()
}
