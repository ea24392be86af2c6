package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/mail"
)

// networkEvalNames are the eval functions whose answers need the network
// or outside state; the caller supplies them through Input.Rules.
func networkEvalNames() []string {
	return []string{
		// check_rbl, check_rbl_sub, check_rbl_txt, check_rbl_envfrom,
		// check_rbl_from_host, check_rbl_from_domain, check_rbl_headers,
		// check_rbl_rcvd, check_rbl_accreditor and check_uridnsbl run their own lookups
		// (eval_dns.go).
		"check_rbl_ns_from",
		"check_dns_sender", "check_razor2", "check_razor2_range", "check_pyzor",
		"check_dcc", "check_dcc_reputation_range", "check_hashbl_bodyre", "check_hashbl_emails",
		"check_hashbl_uris", "check_access_database", "check_senders_reputation", "check_from_in_auto_whitelist",
		"check_avira", "check_asn", "askdns", "check_dkim_adsp",
	}
}

// builtinEvals are the eval functions implemented in Go, by the
// SpamAssassin plugin they mirror; each plugin's functions live in
// eval_<plugin>.go.
func builtinEvals() map[string]EvalFunc {
	return map[string]EvalFunc{
		// HeaderEval (eval_header.go)
		"check_equal_from_domains":             evalEqualFromDomains,
		"check_for_faraway_charset_in_headers": evalFarawayCharsetHeaders,
		"check_for_matching_env_and_hdr_from":  evalEnvFromMatches,
		"check_for_missing_to_header":          evalMissingTo,
		"check_for_shifted_date":               evalShiftedDate,
		"check_for_to_in_subject":              evalToInSubject,
		"check_header_count_range":             evalHeaderCountRange,
		"check_header_count":                   evalHeaderCountRange,
		"check_illegal_chars":                  evalIllegalChars,
		"check_outlook_message_id":             evalOutlookMessageID,
		"check_ratware_envelope_from":          evalRatwareEnvelopeFrom,
		"check_ratware_name_id":                evalRatwareNameID,
		"check_unresolved_template":            evalUnresolvedTemplate,
		"similar_recipients":                   evalSimilarRecipients,
		"sorted_recipients":                    evalSortedRecipients,
		"subject_is_all_caps":                  evalSubjectAllCaps,
		// FromNameSpoof (eval_fromnamespoof.go)
		"check_fromname_equals_replyto": evalFromNameEqualsReplyTo,
		"check_fromname_equals_to":      evalFromNameEqualsTo,
		"check_fromname_spoof":          evalFromNameSpoof,
		// BodyEval (eval_body.go)
		"check_blank_line_ratio":                 evalBlankLineRatio,
		"check_body_length":                      evalBodyLength,
		"multipart_alternative_difference":       evalMADiff,
		"multipart_alternative_difference_count": evalMADiffCount,
		"tvd_vertical_words":                     evalVerticalWords,
		// MIMEEval (eval_mime.go)
		"check_abundant_unicode_ratio": evalUnicodeRatio,
		"check_base64_length":          evalBase64Length,
		"check_for_ascii_text_illegal": evalASCIITextIllegal,
		"check_for_faraway_charset":    evalFarawayCharset,
		"check_for_mime":               evalForMIME,
		"check_for_mime_html":          evalMIMEHTML,
		"check_for_mime_html_only":     evalMIMEHTMLOnly,
		"check_https_http_mismatch":    evalHTTPSHTTPMismatch,
		// URIEval (eval_urieval.go)
		"check_https_ip_mismatch": evalHTTPSIPMismatch,
		"check_uri_truncated":     evalURITruncated,
		// VBounce (eval_vbounce.go)
		"have_any_bounce_relays":          evalHaveBounceRelays,
		"check_welcomelist_bounce_relays": evalWelcomelistBounceRelays,
		"check_whitelist_bounce_relays":   evalWelcomelistBounceRelays,
		"check_stock_info":                evalStockInfo,
		"check_for_uppercase":             evalUppercase,
		"check_ma_non_text":               evalMANonText,
		"check_mime_multipart_ratio":      evalMultipartRatio,
		"check_msg_parse_flags":           evalParseFlags,
		// AntiVirus (eval_antivirus.go)
		"check_microsoft_executable": evalMSExecutable,
		// TextCat (eval_textcat.go)
		"check_body_8bits": evalBody8Bits,
		// ImageInfo (eval_image.go)
		"image_count":         evalImageCount,
		"image_to_text_ratio": evalImageToTextRatio,
		"pixel_coverage":      evalPixelCoverage,
		// HTMLEval (eval_html.go)
		"check_iframe_src":         evalIframeSrc,
		"html_charset_faraway":     evalHTMLCharsetFaraway,
		"html_eval":                evalHTMLEval,
		"html_image_only":          evalHTMLImageOnly,
		"html_image_ratio":         evalHTMLImageRatio,
		"html_range":               evalHTMLRange,
		"html_tag_balance":         evalHTMLTagBalance,
		"html_tag_exists":          evalHTMLTagExists,
		"html_test":                evalHTMLTest,
		"html_text_match":          evalHTMLTextMatch,
		"html_title_subject_ratio": evalHTMLTitleSubjectRatio,
		// WLBLEval (eval_wlbl.go)
		"check_from_in_blacklist":             evalFromInList(func(c *Config) []string { return c.BlocklistFrom }),
		"check_from_in_blocklist":             evalFromInList(func(c *Config) []string { return c.BlocklistFrom }),
		"check_from_in_list":                  evalAddrList("From"),
		"check_from_in_welcomelist":           evalFromInWelcomelist,
		"check_from_in_whitelist":             evalFromInWelcomelist,
		"check_from_in_default_welcomelist":   evalFromInDefaultWelcomelist,
		"check_from_in_default_whitelist":     evalFromInDefaultWelcomelist,
		"check_forged_in_welcomelist":         evalForgedInWelcomelist,
		"check_forged_in_whitelist":           evalForgedInWelcomelist,
		"check_forged_in_default_welcomelist": evalForgedInDefaultWelcomelist,
		"check_forged_in_default_whitelist":   evalForgedInDefaultWelcomelist,
		"check_replyto_in_list":               evalAddrList("Reply-To"),
		"check_to_in_all_spam":                evalToInList(func(c *Config) []string { return c.AllSpamTo }),
		"check_to_in_blacklist":               evalToInList(func(c *Config) []string { return c.BlocklistTo }),
		"check_to_in_blocklist":               evalToInList(func(c *Config) []string { return c.BlocklistTo }),
		"check_to_in_list":                    evalAddrList("ToCc"),
		"check_to_in_more_spam":               evalToInList(func(c *Config) []string { return c.MoreSpamTo }),
		"check_to_in_welcomelist":             evalToInList(func(c *Config) []string { return c.WelcomelistTo }),
		"check_to_in_whitelist":               evalToInList(func(c *Config) []string { return c.WelcomelistTo }),
		"check_uri_host_in_blacklist":         evalURIHostIn(func(c *Config) []string { return c.BlocklistURIHost }),
		"check_uri_host_in_blocklist":         evalURIHostIn(func(c *Config) []string { return c.BlocklistURIHost }),
		"check_uri_host_in_welcomelist":       evalURIHostIn(func(c *Config) []string { return c.WelcomelistURIHost }),
		"check_uri_host_in_whitelist":         evalURIHostIn(func(c *Config) []string { return c.WelcomelistURIHost }),
		"check_uri_host_listed":               evalURIHostListed,
		// WelcomeListSubject (eval_wlsubject.go)
		"check_subject_in_blocklist":   evalSubjectInList(func(c *Config) []string { return c.BlocklistSubject }),
		"check_subject_in_welcomelist": evalSubjectInList(func(c *Config) []string { return c.WelcomelistSubject }),
		"check_subject_in_blacklist":   evalSubjectInList(func(c *Config) []string { return c.BlocklistSubject }),
		"check_subject_in_whitelist":   evalSubjectInList(func(c *Config) []string { return c.WelcomelistSubject }),
		// FreeMail (eval_freemail.go)
		"check_freemail_from":    evalFreemailFrom,
		"check_freemail_header":  evalFreemailHeader,
		"check_freemail_replyto": evalFreemailReplyTo,
		// SPF (eval_spf.go)
		"check_for_def_spf_welcomelist_from": evalSPFWelcome(true),
		"check_for_spf_fail":                 spfIs("SPF", "fail"),
		"check_for_spf_helo_fail":            spfIs("HELO", "fail"),
		"check_for_spf_helo_neutral":         spfIs("HELO", "neutral"),
		"check_for_spf_helo_none":            spfIs("HELO", "none"),
		"check_for_spf_helo_pass":            spfIs("HELO", "pass"),
		"check_for_spf_helo_permerror":       spfIs("HELO", "permerror"),
		"check_for_spf_helo_softfail":        spfIs("HELO", "softfail"),
		"check_for_spf_helo_temperror":       spfIs("HELO", "temperror"),
		"check_for_spf_neutral":              spfIs("SPF", "neutral"),
		"check_for_spf_none":                 spfIs("SPF", "none"),
		"check_for_spf_pass":                 spfIs("SPF", "pass"),
		"check_for_spf_permerror":            spfIs("SPF", "permerror"),
		"check_for_spf_softfail":             spfIs("SPF", "softfail"),
		"check_for_spf_temperror":            spfIs("SPF", "temperror"),
		"check_for_spf_welcomelist_from":     evalSPFWelcome(false),
		"check_for_def_spf_whitelist_from":   evalSPFWelcome(true),
		"check_for_spf_whitelist_from":       evalSPFWelcome(false),
		// DKIM (eval_dkim.go)
		"check_dkim_dependable":               func(ec *EvalContext, _ []string) (bool, error) { return ec.Input.Auth.DKIMAny, nil },
		"check_dkim_signall":                  evalFromInput,
		"check_dkim_signed":                   evalDKIMSigned,
		"check_dkim_signsome":                 evalFromInput,
		"check_dkim_testing":                  evalFromInput,
		"check_dkim_valid":                    evalDKIMValid,
		"check_dkim_valid_author_sig":         evalDKIMAuthor,
		"check_dkim_valid_envelopefrom":       evalDKIMEnvFrom,
		"check_for_def_dkim_welcomelist_from": evalDKIMWelcome(true),
		"check_for_def_dkim_whitelist_from":   evalDKIMWelcome(true),
		"check_for_dkim_welcomelist_from":     evalDKIMWelcome(false),
		"check_for_dkim_whitelist_from":       evalDKIMWelcome(false),
		// DMARC (eval_dmarc.go)
		"check_dmarc_missing":    dmarcIs("none", ""),
		"check_dmarc_none":       dmarcIs("fail", "none"),
		"check_dmarc_pass":       dmarcIs("pass", ""),
		"check_dmarc_quarantine": dmarcIs("fail", "quarantine"),
		"check_dmarc_reject":     dmarcIs("fail", "reject"),
	}
}

