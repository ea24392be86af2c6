package bayes

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"strings"

	"github.com/sluice-mail/sluice/mail"
)

// This file holds the header side of the tokenizer: which fields Bayes.pm
// skips, compresses or pre-chews, and the address tokens.

// Field names, lower case, that Bayes.pm _tokenize_headers treats
// specially: /^(?:|X-|Resent-)Message-Id$/i, the address fields of
// PRE_CHEW_ADDR_HEADERS, and the pseudo-fields of MAP_HEADERS_MID,
// MAP_HEADERS_FROMTOCC and MAP_HEADERS_USERAGENT.
var (
	msgidHeaders = prefixed("message-id")
	addrHeaders  = prefixed("return-path", "from", "to", "cc", "reply-to", "errors-to", "mail-followup-to", "sender")
	mapMID       = set("in-reply-to", "references", "message-id")
	mapFromToCc  = set("from", "to", "cc")
	mapUserAgent = set("x-mailer", "user-agent")
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// prefixed is the names, each also with "x-" and "resent-" in front.
func prefixed(names ...string) map[string]bool {
	m := make(map[string]bool, 3*len(names))
	for _, n := range names {
		m[n], m["x-"+n], m["resent-"+n] = true, true, true
	}
	return m
}

// ignoredHeaders is Bayes.pm's $IGNORED_HDRS: fields that give spurious
// clues (list headers, other filters' verdicts, mail client annotations).
// Received is handled separately: only the last two are tokenized. The
// three open-ended forms (X-DCC-\S{2,25}-Metrics, X-SpamCop-[^:]+,
// X-Bugzilla-[^:]+) are in isIgnoredHeader; the rest is expanded into a
// set of lower-case names.
var ignoredHeaders = mustNameSet(`(?i)^(?:` +
	`(?:X-)?Sender|Delivered-To|Delivery-Date|(?:X-)?Envelope-To` +
	`|X-MIME-Auto[Cc]onverted|X-Converted-To-Plain-Text` +
	`|Subject|Date` +
	`|X-List|(?:X-)?Mailing-List` +
	`|(?:X-)?List-(?:Archive|Help|Id|Owner|Post|Subscribe|Unsubscribe|Host|Id|Manager|Admin|Comment|Name|Url)` +
	`|X-Unsub(?:scribe)?|X-Mailman-Version|X-Been[Tt]here|X-Loop` +
	`|Mail-Followup-To|X-eGroups-(?:Return|From)|X-MDMailing-List|X-XEmacs-List|X-Sympa-To` +
	`|(?:X-)?Resent-(?:From|To|Date)|(?:X-)?Original-(?:From|To|Date)` +
	`|X-MailScanner(?:-SpamCheck)?` +
	`|X-Spam(?:-(?:Status|Level|Flag|Report|Hits|Score|Checker-Version))?` +
	`|X-Antispam|X-RBL-Warning|X-Mailscanner|X-MDaemon-Deliver-To|X-Virus-Scanned` +
	`|X-Mass-Check-Id|X-Pyzor` +
	`|X-Filtered-B[Yy]|X-Scanned-By|X-Scanner` +
	`|X-AP-Spam-(?:Score|Status)|X-RIPE-Spam-Status` +
	`|X-SMTPD|(?:X-)?Spam-Apparently-To|SPAM|X-Perlmx-Spam|X-Bogosity` +
	`|Content-Class|Thread-(?:Index|Topic)|X-Original[Aa]rrival[Tt]ime` +
	`|(?:X-)?Status|X-Flags|X-Keywords|Replied|Forwarded|Lines|Content-Length|X-UIDL?|X-IMAPbase` +
	`|X-VM-(?:Bookmark|(?:POP|IMAP)-Retrieved|Labels|Last-Modified|Summary-Format|VHeader|v\d-Data|Message-Order)` +
	`|X-Gnus-Mail-Source|Xref` +
	`)$`)

// isIgnoredHeader is /^${IGNORED_HDRS}:/i on a field name (which holds no
// colon).
func isIgnoredHeader(name string) bool {
	l := strings.ToLower(name)
	if ignoredHeaders[l] {
		return true
	}
	if rest, ok := strings.CutPrefix(l, "x-dcc-"); ok {
		mid, ok := strings.CutSuffix(rest, "-metrics")
		return ok && len(mid) >= 2 && len(mid) <= 25 && !strings.ContainsAny(mid, " \t\n\r\f\v")
	}
	for _, p := range []string{"x-spamcop-", "x-bugzilla-"} {
		if strings.HasPrefix(l, p) && len(l) > len(p) {
			return true
		}
	}
	return false
}

// mustNameSet expands a finite case-insensitive pattern into the set of
// lower-case strings it matches.
func mustNameSet(pattern string) map[string]bool {
	t, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		panic(err)
	}
	words, ok := expand(t.Simplify(), 100000)
	if !ok {
		panic("bayes: pattern not finite: " + pattern)
	}
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[asciiLower(w)] = true
	}
	return m
}

