package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

func addExtensionSpecs(add func(*spec)) {
	// RFC 5229 variables.
	add(&spec{name: "set", ext: "variables", tags: []tagDef{
		{name: "lower", group: "case", param: noParam}, {name: "upper", group: "case", param: noParam},
		{name: "lowerfirst", group: "casefirst", param: noParam}, {name: "upperfirst", group: "casefirst", param: noParam},
		{name: "quotewildcard", group: "quote", param: noParam},
		{name: "quoteregex", group: "quote", param: noParam, ext: "regex"},
		{name: "encodeurl", group: "encodeurl", param: noParam, ext: "enotify"},
		{name: "length", group: "length", param: noParam},
	}, pos: []posDef{{typ: argString, name: "name"}, {typ: argString, name: "value"}}, check: checkSet, exec: execSet})
	// Pigeonhole compares string test values with i;octet unless told otherwise.
	add(&spec{name: "string", test: true, ext: "variables", defCmp: "i;octet", tags: matchingTags(),
		pos:   []posDef{{typ: argStringList, name: "source"}, {typ: argStringList, name: "key list"}},
		check: func(v *validator, n *node) bool { return checkKeys(v, n, 1) }, eval: evalString})

	// RFC 5183 environment.
	add(&spec{name: "environment", test: true, ext: "environment", tags: matchingTags(),
		pos:   []posDef{{typ: argString, name: "name"}, {typ: argStringList, name: "key list"}},
		check: func(v *validator, n *node) bool { return checkKeys(v, n, 1) },
		eval: func(r *run, n *node) (bool, error) {
			v, ok := r.environment(r.arg1(n, 0))
			if !ok {
				return false, nil
			}
			return r.matchValues(n, []string{v}, r.arg(n, 1))
		}})

	// RFC 5232 imap4flags.
	for _, name := range []string{"setflag", "addflag", "removeflag"} {
		add(&spec{name: name, ext: "imap4flags", pos: []posDef{{typ: argStringList, name: "variable name"},
			{typ: argStringList, name: "list of flags", optional: true}}, check: checkFlagCmd, exec: execFlagCmd})
	}
	add(&spec{name: "hasflag", test: true, ext: "imap4flags", tags: matchingTags(),
		pos:  []posDef{{typ: argStringList, name: "variable list"}, {typ: argStringList, name: "list of flags", optional: true}},
		eval: evalHasflag})

	// RFC 5173 body.
	add(&spec{name: "body", test: true, ext: "body", tags: matchingTags(
		tagDef{name: "raw", group: "transform", param: noParam},
		tagDef{name: "content", group: "transform", param: argStringList, paramName: "content types"},
		tagDef{name: "text", group: "transform", param: noParam}),
		pos:   []posDef{{typ: argStringList, name: "key list"}},
		check: func(v *validator, n *node) bool { return checkKeys(v, n, 0) }, eval: evalBody})

	// RFC 5235 spamtest, spamtestplus and virustest.
	add(&spec{name: "spamtest", test: true, ext: "spamtest", tags: matchingTags(
		tagDef{name: "percent", param: noParam, ext: "spamtestplus"}),
		pos: []posDef{{typ: argString, name: "value"}}, eval: evalSpamtest("spamtest")})
	add(&spec{name: "virustest", test: true, ext: "virustest", tags: matchingTags(),
		pos: []posDef{{typ: argString, name: "value"}}, eval: evalSpamtest("virustest")})

	// RFC 5260 date and currentdate.
	zoneTags := []tagDef{{name: "zone", group: "zonegroup", param: argString, paramName: "time-zone offset"},
		{name: "originalzone", group: "zonegroup", param: noParam}}
	add(&spec{name: "date", test: true, ext: "date", tags: append(matchingTags(indexTags()...), zoneTags...),
		pos:   []posDef{{typ: argString, name: "header name"}, {typ: argString, name: "date part"}, {typ: argStringList, name: "key list"}},
		check: checkDate, eval: evalDate})
	add(&spec{name: "currentdate", test: true, ext: "date", tags: append(matchingTags(), zoneTags[0]),
		pos:   []posDef{{typ: argString, name: "date part"}, {typ: argStringList, name: "key list"}},
		check: checkDate, eval: evalDate})

	// RFC 5293 editheader.
	add(&spec{name: "addheader", ext: "editheader", tags: []tagDef{{name: "last", param: noParam}},
		pos: []posDef{{typ: argString, name: "field name"}, {typ: argString, name: "value"}}, check: checkAddheader, exec: execAddheader})
	add(&spec{name: "deleteheader", ext: "editheader", tags: append(matchingTags(), tagDef{name: "index", param: argNumber, paramName: "field index"},
		tagDef{name: "last", param: noParam}),
		pos:   []posDef{{typ: argString, name: "field name"}, {typ: argStringList, name: "value patterns", optional: true}},
		check: checkDeleteheader, exec: execDeleteheader})

	// RFC 5230 vacation, RFC 6131 vacation-seconds.
	add(&spec{name: "vacation", ext: "vacation", tags: []tagDef{
		{name: "days", group: "period", param: argNumber, paramName: "period"},
		{name: "seconds", group: "period", param: argNumber, ext: "vacation-seconds", paramName: "period"},
		{name: "subject", param: argString, paramName: "subject"},
		{name: "from", param: argString, paramName: "from address"},
		{name: "addresses", param: argStringList, paramName: "addresses"},
		{name: "mime", param: noParam},
		{name: "handle", param: argString, paramName: "handle"},
	}, pos: []posDef{{typ: argString, name: "reason"}}, check: checkVacation, exec: execVacation})

	// RFC 6609 include.
	add(&spec{name: "include", ext: "include", tags: []tagDef{
		{name: "personal", group: "location", param: noParam}, {name: "global", group: "location", param: noParam},
		{name: "once", param: noParam}, {name: "optional", param: noParam}},
		pos: []posDef{{typ: argString, name: "script name"}}, check: checkInclude, exec: execInclude})
	add(&spec{name: "return", ext: "include", exec: func(*run, *node) error { return errReturn }})
	add(&spec{name: "global", ext: "include", pos: []posDef{{typ: argStringList, name: "value"}}, check: checkGlobal, exec: execGlobal})

	// RFC 7352 duplicate.
	add(&spec{name: "duplicate", test: true, ext: "duplicate", tags: []tagDef{
		{name: "handle", param: argString, paramName: "handle"},
		{name: "header", group: "id", param: argString, paramName: "header name"},
		{name: "uniqueid", group: "id", param: argString, paramName: "unique id"},
		{name: "seconds", param: argNumber, paramName: "period"},
		{name: "last", param: noParam}}, eval: evalDuplicate})

	// RFC 5490 mailbox.
	add(&spec{name: "mailboxexists", test: true, ext: "mailbox", pos: []posDef{{typ: argStringList, name: "mailbox names"}},
		eval: func(r *run, n *node) (bool, error) {
			for _, m := range r.arg(n, 0) {
				if !r.mailboxExists(m) {
					return false, nil
				}
			}
			return true, nil
		}})

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

	// Pigeonhole's vnd.dovecot.debug: debug_log writes to the debug log.
	add(&spec{name: "debug_log", ext: "vnd.dovecot.debug", pos: []posDef{{typ: argString, name: "message"}},
		exec: func(r *run, n *node) error {
			r.log.Debug("sieve: debug_log", "script", r.cur.name, "message", r.arg1(n, 0))
			return nil
		}})

	// RFC 5463 ihave and error.
	add(&spec{name: "ihave", test: true, ext: "ihave", pos: []posDef{{typ: argStringList, name: "capabilities"}},
		eval: func(r *run, n *node) (bool, error) {
			for _, c := range r.arg(n, 0) {
				if !r.opts.knownCapability(c) || ihaveRestricted[c] {
					return false, nil
				}
			}
			return true, nil
		}})
	add(&spec{name: "error", ext: "ihave", pos: []posDef{{typ: argString, name: "message"}},
		exec: func(r *run, n *node) error { return rtErr(n, "%s", r.arg1(n, 0)) }})

	// RFC 5703 foreverypart, break, extracttext.
	add(&spec{name: "foreverypart", ext: "foreverypart", tags: []tagDef{{name: "name", param: argString, paramName: "name"}},
		block: needBlock, check: checkForeverypart, exec: execForeverypart})
	add(&spec{name: "break", ext: "foreverypart", tags: []tagDef{{name: "name", param: argString, paramName: "name"}},
		parent: []string{"foreverypart"}, check: checkBreak, exec: execBreak})
	add(&spec{name: "extracttext", ext: "extracttext", tags: []tagDef{
		{name: "first", param: argNumber, paramName: "number"},
		{name: "lower", group: "case", param: noParam}, {name: "upper", group: "case", param: noParam},
		{name: "lowerfirst", group: "casefirst", param: noParam}, {name: "upperfirst", group: "casefirst", param: noParam},
		{name: "quotewildcard", group: "quote", param: noParam},
		{name: "quoteregex", group: "quote", param: noParam, ext: "regex"},
		{name: "length", group: "length", param: noParam}},
		pos:    []posDef{{typ: argString, name: "varname"}},
		parent: []string{"foreverypart"}, check: checkExtracttext, exec: execExtracttext})
}

