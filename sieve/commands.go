package sieve

import (
	"strings"
	"unicode/utf8"
)

// builtinSpecs returns the command and test tables: RFC 5228 core plus the
// extensions. Each Compile gets fresh maps, so nothing is shared or mutable.
func builtinSpecs() (cmds, tests map[string]*spec) {
	cmds = map[string]*spec{}
	tests = map[string]*spec{}
	add := func(s *spec) {
		if s.test {
			tests[s.name] = s
		} else {
			cmds[s.name] = s
		}
	}
	flagsTag := tagDef{name: "flags", param: argStringList, ext: "imap4flags", paramName: "flag list"}
	copyTag := tagDef{name: "copy", param: noParam, ext: "copy"}

	// RFC 5228 §3: control commands.
	add(&spec{name: "if", tests: 1, block: needBlock})
	add(&spec{name: "elsif", tests: 1, block: needBlock})
	add(&spec{name: "else", block: needBlock})
	add(&spec{name: "stop", exec: func(r *run, n *node) error { return errStop }})

	// RFC 5228 §4: actions.
	add(&spec{name: "keep", tags: []tagDef{flagsTag}, exec: execKeep})
	add(&spec{name: "discard", exec: func(r *run, n *node) error { return r.addAction(n, Action{Kind: Discard}) }})
	add(&spec{name: "redirect", tags: []tagDef{copyTag}, pos: []posDef{{typ: argString, name: "address"}},
		check: checkRedirect, exec: execRedirect})
	add(&spec{name: "fileinto", ext: "fileinto", tags: []tagDef{copyTag, flagsTag,
		{name: "create", param: noParam, ext: "mailbox"}},
		pos: []posDef{{typ: argString, name: "folder"}}, check: checkFileinto, exec: execFileinto})
	add(&spec{name: "reject", ext: "reject", pos: []posDef{{typ: argString, name: "reason"}}, exec: execReject(Reject)})
	add(&spec{name: "ereject", ext: "ereject", pos: []posDef{{typ: argString, name: "reason"}}, exec: execReject(EReject)})

	// RFC 5228 §5: tests.
	add(&spec{name: "true", test: true, eval: func(*run, *node) (bool, error) { return true, nil }})
	add(&spec{name: "false", test: true, eval: func(*run, *node) (bool, error) { return false, nil }})
	add(&spec{name: "not", test: true, tests: 1, eval: func(r *run, n *node) (bool, error) {
		ok, err := r.test(n.tests[0])
		return !ok, err
	}})
	add(&spec{name: "allof", test: true, tests: -1, eval: func(r *run, n *node) (bool, error) {
		for _, t := range n.tests {
			if ok, err := r.test(t); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	}})
	add(&spec{name: "anyof", test: true, tests: -1, eval: func(r *run, n *node) (bool, error) {
		for _, t := range n.tests {
			if ok, err := r.test(t); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}})
	add(&spec{name: "size", test: true, tags: []tagDef{
		{name: "over", group: "size", param: noParam}, {name: "under", group: "size", param: noParam}},
		pos: []posDef{{typ: argNumber, name: "limit"}}, check: checkSize, eval: evalSize})
	add(&spec{name: "exists", test: true, tags: mimeTags()[:2], pos: []posDef{{typ: argStringList, name: "header names"}},
		check: checkMime, eval: evalExists})
	hdrTags := append(matchingTags(indexTags()...), mimeTags()...)
	add(&spec{name: "header", test: true, tags: hdrTags,
		pos:   []posDef{{typ: argStringList, name: "header names"}, {typ: argStringList, name: "key list"}},
		check: checkHeader, eval: evalHeader})
	addrTags := append(append(matchingTags(addressPartTags()...), indexTags()...), mimeTags()[:2]...)
	add(&spec{name: "address", test: true, tags: addrTags,
		pos:   []posDef{{typ: argStringList, name: "header list"}, {typ: argStringList, name: "key list"}},
		check: checkAddress, eval: evalAddress})
	add(&spec{name: "envelope", test: true, ext: "envelope", tags: matchingTags(addressPartTags()...),
		pos:   []posDef{{typ: argStringList, name: "envelope part"}, {typ: argStringList, name: "key list"}},
		check: checkEnvelope, eval: evalEnvelope})

	addExtensionSpecs(add)
	return cmds, tests
}

func execKeep(r *run, n *node) error {
	a := Action{Kind: Keep, Mailbox: "INBOX"}
	a.Flags = r.actionFlags(n)
	return r.addAction(n, a)
}

func checkRedirect(v *validator, n *node) bool {
	a := n.pargs[0].strs[0]
	if v.isConstant(a) && !validAddress(a) {
		v.errorf(n.pargs[0].pos, "specified redirect address '%s' is invalid", a)
		return false
	}
	return true
}

// validAddress checks a redirect or vacation address: one RFC 5322
// mailbox, "addr-spec" or "phrase <addr-spec>", with an ASCII local part.
func validAddress(a string) bool {
	_, ok := mailboxAddress(a)
	return ok
}

// mailboxAddress returns the addr-spec of a single mailbox.
func mailboxAddress(a string) (string, bool) {
	a = strings.TrimSpace(a)
	if i := strings.IndexByte(a, '<'); i >= 0 {
		if !strings.HasSuffix(a, ">") || strings.Count(a, "<") != 1 {
			return "", false
		}
		a = a[i+1 : len(a)-1]
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return "", false
	}
	local, domain := strings.TrimSpace(a[:at]), strings.TrimSpace(a[at+1:])
	quoted := len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"'
	if local == "" || !isASCII(local) || (!quoted && !looseLocal(local)) || !validDomain(domain) {
		return "", false
	}
	return local + "@" + domain, true
}

func execRedirect(r *run, n *node) error {
	addr := r.arg1(n, 0)
	if !validAddress(addr) {
		return rtErr(n, "specified redirect address '%s' is invalid", addr)
	}
	spec, _ := mailboxAddress(addr)
	a := Action{Kind: Redirect, Address: canonicalAddrSpec(spec), Copy: n.has("copy")}
	r.redirectEnvelope(&a)
	return r.addAction(n, a)
}

// redirectEnvelope fills in the redirect's envelope sender, its
// X-Sieve-Redirected-From value and Pigeonhole's loop check.
func (r *run) redirectEnvelope(a *Action) {
	sender, _ := parsePath(r.env.From)
	rcpt, _ := parsePath(r.env.To)
	user := r.env.UserEmail
	if user == "" {
		user = rcpt
	}
	a.RedirectedFrom = user
	a.EnvelopeFrom = sender
	if sender != "" {
		switch cfg := strings.ToLower(strings.TrimSpace(r.opts.RedirectEnvelopeFrom)); {
		case cfg == "recipient":
			a.EnvelopeFrom = rcpt
		case cfg == "orig_recipient":
			a.EnvelopeFrom, _ = parsePath(r.env.OrigTo)
			if a.EnvelopeFrom == "" {
				a.EnvelopeFrom = rcpt
			}
		case cfg == "user_email":
			a.EnvelopeFrom = user
		case strings.HasPrefix(cfg, "<"):
			a.EnvelopeFrom, _ = parsePath(strings.TrimSpace(r.opts.RedirectEnvelopeFrom))
		}
	}
	for _, v := range headerValues(r.header, "x-sieve-redirected-from", false) {
		v = strings.TrimSpace(v)
		if (user != "" && strings.EqualFold(v, user)) || (rcpt != "" && strings.EqualFold(v, rcpt)) {
			a.Suppressed = "mail loop: the message was redirected by this user before"
		}
	}
}

func checkFileinto(v *validator, n *node) bool {
	m := n.pargs[0].strs[0]
	if v.isConstant(m) && !utf8.ValidString(m) {
		v.errorf(n.pargs[0].pos, "invalid folder name '%s' specified for fileinto command: mailbox name is not valid utf-8", m)
		return false
	}
	return true
}

func execFileinto(r *run, n *node) error {
	m := r.arg1(n, 0)
	if !utf8.ValidString(m) || m == "" {
		return rtErr(n, "invalid folder name '%s' specified for fileinto command", m)
	}
	a := Action{Kind: FileInto, Mailbox: m, Copy: n.has("copy"), Create: n.has("create")}
	a.Flags = r.actionFlags(n)
	// Dovecot treats the INBOX prefix case-insensitively.
	if isInbox(m) {
		a.Mailbox = "INBOX"
	} else if len(m) > 6 && isInbox(m[:5]) && (m[5] == '.' || m[5] == '/') {
		a.Mailbox = "INBOX" + m[5:]
	}
	return r.addAction(n, a)
}

func execReject(kind ActionKind) func(r *run, n *node) error {
	return func(r *run, n *node) error {
		return r.addAction(n, Action{Kind: kind, Reason: r.arg1(n, 0)})
	}
}

func checkSize(v *validator, n *node) bool {
	if !n.has("size") {
		v.errorf(n.pos, "the size test requires either the :under or the :over tag to be specified")
		return false
	}
	return true
}

func evalSize(r *run, n *node) (bool, error) {
	limit := n.pargs[0].num
	size := r.msg.Size()
	if r.edited {
		// RFC 5293 §3: tests see the edited message.
		size += headerSize(r.header) - headerSize(r.msg.HeaderFields())
	}
	if n.has("over") {
		return size > limit, nil
	}
	return size < limit, nil
}

func validFieldName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		if h[i] <= 32 || h[i] >= 127 || h[i] == ':' {
			return false
		}
	}
	return true
}