// presenceOnlyHeaders is $MARK_PRESENCE_ONLY_HDRS: fields whose values
// are all hapaxes; only their presence becomes a token.
var presenceOnlyHeaders = regexp.MustCompile(`(?i)^(?:X-Face|X-(?:Gnu-?PG|PGP|GPG)(?:-Key)?-Fingerprint|D(?:KIM|omainKey)-Signature|X-Google-DKIM-Signature|ARC-(?:Message-Signature|Seal)|Autocrypt)$`)

// headerNameCompression is %HEADER_NAME_COMPRESSION: short prefixes for
// the most frequent fields. The match on the field name is exact, case
// included, as in Perl's hash lookup.
var headerNameCompression = map[string]string{
	"Message-Id":                "*m",
	"Message-ID":                "*M",
	"Received":                  "*r",
	"User-Agent":                "*u",
	"References":                "*f",
	"In-Reply-To":               "*i",
	"From":                      "*F",
	"Reply-To":                  "*R",
	"Return-Path":               "*p",
	"Return-path":               "*rp",
	"X-Mailer":                  "*x",
	"X-Authentication-Warning":  "*a",
	"Organization":              "*o",
	"Organisation":              "*o",
	"Content-Type":              "*ct",
	"Content-Disposition":       "*cd",
	"Content-Transfer-Encoding": "*ce",
	"x-spam-relays-trusted":     "*RT",
	"x-spam-relays-untrusted":   "*RU",
}

var (
	midOutlook      = regexp.MustCompile(`<([0-9a-f]{4})[0-9a-f]{4}[0-9a-f]{4}\$([0-9a-f]{4})[0-9a-f]{4}\$([0-9a-f]{8})@(\S+)>`)
	midExim         = regexp.MustCompile(`<[A-Za-z0-9]{7}-[A-Za-z0-9]{6}-0[A-Za-z0-9]@`)
	midSendmail     = regexp.MustCompile(`<20\d\d[01]\d[0123]\d[012]\d[012345]\d[012345]\d\.[A-F0-9]{10,12}@`)
	rcvdSendmail1   = regexp.MustCompile(`\swith\sSMTP\sid\sg[\dA-Z]{10,12}\s`)
	rcvdSendmail2   = regexp.MustCompile(`\swith\sESMTP\sid\s[\dA-F]{10,12}\s`)
	rcvdSendmail3   = regexp.MustCompile(`\bid\s[a-zA-Z0-9]{7,20}\b`)
	rcvdExim        = regexp.MustCompile(`\bid\s[A-Za-z0-9]{7}-[A-Za-z0-9]{6}-0[A-Za-z0-9]`)
	rcvdDate        = regexp.MustCompile(`(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),\s)?[0-3\s]?[0-9]\s(?:Jan|Feb|Ma[ry]|Apr|Ju[nl]|Aug|Sep|Oct|Nov|Dec)\s(?:19|20)?[0-9]{2}\s[0-2][0-9](?::[0-5][0-9]){1,2}\s(?:\s*\(|\)|\s*(?:[+-][0-9]{4})|\s*(?:UT|[A-Z]{2,3}T))*`)
	ctBoundary      = regexp.MustCompile(`(?i)boundary=["'](.*?)["']`)
	ctHex           = regexp.MustCompile(`[a-fA-F0-9]`)
	ctSeparators    = regexp.MustCompile(`([-_.=]+)`)
	ctNoise         = regexp.MustCompile(`\b(?:text|charset)\b`)
	mimeVersionNoop = regexp.MustCompile(`1\.0`)
	relaysMeta      = regexp.MustCompile(`^x-spam-relays-(?:external|internal|trusted|untrusted)$`)
	relayLabels     = regexp.MustCompile(` [a-z]+=`)
)

// lastAt is the "@" of /(.+)\@(.+)$/: the last one with something on both
// sides, or -1.
func lastAt[S ~string | ~[]byte](addr S) int {
	for i := len(addr) - 2; i >= 1; i-- {
		if addr[i] == '@' {
			return i
		}
	}
	return -1
}

