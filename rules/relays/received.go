package relays

import (
	"regexp"
	"strings"
)

// rcvdStatus is the outcome of parsing one Received field.
type rcvdStatus int

const (
	rcvdParsed       rcvdStatus = iota
	rcvdSkip                    // a handover known to carry nothing useful
	rcvdUnparseable             // not understood
	rcvdFetcher                 // a POP/IMAP fetcher's handover
	rcvdQmailScanner            // qmail-scanner's note; its envfrom belongs to the next field
)

const (
	// IPv4Pattern matches a dotted-quad IPv4 address (RE2 syntax).
	IPv4Pattern = `(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\b`
	// IPPattern approximates SpamAssassin's IP_ADDRESS (RE2 syntax): IPv4, or IPv6 with an
	// optional IPv6: prefix and embedded IPv4 tail.
	IPPattern = `(?:\b` + IPv4Pattern + `|(?:IPv6:)?(?:[a-fA-F0-9]{0,4}:){2,7}(?:[a-fA-F0-9]{1,4}|` + IPv4Pattern + `)?)`
	lhPat     = `(?:localhost(?:\.localdomain)?|\b127\.0\.0\.1\b|::1)`
	hstPat    = `[-A-Za-z0-9.^+_&:=?!@%*$\\/]+`
)

var (
	ipAddressRE   = regexp.MustCompile(IPPattern)
	privateIPRE   = regexp.MustCompile(`^(?:(?:10|127|169\.254|172\.(?:1[6-9]|2[0-9]|3[01])|192\.168|100\.(?:6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7]))\..*|(?i:(?:IPv6:)?(?:::1$|fe[89ab][0-9a-f]?:|f[cd][0-9a-f]{0,2}:|(?:0{1,4}:){0,5}:?ffff:(?:10|127|169\.254|172\.(?:1[6-9]|2[0-9]|3[01])|192\.168)\.)))`)
	rcvdDateRE    = regexp.MustCompile(`[\s;]+(?:(?:Mon|T(?:ue|hu)|Wed|Fri|S(?:at|un)), )?\d+ (?:J(?:an|u[nl])|Feb|Ma[ry]|A(?:pr|ug)|Sep|Oct|Nov|Dec) \d+ \d+:\d+(?::\d+)? \S+$`)
	rcvdIDRE      = regexp.MustCompile(` id <?([^\s<>;]{3,})`)
	rcvdHeloEqRE  = regexp.MustCompile(`\bhelo=(` + hstPat + `)(?:[^-A-Za-z0-9.^+_&:=?!@%*$\\/]|$)`)
	rcvdHeloRE    = regexp.MustCompile(`\b(?:HELO|EHLO) (` + hstPat + `)(?:[^-A-Za-z0-9.^+_&:=?!@%*$\\/]|$)`)
	rcvdByRE      = regexp.MustCompile(` by (\S+)(?:[^-A-Za-z0-9;.]|$)`)
	rcvdEnvFromRE = regexp.MustCompile(`(?i)(?:return-path:? |envelope-(?:sender|from)[ =])(\S+)\b`)
	stripCharsRE  = regexp.MustCompile(`[\s\x00#\[\]()<>|]`)
	rcvdSkipByRE  = regexp.MustCompile(`(?i)^from (\S+) by [^\s;]+ ?;`)
	bracketIPRE   = regexp.MustCompile(`^\[[\d.]+\]$`)
	anyBracketIP  = regexp.MustCompile(`\[(` + IPPattern + `)\]`)
)

// authPatterns recognise authenticated submissions; the first that
// matches names the mechanism (group 1, or the fixed text).
// IsPrivateIP reports whether s starts with a private, loopback,
// link-local or CGN address (SpamAssassin's IP_PRIVATE).
func IsPrivateIP(s string) bool { return privateIPRE.MatchString(s) }

var authPatterns = []struct {
	guard, re *regexp.Regexp
	name      string
	group     int
}{
	{regexp.MustCompile(` by `), regexp.MustCompile(`(?i) with ((?:ES|L|UTF8S|UTF8L)MTPS?A|ASMTP|HTTP[SU]?)(?: |;|$)`), "", 1},
	{regexp.MustCompile(`\(AUTH: `), regexp.MustCompile(`^from .*?(?:\]\)|\)\]) \(AUTH: (LOGIN|PLAIN|DIGEST-MD5|CRAM-MD5) \S+(?:, .*?)?\) by `), "", 1},
	{regexp.MustCompile(`authenticated`), regexp.MustCompile(`^from .*?(?:\](?: \([^)]*\))?\)|\)\]) .*?\(.*?authenticated.*?\).*? by`), "Sendmail", 0},
	{regexp.MustCompile(` \(authenticated as `), regexp.MustCompile(`\) by .+ \(\d{1,2}\.\d\.\d{3}(?:\.\d{1,3})?\) \(authenticated as .+\) id `), "CriticalPath", 0},
	{regexp.MustCompile(` \(account `), regexp.MustCompile(`CommuniGate Pro (HTTP|SMTP|XIMSS|IMAP)`), "Communigate", 0},
	{nil, regexp.MustCompile(` with Microsoft Exchange Server HTTP-DAV\b`), "HTTP-DAV", 0},
	{regexp.MustCompile(` by `), regexp.MustCompile(`(?i) \(via (HTTP.?)\)(?: |;|$)`), "", 1},
}