// registerBuiltins adds every eval function implemented here and the
// network and Bayes evals answered from Input.
func registerBuiltins(r *EvalRegistry) {
	for _, n := range networkEvalNames() {
		r.Register(n, evalFromInput)
	}
	r.Register("check_bayes", evalCheckBayes)
	for n, f := range builtinEvals() {
		r.Register(n, f)
	}
}

// evalFromInput answers network and outside-state evals from Input.Rules.
func evalFromInput(ec *EvalContext, _ []string) (bool, error) {
	return ec.Input.Rules[ec.Rule], nil
}

func argFloat(args []string, i int, def float64) float64 {
	if i >= len(args) {
		return def
	}
	a := strings.TrimSpace(args[i])
	if a == "undef" || a == "" {
		return def
	}
	if a == "inf" {
		return math.Inf(1)
	}
	v, err := strconv.ParseFloat(a, 64)
	if err != nil {
		return def
	}
	return v
}

func arg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

func (ec *EvalContext) header(name string) string {
	return strings.Join(ec.hdr(name, false), "\n")
}

func (ec *EvalContext) addrs(name string) []string {
	return ec.addrsOf(ec.hdr(name, true))
}

// addrsOf returns the lower-case addresses in raw header values.
func (ec *EvalContext) addrsOf(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, a := range mail.HeaderAddr(v) {
			out = append(out, strings.ToLower(a))
		}
	}
	return out
}