// --- variables ---

func checkSet(v *validator, n *node) bool {
	return v.checkVariableName(n.pargs[0].pos, n.pargs[0].strs[0])
}

// applyModifiers applies RFC 5229 §4.1 modifiers in precedence order.
func applyModifiers(n *node, val string, limit int) string {
	switch {
	case n.has("lower"):
		val = strings.ToLower(val)
	case n.has("upper"):
		val = strings.ToUpper(val)
	}
	switch {
	case n.has("lowerfirst"):
		val = mapFirst(val, unicode.ToLower)
	case n.has("upperfirst"):
		val = mapFirst(val, unicode.ToUpper)
	}
	switch {
	case n.has("quotewildcard"):
		val = quoteWildcard(val, limit)
	case n.has("quoteregex"):
		val = quoteRegex(val)
	}
	// RFC 5435 §6: :encodeurl has precedence 15.
	if n.has("encodeurl") {
		val = encodeURL(val, limit)
	}
	if n.has("length") {
		val = strconv.Itoa(utf8.RuneCountInString(val))
	}
	return val
}

func mapFirst(s string, f func(rune) rune) string {
	if s == "" {
		return s
	}
	r, sz := utf8.DecodeRuneInString(s)
	return string(f(r)) + s[sz:]
}

func quoteRegex(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`\^$.[]|()?*+{}`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func execSet(r *run, n *node) error {
	return r.setVar(n, r.arg1(n, 0), applyModifiers(n, r.arg1(n, 1), r.opts.Limits.MaxVariableSize))
}

func evalString(r *run, n *node) (bool, error) {
	src := r.arg(n, 0)
	if n.match == "count" {
		// RFC 5229 §5: empty source strings are not counted.
		var nonEmpty []string
		for _, s := range src {
			if s != "" {
				nonEmpty = append(nonEmpty, s)
			}
		}
		src = nonEmpty
	}
	return r.matchValues(n, src, r.arg(n, 1))
}

// decodeEncodedCharacters implements RFC 5228 §2.4.2.4 in every string of
// the script; a code point outside Unicode is an error.
func decodeEncodedCharacters(cmds []*node, errs *errorList) {
	var walk func(ns []*node)
	walk = func(ns []*node) {
		for _, n := range ns {
			for _, a := range n.args {
				for i, s := range a.strs {
					var bad string
					a.strs[i], bad = decodeEncoded(s)
					if bad != "" {
						errs.addf(a.pos, "invalid unicode character 0x%s in encoded character substitution", bad)
					}
				}
			}
			walk(n.tests)
			walk(n.block)
		}
	}
	walk(cmds)
}

func decodeEncoded(s string) (string, string) {
	if !strings.Contains(s, "${") {
		return s, ""
	}
	var b strings.Builder
	bad := ""
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), bad
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		colon := strings.IndexByte(rest, ':')
		if j < 0 || colon < 0 || colon > j {
			b.WriteString("${")
			s = rest
			continue
		}
		kind := strings.ToLower(rest[:colon])
		body := rest[colon+1 : j]
		out, ok := "", false
		switch kind {
		case "hex":
			out, ok = decodeHexSeq(body)
		case "unicode":
			var badCP string
			out, ok, badCP = decodeUnicodeSeq(body)
			if badCP != "" && bad == "" {
				bad = badCP
			}
		}
		if !ok {
			b.WriteString("${")
			s = rest
			continue
		}
		b.WriteString(out)
		s = rest[j+1:]
	}
}

