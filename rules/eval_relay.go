package rules

// The eval functions of SpamAssassin's RelayEval plugin
// (Mail::SpamAssassin::Plugin::RelayEval) and HeaderEval's relay-based ones.

import (
	"regexp"
	"strings"

	"github.com/sluice-mail/sluice/rules/relays"
)

// Relay is one handover recorded by a Received field (package relays).
type Relay = relays.Relay

// Relays is the message's relay path split by trust (package relays).
type Relays = relays.Path

// ComputeRelays parses the Received fields of msg and splits them by the
// trusted_networks and internal_networks of conf, as relays.Compute does.
func ComputeRelays(msg Message, conf *Config) *Relays {
	return relays.Compute(msg, relays.Networks{Trusted: conf.TrustedNetworks, Internal: conf.InternalNetworks, MSA: conf.MSANetworks})
}

// ipAddressRE finds an IP address in a header value; spaceRE a run of
// white space.
var (
	ipAddressRE = regexp.MustCompile(relays.IPPattern)
	spaceRE     = regexp.MustCompile(`\s+`)
)

// relaysKey caches the relays in an EvalContext.
const relaysKey = "relays"

// relaysFor returns the relays of the message being evaluated.
func relaysFor(ec *EvalContext) *Relays {
	return memo(ec, relaysKey, func() *Relays { return ComputeRelays(ec.Msg, ec.Config) })
}

// registerRelayEvals adds the eval functions of SpamAssassin's RelayEval
// plugin and the relay-based ones of HeaderEval.
func registerRelayEvals(r *EvalRegistry) {
	r.Register("check_all_trusted", func(ec *EvalContext, _ []string) (bool, error) {
		rl := relaysFor(ec)
		return len(rl.Trusted) > 0 && len(rl.Untrusted) == 0 && rl.Unparseable == 0, nil
	})
	r.Register("check_no_relays", func(ec *EvalContext, _ []string) (bool, error) {
		rl := relaysFor(ec)
		return len(rl.Trusted) == 0 && len(rl.Untrusted) == 0 && rl.Unparseable == 0, nil
	})
	r.Register("check_relays_unparseable", func(ec *EvalContext, _ []string) (bool, error) {
		return relaysFor(ec).Unparseable > 0, nil
	})
	r.Register("check_for_sender_no_reverse", func(ec *EvalContext, _ []string) (bool, error) {
		u := relaysFor(ec).Untrusted
		if len(u) == 0 {
			return false, nil
		}
		s := u[len(u)-1]
		return strings.Contains(s.RDNS, ".") && !s.Private, nil
	})
	r.Register("check_for_numeric_helo", evalNumericHELO)
	r.Register("helo_ip_mismatch", evalHELOIPMismatch)
	r.Register("check_for_no_rdns_dotcom_helo", evalNoRDNSDotcomHELO)
	r.Register("check_for_forged_received_trail", func(ec *EvalContext, _ []string) (bool, error) {
		from, _ := forgedReceived(relaysFor(ec))
		return from > 1, nil
	})
	r.Register("check_for_forged_received_ip_helo", func(ec *EvalContext, _ []string) (bool, error) {
		_, iphelo := forgedReceived(relaysFor(ec))
		return iphelo > 0, nil
	})
	r.Register("check_for_fake_aol_relay_in_rcvd", evalFakeAOLRelay)
	r.Register("gated_through_received_hdr_remover", func(ec *EvalContext, _ []string) (bool, error) {
		return gatedThroughRcvdRemover(ec), nil
	})
	r.Register("check_for_forged_hotmail_received_headers", func(ec *EvalContext, _ []string) (bool, error) {
		forged, _ := forgedHotmail(ec)
		return forged, nil
	})
	r.Register("check_for_no_hotmail_received_headers", func(ec *EvalContext, _ []string) (bool, error) {
		_, none := forgedHotmail(ec)
		return none, nil
	})
	r.Register("check_for_forged_yahoo_received_headers", evalForgedYahoo)
	r.Register("check_for_forged_gmail_received_headers", evalForgedGmail)
	r.Register("check_for_forged_juno_received_headers", evalForgedJuno)
	r.Register("check_for_forged_eudoramail_received_headers", evalForgedEudoramail)
	r.Register("check_mailfrom_matches_rcvd", evalMailFromMatchesRcvd)
}