var (
	gmailAuthRE  = regexp.MustCompile(` by mx\.google\.com with ESMTPS id [a-z0-9]{1,4}sm[0-9]{2,9}[a-z]{3}\.[0-9]{1,3}\.[0-9]{4}\.(?:[0-6][0-9]\.){4}[0-6][0-9]`)
	gmailTLSRE   = regexp.MustCompile(`\(version=([^ ]+) cipher=([^)]+)\)`)
	gmxAuthRE    = regexp.MustCompile(`from \S* \((?:HELO|EHLO) (\S*)\) \[(` + IPPattern + `)\] by (mail\.gmx\.(?:net|com)) \([^)]+\) with ((?:ESMTP|SMTP))`)
	postfixAuth  = regexp.MustCompile(`\) \(Authenticated sender: \S+\) by \S+ \(([^)]+)\) with `)
	qmailLDAPRE  = regexp.MustCompile(` by \S+ \(qmail-\S+\) with `)
	qmailGeneral = regexp.MustCompile(`^\S+( \((?:HELO|EHLO) \S*\))? \((\S+@)?\[?` + IPPattern + `\]?\)( \(envelope-sender <\S+>\))? by \S+( \(.+\))* with (.* )?(SMTP|QMQP)`)
	eximSubHelo  = regexp.MustCompile(`helo=(\S+)`)
	eximSubIdent = regexp.MustCompile(`ident=(\S*)`)
)

// rcvdFormat is one known Received layout (after "from "): when guard (if
// any) matches and re matches, its groups fill the named fields.
type rcvdFormat struct {
	guard *regexp.Regexp
	re    *regexp.Regexp
	// fields names each group: ip, helo, rdns, by, ident, envfrom, id,
	// sub (Exim's "(helo=… ident=…)"), both (rDNS and HELO), "" (unused).
	fields []string
	// dns: the MTA is known to look up reverse DNS, so an empty rdns
	// means the client has none.
	dns bool
	// skip: the handover carries nothing useful.
	skip bool
	// noID clears the id (Microsoft SMTP Server ids are versions).
	noID bool
}

func rf(guard, re string, dns bool, fields ...string) rcvdFormat {
	f := rcvdFormat{re: regexp.MustCompile(re), fields: fields, dns: dns}
	if guard != "" {
		f.guard = regexp.MustCompile(guard)
	}
	return f
}

func rskip(re string) rcvdFormat { return rcvdFormat{re: regexp.MustCompile(re), skip: true} }

const ipP = IPPattern