// mailAddr is _tokenize_mail_addrs: it records "U*" the local part, "D*"
// the domain and each of its parent domains.
func (tz *tokenizer) mailAddr(addr []byte) {
	at := lastAt(addr)
	if at < 0 {
		return
	}
	user, dom := addr[:at], addr[at+1:]
	tz.add2(userPrefix, user)
	tz.add2(domPrefix, dom)
	for {
		i := bytes.IndexByte(dom, '.')
		if i <= 0 || i == len(dom)-1 {
			break
		}
		dom = dom[i+1:]
		tz.add2(domPrefix, dom)
	}
}

// mailAddrTokens is _tokenize_mail_addrs for the address headers: it
// appends the tokens of addr to toks.
func mailAddrTokens(toks []string, addr string) []string {
	at := lastAt(addr)
	if at < 0 {
		return toks
	}
	user, dom := addr[:at], addr[at+1:]
	toks = append(toks, "U*"+user, "D*"+dom)
	for {
		i := strings.IndexByte(dom, '.')
		if i <= 0 || i == len(dom)-1 {
			break
		}
		dom = dom[i+1:]
		toks = append(toks, "D*"+dom)
	}
	return toks
}

// headers is _tokenize_headers: the header fields to tokenize, keyed by
// the (compressed) field name or a pseudo-name (*MI, *Ad, *UA), values of
// one key joined with a space.
func (tz *tokenizer) headers(msg *mail.Message, meta []string) map[string]string {
	var lines, rcvd []string
	for _, l := range msg.Header("ALL", false) {
		if len(l) >= 9 && strings.EqualFold(l[:9], "Received:") {
			rcvd = append(rcvd, l)
			continue
		}
		// /^${IGNORED_HDRS}:/i, matched on the name alone: a field
		// name holds no colon.
		if name, _, _ := strings.Cut(l, ":"); isIgnoredHeader(name) {
			continue
		}
		lines = append(lines, l)
	}
	// Message.pm keeps metadata names in lower case.
	for _, l := range meta {
		name, val, _ := strings.Cut(l, ":")
		lines = append(lines, strings.ToLower(name)+":"+val)
	}
	// The last two Received fields: usually a good source of spamware
	// tokens and HELO names.
	if n := len(rcvd); n >= 1 {
		lines = append(lines, rcvd[n-1])
		if n >= 2 {
			lines = append(lines, rcvd[n-2])
		}
	}
	parsed := make(map[string]string)
	add := func(k, v string) {
		if old, ok := parsed[k]; ok {
			parsed[k] = old + " " + v
		} else {
			parsed[k] = v
		}
	}
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		hdr, val, _ := strings.Cut(l, ":")
		if tz.cfg.IgnoreHeaders[strings.ToLower(hdr)] {
			continue
		}
		val = strings.TrimSuffix(val, "\n") // chomp
		lower := strings.ToLower(hdr)
		switch {
		case msgidHeaders[lower]:
			val = preChewMessageID(val)
		case addrHeaders[lower]: // PRE_CHEW_ADDR_HEADERS
			val = preChewAddrHeader(val)
		case hdr == "Received":
			val = preChewReceived(val)
		case hdr == "Content-Type":
			val = preChewContentType(val)
		case hdr == "MIME-Version":
			if loc := mimeVersionNoop.FindStringIndex(val); loc != nil {
				val = val[:loc[0]] + val[loc[1]:]
			}
		case presenceOnlyHeaders.MatchString(hdr):
			val = "1"
		case relaysMeta.MatchString(hdr):
			// Drop the redundant rdns= helo= ident= ... labels.
			val = relayLabels.ReplaceAllString(val, " ")
		}
		if mapMID[lower] { // MAP_HEADERS_MID
			add("*MI", val)
		}
		if mapFromToCc[lower] { // MAP_HEADERS_FROMTOCC
			add("*Ad", val)
		}
		if mapUserAgent[lower] { // MAP_HEADERS_USERAGENT
			add("*UA", val)
		}
		if c, ok := headerNameCompression[hdr]; ok {
			hdr = c
		}
		add(hdr, val)
	}
	return parsed
}

func preChewMessageID(val string) string {
	if strings.IndexByte(val, '$') >= 0 {
		val = midOutlook.ReplaceAllString(val, " OEA$1 OEB$2 OEC$3 $4 ")
	}
	if strings.IndexByte(val, '<') >= 0 {
		if loc := midExim.FindStringIndex(val); loc != nil {
			val = val[:loc[0]] + val[loc[1]:]
		}
		val = midSendmail.ReplaceAllString(val, "")
	}
	// s/[^_A-Za-z0-9]/ /g
	b := []byte(val)
	for i, c := range b {
		if !isWordByte(c) {
			b[i] = ' '
		}
	}
	return string(b)
}