// check_mailfrom_matches_rcvd: the envelope sender's registrable domain
// is that of the newest untrusted relay's rDNS (or, with no untrusted
// relay, of any trusted relay's).
func evalMailFromMatchesRcvd(ec *EvalContext, _ []string) (bool, error) {
	env := ec.addrs("EnvelopeFrom")
	if len(env) == 0 {
		return false, nil
	}
	at := strings.LastIndexByte(env[0], '@')
	dom := env[0][at+1:]
	if at < 0 || !strings.Contains(dom, ".") {
		return false, nil
	}
	rl := relaysFor(ec)
	relays := rl.Trusted
	if len(rl.Untrusted) > 0 {
		relays = rl.Untrusted[:1]
	}
	c := ec.Config
	want := RegistrableDomain(dom, c.TLDs, c.TwoLevelTLDs)
	for _, r := range relays {
		if r.RDNS != "" && RegistrableDomain(strings.ToLower(r.RDNS), c.TLDs, c.TwoLevelTLDs) == want {
			return true, nil
		}
	}
	return false, nil
}

var (
	isIPv4RE     = regexp.MustCompile(`^` + relays.IPv4Pattern + `$`)
	numericHELO  = regexp.MustCompile(`(?i)\bhelo=(` + relays.IPv4Pattern + `)(?:[\x00-\x20,;\[()<>]|$)`)
	classCRE     = regexp.MustCompile(`^(\d+\.\d+\.\d+\.)`)
	dotcomHELORE = regexp.MustCompile(`(?i)(?:\.|^)(?:lycos\.com|lycos\.co\.uk|hotmail\.com|localhost\.com|excite\.com|caramail\.com|cs\.com|aol\.com|msn\.com|yahoo\.com|drizzle\.com)$`)
	hostnameRE   = regexp.MustCompile(`^\w+(?:[\w.-]+\.)+\w+$`)
	dottedQuadRE = regexp.MustCompile(`^(\d+\.\d+)\.\d+\.\d+$`)
	lettersRE    = regexp.MustCompile(`[a-zA-Z]`)
	tld3RE       = regexp.MustCompile(`(?:\S{3,}|ie|fr|de)`)
	aolRelayRE   = regexp.MustCompile(`(?i) rly-[a-z][a-z]\d\d\.`)
	aolViaRE     = regexp.MustCompile(`/AOL-\d+\.\d+\.\d+\)|ESMTP id (?:RELAY|MAILRELAY|MAILIN)`)
)

func evalNumericHELO(ec *EvalContext, _ []string) (bool, error) {
	s, _ := relaysFor(ec).Pseudo("X-Spam-Relays-Untrusted")
	m := numericHELO.FindStringSubmatch(s)
	return m != nil && !relays.IsPrivateIP(m[1]), nil
}

// helo_ip_mismatch: a public dotted-quad HELO outside the client's /24.
func evalHELOIPMismatch(ec *EvalContext, _ []string) (bool, error) {
	for _, r := range relaysFor(ec).Untrusted {
		if !isIPv4RE.MatchString(r.HELO) || relays.IsPrivateIP(r.HELO) {
			continue
		}
		if isIPv4RE.MatchString(r.IP) && !r.Private && r.HELO != r.IP {
			if m := classCRE.FindStringSubmatch(r.HELO); m != nil && !strings.HasPrefix(r.IP, m[1]) {
				return true, nil
			}
		}
	}
	return false, nil
}

// check_for_no_rdns_dotcom_helo: the last public untrusted relay greeted
// as a big freemail domain and has no reverse DNS.
func evalNoRDNSDotcomHELO(ec *EvalContext, _ []string) (bool, error) {
	hit := false
	for _, r := range relaysFor(ec).Untrusted {
		if r.Private {
			continue
		}
		hit = false
		if dotcomHELORE.MatchString(r.HELO) && r.NoReverseDNS {
			hit = true
		}
	}
	return hit, nil
}

// hostToDomain approximates a host's domain as RelayEval does: the last
// two labels, or three under a two-letter TLD other than ie, fr and de.
func hostToDomain(h string) string {
	if !lettersRE.MatchString(h) {
		return h
	}
	parts := strings.Split(h, ".")
	switch {
	case len(parts) > 1 && tld3RE.MatchString(parts[len(parts)-1]):
		return strings.Join(parts[len(parts)-2:], ".")
	case len(parts) > 2:
		return strings.Join(parts[len(parts)-3:], ".")
	}
	return h
}