// mtaFamilies are tried in order; the first whose guard matches is the
// only family tried (the others are not), and it may fall through to the
// generic formats.
var mtaFamilies = []struct {
	guard   *regexp.Regexp
	formats []rcvdFormat
	xmail   bool // also records id and envelope sender in its own way
	exim    bool // falls back to picking out the parts it can find
}{
	{guard: regexp.MustCompile(` SMTPSVC`), formats: []rcvdFormat{
		rf("", `^(\S*) \(\[(`+ipP+`)\][^)]{0,40}\) by (\S+) with Microsoft SMTPSVC`, false, "helo", "ip", "by"),
		rskip(`^mail pickup service by (\S+) with Microsoft SMTPSVC$`),
	}},
	{guard: regexp.MustCompile(` with (?:Microsoft SMTP Server|mapi id) (?:\([^)]+\) )?\d+\.\d+\.\d+\.\d+(?:$| )`), formats: []rcvdFormat{
		func() rcvdFormat {
			f := rf("", `^(\S+) \(\[?(`+ipP+`)(?:%[A-Z0-9._~-]*)?\]?\) by (\S+) `, false, "helo", "ip", "by")
			f.noID = true
			return f
		}(),
	}},
	{guard: regexp.MustCompile(`\[XMail `), formats: []rcvdFormat{
		rf("", `^(\S+) \((\[?`+ipP+`\]?)(?::\d+)\) by (\S+)(?: \(\S+\))? with \[XMail`, false, "helo", "ip", "by"),
	}, xmail: true},
	{guard: regexp.MustCompile(`\(ecelerity\b`), formats: []rcvdFormat{
		rf("", `^\(\[(`+ipP+`):\d+\] helo=(\S+)\) by (\S+) `, false, "ip", "helo", "by"),
		rf("", `^\S+ \(\[(`+ipP+`):\d+\]\) by (\S+) `, false, "ip", "by"),
	}},
	{guard: regexp.MustCompile(`Exim`), formats: []rcvdFormat{
		rskip(`\bwith local(?:-\S+)? `),
		rf("", `^\[(`+ipP+`)\] \((.*?)\) by (\S+) `, false, "ip", "sub", "by"),
		rf("", `^(\S+) \(\[(`+ipP+`)\](.*?)\) by (\S+) `, false, "both", "ip", "sub", "by"),
		rf("", `^(\S+) \[(`+ipP+`)\](:\d+)? by (\S+) `, false, "both", "ip", "", "by"),
	}, exim: true},
	{guard: regexp.MustCompile(` \(Postfix\) with`), formats: []rcvdFormat{
		rf("", `^(\S+) \((\S+) \[(`+ipP+`)\]\) by (\S+) `, true, "helo", "rdns", "ip", "by"),
		rf("", `^(\S+) \((\S+)\[(`+ipP+`)\]\) by (\S+) `, true, "helo", "rdns", "ip", "by"),
	}},
	{guard: regexp.MustCompile(`\(Scalix SMTP Relay`), formats: []rcvdFormat{
		rf("", `^(\S+) \( ?(`+ipP+`)\) by (\S+)`, false, "helo", "ip", "by"),
	}},
	{guard: regexp.MustCompile(` \(Lotus Domino `), formats: []rcvdFormat{
		rf("", `^(\S+) \(\[(`+ipP+`)\]\) by (\S+) \(Lotus`, false, "helo", "ip", "by"),
	}},
}

// genericFormats follow the MTA families, in order.
var genericFormats = []rcvdFormat{
	rf(`\bwith HTTP\b`, `^(`+ipP+`) \(\[`+ipP+`\]\) by (\S+)`, false, "ip", "by"),
	// sendmail, unless this is qmail-ldap (handled in parseFrom).
	rf("", `^(\S+) \((\S+) \[(`+ipP+`)\].*\) by (\S+) \(`, true, "helo", "rdns", "ip", "by"),
	rf("", `^(\S+) \((\S+) \[(`+ipP+`)\]\) by (\S+) with \S+ \(`, true, "helo", "rdns", "ip", "by"),
	rf("", `^(\S+) \(\[(`+ipP+`)\] helo=(\S+)\) by (\S+) with `, false, "rdns", "ip", "helo", "by"),
	rf("", `^(\S+) \(<unknown\S*>\[(`+ipP+`)\]\) by (\S+) `, false, "helo", "ip", "by"),
	rf("", `^(\S+) \((\S+\.\S+)\[(`+ipP+`)\]\) by (\S+) `, true, "helo", "rdns", "ip", "by"),
	rf("", `^(\S+) \((\S*)@\[(`+ipP+`)\].*\) by (\S+) \(`, true, "helo", "ident", "ip", "by"),
	rf("", `^(?:(`+ipP+`) .*?)?by (\S+\.hotmail\.msn\.com) `, false, "ip", "by"),
	rf("", `^(\S+) \((?:HELO|EHLO) (\S*)\) \((`+ipP+`)\) by (\S+) \(qpsmtpd/\S+\) with (?:ESMTP|SMTP)`, false, "rdns", "helo", "ip", "by"),
	rf("", `^(\S+) \(LHLO (\S*)\) \((`+ipP+`)\) by (\S+) with LMTP`, false, "rdns", "helo", "ip", "by"),
	rf("", `^(\S+) \((?:HELO|EHLO) (\S*)\) \[(`+ipP+`)\] by (\S+) \([^)]+\) with (?:ESMTP|SMTP)`, false, "rdns", "helo", "ip", "by"),
	rf("", `^(\S+) \(\[(`+ipP+`)\]\) by (\S+) via smtpd \(for \S+\) with SMTP\(`, false, "helo", "ip", "by"),
}