func checkHeader(v *validator, n *node) bool {
	if n.has("last") && !n.has("index") {
		v.errorf(n.tags["last"].pos, "the :last tag for the %s test requires the :index tag", n.name)
		return false
	}
	return checkMime(v, n) && checkKeys(v, n, 1)
}

// checkKeys compiles constant :regex keys so bad patterns fail at compile time.
func checkKeys(v *validator, n *node, i int) bool {
	if n.match != "regex" {
		return true
	}
	for _, k := range n.pargs[i].strs {
		if !v.isConstant(k) {
			continue
		}
		re, err := compileRegex(k, n.cmp != "i;octet")
		if err != nil {
			v.errorf(n.pargs[i].pos, "invalid regular expression '%s' for regex match: %v", k, err)
			return false
		}
		v.c.regexes[regexKey(k, n.cmp != "i;octet")] = re
	}
	return true
}

func evalHeader(r *run, n *node) (bool, error) {
	names := r.arg(n, 0)
	keys := r.arg(n, 1)
	if n.has("mime") {
		return r.mimeHeaderTest(n, names, keys)
	}
	var vals []string
	for _, h := range names {
		vals = append(vals, selectIndex(n, headerValues(r.currentHeader(), h, true))...)
	}
	return r.matchValues(n, vals, keys)
}