// forgedReceived counts, over the untrusted relays, hops whose rDNS
// domain differs from the next hop's "by" domain, and HELOs that are an
// address in another /16 than the client's.
func forgedReceived(rl *Relays) (mismatchFrom, mismatchIPHELO int) {
	u := rl.Untrusted
	from := make([]*string, len(u))
	for i, r := range u {
		d := hostToDomain(strings.ToLower(r.RDNS))
		from[i] = &d
	}
	for i, r := range u {
		by := hostToDomain(strings.ToLower(r.By))
		if !hostnameRE.MatchString(by) {
			continue
		}
		if *from[i] == "localhost" || *from[i] == "localhost.localdomain" {
			if r.IP == "127.0.0.1" {
				from[i] = nil
			}
		}
		hlo := hostToDomain(strings.ToLower(r.HELO))
		if dottedQuadRE.MatchString(hlo) && dottedQuadRE.MatchString(r.IP) && r.IP != hlo {
			hb, fb := dottedQuadRE.FindStringSubmatch(hlo)[1], dottedQuadRE.FindStringSubmatch(r.IP)[1]
			if hb != fb && !relays.IsPrivateIP(hlo) {
				mismatchIPHELO++
			}
		}
		if i > 0 && from[i-1] != nil {
			prev := *from[i-1]
			if hostnameRE.MatchString(prev) && by != prev && !(by == "msn.com" && prev == "hotmail.com") {
				mismatchFrom++
			}
		}
	}
	return mismatchFrom, mismatchIPHELO
}

// check_for_fake_aol_relay_in_rcvd: an AOL relay name in Received fields
// that AOL's own relays did not write.
func evalFakeAOLRelay(ec *EvalContext, _ []string) (bool, error) {
	s := spaceRE.ReplaceAllString(strings.Join(ec.Msg.Header("Received", false), "\n"), " ")
	return aolRelayRE.MatchString(s) && !aolViaRE.MatchString(s), nil
}

// rcvdText is SpamAssassin's get('Received'): every field, each with its
// newline.
func rcvdText(ec *EvalContext, name string) string {
	var b strings.Builder
	for _, v := range ec.Msg.Header(name, false) {
		b.WriteString(v)
		b.WriteByte('\n')
	}
	return b.String()
}

// firstAddr is get('From:addr'): the first address of the field.
func firstAddr(ec *EvalContext, name string) string {
	if a := ec.addrs(name); len(a) > 0 {
		return a[0]
	}
	return ""
}

var (
	ezmlmRE       = regexp.MustCompile(`(?m)^contact \S+@\S+; run by ezmlm$`)
	ezmlmDlvRE    = regexp.MustCompile(`(?m)^mailing list \S+@\S+`)
	ezmlmQmailRE  = regexp.MustCompile(`qmail \d+ invoked (?:from network|by .{3,20})\); \d+ ... \d+`)
	msnGroupsRE   = regexp.MustCompile(`from groups\.msn\.com \(\S+\.msn\.com `)
	msnGroupsToRE = regexp.MustCompile(`(?i)<(\S+)@groups\.msn\.com>`)
	msnPickupRE   = regexp.MustCompile(`from mail pickup service by ((?:p\d\d\.)groups\.msn\.com)\b`)
	hotmailPatsIP = []*regexp.Regexp{
		regexp.MustCompile(`from (?:\S*\.)?hotmail.com \(\S+\.hotmail(?:\.msn)?\.com[ )]`),
		regexp.MustCompile(`from \S*\.hotmail.com \(\[` + relays.IPPattern + `\][ ):]`),
		regexp.MustCompile(`from \S+ by \S+\.hotmail(?:\.msn)?\.com with HTTP;`),
		regexp.MustCompile(`from \[66\.218.\S+\] by \S+\.yahoo\.com`),
	}
	hotmailPatsOrig = []*regexp.Regexp{
		regexp.MustCompile(`from \S*\.outbound\.protection\.outlook\.com \(\S+\.outbound\.protection\.outlook\.com[ )]`),
		regexp.MustCompile(`from \S*\.(?:eur|nam)prd\d+\.prod\.outlook\.com \(` + relays.IPPattern + `\)`),
	}
	hotmailHeloRE  = regexp.MustCompile(`(?:from |HELO |helo=)\S*hotmail\.com\b`)
	hotmailFromRE  = regexp.MustCompile(`(?i)\bhotmail\.com$`)
	originatorRE   = regexp.MustCompile(`hotmail\.com|msonline\-outlook`)
	yahooFromRE    = regexp.MustCompile(`(?i)\byahoo\.com$`)
	yahooTrustedRE = regexp.MustCompile(` rdns=\S+\.yahoo\.com `)
	yahooUntrRE    = regexp.MustCompile(`^[^\]]+ rdns=\S+\.yahoo\.com `)
	yahooRcvdOK    = []*regexp.Regexp{
		regexp.MustCompile(`by web\S+\.mail\S*\.yahoo\.com via HTTP`),
		regexp.MustCompile(`by sonic\S+\.consmr\.mail\S*\.yahoo\.com with HTTP`),
		regexp.MustCompile(`by smtp\S+\.yahoo\.com with SMTP`),
		regexp.MustCompile(`from \[` + relays.IPPattern + `\] by \S+\.(?:groups|scd|dcn)\.yahoo\.com with NNFMP`),
		regexp.MustCompile(`by \w+\.\w+\.yahoo\.com \(\d+\.\d+\.\d+/\d+\.\d+\.\d+\)(?: with ESMTP)? id \w+`),
	}
	yahooBulkRE     = regexp.MustCompile(`\bmailer\d+\.bulk\.scd\.yahoo\.com\b`)
	yahooReplyRE    = regexp.MustCompile(`(?i)@reply\.yahoo\.com$`)
	gmailFromRE     = regexp.MustCompile(`(?i)\bgmail\.com$`)
	gmailXRcvd10RE  = regexp.MustCompile(`by 10\.\S+ with SMTP id \S+`)
	gmailXRcvd6RE   = regexp.MustCompile(`by 2002:a\d\d:\w+:\S+ with SMTP id \S+`)
	gmailESMTPSARE  = regexp.MustCompile(`by smtp\.googlemail\.com with ESMTPSA id \S+`)
	junoFromRE      = regexp.MustCompile(`(?i)\bjuno\.com$`)
	junoRcvdRE      = regexp.MustCompile(`from.*\b(?:juno|untd)\.com.*[\[(]` + relays.IPPattern + `[\])].*by`)
	junoCookieRE    = regexp.MustCompile(` cookie\.(?:juno|untd)\.com `)
	junoMailComRE   = regexp.MustCompile(`from.*\bmail\.com.*\[` + relays.IPPattern + `\].*by`)
	junoWebmailRE   = regexp.MustCompile(`from (webmail\S+\.untd\.com) \((webmail\S+\.untd\.com) \[` + relays.IPPattern + `\]\) by`)
	junoXMailerMail = regexp.MustCompile(`\bmail\.com`)
	junoXMailerWeb  = regexp.MustCompile(`^Webmail Version \d`)
	eudoraFromRE    = regexp.MustCompile(`(?i)\beudoramail\.com$`)
	eudoraRcvdRE    = regexp.MustCompile(`by \S*whowhere.com;`)
)