func decodeHexSeq(body string) (string, bool) {
	if strings.TrimSpace(body) == "" {
		return "", false
	}
	var b []byte
	for _, f := range strings.Fields(body) {
		if len(f) > 2 && strings.Trim(f[:len(f)-2], "0") != "" {
			return "", false
		}
		v, err := strconv.ParseUint(f, 16, 16)
		if err != nil || v > 255 {
			return "", false
		}
		b = append(b, byte(v))
	}
	if strings.TrimSpace(body) != body && strings.TrimLeft(body, " \t") != strings.TrimLeft(body, " \t\r\n") {
		return "", false
	}
	return string(b), true
}

func decodeUnicodeSeq(body string) (string, bool, string) {
	if strings.TrimSpace(body) == "" {
		return "", false, ""
	}
	var b strings.Builder
	for _, f := range strings.Fields(body) {
		v, err := strconv.ParseUint(f, 16, 32)
		if err != nil {
			return "", false, ""
		}
		if v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) {
			return "", false, f
		}
		b.WriteRune(rune(v))
	}
	return b.String(), true, ""
}

// --- imap4flags (RFC 5232) ---

func checkFlagCmd(v *validator, n *node) bool {
	if len(n.pargs) == 2 {
		if n.pargs[0].typ != argString {
			v.errorf(n.pargs[0].pos, "the %s command expects a string as argument 1 (variable name), but a string list was found", n.name)
			return false
		}
		if !v.has("variables") {
			v.errorf(n.pargs[0].pos, "the %s command needs the variables extension for a variable name argument", n.name)
			return false
		}
		return v.checkVariableName(n.pargs[0].pos, n.pargs[0].strs[0])
	}
	return true
}

// parseFlags splits flag strings at spaces and removes duplicates (RFC 5232 §3).
func parseFlags(list []string) []string {
	var out []string
	for _, s := range list {
		for _, f := range strings.Fields(s) {
			dup := false
			for _, o := range out {
				if strings.EqualFold(o, f) {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, f)
			}
		}
	}
	return out
}

func (r *run) flagVar(name string) []string {
	if name == "" {
		return r.flags
	}
	return parseFlags([]string{r.lookupVar(name)})
}

func execFlagCmd(r *run, n *node) error {
	varName := ""
	list := r.arg(n, 0)
	if len(n.pargs) == 2 {
		varName = r.arg1(n, 0)
		list = r.arg(n, 1)
	}
	cur := r.flagVar(varName)
	add := parseFlags(list)
	var next []string
	switch n.name {
	case "setflag":
		next = add
	case "addflag":
		next = parseFlags(append(append([]string(nil), cur...), add...))
	case "removeflag":
		for _, f := range cur {
			keep := true
			for _, x := range add {
				if strings.EqualFold(f, x) {
					keep = false
				}
			}
			if keep {
				next = append(next, f)
			}
		}
	}
	if varName == "" {
		r.flags = next
		return nil
	}
	return r.setVar(n, varName, strings.Join(next, " "))
}

func evalHasflag(r *run, n *node) (bool, error) {
	var flags []string
	keys := r.arg(n, 0)
	if len(n.pargs) == 2 {
		for _, v := range keys {
			flags = append(flags, r.flagVar(v)...)
		}
		keys = r.arg(n, 1)
	} else {
		flags = r.flags
	}
	flags = parseFlags(flags)
	if n.match == "count" {
		return r.matchValues(n, flags, keys)
	}
	// RFC 5232 §4: each key is itself a flag list.
	return r.matchValues(n, flags, parseFlags(keys))
}

// actionFlags returns the flags for keep/fileinto: :flags, or the internal variable.
func (r *run) actionFlags(n *node) []string {
	if t := n.tags["flags"]; t != nil {
		f := parseFlags(r.strs(t.strs))
		if f == nil {
			f = []string{}
		}
		return f
	}
	if len(r.flags) > 0 {
		return append([]string(nil), r.flags...)
	}
	return nil
}

// --- body (RFC 5173) ---

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
					body = []byte(htmlToText(string(body)))
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