// senders is PerMsgStatus::all_from_addrs, the addresses the
// welcomelist, FreeMail and SPF checks consult: the first Resent-From's
// addresses when there is one (bug 672), else those of From,
// Envelope-Sender, Resent-Sender, X-Envelope-From and EnvelopeFrom with
// runs of dots squeezed; lower case, without duplicates.
func (ec *EvalContext) senders() []string {
	return memo(ec, "all_from_addrs", func() []string {
		var all []string
		if rf := ec.hdr("Resent-From", true); len(rf) > 0 {
			all = ec.addrsOf(rf[:1])
		}
		if len(all) == 0 {
			for _, h := range []string{"From", "Envelope-Sender", "Resent-Sender", "X-Envelope-From", "EnvelopeFrom"} {
				for _, a := range ec.addrs(h) {
					for strings.Contains(a, "..") {
						a = strings.ReplaceAll(a, "..", ".")
					}
					all = append(all, a)
				}
			}
		}
		seen := map[string]bool{}
		out := all[:0]
		for _, a := range all {
			if a != "" && !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
		return out
	})
}

// globMatch matches s against a SpamAssassin glob (* and ?), ignoring case.
func globMatch(glob, s string) bool {
	glob, s = strings.ToLower(glob), strings.ToLower(s)
	for len(glob) > 0 {
		switch glob[0] {
		case '*':
			glob = glob[1:]
			if glob == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if globMatch(glob, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != glob[0] {
				return false
			}
		}
		glob, s = glob[1:], s[1:]
	}
	return s == ""
}

func anyGlob(globs []string, addrs []string) bool {
	for _, a := range addrs {
		for _, g := range globs {
			if globMatch(g, a) {
				return true
			}
		}
	}
	return false
}

func bodyText(ec *EvalContext) [][]byte {
	b := ec.Msg.Body()
	if len(b) > 0 {
		return b[1:] // without the Subject
	}
	return nil
}

// parseDate parses a Date or Received date leniently, as SpamAssassin's
// parse_rfc822_date does: extra spaces, a missing zone (taken as UTC),
// a trailing comment.
func parseDate(s string) (time.Time, error) {
	if t, ok := saParseDate(s); ok {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: date %q", ErrParse, s)
}