// gated_through_received_hdr_remover: mail from a list manager known to
// drop Received fields (ezmlm, MSN groups), or with none at all.
func gatedThroughRcvdRemover(ec *EvalContext) bool {
	if ezmlmRE.MatchString(rcvdText(ec, "Mailing-List")) &&
		ezmlmDlvRE.MatchString(rcvdText(ec, "Delivered-To")) && ezmlmQmailRE.MatchString(rcvdText(ec, "Received")) {
		return true
	}
	if !ec.Msg.HasHeader("Received") {
		return true
	}
	return msnGroupsRE.MatchString(rcvdText(ec, "Received"))
}

// msnGroups reports mail from an MSN group (check_for_msn_groups_headers).
func msnGroups(ec *EvalContext) bool {
	m := msnGroupsToRE.FindStringSubmatch(rcvdText(ec, "To"))
	if m == nil {
		return false
	}
	list := m[1]
	s := msnPickupRE.FindStringSubmatch(rcvdText(ec, "Received"))
	if s == nil {
		return false
	}
	msgid := rcvdText(ec, "Message-Id")
	if list == "notifications" {
		return strings.HasPrefix(msgid, "<") && regexp.MustCompile(`^<\S+@`+regexp.QuoteMeta(s[1])+`>`).MatchString(msgid)
	}
	if !regexp.MustCompile(`^<` + regexp.QuoteMeta(list) + `-\S+@groups\.msn\.com>`).MatchString(msgid) {
		return false
	}
	return strings.Contains(strings.Join(ec.addrs("EnvelopeFrom"), "\n"), strings.ToLower(list)+"-bounce@groups.msn.com")
}

// forgedHotmail decides check_for_forged_hotmail_received_headers (a
// hotmail.com name in Received fields Hotmail did not write) and
// check_for_no_hotmail_received_headers (a hotmail.com sender without
// them).
func forgedHotmail(ec *EvalContext) (forged, none bool) {
	type res struct{ forged, none bool }
	r := memo(ec, "forged-hotmail", func() res {
		rcvd := spaceRE.ReplaceAllString(rcvdText(ec, "Received"), " ")
		if strings.Contains(rcvd, "from mail pickup service by hotmail.com with Microsoft SMTPSVC;") || msnGroups(ec) {
			return res{}
		}
		ip := ec.Msg.HasHeader("X-Originating-Ip") && ipAddressRE.MatchString(rcvdText(ec, "X-Originating-Ip"))
		orig := ec.Msg.HasHeader("X-OriginatorOrg") && originatorRE.MatchString(rcvdText(ec, "X-OriginatorOrg"))
		if gatedThroughRcvdRemover(ec) {
			return res{}
		}
		for _, re := range hotmailPatsIP {
			if ip && re.MatchString(rcvd) {
				return res{}
			}
		}
		for _, re := range hotmailPatsOrig {
			if orig && re.MatchString(rcvd) {
				return res{}
			}
		}
		if hotmailHeloRE.MatchString(rcvd) {
			return res{forged: true}
		}
		return res{none: hotmailFromRE.MatchString(firstAddr(ec, "From"))}
	})
	return r.forged, r.none
}