func evalExists(r *run, n *node) (bool, error) {
	names := r.arg(n, 0)
	if n.has("mime") {
		return r.mimeExists(n, names)
	}
	h := r.currentHeader()
	for _, name := range names {
		if len(headerValues(h, name, false)) == 0 {
			return false, nil
		}
	}
	return true, nil
}

// RFC 5228 §5.1: the address test applies to structured address headers.
var addressHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "sender": true, "reply-to": true,
	"resent-from": true, "resent-to": true, "resent-cc": true, "resent-bcc": true,
	"resent-sender": true, "resent-reply-to": true, "return-path": true, "delivered-to": true,
	"envelope-to": true, "x-original-to": true, "original-recipient": true, "disposition-notification-to": true,
	"errors-to": true, "mail-followup-to": true, "mail-reply-to": true, "apparently-to": true,
	"x-delivered-to": true, "x-envelope-to": true, "x-envelope-from": true, "x-sender": true, "x-beenthere": true,
}

func checkAddress(v *validator, n *node) bool {
	if !checkMime(v, n) {
		return false
	}
	if n.has("last") && !n.has("index") {
		v.errorf(n.tags["last"].pos, "the :last tag for the %s test requires the :index tag", n.name)
		return false
	}
	for _, h := range n.pargs[0].strs {
		if !v.isConstant(h) {
			continue
		}
		if !validFieldName(h) {
			v.errorf(n.pargs[0].pos, "specified header field name '%s' is invalid", h)
			return false
		}
		if !addressHeaders[strings.ToLower(h)] {
			v.errorf(n.pargs[0].pos, "specified header '%s' is not allowed for the address test", h)
			return false
		}
	}
	return checkKeys(v, n, 1)
}

func evalAddress(r *run, n *node) (bool, error) {
	names := r.arg(n, 0)
	keys := r.arg(n, 1)
	if n.has("mime") {
		return r.mimeAddressTest(n, names, keys)
	}
	return r.addressTest(n, r.currentHeader(), names, keys)
}

func (r *run) addressTest(n *node, h []HeaderField, names, keys []string) (bool, error) {
	m, err := r.newMatcher(n, keys)
	if err != nil {
		return false, err
	}
	for _, name := range names {
		for _, fv := range selectIndex(n, headerValues(h, name, false)) {
			addrs, valid := headerAddresses(fv)
			if !valid && n.part != "all" {
				continue
			}
			for _, a := range addrs {
				part, ok := addressPart(a, n.part, r.opts.RecipientDelimiter)
				if !ok {
					continue
				}
				if ok, err := m.value(part); err != nil || ok {
					return ok, err
				}
			}
		}
	}
	return m.done(false), nil
}

func checkEnvelope(v *validator, n *node) bool {
	for _, p := range n.pargs[0].strs {
		if !v.isConstant(p) {
			continue
		}
		switch strings.ToLower(p) {
		case "from", "to", "auth", "orig_to":
		default:
			v.errorf(n.pargs[0].pos, "specified envelope part '%s' is not supported by the envelope test", p)
			return false
		}
	}
	return checkKeys(v, n, 1)
}

func evalEnvelope(r *run, n *node) (bool, error) {
	m, err := r.newMatcher(n, r.arg(n, 1))
	if err != nil {
		return false, err
	}
	for _, p := range r.arg(n, 0) {
		var val string
		switch strings.ToLower(p) {
		case "from":
			val = r.env.From
		case "to":
			val = r.env.To
		case "orig_to":
			val = r.env.OrigTo
		case "auth":
			val = r.env.Auth
		default:
			continue
		}
		if strings.ToLower(p) == "auth" {
			if val == "" {
				continue
			}
		} else {
			var ok bool
			val, ok = parsePath(val)
			if !ok {
				continue
			}
		}
		if val == "" {
			// RFC 5228 §5.4: the null reverse-path is "" for every address part.
			if ok, err := m.value(""); err != nil || ok {
				return ok, err
			}
			continue
		}
		part, ok := addressPart(val, n.part, r.opts.RecipientDelimiter)
		if !ok {
			continue
		}
		if ok, err := m.value(part); err != nil || ok {
			return ok, err
		}
	}
	return m.done(false), nil
}

func headerSize(h []HeaderField) int64 {
	var n int64
	for _, f := range h {
		n += int64(len(f.Name) + len(f.Value) + 4)
	}
	return n
}