// lateFormats follow the qmail block.
var lateFormats = []rcvdFormat{
	rf(` via HTTP$`, `^\[(`+ipP+`)\] by (\S+) via HTTP$`, false, "ip", "by"),
	rf("", `^(\S+) \( \[(`+ipP+`)\]\).*? by (\S+) `, false, "", "ip", "by"),
	rf("", `^\((\S+) \[(`+ipP+`)\]\) by (\S+) `, false, "helo", "ip", "by"),
	rf("", `^\[(`+ipP+`)\] by (\S+) `, false, "ip", "by"),
	rf("", `^\(\[?(`+ipP+`)\]?\) by (\S+) `, false, "ip", "by"),
	rf("", `^(\S+) \[(`+ipP+`)\] by (\S+) \[`+ipP+`\] with `, true, "helo", "ip", "by"),
	rf("", `^(\S+) \[\((`+ipP+`)\)\] by (\S+) \(`+ipP+`\) `, false, "helo", "ip", "by"),
	rf("", `^(\S+) \(\[(`+ipP+`)\]\) by (\S+) \(`, true, "helo", "ip", "by"),
	rf("", `^(\S+) \((\S+) \[(`+ipP+`)\]\).*? by (\S+)\b`, true, "helo", "rdns", "ip", "by"),
	rf("", `^(\S+) \(\[(`+ipP+`)(?:[.:]\d+)?\]\).*? by (\S+) `, true, "helo", "ip", "by"),
	rf("", `^(\S+) \((\S+) \[(`+ipP+`)\]\)(?: \(authenticated bits=\d+\))? by (\S+) \(`, true, "helo", "rdns", "ip", "by"),
	{re: regexp.MustCompile(`with (?:POP3|IMAP)`), skip: true, fields: []string{"fetcher"}},
	rf("", `^(\S+) \((?:HELO|EHLO) ([^)]*)\) \((\S*@)?\[?(`+ipP+`)\]?\).* by (\S+) `, true, "rdns", "helo", "identat", "ip", "by"),
	rf("", `^(\S+) \((\S*@)?\[?(`+ipP+`)\]?\).* by (\S+) `, true, "both", "identat", "ip", "by"),
	rf(` with http for `, `^\[(`+ipP+`)\] by (\S+) with http for `, false, "ip", "by"),
	rf(` via smap `, `^(\S+)\((`+ipP+`)\) by (\S+) via smap `, true, "rdns", "ip", "by"),
	rf("", `^(\S+)\((`+ipP+`), (?:HELO|EHLO) (\S*)\) by (\S+) via smap `, true, "rdns", "ip", "helo", "by"),
	rf(` \(Post`, `^\[(`+ipP+`)\] by (\S+) \(Post`, false, "ip", "by"),
	rf(` \(ArGoSoft`, `^\[(`+ipP+`)\] by (\S+) \(ArGoSoft`, false, "ip", "by"),
	rf("", `^(`+ipP+`) by (\S+) \((?:SMTPL|InterScan)\b`, false, "ip", "by"),
	rskip(`^\S+ by \S+ with BSMTP`),
	rf("", `^(\S+) \((\S+) \[(`+ipP+`)\]\) by (\S+) with `, true, "helo", "rdns", "ip", "by"),
	rf("", `^(\S+) \((?:HELO|EHLO) (\S*)\) \((?:(\S+)@)?(`+ipP+`).*?\) by (\S+) with `, true, "rdns", "helo", "ident", "ip", "by"),
	rf("", `^\[(`+ipP+`)\] \((?:account \S+ )?(?:HELO|EHLO) (\S*)\) by (\S+) \(`, false, "ip", "helo", "by"),
	rf(` \(CommuniGate Pro`, `^(\S+) \(\[(`+ipP+`)\] verified\) by (\S+) \(`, true, "both", "ip", "by"),
	rf("", `^\(\[(`+ipP+`)\]\) by (\S+) with `, false, "ip", "by"),
	rf("", `^([^\d]\S+) \((`+ipP+`)\) by (\S+) `, false, "helo", "ip", "by"),
	rskip(`^\S+ \(\S+\) by \S+ \(Content Technologies `),
	rf("", `^(\S+) \(\[(`+ipP+`)\] \[(\S+)\]\) by (\S+) with `, false, "helo", "ip", "", "by"),
	rf("", `^(`+ipP+`) by (\S+) with `, false, "ip", "by"),
	rf("", `^(\S+) \((\S+)\[(`+ipP+`)\]\) by (\S+) `, true, "helo", "rdns", "ip", "by"),
	rf("", `^\[(`+ipP+`)\]\S+ \((?:HELO|EHLO) (\S*)\) by (\S+) `, false, "ip", "helo", "by"),
	rf("", `^(`+ipP+`) \((?:HELO|EHLO) (\S*)\) by (\S+) `, false, "ip", "helo", "by"),
	rf("", `^(\S+) \[(`+ipP+`)\] by (\S+) `, false, "helo", "ip", "by"),
	rf("", `^(\S+)\((`+ipP+`)\) by (\S+) `, false, "rdns", "ip", "by"),
	rf("", `^\[(`+ipP+`)\] by (\S+) \(MailGate `, false, "ip", "by"),
	rf("", `^(\S+) \(unverified \[(`+ipP+`)\]\) by (\S+) `, false, "helo", "ip", "by"),
	rf("", `^(`+ipP+`) \([A-Za-z][^)]+\) by (\S+) with `, false, "ip", "by"),
	rf("", `^\[(`+ipP+`)\] \(([^)]+)\) by (\S+) `, false, "ip", "sub", "by"),
	rf("", `^(\S+) \((?:\S+@)?(`+ipP+`)\) by (\S+) with `, false, "rdns", "ip", "by"),
	rf("", `^(\S+)\((`+ipP+`)\)(?:, claiming to be "(\S+)")? via \S+ by (\S+),`, false, "rdns", "ip", "helo", "by"),
	rf("", `^(\S+) \((\S+)@(`+ipP+`) with login\) by (\S+\.yahoo\.com) with SMTP`, false, "helo", "", "ip", "by"),
	rf("", `^X-Originating-IP: (`+ipP+`)$`, false, "ip"),
	// Handovers known to carry nothing useful.
	rskip(`^\S+ \([^\s@]+@` + lhPat + `\) by \S+ \(`),
	rskip(`^\S+ \S+ by \S+ with local-e?smtp `),
	rskip(`^127\.0\.0\.1 \(AVG SMTP \S+ \[\S+\]\)`),
	rskip(`^\S+@\S+ by \S+ `),
	rskip(`^Unknown/Local \(`),
	rskip(`^` + lhPat + ` \((?:\S+@)?` + lhPat + `[)\[]`),
	rskip(`^\S+ \((?:\S+@)?` + lhPat + `\) `),
	rskip(`^\S+ \(\S+@\S+ \[` + lhPat + `\]\) `),
	rskip(`^\(AUTH: \S+\) by \S+ with `),
	rskip(`^localhost \(localhost \[\[UNIX: localhost\]\]\) by `),
	rskip(`^\S+\.amazon\.com by \S+\.amazon\.com with ESMTP \(peer crosscheck: `),
	rskip(`^[^.]+ by \S+ with Novell_GroupWise`),
	rskip(`^no\.name\.available by \S+ via smtpd \(for `),
	{re: regexp.MustCompile(`^\S+ by \S+ \(.{0,100}\) with qmail-scanner`), skip: true, fields: []string{"qmail-scanner"}},
	rskip(`^\S+ by \S+ with local`),
	rskip(`^\S+ \(\[unix socket\]\) by \S+ \(Cyrus v[0-9]*?\.[0-9]*?\.[0-9]*?\) with LMTPA`),
	rskip(`^\S+ by \S+ (?:with|via|for|\()`),
	rskip(`^\S+ (?:(?:with|via|for) \S+|\(unverified\)) by\b`),
	rskip(`^\S+ \(unknown\) by \S+ \(SG\) with \b`),
	rskip(`^\S+ \(\S+ \[local\]\) by \S+ \(OpenSMTPD\) with \b`),
	rskip(`\(LSMTP for`),
	rskip(`^\(\[` + lhPat + `\]\) with MailEnable `),
	rskip(`^facebook\.com \([^)]+\) by facebook\.com with Thrift id \S+$`),
	rskip(`^\S+ named \S+ by gmailapi\.google\.com with HTTPREST$`),
	rskip(`^\S+ id \S+$`),
	rskip(`^\[<.*? \(Jetsend`),
}