func preChewReceived(val string) string {
	// Each substitution runs from just before the first place a match can
	// start (the first "with", "id", month name, digit): the result is the
	// same, and the regular expressions cost less on the shorter rest. One
	// byte before the candidate is kept so \b sees its left neighbour.
	val = replaceFrom(rcvdSendmail1, val, strings.Index(val, "with")-1, " ")
	val = replaceFrom(rcvdSendmail2, val, strings.Index(val, "with")-1, " ")
	val = replaceFrom(rcvdSendmail3, val, strings.Index(val, "id")-1, " ")
	val = replaceFrom(rcvdExim, val, strings.Index(val, "id")-1, " ")
	// A date match starts at most 8 bytes ("Mon, " [0-3\s]? [0-9] \s)
	// before its month name.
	val = replaceFrom(rcvdDate, val, firstMonth(val)-8, "")
	// IPs become their /24 plus an "ip*" token with the full address.
	// Bayes.pm means to keep 10/8 and 192.168/16 whole, but compares $2
	// with its trailing dot ("10." eq '10'), so it never does.
	val = replaceIPs(val)
	return replaceWords(val, rcvdNoise, " ")
}

// replaceIPs is s/\b(\d{1,3}\.)(\d{1,3}\.)(\d{1,3})(\.\d{1,3})\b/$1$2$3 ip*$1$2$3$4 /g.
// Each \d{1,3} must take a whole run of digits, since a dot or a \b
// follows it, so no backtracking is needed.
func replaceIPs(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || i > 0 && isWordByte(s[i-1]) {
			continue
		}
		j, lastDot := i, 0
		for k := 0; k < 4; k++ {
			if k > 0 {
				if j >= len(s) || s[j] != '.' {
					j = -1
					break
				}
				lastDot = j
				j++
			}
			d := j
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if n := j - d; n < 1 || n > 3 {
				j = -1
				break
			}
		}
		if j < 0 || j < len(s) && isWordByte(s[j]) {
			continue
		}
		b.WriteString(s[last:lastDot])
		b.WriteString(" ip*")
		b.WriteString(s[i:j])
		b.WriteByte(' ')
		last = j
		i = j - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// rcvdNoise are the words of s/\b(?:with|from|for|SMTP|ESMTP)\b/ /g.
var rcvdNoise = []string{"with", "from", "for", "SMTP", "ESMTP"}

// replaceWords replaces each of words standing as a whole word (\b on
// both sides, ASCII word bytes) by repl.
func replaceWords(s string, words []string, repl string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) || i > 0 && isWordByte(s[i-1]) {
			continue
		}
		for _, w := range words {
			j := i + len(w)
			if strings.HasPrefix(s[i:], w) && (j == len(s) || !isWordByte(s[j])) {
				b.WriteString(s[last:i])
				b.WriteString(repl)
				last = j
				i = j - 1
				break
			}
		}
	}
	if b.Len() == 0 && last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// replaceFrom is re.ReplaceAllString(s, repl) for an re that cannot match
// before from (clamped to 0); from < -1 means it cannot match at all.
func replaceFrom(re *regexp.Regexp, s string, from int, repl string) string {
	if from < -1 {
		return s
	}
	from = max(from, 0)
	return s[:from] + re.ReplaceAllString(s[from:], repl)
}

// firstMonth is the index of the first English month abbreviation in s,
// or -100 when there is none.
func firstMonth(s string) int {
	first := -100
	for _, m := range []string{"Jan", "Feb", "Mar", "May", "Apr", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"} {
		if i := strings.Index(s, m); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	return first
}

func preChewContentType(val string) string {
	var ms [][]string
	if strings.Contains(strings.ToLower(val), "boundary=") {
		ms = ctBoundary.FindAllStringSubmatch(val, -1)
	}
	if ms != nil {
		val = ctBoundary.ReplaceAllString(val, " ")
		b := ms[len(ms)-1][1]
		b = ctHex.ReplaceAllString(b, "H")
		b = ctSeparators.ReplaceAllString(b, " $1 ")
		val += b
	}
	if strings.Contains(val, "text") || strings.Contains(val, "charset") {
		val = ctNoise.ReplaceAllString(val, " ")
	}
	return val
}

func preChewAddrHeader(val string) string {
	var toks []string
	for _, a := range mail.ParseAddresses(val) {
		if a.Phrase != "" {
			for _, w := range strings.FieldsFunc(a.Phrase, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) }) {
				toks = append(toks, "N*"+w) // SpamAssassin bug 6319
			}
		}
		if a.Addr != "" {
			toks = mailAddrTokens(toks, a.Addr)
		}
	}
	return strings.Join(toks, " ")
}