func evalForgedYahoo(ec *EvalContext, _ []string) (bool, error) {
	from := firstAddr(ec, "From")
	if !yahooFromRE.MatchString(from) {
		return false, nil
	}
	rcvd := rcvdText(ec, "Received")
	if strings.TrimSpace(rcvdText(ec, "Resent-From")) != "" && strings.TrimSpace(rcvdText(ec, "Resent-To")) != "" {
		if x := rcvdText(ec, "X-Received"); x != "" {
			rcvd = x
		}
	}
	rcvd = spaceRE.ReplaceAllString(rcvd, " ")
	if gatedThroughRcvdRemover(ec) {
		return false, nil
	}
	rl := relaysFor(ec)
	tr, _ := rl.Pseudo("X-Spam-Relays-Trusted")
	un, _ := rl.Pseudo("X-Spam-Relays-Untrusted")
	if yahooTrustedRE.MatchString(tr) || yahooUntrRE.MatchString(un) {
		return false, nil
	}
	for _, re := range yahooRcvdOK {
		if re.MatchString(rcvd) {
			return false, nil
		}
	}
	if yahooBulkRE.MatchString(rcvd) && yahooReplyRE.MatchString(from) {
		return false, nil
	}
	return true, nil
}

func evalForgedGmail(ec *EvalContext, _ []string) (bool, error) {
	if !gmailFromRE.MatchString(firstAddr(ec, "From")) {
		return false, nil
	}
	xr := rcvdText(ec, "X-Received")
	if gmailXRcvd10RE.MatchString(xr) || gmailXRcvd6RE.MatchString(xr) || gmailESMTPSARE.MatchString(rcvdText(ec, "Received")) {
		return false, nil
	}
	// Google's own headers are long; both short or missing means forged.
	if len(rcvdText(ec, "X-Gm-Message-State")) >= 60 && len(rcvdText(ec, "X-Google-Smtp-Source")) >= 60 {
		return false, nil
	}
	return true, nil
}

func evalForgedJuno(ec *EvalContext, _ []string) (bool, error) {
	if !junoFromRE.MatchString(firstAddr(ec, "From")) || gatedThroughRcvdRemover(ec) {
		return false, nil
	}
	xorig, xmailer, rcvd := rcvdText(ec, "X-Originating-IP"), rcvdText(ec, "X-Mailer"), rcvdText(ec, "Received")
	if xorig != "" {
		if !junoRcvdRE.MatchString(rcvd) && !junoCookieRE.MatchString(rcvd) {
			return true, nil
		}
		return !strings.Contains(xmailer, "Juno "), nil
	}
	switch {
	case junoMailComRE.MatchString(rcvd):
		if !junoXMailerMail.MatchString(xmailer) {
			return true, nil
		}
	case junoWebmailMatch(rcvd):
		if !junoXMailerWeb.MatchString(xmailer) {
			return true, nil
		}
	default:
		return true, nil
	}
	return !ipAddressRE.MatchString(xorig), nil
}

// junoWebmailMatch stands in for a backreference: the HELO repeated as
// the reverse name.
func junoWebmailMatch(rcvd string) bool {
	for _, m := range junoWebmailRE.FindAllStringSubmatch(rcvd, -1) {
		if m[1] == m[2] {
			return true
		}
	}
	return false
}

func evalForgedEudoramail(ec *EvalContext, _ []string) (bool, error) {
	if !eudoraFromRE.MatchString(firstAddr(ec, "From")) {
		return false, nil
	}
	rcvd := spaceRE.ReplaceAllString(rcvdText(ec, "Received"), " ")
	ip := ec.Msg.HasHeader("X-Sender-Ip") && ipAddressRE.MatchString(rcvdText(ec, "X-Sender-Ip"))
	if gatedThroughRcvdRemover(ec) || eudoraRcvdRE.MatchString(rcvd) && ip {
		return false, nil
	}
	return true, nil
}