var (
	squirrelRE   = regexp.MustCompile(`(` + ipP + `)\b.{10,80}by (\S+) with HTTP`)
	aolWebRE     = regexp.MustCompile(`(` + ipP + `) by (\S+) \(` + ipP + `\) with HTTP \(WebMailUI\)`)
	xmailIDRE    = regexp.MustCompile(` id <(\S+)>`)
	xmailFromRE  = regexp.MustCompile(` from <(\S+)>`)
	qmailVariant = []rcvdFormat{
		rf("", `^(\S+) \((?:HELO|EHLO) ([^ ()]*)\) \((\S*)@\[?(`+ipP+`)\]?\)( \(envelope-sender <\S+>\))? by (\S+)`, false, "rdns", "helo", "ident", "ip", "", "by"),
		rf("", `^(\S+) \((?:HELO|EHLO) ([^ ()]*)\) \(\[?(`+ipP+`)\]?\)( \(envelope-sender <\S+>\))? by (\S+)`, false, "rdns", "helo", "ip", "", "by"),
		rf("", `^(\S+) \((\S*)@\[?(`+ipP+`)\]?\)( \(envelope-sender <\S+>\))? by (\S+)`, false, "both", "ident", "ip", "", "by"),
		rf("", `^(\S+) \(\[?(`+ipP+`)\]?\)( \(envelope-sender <\S+>\))? by (\S+)`, false, "both", "ip", "", "by"),
	}
	simtaRE    = regexp.MustCompile(`^(\S+) \((\S+) \[(` + ipP + `)\]\) BY (\S+) (?:\([^)]+\) WITH SMTP )?ID <?(\S+?)>?(?: FOR <[^>]+>)?$`)
	navgwRE    = regexp.MustCompile(`^(\S*) \[(` + ipP + `)\]\) by (\S+) \(NAVGW .*?\) with `)
	parenSkips = []*regexp.Regexp{
		regexp.MustCompile(`^\S+@localhost\) by \S+ `),
		regexp.MustCompile(`^[^\s@]+@[^)]+\) by \S+\(jqueuemail\) id [^\s;]+`),
	}
	heloGuessRE = regexp.MustCompile(`^(\S+)[^-A-Za-z0-9.]`)
	spaceRE     = regexp.MustCompile(`\s+`)
)