// htmlToText strips tags, a rough rendering for body :text.
func htmlToText(s string) string {
	var b strings.Builder
	in := false
	for _, c := range s {
		switch {
		case c == '<':
			in = true
		case c == '>':
			in = false
		case !in:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// --- spamtest (RFC 5235) ---

func evalSpamtest(which string) func(r *run, n *node) (bool, error) {
	return func(r *run, n *node) (bool, error) {
		percent := n.has("percent")
		var val string
		if r.opts.hooks != nil && r.opts.hooks.spamValue != nil {
			v, err := r.opts.hooks.spamValue(r, which, percent)
			if err != nil {
				return false, err
			}
			val = v
		} else {
			val = r.spamValue(which, percent)
		}
		return r.matchValues(n, []string{val}, []string{r.arg1(n, 0)})
	}
}

func (r *run) spamValue(which string, percent bool) string {
	e := r.env
	if which == "virustest" {
		if !e.VirusTested {
			return "0"
		}
		v := e.VirusValue
		if v < 1 {
			v = 1
		}
		if v > 5 {
			v = 5
		}
		return strconv.Itoa(v)
	}
	if !e.SpamTested {
		return "0"
	}
	ratio := 0.0
	if e.SpamRequired > 0 {
		ratio = e.SpamScore / e.SpamRequired
	}
	if ratio < 0 {
		ratio = 0
	}
	if ratio > 1 || e.Spam {
		ratio = max(ratio, 1)
	}
	if ratio > 1 {
		ratio = 1
	}
	if percent {
		return strconv.Itoa(int(ratio*100 + 0.5))
	}
	return strconv.Itoa(1 + int(ratio*9))
}

// --- date (RFC 5260) ---

var dateParts = map[string]bool{"year": true, "month": true, "day": true, "date": true, "julian": true,
	"hour": true, "minute": true, "second": true, "time": true, "iso8601": true, "std11": true,
	"zone": true, "weekday": true}

func checkDate(v *validator, n *node) bool {
	pi := 0
	if n.name == "date" {
		pi = 1
		h := n.pargs[0].strs[0]
		if v.isConstant(h) && !validFieldName(h) {
			v.errorf(n.pargs[0].pos, "specified header field name '%s' is invalid", h)
			return false
		}
	}
	p := n.pargs[pi].strs[0]
	if v.isConstant(p) && !dateParts[strings.ToLower(p)] {
		v.errorf(n.pargs[pi].pos, "the %s test requires a valid date part as argument %d, but '%s' was found", n.name, pi+1, p)
		return false
	}
	if z, ok := n.tagStr("zone"); ok && v.isConstant(z) {
		if _, ok := parseZone(z); !ok {
			v.errorf(n.tags["zone"].pos, "the :zone tag for the %s test requires a valid time zone offset, but '%s' was found", n.name, z)
			return false
		}
	}
	return checkKeys(v, n, pi+1)
}

func parseZone(z string) (*time.Location, bool) {
	if len(z) != 5 || (z[0] != '+' && z[0] != '-') {
		return nil, false
	}
	h, err1 := strconv.Atoi(z[1:3])
	m, err2 := strconv.Atoi(z[3:5])
	if err1 != nil || err2 != nil || h > 23 || m > 59 {
		return nil, false
	}
	off := h*3600 + m*60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone(z, off), true
}

func evalDate(r *run, n *node) (bool, error) {
	var dates []time.Time
	pi := 0
	if n.name == "date" {
		pi = 1
		for _, v := range selectIndex(n, headerValues(r.header, r.arg1(n, 0), false)) {
			// RFC 5260 §4.1: use the part after the last ';' (e.g. Received).
			if i := strings.LastIndexByte(v, ';'); i >= 0 {
				v = v[i+1:]
			}
			t, err := parseDate(v)
			if err != nil {
				continue
			}
			dates = append(dates, t)
		}
	} else {
		dates = []time.Time{r.env.Now}
	}
	loc := r.env.Now.Location()
	if n.name == "date" {
		loc = time.Local
	}
	zoneSet := false
	if z, ok := r.tag(n, "zone"); ok {
		l, ok := parseZone(z)
		if !ok {
			return false, nil
		}
		loc, zoneSet = l, true
	}
	part := strings.ToLower(r.arg1(n, pi))
	var vals []string
	for _, t := range dates {
		if n.name == "currentdate" || zoneSet || !n.has("originalzone") {
			if zoneSet || n.name == "date" {
				t = t.In(loc)
			}
		}
		vals = append(vals, datePart(t, part))
	}
	return r.matchValues(n, vals, r.arg(n, pi+1))
}

// parseDate reads an RFC 5322 §3.3 date-time tolerantly, the way Dovecot
// does: obsolete zone names, two-digit years and missing seconds are
// accepted, and an unknown zone counts as +0000.
func parseDate(v string) (time.Time, error) {
	bad := fmt.Errorf("sieve: bad date %q", v)
	if i := strings.IndexByte(v, '('); i > 0 {
		v = v[:i]
	}
	f := strings.Fields(strings.ReplaceAll(v, ",", " "))
	if len(f) > 0 && len(f[0]) >= 3 && !isDigits(f[0]) {
		f = f[1:] // day of week
	}
	if len(f) < 4 {
		return time.Time{}, bad
	}
	day, err := strconv.Atoi(f[0])
	if err != nil || day < 1 || day > 31 {
		return time.Time{}, bad
	}
	month := 0
	for i, m := range []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"} {
		if len(f[1]) >= 3 && strings.EqualFold(f[1][:3], m) {
			month = i + 1
		}
	}
	if month == 0 {
		return time.Time{}, bad
	}
	year, err := strconv.Atoi(f[2])
	if err != nil {
		return time.Time{}, bad
	}
	switch {
	case len(f[2]) <= 2 && year < 50:
		year += 2000
	case len(f[2]) <= 3:
		year += 1900
	}
	hms := strings.Split(f[3], ":")
	if len(hms) < 2 || len(hms) > 3 {
		return time.Time{}, bad
	}
	var tv [3]int
	for i, x := range hms {
		n, err := strconv.Atoi(x)
		if err != nil {
			return time.Time{}, bad
		}
		tv[i] = n
	}
	if tv[0] > 23 || tv[1] > 59 || tv[2] > 60 {
		return time.Time{}, bad
	}
	off := 0
	name := "+0000"
	if len(f) > 4 {
		z := f[4]
		if l, ok := parseZone(z); ok {
			_, off = time.Date(2000, 1, 1, 0, 0, 0, 0, l).Zone()
			name = z
		} else if o, ok := zoneNames[strings.ToUpper(z)]; ok {
			off = o * 3600
			name = fmt.Sprintf("%+03d00", o)
		}
	}
	loc := time.FixedZone(name, off)
	return time.Date(year, time.Month(month), day, tv[0], tv[1], tv[2], 0, loc), nil
}

// RFC 5322 §4.3 obsolete zone names.
var zoneNames = map[string]int{"UT": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
	"MST": -7, "MDT": -6, "PST": -8, "PDT": -7}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func datePart(t time.Time, part string) string {
	switch part {
	case "year":
		return fmt.Sprintf("%04d", t.Year())
	case "month":
		return fmt.Sprintf("%02d", int(t.Month()))
	case "day":
		return fmt.Sprintf("%02d", t.Day())
	case "date":
		return t.Format("2006-01-02")
	case "julian":
		// Modified Julian Day: days since 1858-11-17.
		y, m, d := t.Date()
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		mjd := day.Sub(time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)).Hours() / 24
		return strconv.Itoa(int(mjd))
	case "hour":
		return fmt.Sprintf("%02d", t.Hour())
	case "minute":
		return fmt.Sprintf("%02d", t.Minute())
	case "second":
		return fmt.Sprintf("%02d", t.Second())
	case "time":
		return t.Format("15:04:05")
	case "iso8601":
		return t.Format("2006-01-02T15:04:05-07:00")
	case "std11":
		return t.Format("Mon, 2 Jan 2006 15:04:05 -0700")
	case "zone":
		return t.Format("-0700")
	case "weekday":
		return strconv.Itoa(int(t.Weekday()))
	}
	return ""
}

// --- editheader (RFC 5293) ---

func (r *run) protected(name string, add bool) bool {
	l := strings.ToLower(name)
	// RFC 5293 §6: Received and Auto-Submitted must not be removed.
	if !add && (l == "received" || l == "auto-submitted") {
		return true
	}
	if l == "subject" {
		return false
	}
	lists := [][]string{r.opts.ProtectedHeaders, r.opts.ForbidDeleteHeaders}
	if add {
		lists[1] = r.opts.ForbidAddHeaders
	}
	for _, list := range lists {
		for _, p := range list {
			if strings.EqualFold(p, name) {
				return true
			}
		}
	}
	return false
}

func checkAddheader(v *validator, n *node) bool {
	name := n.pargs[0].strs[0]
	if v.isConstant(name) && !validFieldName(name) {
		v.errorf(n.pargs[0].pos, "addheader command: specified field name '%s' is invalid", name)
		return false
	}
	val := n.pargs[1].strs[0]
	if v.isConstant(val) && !validFieldValue(val) {
		v.errorf(n.pargs[1].pos, "addheader command: specified value '%s' is invalid", val)
		return false
	}
	if v.isConstant(val) && v.isConstant(name) && len(name)+2+len(unfold(val)) > v.opts.MaxHeaderSize {
		v.errorf(n.pargs[1].pos, "addheader command: specified header field is too large (max %d bytes)", v.opts.MaxHeaderSize)
		return false
	}
	return true
}

// validFieldValue refuses NUL; line breaks are folded when the field is added.
func validFieldValue(s string) bool { return !strings.ContainsRune(s, 0) }

func (r *run) editHeader() {
	if !r.edited {
		r.header = append([]HeaderField(nil), r.header...)
		r.edited = true
	}
}

func execAddheader(r *run, n *node) error {
	name, val := r.arg1(n, 0), r.arg1(n, 1)
	if !validFieldName(name) {
		return rtErr(n, "addheader action: specified field name '%s' is invalid", name)
	}
	if !validFieldValue(val) {
		return rtErr(n, "addheader action: specified value '%s' is invalid", val)
	}
	if r.protected(name, true) {
		r.warnings = append(r.warnings, fmt.Sprintf("addheader action: adding protected header '%s' is not allowed", name))
		return nil
	}
	val = unfold(val)
	if len(name)+2+len(val) > r.opts.MaxHeaderSize {
		return rtErr(n, "addheader action: specified header field is too large (max %d bytes)", r.opts.MaxHeaderSize)
	}
	if !isASCII(val) {
		val = mime.QEncoding.Encode("utf-8", val)
	}
	r.editHeader()
	f := HeaderField{Name: name, Value: val}
	if n.has("last") {
		r.header = append(r.header, f)
	} else {
		r.header = append([]HeaderField{f}, r.header...)
	}
	return nil
}

// unfold joins the lines of a value to add: a line break followed by
// white space is a fold, any other becomes a space; trailing breaks go.
func unfold(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimRight(s, "\n")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			if i+1 < len(s) && (s[i+1] == ' ' || s[i+1] == '\t') {
				continue
			}
			b.WriteByte(' ')
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func checkDeleteheader(v *validator, n *node) bool {
	if n.has("last") && !n.has("index") {
		v.errorf(n.tags["last"].pos, "the :last tag for the deleteheader command requires the :index tag")
		return false
	}
	name := n.pargs[0].strs[0]
	if v.isConstant(name) && !validFieldName(name) {
		v.errorf(n.pargs[0].pos, "deleteheader command: specified field name '%s' is invalid", name)
		return false
	}
	if len(n.pargs) > 1 {
		return checkKeys(v, n, 1)
	}
	return true
}

func execDeleteheader(r *run, n *node) error {
	name := r.arg1(n, 0)
	if !validFieldName(name) {
		return rtErr(n, "deleteheader action: specified field name '%s' is invalid", name)
	}
	if r.protected(name, false) {
		r.warnings = append(r.warnings, fmt.Sprintf("deleteheader action: deleting protected header '%s' is not allowed", name))
		return nil
	}
	var keys []string
	hasKeys := len(n.pargs) > 1
	if hasKeys {
		keys = r.arg(n, 1)
	}
	idx, hasIdx := n.tagNum("index")
	// Positions of the fields with this name.
	var pos []int
	for i, f := range r.header {
		if strings.EqualFold(f.Name, name) {
			pos = append(pos, i)
		}
	}
	if hasIdx {
		i := int(idx) - 1
		if n.has("last") {
			i = len(pos) - int(idx)
		}
		if i < 0 || i >= len(pos) {
			return nil
		}
		pos = pos[i : i+1]
	}
	var del []int
	for _, p := range pos {
		if hasKeys {
			v := decodeHeader(strings.TrimSpace(r.header[p].Value))
			ok, err := r.matchValues(n, []string{v}, keys)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		del = append(del, p)
	}
	if len(del) == 0 {
		return nil
	}
	r.editHeader()
	out := r.header[:0:0]
	j := 0
	for i, f := range r.header {
		if j < len(del) && del[j] == i {
			j++
			continue
		}
		out = append(out, f)
	}
	r.header = out
	return nil
}

// --- vacation (RFC 5230, RFC 6131) ---

func checkVacation(v *validator, n *node) bool {
	if f, ok := n.tagStr("from"); ok && v.isConstant(f) && !validAddress(f) {
		v.errorf(n.tags["from"].pos, "specified :from address '%s' is invalid for vacation action", f)
		return false
	}
	if t := n.tags["addresses"]; t != nil {
		for _, a := range t.strs {
			if v.isConstant(a) && !validAddress(a) {
				v.errorf(t.pos, "specified :addresses item '%s' is invalid for vacation action", a)
				return false
			}
		}
	}
	return true
}

func execVacation(r *run, n *node) error {
	vac := &Vacation{Reason: r.arg1(n, 0), MIME: n.has("mime")}
	vac.Subject, _ = r.tag(n, "subject")
	vac.From, _ = r.tag(n, "from")
	if t := n.tags["addresses"]; t != nil {
		vac.Addresses = r.strs(t.strs)
	}
	vac.Handle, _ = r.tag(n, "handle")
	period := r.opts.VacationDefaultPeriod
	if d, ok := n.tagNum("days"); ok {
		period = time.Duration(d) * 24 * time.Hour
	}
	if s, ok := n.tagNum("seconds"); ok {
		period = time.Duration(s) * time.Second
		vac.Seconds = true
	}
	// Pigeonhole clamps the period to the configured range; 0 seconds means
	// "always reply" (RFC 6131 §2).
	if !(vac.Seconds && period == 0) {
		period = max(period, r.opts.VacationMinPeriod)
		period = min(period, r.opts.VacationMaxPeriod)
	}
	vac.Period = period
	if vac.Handle == "" {
		// RFC 5230 §4.2: the default handle derives from the arguments.
		vac.Handle = strings.Join([]string{vac.Subject, vac.From, vac.Reason, strconv.FormatBool(vac.MIME)}, "\x00")
	}
	return r.addAction(n, Action{Kind: VacationAction, Vacation: vac})
}

// finishVacation fills in the reply fields and decides whether to send
// (RFC 5230 §4.5-§4.6, with Pigeonhole's choices).
func (r *run) finishVacation(res *Result) {
	for i := range res.Actions {
		a := &res.Actions[i]
		if a.Kind != VacationAction {
			continue
		}
		v := a.Vacation
		h := r.header
		sender, _ := parsePath(r.env.From)
		v.To = sender
		v.ToHeader = "<" + sender + ">"
		for _, name := range []string{"sender", "resent-from", "from"} {
			for _, fv := range headerValues(h, name, false) {
				addrs, ok := headerAddresses(fv)
				if !ok || len(addrs) != 1 {
					continue
				}
				if r.opts.VacationToHeaderIgnoreEnvelope || strings.EqualFold(addrs[0], sender) {
					if v.ToHeader == "<"+sender+">" || r.opts.VacationToHeaderIgnoreEnvelope && v.To == sender {
						v.To, v.ToHeader = addrs[0], strings.TrimSpace(fv)
					}
				}
			}
			if v.ToHeader != "<"+sender+">" {
				break
			}
		}
		if v.Subject == "" {
			v.Subject = r.vacationSubject()
		}
		v.Subject = limitCodepoints(v.Subject, r.opts.VacationMaxSubjectCodepoints)
		if ids := headerValues(h, "message-id", false); len(ids) > 0 {
			v.InReplyTo = ids[0]
			refs := headerValues(h, "references", false)
			if len(refs) == 0 {
				refs = headerValues(h, "in-reply-to", false)
			}
			if len(refs) > 0 {
				v.References = strings.Join(strings.Fields(refs[0]), " ") + " " + ids[0]
			} else {
				v.References = ids[0]
			}
		}
		matched := ""
		v.Suppressed, matched = r.vacationSuppressed(v)
		if v.From == "" {
			v.From = matched
		}
		if r.opts.VacationSendFromRecipient {
			v.EnvelopeFrom = r.env.To
		}
		if v.Suppressed == "" && r.env.Duplicate != nil {
			key := "vacation\x00" + v.Handle + "\x00" + strings.ToLower(sender)
			sum := sha256.Sum256([]byte(key))
			k := hex.EncodeToString(sum[:])
			if seen, err := r.env.Duplicate.Seen(r.ctx, k); err == nil && seen && v.Period > 0 {
				v.Suppressed = "already replied to sender"
			} else if v.Period > 0 {
				res.dupMarks = append(res.dupMarks, dupMark{key: k, expiry: r.env.Now.Add(v.Period)})
			}
		}
	}
}

func (r *run) vacationSubject() string {
	orig := ""
	if subj := headerValues(r.header, "subject", true); len(subj) > 0 {
		orig = subj[0]
	}
	if r.opts.VacationSubjectTemplate != "" {
		t := strings.ReplaceAll(r.opts.VacationSubjectTemplate, "%{subject}", orig)
		t = strings.ReplaceAll(t, "%$", orig)
		return strings.ReplaceAll(t, "%%", "%")
	}
	if orig == "" {
		if r.opts.VacationDefaultSubject != "" {
			return r.opts.VacationDefaultSubject
		}
		return "Automated reply"
	}
	return "Auto: " + orig
}

func limitCodepoints(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	rs := []rune(s)
	return string(rs[:max-1]) + "\u2026"
}

// userAddresses are the addresses vacation considers the user's own.
func (r *run) userAddresses(v *Vacation) []string {
	mine := []string{r.env.To}
	if r.opts.VacationUseOriginalRecipient && r.env.OrigTo != "" {
		mine = append(mine, r.env.OrigTo)
	}
	if r.env.UserEmail != "" {
		mine = append(mine, r.env.UserEmail)
	}
	return append(mine, v.Addresses...)
}

// vacationSuppressed says why no reply goes out ("" to reply), and which of
// the user's addresses the message was sent to.
func (r *run) vacationSuppressed(v *Vacation) (string, string) {
	from := strings.ToLower(v.To)
	if from == "" {
		return "null sender", ""
	}
	mine := r.userAddresses(v)
	for _, m := range mine {
		if m != "" && strings.EqualFold(normalizeAddr(m), normalizeAddr(from)) {
			return "sender is the user", ""
		}
	}
	local, _, _ := splitAddress(from)
	for _, p := range []string{"mailer-daemon", "listserv", "majordomo", "owner-"} {
		if strings.HasPrefix(local, p) {
			return "sender is a system address", ""
		}
	}
	if strings.HasSuffix(local, "-request") {
		return "sender is a list address", ""
	}
	h := r.header
	for _, as := range headerValues(h, "auto-submitted", false) {
		if !strings.EqualFold(strings.TrimSpace(strings.SplitN(as, ";", 2)[0]), "no") {
			return "message is auto-submitted", ""
		}
	}
	for _, x := range headerValues(h, "x-auto-response-suppress", false) {
		for _, f := range strings.FieldsFunc(x, func(c rune) bool { return c == ',' || c == ' ' }) {
			if strings.EqualFold(f, "all") || strings.EqualFold(f, "oof") {
				return "sender suppresses auto-responses", ""
			}
		}
	}
	for _, name := range []string{"list-id", "list-owner", "list-unsubscribe", "list-post", "list-help", "list-subscribe", "list-archive"} {
		if len(headerValues(h, name, false)) > 0 {
			return "message is from a mailing list", ""
		}
	}
	for _, p := range headerValues(h, "precedence", false) {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "bulk", "list", "junk":
			return "message has precedence " + strings.ToLower(strings.TrimSpace(p)), ""
		}
	}
	// RFC 5230 §4.5: reply only if one of the user's addresses is a recipient.
	for _, name := range []string{"to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"} {
		for _, fv := range headerValues(h, name, false) {
			for _, a := range parseAddressList(fv) {
				for _, m := range mine {
					if m != "" && strings.EqualFold(normalizeAddr(a), normalizeAddr(m)) {
						return "", a
					}
				}
			}
		}
	}
	if r.opts.VacationDontCheckRecipient {
		return "", ""
	}
	return "user is not a recipient of the message", ""
}

// --- include (RFC 6609) ---

func checkInclude(v *validator, n *node) bool {
	name := n.pargs[0].strs[0]
	if strings.ContainsAny(name, "/") || name == "" || !utf8.ValidString(name) {
		v.errorf(n.pargs[0].pos, "include: invalid script name '%s'", name)
		return false
	}
	if v.has("variables") && strings.Contains(name, "${") {
		v.errorf(n.pargs[0].pos, "include: script name '%s' must be a constant string", name)
		return false
	}
	scope := Personal
	if n.has("global") {
		scope = Global
	}
	key := includeKey{scope, name}
	n.ext = key
	c := v.c
	if c.inFlight[key] && !n.has("once") {
		// RFC 6609 §3.2: a script must not include itself, directly or not.
		v.errorf(n.pos, "include cycle: %s script '%s' includes itself", scopeName(scope), name)
		return false
	}
	if _, ok := c.scripts[key]; ok || c.inFlight[key] {
		return true
	}
	if c.opts.Loader == nil {
		if n.has("optional") {
			return true
		}
		v.errorf(n.pos, "included %s script '%s' does not exist", scopeName(scope), name)
		return false
	}
	src, path, err := c.opts.Loader.Load(c.ctx, scope, name)
	if err != nil {
		switch {
		case errors.Is(err, ErrNotFound) && n.has("optional"):
			return true
		case errors.Is(err, ErrNotFound):
			v.errorf(n.pos, "included %s script '%s' does not exist", scopeName(scope), name)
		default:
			// The error names the file and the reason, never its content.
			v.errorf(n.pos, "included %s script '%s' cannot be read: %v", scopeName(scope), name, err)
		}
		return false
	}
	c.count++
	if c.count > c.opts.Limits.MaxIncludes {
		v.errorf(n.pos, "include: too many included scripts (max %d)", c.opts.Limits.MaxIncludes)
		return false
	}
	if len(c.inFlight)+1 > c.opts.Limits.MaxIncludeDepth {
		v.errorf(n.pos, "cannot nest includes deeper than %d levels", c.opts.Limits.MaxIncludeDepth)
		return false
	}
	c.inFlight[key] = true
	s, errs := c.compile(path, src, false)
	delete(c.inFlight, key)
	if s == nil {
		for _, d := range errs.diags {
			if d.Pos.Line > 0 {
				v.errs.add(d.Pos, d.Message)
			}
		}
		v.errorf(n.pos, "failed to compile included %s script '%s'", scopeName(scope), name)
		return false
	}
	c.scripts[key] = s
	return true
}

func scopeName(s IncludeScope) string {
	if s == Global {
		return "global"
	}
	return "personal"
}

func execInclude(r *run, n *node) error {
	key, _ := n.ext.(includeKey)
	s := r.script.includes[key]
	if s == nil {
		if n.has("optional") {
			return nil
		}
		return rtErr(n, "included script '%s' not found", key.name)
	}
	if n.has("once") && r.onceDone[s] {
		return nil
	}
	if r.inInclude[s] || s == r.cur {
		return rtErr(n, "include: recursive include of script '%s'", key.name)
	}
	if r.depth >= r.opts.Limits.MaxIncludeDepth {
		return rtErr(n, "include: nesting too deep")
	}
	r.onceDone[s] = true
	saved, savedVars, savedMatch := r.cur, r.vars, r.match
	r.inInclude[r.cur] = true
	r.cur, r.vars, r.match = s, map[string]string{}, nil
	r.depth++
	err := r.exec(s.cmds)
	r.depth--
	r.cur, r.vars, r.match = saved, savedVars, savedMatch
	delete(r.inInclude, saved)
	if err == errReturn {
		err = nil
	}
	return err
}

func checkGlobal(v *validator, n *node) bool {
	if !v.has("variables") {
		v.errorf(n.pos, "the global command requires the variables extension")
		return false
	}
	for _, name := range n.pargs[0].strs {
		if !v.checkVariableName(n.pargs[0].pos, name) {
			return false
		}
	}
	return true
}

// execGlobal binds the names to the shared global scope (RFC 6609 §3.3)
// for the rest of the current script.
func execGlobal(r *run, n *node) error {
	if r.globalScope == nil {
		r.globalScope = map[*Script]map[string]bool{}
	}
	m := r.globalScope[r.cur]
	if m == nil {
		m = map[string]bool{}
		r.globalScope[r.cur] = m
	}
	for _, name := range r.arg(n, 0) {
		m[strings.ToLower(name)] = true
	}
	return nil
}

// --- duplicate (RFC 7352) ---

func evalDuplicate(r *run, n *node) (bool, error) {
	var id string
	if u, ok := r.tag(n, "uniqueid"); ok {
		id = u
	} else {
		name := "message-id"
		if h, ok := r.tag(n, "header"); ok {
			name = h
		}
		vals := headerValues(r.header, name, false)
		if len(vals) == 0 {
			return false, nil
		}
		id = vals[0]
	}
	handle, _ := r.tag(n, "handle")
	sum := sha256.Sum256([]byte("duplicate\x00" + handle + "\x00" + id))
	key := hex.EncodeToString(sum[:])
	period := 12 * time.Hour
	if s, ok := n.tagNum("seconds"); ok {
		period = time.Duration(s) * time.Second
	}
	if r.env.Duplicate == nil {
		return false, nil
	}
	for _, m := range r.dupMarks {
		if m.key == key {
			return true, nil
		}
	}
	seen, err := r.env.Duplicate.Seen(r.ctx, key)
	if err != nil {
		return false, rtErr(n, "duplicate: tracking failed: %v", err)
	}
	if !seen || n.has("last") {
		r.dupMarks = append(r.dupMarks, dupMark{key: key, expiry: r.env.Now.Add(period)})
	}
	return seen, nil
}

// --- mailbox (RFC 5490) ---

func (r *run) mailboxExists(name string) bool {
	if r.env.Mailboxes != nil {
		return r.env.Mailboxes.MailboxExists(r.ctx, name)
	}
	return isInbox(name)
}

// ihaveRestricted lists capabilities ihave never grants: they change how
// the script is read before ihave could run (RFC 5463 §4).
var ihaveRestricted = map[string]bool{"encoded-character": true, "variables": true}

// knownCapability reports whether a script may require c.
func (o *Options) knownCapability(c string) bool {
	exts := o.Extensions
	if exts == nil {
		exts = DefaultExtensions
	}
	for _, e := range exts {
		if e == c {
			return true
		}
	}
	return false
}