// rcvdParse accumulates one field's values.
type rcvdParse struct {
	Relay
	rdnsKnown  bool // the MTA looked up rDNS
	hasEnvFrom bool
}

// apply fills p from m as f names the groups.
func (p *rcvdParse) apply(f rcvdFormat, m []string) {
	if f.dns {
		p.rdnsKnown = true
	}
	for i, name := range f.fields {
		if i+1 >= len(m) {
			break
		}
		v := m[i+1]
		switch name {
		case "ip":
			p.IP = v
		case "helo":
			p.HELO = v
		case "rdns":
			p.RDNS = v
		case "both":
			p.RDNS, p.HELO = v, v
		case "by":
			p.By = v
		case "ident":
			p.Ident = v
		case "identat":
			p.Ident = strings.TrimSuffix(v, "@")
		case "sub":
			if h := eximSubHelo.FindStringSubmatch(v); h != nil {
				p.HELO = h[1]
				v = strings.Replace(v, h[0], "", 1)
			}
			if id := eximSubIdent.FindStringSubmatch(v); id != nil {
				p.Ident = id[1]
			}
		}
	}
	if f.noID {
		p.ID = ""
	}
}

// try runs formats in order: the first match decides. done reports a
// decision; st is then the outcome.
func (p *rcvdParse) try(s string, formats []rcvdFormat) (done bool, st rcvdStatus) {
	for _, f := range formats {
		if f.guard != nil && !f.guard.MatchString(s) {
			continue
		}
		m := f.re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		if f.skip {
			switch {
			case len(f.fields) == 1 && f.fields[0] == "fetcher":
				return true, rcvdFetcher
			case len(f.fields) == 1 && f.fields[0] == "qmail-scanner":
				return true, rcvdQmailScanner
			}
			return true, rcvdSkip
		}
		p.apply(f, m)
		return true, rcvdParsed
	}
	return false, 0
}

// parseReceived parses one Received field value into a relay.
func parseReceived(line string) (Relay, rcvdStatus) {
	s := collapseSpace(line)
	for {
		t := strings.TrimSuffix(s, ";")
		t = strings.TrimSuffix(t, " ")
		if t == s {
			break
		}
		s = t
	}
	if len(s) < 5 || !(strings.EqualFold(s[:5], "from ") || len(s) > 6 && strings.EqualFold(s[:6], "(from ")) {
		return Relay{}, rcvdSkip
	}
	if strings.Contains(s, "with local for") {
		return Relay{}, rcvdSkip
	}
	if m := rcvdSkipByRE.FindStringSubmatch(s); m != nil && !bracketIPRE.MatchString(m[1]) {
		return Relay{}, rcvdSkip
	}
	s = stripRcvdDate(s)
	s = strings.Replace(s, ")by ", ") by ", 1)

	p := &rcvdParse{}
	if m := rcvdIDRE.FindStringSubmatch(s); m != nil {
		p.ID = m[1]
	}
	// Literal checks first: these patterns are unanchored.
	var helo []string
	if strings.Contains(s, "helo=") {
		helo = rcvdHeloEqRE.FindStringSubmatch(s)
	}
	if helo == nil && (strings.Contains(s, "HELO ") || strings.Contains(s, "EHLO ")) {
		helo = rcvdHeloRE.FindStringSubmatch(s)
	}
	if helo != nil {
		p.HELO = helo[1]
	}
	if m := rcvdByRE.FindStringSubmatch(s); m != nil {
		p.By = m[1]
	}
	p.Auth = rcvdAuth(s)

	st, ok := rcvdParsed, false
	switch {
	case strings.HasPrefix(s, "from "):
		ok, st = p.parseFrom(s[5:])
	case strings.HasPrefix(s, "FROM "):
		if m := simtaRE.FindStringSubmatch(s[5:]); m != nil {
			p.rdnsKnown = true
			p.HELO, p.RDNS, p.IP, p.By, p.ID = m[1], m[2], m[3], m[4], m[5]
			if p.RDNS == "unverified" {
				p.RDNS = ""
			}
			ok = true
		}
	case strings.HasPrefix(s, "(from "):
		rest := s[6:]
		if m := navgwRE.FindStringSubmatch(rest); m != nil {
			p.HELO, p.IP, p.By = m[1], m[2], m[3]
			ok = true
		} else {
			for _, re := range parenSkips {
				if re.MatchString(rest) {
					return Relay{}, rcvdSkip
				}
			}
		}
	}
	if ok && st != rcvdParsed {
		if st == rcvdQmailScanner {
			return Relay{EnvFrom: p.EnvFrom}, st
		}
		return Relay{}, st
	}
	if !ok {
		if p.IP == "" {
			if m := anyBracketIP.FindStringSubmatch(s); m != nil {
				p.IP = m[1]
			}
		}
		if p.IP == "" || p.By == "" {
			return Relay{}, rcvdUnparseable
		}
	}
	return p.finish(), rcvdParsed
}

// collapseSpace replaces runs of white space (Perl's \s on bytes) with
// one space and trims both ends.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			space = true
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteByte(c)
		}
	}
	return b.String()
}

// stripRcvdDate removes the trailing "; date". Only the tail is searched,
// which is equivalent for any date SpamAssassin's pattern accepts whose
// zone is under 60 bytes; the separator run is then extended leftwards.
func stripRcvdDate(s string) string {
	off := max(0, len(s)-100)
	loc := rcvdDateRE.FindStringIndex(s[off:])
	if loc == nil {
		return s
	}
	start := off + loc[0]
	for start > 0 && (s[start-1] == ' ' || s[start-1] == ';') {
		start--
	}
	return s[:start]
}

// parseFrom handles a field that started with "from " (removed).
func (p *rcvdParse) parseFrom(s string) (bool, rcvdStatus) {
	if ls := strings.ToLower(s); strings.Contains(ls, "return-path") || strings.Contains(ls, "envelope-") {
		if m := rcvdEnvFromRE.FindStringSubmatch(s); m != nil {
			p.EnvFrom, p.hasEnvFrom = m[1], true
		}
	}
	if strings.Contains(s, " (SquirrelMail authenticated user ") || strings.Contains(s, " (NaSMail authenticated user ") {
		if m := squirrelRE.FindStringSubmatch(s); m != nil && !strings.HasPrefix(s[strings.Index(s, m[0])+len(m[1]):], ".") && !strings.HasPrefix(s[strings.Index(s, m[0])+len(m[1]):], "-") {
			p.IP, p.By = m[1], m[2]
			return true, rcvdParsed
		}
	}
	if strings.Contains(s, "aol.com") && strings.Contains(s, "with HTTP (WebMailUI)") {
		if m := aolWebRE.FindStringSubmatch(s); m != nil {
			p.IP, p.By = m[1], m[2]
			return true, rcvdParsed
		}
	}
	for _, fam := range mtaFamilies {
		if !fam.guard.MatchString(s) {
			continue
		}
		if done, st := p.try(s, fam.formats); done {
			if fam.xmail && st == rcvdParsed {
				if m := xmailIDRE.FindStringSubmatch(s); m != nil {
					p.ID = m[1]
				}
				if m := xmailFromRE.FindStringSubmatch(s); m != nil {
					p.EnvFrom, p.hasEnvFrom = m[1], true
				}
			}
			return true, st
		}
		if fam.exim && p.oddExim(s) {
			return true, rcvdParsed
		}
		break
	}
	if done, st := p.try(s, genericFormats[:1]); done {
		return true, st
	}
	if !qmailLDAPRE.MatchString(s) {
		if done, st := p.try(s, genericFormats[1:2]); done {
			p.stripIdent()
			return true, st
		}
	}
	if done, st := p.try(s, genericFormats[2:]); done {
		return true, st
	}
	// qmail and its many patches: "from rdns (HELO x) (ident@ip) by host".
	if m := qmailGeneral.FindStringSubmatchIndex(s); m != nil && !strings.HasPrefix(s[m[1]:], " id ") {
		p.try(s, qmailVariant)
		if p.RDNS != "unknown" {
			p.rdnsKnown = true
		} else {
			p.RDNS = ""
		}
		return true, rcvdParsed
	}
	if done, st := p.try(s, lateFormats); done {
		if st == rcvdQmailScanner {
			p.EnvFrom = cleanEnvFrom(p.EnvFrom)
		}
		return true, st
	}
	if p.HELO == "" {
		if m := heloGuessRE.FindStringSubmatch(s); m != nil {
			p.HELO = m[1]
		}
	}
	return false, rcvdParsed
}

var (
	oddEximRDNS = regexp.MustCompile(`^(\S+) `)
	oddEximHELO = regexp.MustCompile(` \((\S+)\) `)
	oddEximIP   = regexp.MustCompile(` \[(` + ipP + `)(?:\.\d+)?\] `)
	oddEximBy   = regexp.MustCompile(`by (\S+) `)
)

// oddExim takes what it can from the rarer Exim layouts; an address and
// a receiving host are enough. What it found stays even when it fails.
func (p *rcvdParse) oddExim(s string) bool {
	if m := oddEximRDNS.FindStringSubmatch(s); m != nil {
		p.RDNS = m[1]
	}
	if m := oddEximHELO.FindStringSubmatch(s); m != nil {
		p.HELO = m[1]
	}
	if m := oddEximIP.FindStringSubmatch(s); m != nil {
		p.IP = m[1]
	}
	if m := oddEximBy.FindStringSubmatch(s); m != nil {
		p.By = m[1]
		return p.IP != ""
	}
	return false
}

// stripIdent removes an IDENT lookup recorded in front of the rDNS.
func (p *rcvdParse) stripIdent() {
	if rest, ok := strings.CutPrefix(p.RDNS, "IDENT:"); ok {
		if i := strings.IndexByte(rest, '@'); i >= 0 {
			p.Ident, p.RDNS = rest[:i], rest[i+1:]
		}
	}
	if i := strings.IndexByte(p.RDNS, '@'); i >= 0 {
		p.Ident, p.RDNS = p.RDNS[:i], p.RDNS[i+1:]
	}
}

// rcvdAuth names the authentication a field records, or "".
func rcvdAuth(s string) string {
	for i, a := range authPatterns {
		if i == 1 {
			// Before the Courier form: Gmail's ESMTPS with a TLS comment.
			if strings.Contains(s, "by mx.google.com with ESMTPS id") && gmailAuthRE.MatchString(s) {
				if m := gmailTLSRE.FindStringSubmatch(s); m != nil {
					return "GMail - transport=" + m[1] + " cipher=" + m[2]
				}
			}
		}
		if i == 3 {
			if !strings.Contains(s, " by mail.gmx.") {
				// not GMX
			} else if m := gmxAuthRE.FindStringSubmatch(s); m != nil {
				return "GMX (" + m[4] + " / " + m[3] + ")"
			}
		}
		if i == 4 {
			if !strings.Contains(s, "(Authenticated sender: ") {
				// not Postfix's SASL note
			} else if m := postfixAuth.FindStringSubmatch(s); m != nil {
				if m[1] == "Postfix" {
					return m[1]
				}
				return "Postfix (" + m[1] + ")"
			}
		}
		if a.guard != nil && !a.guard.MatchString(s) {
			continue
		}
		m := a.re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		if a.group > 0 {
			return m[a.group]
		}
		return a.name
	}
	return ""
}

func cleanEnvFrom(s string) string {
	s = strings.TrimLeft(s, " \t\r\n\f<")
	s = strings.TrimRight(s, " \t\r\n\f>")
	return stripCharsRE.ReplaceAllString(s, "!")
}

var v4MappedRE = regexp.MustCompile(`(?i)^0*:0*:(?:0*:)*ffff:(\d+\.\d+\.\d+\.\d+)$`)

// finish normalises the parsed values into a Relay.
func (p *rcvdParse) finish() Relay {
	r := p.Relay
	if r.RDNS == "softdnserr" { // couriertcpd: no lookup result
		r.RDNS, p.rdnsKnown = "", false
	}
	r.RDNS = strings.TrimRight(r.RDNS, ".")
	if strings.EqualFold(r.RDNS, "unknown") || strings.HasPrefix(r.RDNS, "[") {
		r.RDNS = ""
	}
	if len(r.IP) >= 5 && strings.EqualFold(r.IP[:5], "ipv6:") {
		r.IP = r.IP[5:]
	}
	r.IP = strings.TrimSuffix(strings.TrimPrefix(r.IP, "["), "]")
	if i := strings.IndexByte(r.IP, '%'); i >= 0 {
		r.IP = r.IP[:i]
	}
	if m := v4MappedRE.FindStringSubmatch(r.IP); m != nil {
		r.IP = m[1]
	}
	r.By = strings.TrimSuffix(r.By, ";")
	r.IP = stripCharsRE.ReplaceAllString(r.IP, "!")
	r.RDNS = stripCharsRE.ReplaceAllString(r.RDNS, "!")
	r.HELO = stripCharsRE.ReplaceAllString(r.HELO, "!")
	r.By = stripCharsRE.ReplaceAllString(r.By, "!")
	r.Ident = stripCharsRE.ReplaceAllString(r.Ident, "!")
	if p.hasEnvFrom {
		r.EnvFrom = cleanEnvFrom(r.EnvFrom)
		r.hasEnvFrom = true
	}
	r.NoReverseDNS = r.RDNS == "" && p.rdnsKnown
	r.Private = privateIPRE.MatchString(r.IP)
	return r
}
