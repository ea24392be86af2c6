package rules

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // image_count, pixel_coverage: GIF dimensions
	_ "image/jpeg"
	_ "image/png"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-mail/sluice/rules/perlre"
)

// PartsMessage is an optional capability of a Message: its MIME leaf
// parts. The MIME eval functions (check_for_mime, image_count, …) need it
// and stay false without it.
type PartsMessage interface {
	Parts() []Part
}

// Part is one MIME leaf part.
type Part struct {
	ContentType string // media type, lower case, e.g. "text/plain"
	Charset     string // charset parameter, lower case
	Encoding    string // Content-Transfer-Encoding, lower case
	Filename    string // from Content-Disposition or Content-Type name
	Disposition string // Content-Disposition value, lower case
	Parent      string // media type of the enclosing multipart, "" at the top
	Raw         []byte // the body as transmitted (transfer-encoded)
	Decoded     []byte // transfer-decoded body
}

// ParseFlagsMessage is an optional capability of a Message: SpamAssassin's
// message parse flags for check_msg_parse_flags ("missing_head_body_separator",
// "missing_mime_head_body_separator", "missing_mime_headers",
// "truncated_header", "mime_epilogue_exists").
type ParseFlagsMessage interface {
	ParseFlags() []string
}

// HTMLMessage is an optional capability of a Message: what SpamAssassin's
// HTML parser records about the HTML parts. The HTML eval functions
// (html_test, html_range, html_tag_exists, …) need it and stay false
// without it.
type HTMLMessage interface {
	HTMLFacts() HTMLFacts
}

// HTMLFacts mirrors SpamAssassin's $pms->{html} hash.
type HTMLFacts struct {
	// Values are the numeric entries by SpamAssassin's names ("length",
	// "non_space_len", "max_size", "min_size", "image_area",
	// "obfuscation_ratio", "bad_tag_ratio", "non_element_ratio",
	// "closed_extra_ratio", …); boolean tests ("html", "embeds",
	// "font_low_contrast", "font_invalid_color", "font_face_bad",
	// "form_action_mailto", "charset_faraway", …) are 1 when true.
	Values map[string]float64
	// Tags counts opening tags by lower-case name ($html{inside}).
	Tags map[string]int
	// Balance is opening minus closing tags by name.
	Balance map[string]int
	// Text holds text by kind: "title", "comment", "anchor" ….
	Text map[string][]string
}

// networkEvalNames are the eval functions whose answers need the network
// or outside state; the caller supplies them through Input.Rules.
func networkEvalNames() []string {
	return []string{
		"check_rbl", "check_rbl_sub", "check_rbl_txt", "check_rbl_from_host", "check_rbl_from_domain",
		"check_rbl_envfrom", "check_rbl_headers", "check_rbl_ns_from", "check_rbl_rcvd", "check_rbl_accreditor",
		"check_uridnsbl", "check_dns_sender", "check_razor2", "check_razor2_range", "check_pyzor",
		"check_dcc", "check_dcc_reputation_range", "check_hashbl_bodyre", "check_hashbl_emails",
		"check_hashbl_uris", "check_access_database", "check_senders_reputation", "check_from_in_auto_whitelist",
		"check_avira", "check_asn", "askdns", "check_dkim_adsp",
	}
}

func registerBuiltins(r *EvalRegistry) {
	for _, n := range networkEvalNames() {
		r.Register(n, evalFromInput)
	}
	r.Register("check_bayes", evalCheckBayes)
	m := map[string]EvalFunc{
		// HeaderEval
		"check_for_shifted_date":                    evalShiftedDate,
		"check_header_count_range":                  evalHeaderCountRange,
		"check_illegal_chars":                       evalIllegalChars,
		"subject_is_all_caps":                       evalSubjectAllCaps,
		"check_for_missing_to_header":               evalMissingTo,
		"check_for_to_in_subject":                   evalToInSubject,
		"check_for_matching_env_and_hdr_from":       evalEnvFromMatches,
		"check_unresolved_template":                 evalUnresolvedTemplate,
		"sorted_recipients":                         evalSortedRecipients,
		"similar_recipients":                        evalSimilarRecipients,
		"check_fromname_equals_to":                  evalFromNameEqualsTo,
		"check_fromname_equals_replyto":             evalFromNameEqualsReplyTo,
		"check_header_count":                        evalHeaderCountRange,
		"check_equal_from_domains":                  evalEqualFromDomains,
		"check_ratware_name_id":                     evalRatwareNameID,
		"check_ratware_envelope_from":               evalRatwareEnvelopeFrom,
		"check_outlook_message_id":                  evalOutlookMessageID,
		"check_blank_line_ratio":                    evalBlankLineRatio,
		"check_for_forged_hotmail_received_headers": nil,
		// BodyEval
		"check_for_uppercase": evalUppercase,
		"check_body_length":   evalBodyLength,
		"tvd_vertical_words":  evalVerticalWords,
		// WLBLEval
		"check_from_in_welcomelist":              evalFromInList(func(c *Config) []string { return c.WelcomelistFrom }),
		"check_from_in_whitelist":                evalFromInList(func(c *Config) []string { return c.WelcomelistFrom }),
		"check_from_in_blocklist":                evalFromInList(func(c *Config) []string { return c.BlocklistFrom }),
		"check_from_in_blacklist":                evalFromInList(func(c *Config) []string { return c.BlocklistFrom }),
		"check_to_in_welcomelist":                evalToInList(func(c *Config) []string { return c.WelcomelistTo }),
		"check_to_in_whitelist":                  evalToInList(func(c *Config) []string { return c.WelcomelistTo }),
		"check_to_in_blocklist":                  evalToInList(func(c *Config) []string { return c.BlocklistTo }),
		"check_to_in_blacklist":                  evalToInList(func(c *Config) []string { return c.BlocklistTo }),
		"check_to_in_more_spam":                  evalToInList(func(c *Config) []string { return c.MoreSpamTo }),
		"check_to_in_all_spam":                   evalToInList(func(c *Config) []string { return c.AllSpamTo }),
		"check_from_in_list":                     evalAddrList("From"),
		"check_replyto_in_list":                  evalAddrList("Reply-To"),
		"check_to_in_list":                       evalAddrList("ToCc"),
		"check_subject_in_welcomelist":           evalSubjectInList(func(c *Config) []string { return c.WelcomelistSubject }),
		"check_subject_in_whitelist":             evalSubjectInList(func(c *Config) []string { return c.WelcomelistSubject }),
		"check_subject_in_blocklist":             evalSubjectInList(func(c *Config) []string { return c.BlocklistSubject }),
		"check_subject_in_blacklist":             evalSubjectInList(func(c *Config) []string { return c.BlocklistSubject }),
		"check_uri_host_in_welcomelist":          evalURIHostIn(func(c *Config) []string { return c.WelcomelistURIHost }),
		"check_uri_host_in_whitelist":            evalURIHostIn(func(c *Config) []string { return c.WelcomelistURIHost }),
		"check_uri_host_in_blocklist":            evalURIHostIn(func(c *Config) []string { return c.BlocklistURIHost }),
		"check_uri_host_in_blacklist":            evalURIHostIn(func(c *Config) []string { return c.BlocklistURIHost }),
		"check_uri_host_listed":                  evalURIHostListed,
		"check_for_dkim_welcomelist_from":        evalDKIMWelcome(false),
		"check_for_dkim_whitelist_from":          evalDKIMWelcome(false),
		"check_for_def_dkim_welcomelist_from":    evalDKIMWelcome(true),
		"check_for_def_dkim_whitelist_from":      evalDKIMWelcome(true),
		"check_for_spf_welcomelist_from":         evalSPFWelcome(false),
		"check_for_spf_whitelist_from":           evalSPFWelcome(false),
		"check_for_def_spf_welcomelist_from":     evalSPFWelcome(true),
		"check_for_def_spf_whitelist_from":       evalSPFWelcome(true),
		"check_dkim_valid_envelopefrom":          evalDKIMEnvFrom,
		"check_dkim_signall":                     evalFromInput,
		"check_dkim_signsome":                    evalFromInput,
		"check_dkim_testing":                     evalFromInput,
		"check_body_8bits":                       evalBody8Bits,
		"check_for_faraway_charset":              evalFarawayCharset,
		"check_for_faraway_charset_in_headers":   evalFarawayCharsetHeaders,
		"multipart_alternative_difference":       evalMADiff,
		"multipart_alternative_difference_count": evalMADiffCount,
		// FreeMail
		"check_freemail_header":  evalFreemailHeader,
		"check_freemail_from":    evalFreemailFrom,
		"check_freemail_replyto": evalFreemailReplyTo,
		// FromNameSpoof
		"check_fromname_spoof": evalFromNameSpoof,
		// MIMEEval
		"check_for_mime":               evalForMIME,
		"check_for_mime_html":          evalMIMEHTML,
		"check_for_mime_html_only":     evalMIMEHTMLOnly,
		"check_mime_multipart_ratio":   evalMultipartRatio,
		"check_ma_non_text":            evalMANonText,
		"check_base64_length":          evalBase64Length,
		"check_abundant_unicode_ratio": evalUnicodeRatio,
		"check_for_ascii_text_illegal": evalASCIITextIllegal,
		"check_msg_parse_flags":        evalParseFlags,
		"check_microsoft_executable":   evalMSExecutable,
		// ImageInfo
		"image_count":         evalImageCount,
		"pixel_coverage":      evalPixelCoverage,
		"image_to_text_ratio": evalImageToTextRatio,
		// HTMLEval
		"html_test":                evalHTMLTest,
		"html_range":               evalHTMLRange,
		"html_eval":                evalHTMLEval,
		"html_tag_exists":          evalHTMLTagExists,
		"html_tag_balance":         evalHTMLTagBalance,
		"html_image_only":          evalHTMLImageOnly,
		"html_image_ratio":         evalHTMLImageRatio,
		"html_text_match":          evalHTMLTextMatch,
		"html_title_subject_ratio": evalHTMLTitleSubjectRatio,
		"html_charset_faraway":     evalHTMLCharsetFaraway,
		"check_iframe_src":         evalIframeSrc,
		// SPF, DKIM, DMARC from Input.Auth
		"check_for_spf_pass":           spfIs("SPF", "pass"),
		"check_for_spf_neutral":        spfIs("SPF", "neutral"),
		"check_for_spf_none":           spfIs("SPF", "none"),
		"check_for_spf_fail":           spfIs("SPF", "fail"),
		"check_for_spf_softfail":       spfIs("SPF", "softfail"),
		"check_for_spf_permerror":      spfIs("SPF", "permerror"),
		"check_for_spf_temperror":      spfIs("SPF", "temperror"),
		"check_for_spf_helo_pass":      spfIs("HELO", "pass"),
		"check_for_spf_helo_neutral":   spfIs("HELO", "neutral"),
		"check_for_spf_helo_none":      spfIs("HELO", "none"),
		"check_for_spf_helo_fail":      spfIs("HELO", "fail"),
		"check_for_spf_helo_softfail":  spfIs("HELO", "softfail"),
		"check_for_spf_helo_permerror": spfIs("HELO", "permerror"),
		"check_for_spf_helo_temperror": spfIs("HELO", "temperror"),
		"check_dkim_signed":            evalDKIMSigned,
		"check_dkim_valid":             evalDKIMValid,
		"check_dkim_valid_author_sig":  evalDKIMAuthor,
		"check_dkim_dependable":        func(ec *EvalContext, _ []string) (bool, error) { return ec.Input.Auth.DKIMAny, nil },
		"check_dmarc_pass":             dmarcIs("pass", ""),
		"check_dmarc_reject":           dmarcIs("fail", "reject"),
		"check_dmarc_quarantine":       dmarcIs("fail", "quarantine"),
		"check_dmarc_none":             dmarcIs("fail", "none"),
		"check_dmarc_missing":          dmarcIs("none", ""),
	}
	for n, f := range m {
		if f != nil {
			r.Register(n, f)
		}
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
	return strings.Join(ec.Msg.Header(name, false), "\n")
}

func (ec *EvalContext) addrs(name string) []string {
	var out []string
	for _, v := range ec.Msg.Header(name, false) {
		for _, a := range HeaderAddresses(v) {
			if a.Addr != "" {
				out = append(out, strings.ToLower(a.Addr))
			}
		}
	}
	return out
}

// senders returns the addresses SpamAssassin's welcomelist checks consult.
func (ec *EvalContext) senders() []string {
	var out []string
	for _, h := range []string{"From", "Envelope-Sender", "Resent-Sender", "X-Envelope-From", "EnvelopeFrom"} {
		out = append(out, ec.addrs(h)...)
	}
	return out
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

// check_for_shifted_date(min, max): the Date header minus the time a
// Received header records, in hours, in [min, max). Of all Received
// headers SpamAssassin takes the smallest absolute difference, leaving out
// a zero difference of the oldest one.
func evalShiftedDate(ec *EvalContext, args []string) (bool, error) {
	type dd struct {
		diff float64
		ok   bool
	}
	v := memo(ec, "date_diff", func() dd {
		// SpamAssassin's _check_date_diff, with its date parser.
		dt, ok := saDateHeaderTime(ec.Msg)
		if !ok {
			return dd{}
		}
		var diffs []float64
		for _, rt := range saReceivedTimes(ec.Msg.Header("Received", false)) {
			diffs = append(diffs, dt.Sub(rt).Seconds())
		}
		if len(diffs) == 0 {
			return dd{}
		}
		if len(diffs) > 1 && diffs[len(diffs)-1] == 0 {
			diffs = diffs[:len(diffs)-1]
		}
		best := diffs[0]
		for _, x := range diffs[1:] {
			if math.Abs(x) < math.Abs(best) {
				best = x
			}
		}
		return dd{best, true}
	})
	if !v.ok {
		return false, nil
	}
	lo, hi := argFloat(args, 0, math.Inf(-1)), argFloat(args, 1, math.Inf(1))
	return v.diff >= lo*3600 && v.diff < hi*3600, nil
}

// receivedDateRE finds the date of a Received header ("Wed, 21 Aug 2002 08:33:03 -0400").
var receivedDateRE = regexp.MustCompile(`(?:\w{3},\s+)?\d{1,2}\s+\w{3}\s+\d{2,4}\s+\d{1,2}:\d\d(?::\d\d)?(?:\s+[-+\w]+)?`)

// check_header_count_range(header, min, max): distinct values of the field.
func evalHeaderCountRange(ec *EvalContext, args []string) (bool, error) {
	seen := map[string]bool{}
	for _, v := range ec.Msg.Header(arg(args, 0), true) {
		seen[v] = true
	}
	n := float64(len(seen))
	return n >= argFloat(args, 1, 0) && n <= argFloat(args, 2, math.Inf(1)), nil
}

// check_illegal_chars(header, ratio, count): 8-bit bytes in the raw header.
func evalIllegalChars(ec *EvalContext, args []string) (bool, error) {
	h := arg(args, 0)
	var text string
	if h == "ALL" {
		var b strings.Builder
		for _, f := range ec.Msg.Header("ALL", true) {
			name, _, _ := strings.Cut(f, ":")
			// SpamAssassin exempts Subject and From, which have rules of their own.
			if strings.EqualFold(name, "Subject") || strings.EqualFold(name, "From") {
				continue
			}
			b.WriteString(f)
		}
		text = b.String()
	} else {
		text = strings.Join(ec.Msg.Header(h, true), "\n")
	}
	if text == "" {
		return false, nil
	}
	illegal := 0
	for i := 0; i < len(text); i++ {
		if text[i] >= 0x80 {
			illegal++
		}
	}
	ratio := float64(illegal) / float64(len(text))
	return illegal > 0 && ratio >= argFloat(args, 1, 0) && float64(illegal) >= argFloat(args, 2, 0), nil
}

// subject_is_all_caps: a Subject (less Re:/Fwd: prefixes) of several
// words and at least 10 characters whose letters are all upper case, unless
// it is encoded in a charset that has no case.
func evalSubjectAllCaps(ec *EvalContext, _ []string) (bool, error) {
	s := strings.TrimSpace(ec.header("Subject"))
	s = subjPrefixRE.ReplaceAllString(s, "")
	if !strings.ContainsAny(s, " \t") || len(s) < 10 {
		return false, nil
	}
	raw := strings.ToLower(strings.Join(ec.Msg.Header("Subject", true), " "))
	for _, cs := range []string{"=?big5", "=?euc-", "=?gb", "=?iso-2022-", "=?ks_c", "=?koi8", "=?shift_jis", "=?windows-1251", "=?utf-8", "=?iso-8859-5"} {
		if strings.Contains(raw, cs) {
			return false, nil
		}
	}
	letters := strings.Map(func(r rune) rune {
		if r < 0x80 && isAlpha(byte(r)) {
			return r
		}
		return -1
	}, s)
	return letters != "" && letters == strings.ToUpper(letters), nil
}

var (
	emailRE   = regexp.MustCompile(`[\w.+-]+@[\w-]+(?:\.[\w-]+)+`)
	charRefRE = regexp.MustCompile(`&#(?:x[0-9a-fA-F]{2,6}|\d{3,7});`)
)

var subjPrefixRE = regexp.MustCompile(`(?i)^(?:(?:re|fwd|fw|aw|antwort|wg|sv|vb|vs|vl):\s*)+`)

func evalMissingTo(ec *EvalContext, _ []string) (bool, error) {
	return !ec.Msg.HasHeader("To") && !ec.Msg.HasHeader("Apparently-To"), nil
}

// check_for_to_in_subject(test): the To address ("address") or its local
// part ("user", at the start or end of the Subject, as a salutation) in the
// Subject.
func evalToInSubject(ec *EvalContext, args []string) (bool, error) {
	to := ec.addrs("To")
	if len(to) == 0 {
		return false, nil
	}
	subj := ec.header("Subject")
	switch arg(args, 0) {
	case "address":
		return regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(to[0]) + `\b`).MatchString(subj), nil
	case "user":
		u := regexp.QuoteMeta(to[0][:strings.IndexByte(to[0]+"@", '@')])
		re := regexp.MustCompile(`(?i)^(?:(?:re|fw):\s*(?:\w+\s+)?` + u + `$|(?-i:` + u + `)\s*[,:;!?-](?:$|\s)|` + u + `$|,\s*` + u + `[,:;!?-]$)`)
		return re.MatchString(strings.TrimRight(subj, "\n")), nil
	}
	return false, nil
}

func evalEnvFromMatches(ec *EvalContext, _ []string) (bool, error) {
	env := ec.addrs("EnvelopeFrom")
	from := ec.addrs("From")
	return len(env) > 0 && len(from) > 0 && env[0] == from[0], nil
}

var unresolvedRE = regexp.MustCompile(`%[A-Z][A-Z_-]`)
var unresolvedExemptRE = regexp.MustCompile(`(?i)^(?:X-UIDL|X-Face|To|Cc|From|Subject|References|In-Reply-To|(?:X-|Resent-|X-Original-)?Message-Id):`)

// check_unresolved_template: a header holds an unexpanded %TEMPLATE% tag.
func evalUnresolvedTemplate(ec *EvalContext, _ []string) (bool, error) {
	for _, f := range ec.Msg.Header("ALL", false) {
		if unresolvedRE.MatchString(f) && !unresolvedExemptRE.MatchString(f) {
			return true, nil
		}
	}
	return false, nil
}

// check_ratware_name_id: a Message-ID of 28 capitals and the From address
// after it, with a quoted display name.
func evalRatwareNameID(ec *EvalContext, _ []string) (bool, error) {
	m := regexp.MustCompile(`<[A-Z]{28}\.([^>]+?)>`).FindStringSubmatch(ec.header("MESSAGEID"))
	if m == nil {
		return false, nil
	}
	return regexp.MustCompile(`"[^"]+"\s*<` + regexp.QuoteMeta(m[1]) + `>`).MatchString(ec.header("From")), nil
}

// check_ratware_envelope_from: the envelope sender is built from the
// recipient's domain and user ("domain.user@...").
func evalRatwareEnvelopeFrom(ec *EvalContext, _ []string) (bool, error) {
	to, env := ec.addrs("To"), ec.addrs("EnvelopeFrom")
	if len(to) == 0 || len(env) == 0 || strings.HasPrefix(env[0], "srs") {
		return false, nil
	}
	user, dom, ok := strings.Cut(to[0], "@")
	if !ok || !strings.Contains(dom, ".") {
		return false, nil
	}
	dom = RegistrableDomain(dom, ec.Config.TLDs, ec.Config.TwoLevelTLDs)
	return regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(dom) + `.` + regexp.QuoteMeta(user) + `@`).MatchString(env[0]), nil
}

// check_outlook_message_id: an Outlook-style Message-ID whose embedded
// timestamp matches neither the Date header nor the first Received date.
func evalOutlookMessageID(ec *EvalContext, _ []string) (bool, error) {
	m := regexp.MustCompile(`^<[0-9a-f]{4}([0-9a-f]{8})\$[0-9a-f]{8}\$[0-9a-f]{8}@`).FindStringSubmatch(strings.TrimSpace(ec.header("MESSAGEID")))
	if m == nil {
		return false, nil
	}
	token, _ := strconv.ParseUint(m[1], 16, 64)
	const x, y, fudge = 0.0023283064365387, 27111902.8329849, 250
	off := func(s string) float64 {
		t, err := parseDate(strings.TrimSpace(s))
		var sec float64
		if err == nil {
			sec = float64(t.Unix())
		}
		return math.Abs(float64(token) - math.Trunc(sec*x+y))
	}
	if off(ec.header("Date")) < fudge {
		return false, nil
	}
	rd := ""
	if r := ec.Msg.Header("Received", false); len(r) > 0 {
		rd = receivedDateRE.FindString(r[0])
	}
	return off(rd) >= fudge, nil
}

// tvdRatio is the largest percentage of spaces to other characters over
// the body paragraphs longer than 5 bytes (100 when spaces dominate).
func tvdRatio(ec *EvalContext) float64 {
	return memo(ec, "tvd", func() float64 {
		best := 0.0
		for _, p := range ec.Msg.Body() {
			if len(p) <= 5 {
				continue
			}
			spaces := float64(bytes.Count(p, []byte(" ")))
			non := float64(len(p)) - spaces
			pct := 100.0
			if spaces <= non && non > 0 {
				pct = math.Trunc(100 * spaces / non)
			}
			best = max(best, pct)
		}
		return best
	})
}

// recipients returns To and Cc addresses (SpamAssassin needs at least 5 to judge).
func (ec *EvalContext) recipients() []string {
	return append(ec.addrs("To"), ec.addrs("Cc")...)
}

// sorted_recipients: HeaderEval's _check_recipients address list (see
// similar_recipients) has at least 7 addresses, in byte order.
func evalSortedRecipients(ec *EvalContext, _ []string) (bool, error) {
	r := saRecipients(ec)
	return len(r) >= 7 && sort.StringsAreSorted(r), nil
}

// saRecipients is _check_recipients' address list: To/Cc (then Bcc,
// while fewer than 5), repeats in a row dropped, at most 256.
func saRecipients(ec *EvalContext) []string {
	in := ec.recipients()
	if len(in) < 5 {
		in = append(in, ec.addrs("Bcc")...)
	}
	var addr []string
	prev := ""
	for _, a := range in {
		if a == "" {
			break // Perl's while (my $current = shift @inputs)
		}
		if !strings.EqualFold(a, prev) {
			addr = append(addr, a)
			prev = a
		}
		if len(addr) == 256 {
			break
		}
	}
	return addr
}

// similar_recipients(min, max): HeaderEval's _check_recipients ratio in
// [min, max): over the To/Cc (then Bcc, while fewer than 5) addresses,
// repeats in a row dropped, at most 256, at least 5, every pair scores
// one for the same first 2 bytes of the address and one for the same
// first 2 bytes of different hosts; hits over pairs.
func evalSimilarRecipients(ec *EvalContext, args []string) (bool, error) {
	addr := saRecipients(ec)
	if len(addr) < 5 {
		return false, nil
	}
	pre2 := func(s string) string { return s[:min(2, len(s))] }
	hits, pairs := 0, 0
	for i := range addr {
		_, hi, _ := strings.Cut(addr[i], "@")
		for j := i + 1; j < len(addr); j++ {
			_, hj, _ := strings.Cut(addr[j], "@")
			if pre2(addr[i]) == pre2(addr[j]) {
				hits++
			}
			if pre2(hi) == pre2(hj) && hi != hj {
				hits++
			}
			pairs++
		}
	}
	ratio := float64(hits) / float64(pairs)
	return ratio >= argFloat(args, 0, 0) && ratio < argFloat(args, 1, math.Inf(1)), nil
}

func fromName(ec *EvalContext) string {
	for _, v := range ec.Msg.Header("From", false) {
		for _, a := range HeaderAddresses(v) {
			return strings.ToLower(strings.TrimSpace(a.Name))
		}
	}
	return ""
}

func evalFromNameEqualsTo(ec *EvalContext, _ []string) (bool, error) {
	n := fromName(ec)
	for _, a := range ec.addrs("To") {
		if n != "" && strings.Contains(n, a) {
			return true, nil
		}
	}
	return false, nil
}

func evalFromNameEqualsReplyTo(ec *EvalContext, _ []string) (bool, error) {
	n := fromName(ec)
	from := ec.addrs("From")
	for _, a := range ec.addrs("Reply-To") {
		if n != "" && strings.Contains(n, a) && (len(from) == 0 || from[0] != a) {
			return true, nil
		}
	}
	return false, nil
}

func evalEqualFromDomains(ec *EvalContext, _ []string) (bool, error) {
	env, from := ec.addrs("EnvelopeFrom"), ec.addrs("From")
	if len(env) == 0 || len(from) == 0 {
		return false, nil
	}
	c := ec.Config
	d1 := RegistrableDomain(env[0][strings.LastIndexByte(env[0], '@')+1:], c.TLDs, c.TwoLevelTLDs)
	d2 := RegistrableDomain(from[0][strings.LastIndexByte(from[0], '@')+1:], c.TLDs, c.TwoLevelTLDs)
	return d1 != d2, nil
}

func bodyText(ec *EvalContext) [][]byte {
	b := ec.Msg.Body()
	if len(b) > 0 {
		return b[1:] // without the Subject
	}
	return nil
}

// check_for_uppercase(min, max): percentage of upper-case letters in
// (min, max], as MIMEEval.pm computes it: over the body lines (Subject
// included) with an inner space, base64-looking lines and ISO-2022-JP
// escapes left out, digits counted as lower case, at least 200 bytes, and
// 0 for charsets likely to false-positive as caps.
func evalUppercase(ec *EvalContext, args []string) (bool, error) {
	pct := memo(ec, "uppercase", func() float64 {
		if uppercaseCharsetFP(ec) {
			return 0
		}
		n, upper, lower := 0, 0, 0
		for _, p := range ec.Msg.Body() {
			if !innerSpaceRE.Match(p) || base64LineRE.Match(p) {
				continue
			}
			p = jisEscapeRE.ReplaceAll(p, nil)
			n += len(p)
			for _, c := range p {
				switch {
				case c >= 'A' && c <= 'Z':
					upper++
				case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
					lower++
				}
			}
		}
		if n < 200 || upper+lower == 0 {
			return 0
		}
		return 100 * float64(upper) / float64(upper+lower)
	})
	return pct > argFloat(args, 0, 0) && pct <= argFloat(args, 1, 100), nil
}

var (
	innerSpaceRE   = regexp.MustCompile(`\S\s+\S`)
	base64LineRE   = regexp.MustCompile(`^(?:[A-Za-z0-9+/=]{60,76} ){2}`)
	jisEscapeRE    = regexp.MustCompile(`(?s)\x1b\$B.*\x1b\(B`)
	capsFPCharsets = regexp.MustCompile(`(?i)^[-_a-z0-9]*(?:koi|jp|jis|euc|gb|big5|isoir|cp1251|windows-1251|georgianps|pt154|tis)[-_a-z0-9]*$`)
	ctCharsetRE    = regexp.MustCompile(`(?i)charset="([^"]+)"|charset='([^']+)'|charset=(\S+)`)
)

// uppercaseCharsetFP is MIMEEval's body_charset_is_likely_to_fp: the
// message's Content-Type charset or an HTML part's charset is one
// CHARSETS_LIKELY_TO_FP_AS_CAPS matches.
func uppercaseCharsetFP(ec *EvalContext) bool {
	var cs []string
	if ct := ec.Msg.Header("Content-Type", false); len(ct) > 0 {
		if m := ctCharsetRE.FindStringSubmatch(strings.Join(ct, "\n")); m != nil {
			cs = append(cs, m[1]+m[2]+m[3])
		}
	}
	ps, _ := parts(ec)
	for _, p := range ps {
		if p.ContentType == "text/html" && p.Charset != "" {
			cs = append(cs, p.Charset)
		}
	}
	for _, c := range cs {
		if capsFPCharsets.MatchString(c) {
			return true
		}
	}
	return false
}

// check_body_length(n): the undecoded body is shorter than n bytes.
func evalBodyLength(ec *EvalContext, args []string) (bool, error) {
	full := ec.Msg.Full()
	i := bytes.Index(full, []byte("\n\n"))
	j := bytes.Index(full, []byte("\r\n\r\n"))
	var n int
	switch {
	case j >= 0 && (i < 0 || j < i):
		n = len(full) - j - 4
	case i >= 0:
		n = len(full) - i - 2
	}
	return float64(n) < argFloat(args, 0, 0), nil
}

// tvd_vertical_words(min, max): tvdRatio in [min, max).
func evalVerticalWords(ec *EvalContext, args []string) (bool, error) {
	hi := argFloat(args, 1, 101)
	if hi >= 100 {
		hi = 101
	}
	r := tvdRatio(ec)
	return r >= argFloat(args, 0, 0) && r < hi, nil
}

// check_blank_line_ratio(min, max [, minlines]): percentage of blank lines
// in the decoded body text.
func evalBlankLineRatio(ec *EvalContext, args []string) (bool, error) {
	var lines [][]byte
	for _, p := range ec.Msg.RawBody() {
		lines = append(lines, bytes.Split(p, []byte("\n"))...)
	}
	if len(lines) == 0 || float64(len(lines)) < max(argFloat(args, 2, 1), 1) {
		return false, nil
	}
	blank := 0
	for _, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 {
			blank++
		}
	}
	r := 100 * float64(blank) / float64(len(lines))
	lo, hi := argFloat(args, 0, 0), argFloat(args, 1, 100)
	return (lo == 0 && r <= hi) || (r > lo && r <= hi), nil
}

func evalFromInList(list func(*Config) []string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		return anyGlob(list(ec.Config), ec.senders()), nil
	}
}

func evalToInList(list func(*Config) []string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		return anyGlob(list(ec.Config), ec.recipients()), nil
	}
}

func evalAddrList(header string) EvalFunc {
	return func(ec *EvalContext, args []string) (bool, error) {
		return anyGlob(ec.Config.AddrLists[arg(args, 0)], ec.addrs(header)), nil
	}
}

func evalSubjectInList(list func(*Config) []string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		s := strings.TrimSpace(ec.header("Subject"))
		return anyGlob(list(ec.Config), []string{s}), nil
	}
}

// uriHosts returns the lower-cased host names of the message's URIs.
func uriHosts(ec *EvalContext) []string {
	return memo(ec, "uri_hosts", func() []string {
		var out []string
		for _, u := range ec.Msg.URIs() {
			h := u
			if i := strings.Index(h, "://"); i >= 0 {
				h = h[i+3:]
			} else if strings.HasPrefix(strings.ToLower(h), "mailto:") {
				h = h[strings.LastIndexByte(h, '@')+1:]
			}
			if i := strings.IndexAny(h, "/?#"); i >= 0 {
				h = h[:i]
			}
			if i := strings.LastIndexByte(h, '@'); i >= 0 {
				h = h[i+1:]
			}
			if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h, "]") {
				h = h[:i]
			}
			if h != "" {
				out = append(out, strings.ToLower(h))
			}
		}
		return out
	})
}

// hostInList reports whether host or one of its parent domains is listed
// (entries starting with ! exclude).
func hostInList(host string, list []string) bool {
	listed := false
	for _, e := range list {
		neg := strings.HasPrefix(e, "!")
		e = strings.TrimPrefix(e, "!")
		if host == e || strings.HasSuffix(host, "."+e) {
			if neg {
				return false
			}
			listed = true
		}
	}
	return listed
}

func evalURIHostIn(list func(*Config) []string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		for _, h := range uriHosts(ec) {
			if hostInList(h, list(ec.Config)) {
				return true, nil
			}
		}
		return false, nil
	}
}

func evalURIHostListed(ec *EvalContext, args []string) (bool, error) {
	list := ec.Config.URIHostLists[arg(args, 0)]
	for _, h := range uriHosts(ec) {
		if hostInList(h, list) {
			return true, nil
		}
	}
	return false, nil
}

// freemailIndex splits freemail_domains into exact names and globs.
type freemailIndex struct {
	exact map[string]bool
	globs []string
}

func newFreemailIndex(domains []string) *freemailIndex {
	x := &freemailIndex{exact: map[string]bool{}}
	for _, g := range domains {
		if strings.ContainsAny(g, "*?") {
			x.globs = append(x.globs, g)
		} else {
			x.exact[g] = true
		}
	}
	return x
}

func isFreemail(ec *EvalContext, addr string) bool {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return false
	}
	dom := strings.ToLower(addr[i+1:])
	idx := ec.Config.freemail
	if idx == nil {
		idx = newFreemailIndex(ec.Config.FreemailDomains)
	}
	if idx.exact[dom] {
		return true
	}
	for _, g := range idx.globs {
		if freemailGlob(g, dom) {
			return true
		}
	}
	return false
}

// freemailGlob matches a freemail_domains wildcard as FreeMail.pm's
// regex does: "*" is [^.]* (it stays within one label, so gmx.* is not
// gmx.co.uk), "?" any one byte.
func freemailGlob(g, s string) bool {
	for g != "" {
		switch g[0] {
		case '*':
			for i := 0; ; i++ {
				if freemailGlob(g[1:], s[i:]) {
					return true
				}
				if i == len(s) || s[i] == '.' {
					return false
				}
			}
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != g[0] {
				return false
			}
		}
		g, s = g[1:], s[1:]
	}
	return s == ""
}

// check_freemail_header(header [, regex]): an address in the header is at a
// freemail domain (and matches the regex).
func evalFreemailHeader(ec *EvalContext, args []string) (bool, error) {
	h := strings.TrimSuffix(arg(args, 0), ":addr")
	var re *regexp.Regexp
	if r := arg(args, 1); r != "" {
		var err error
		if re, err = regexp.Compile(r); err != nil {
			return false, fmt.Errorf("%w: check_freemail_header: %v", ErrRegex, err)
		}
	}
	var addrs []string
	if h == "Subject" {
		addrs = emailRE.FindAllString(strings.ToLower(ec.header(h)), -1)
	} else {
		addrs = ec.addrs(h)
	}
	for _, a := range addrs {
		if isFreemail(ec, a) && (re == nil || re.MatchString(a)) {
			return true, nil
		}
	}
	return false, nil
}

func evalFreemailFrom(ec *EvalContext, _ []string) (bool, error) {
	for _, a := range ec.senders() {
		if isFreemail(ec, a) {
			return true, nil
		}
	}
	return false, nil
}

// check_freemail_replyto('replyto'|'reply'): From and Reply-To are
// different freemail addresses; or (for 'replyto' when Reply-To is
// freemail, for 'reply' when Reply-To or else From is) a freemail address
// in the body differs from them. Bulk-looking envelope senders are skipped.
func evalFreemailReplyTo(ec *EvalContext, args []string) (bool, error) {
	what := arg(args, 0)
	if what == "" {
		what = "replyto"
	}
	if env := ec.addrs("EnvelopeFrom"); len(env) > 0 && bulkEnvFromRE.MatchString(env[0]) {
		return false, nil
	}
	from, reply := ec.addrs("From"), ec.addrs("Reply-To")
	anyFM := func(as []string) bool {
		for _, a := range as {
			if isFreemail(ec, a) {
				return true
			}
		}
		return false
	}
	fromFM, replyFM := anyFM(from), anyFM(reply)
	fromNotInReply := true
	for _, f := range from {
		for _, r := range reply {
			if f == r {
				fromNotInReply = false
			}
		}
	}
	if fromFM && replyFM && fromNotInReply {
		return true, nil
	}
	switch {
	case what == "replyto" && !replyFM:
		return false, nil
	case what == "reply" && len(reply) > 0 && !replyFM:
		return false, nil
	case what == "reply" && len(reply) == 0 && !fromFM:
		return false, nil
	}
	cmp := reply
	if what == "reply" && !replyFM {
		cmp = from
	}
	for _, b := range bodyFreemails(ec) {
		for _, r := range cmp {
			if b != r {
				return true, nil
			}
		}
	}
	return false, nil
}

var bulkEnvFromRE = regexp.MustCompile(`(?i)(?:\b(?:bounce|bounces|request|announce|owner|admin|mailer-daemon|postmaster)\b|noreply|no-reply|^(?:nobody|mailer)@)`)

// bodyFreemails returns the freemail addresses written in the body text,
// leaving out addresses inside URLs and <...>.
func bodyFreemails(ec *EvalContext) []string {
	return memo(ec, "body_freemails", func() []string {
		var out []string
		seen := map[string]bool{}
		for _, p := range bodyText(ec) {
			if bytes.IndexByte(p, '@') < 0 {
				continue
			}
			t := strings.ToLower(string(p))
			t = urlWithAtRE.ReplaceAllString(t, " ")
			t = bracketEmailRE.ReplaceAllString(t, " ")
			for _, e := range emailRE.FindAllString(t, 40) {
				if !seen[e] && isFreemail(ec, e) {
					seen[e] = true
					out = append(out, e)
				}
			}
		}
		return out
	})
}

var (
	urlWithAtRE    = regexp.MustCompile(`<?https?://\S{0,255}(?:@|%40)\S{0,255}`)
	bracketEmailRE = regexp.MustCompile(`<[\w.+-]+@[\w-]+(?:\.[\w-]+)+>`)
)

// check_fromname_spoof: the From display name holds an address whose
// domain differs from the From address's domain.
func evalFromNameSpoof(ec *EvalContext, _ []string) (bool, error) {
	n := fromName(ec)
	from := ec.addrs("From")
	m := regexp.MustCompile(`[\w.+-]+@([\w-]+(?:\.[\w-]+)+)`).FindStringSubmatch(n)
	if m == nil || len(from) == 0 {
		return false, nil
	}
	c := ec.Config
	fd := RegistrableDomain(from[0][strings.LastIndexByte(from[0], '@')+1:], c.TLDs, c.TwoLevelTLDs)
	return RegistrableDomain(m[1], c.TLDs, c.TwoLevelTLDs) != fd, nil
}

func parts(ec *EvalContext) ([]Part, bool) {
	pm, ok := ec.Msg.(PartsMessage)
	if !ok {
		return nil, false
	}
	return memo(ec, "parts", pm.Parts), true
}

// mimeFacts computes SpamAssassin's MIMEEval flags from the parts.
func mimeFacts(ec *EvalContext) map[string]bool {
	return memo(ec, "mime_facts", func() map[string]bool {
		f := map[string]bool{}
		ps, _ := parts(ec)
		b64, qp := 0, 0
		// MIMEEval::_check_mime_header and _check_attachments, per leaf.
		for _, p := range ps {
			text := strings.HasPrefix(p.ContentType, "text")
			if strings.Contains(p.Disposition, "attachment") {
				f["mime_attachment"] = true
			}
			switch {
			case strings.Contains(p.Encoding, "base64"):
				b64++
				if text && (p.Charset == "" || asciiCharsetRE.MatchString(p.Charset)) &&
					!strings.HasPrefix(p.Disposition, "attachment") && !strings.HasPrefix(p.Disposition, "inline") {
					f["mime_base64_encoded_text"] = true
				}
			case strings.Contains(p.Encoding, "quoted-printable"):
				qp++
			}
			if p.Encoding == "quoted-printable" {
				// Longer than 78 characters, newline excluded (RFC 5322 only:
				// SpamAssassin bug 5491).
				for _, l := range bytes.Split(p.Raw, []byte("\n")) {
					if len(bytes.TrimRight(l, "\r")) > 78 && !bytes.HasPrefix(l, []byte("SPAM: ")) {
						f["mime_qp_long_line"] = true
					}
				}
			}
			cs := p.Charset
			if badISORE.MatchString(cs) && !okISORE.MatchString(cs) {
				f["mime_bad_iso_charset"] = true
			}
			if text && ec.Config.OKLocales != "all" && farawayCharset(cs) {
				f["mime_faraway_charset"] = true
			}
		}
		f["mime_base64_count"] = b64 > 0
		f["mime_qp_count"] = qp > 0
		f["mimepart_limit_exceeded"] = len(ps) > 1000
		return f
	})
}

var (
	asciiCharsetRE = regexp.MustCompile(`us-ascii|ansi_x3\.4-1968|iso-ir-6|ansi_x3\.4-1986|iso_646\.irv:1991|ascii|iso646-us|us|ibm367|cp367|csascii`)
	badISORE       = regexp.MustCompile(`(?i)iso-\S+-\S+\b`)
	okISORE        = regexp.MustCompile(`(?i)iso-(?:8859-\d{1,2}|2022-(?:jp|kr))\b`)
)

// farawayCharset reports charsets SpamAssassin calls far away from the
// default locale (ok_locales en): CJK, Cyrillic, Korean, Thai, Arabic, ….
func farawayCharset(cs string) bool {
	for _, p := range []string{"gb2312", "gbk", "gb18030", "big5", "euc-", "shift_jis", "shift-jis", "iso-2022-", "ks_c", "koi8", "windows-1251", "iso-8859-5", "tis-620", "windows-874", "iso-8859-6", "windows-1256", "iso-8859-8", "windows-1255", "cp1251"} {
		if strings.HasPrefix(cs, p) {
			return true
		}
	}
	return false
}

func evalForMIME(ec *EvalContext, args []string) (bool, error) {
	return mimeFacts(ec)[arg(args, 0)], nil
}

func contentTypes(ec *EvalContext) []string {
	var out []string
	for _, v := range ec.Msg.MIMEHeader("Content-Type", false) {
		t, _, _ := strings.Cut(v, ";")
		out = append(out, strings.ToLower(strings.TrimSpace(t)))
	}
	if len(out) == 0 {
		for _, v := range ec.Msg.Header("Content-Type", false) {
			t, _, _ := strings.Cut(v, ";")
			out = append(out, strings.ToLower(strings.TrimSpace(t)))
		}
	}
	return out
}

func evalMIMEHTML(ec *EvalContext, _ []string) (bool, error) {
	for _, t := range contentTypes(ec) {
		if t == "text/html" {
			return true, nil
		}
	}
	return false, nil
}

func evalMIMEHTMLOnly(ec *EvalContext, _ []string) (bool, error) {
	html, text := false, false
	for _, t := range contentTypes(ec) {
		switch t {
		case "text/html":
			html = true
		case "text/plain":
			text = true
		}
	}
	return html && !text, nil
}

// check_mime_multipart_ratio(min, max): once a multipart/alternative is
// seen, the raw size of the last text/plain part over that of the last
// text/html part (attachments left out); 1 otherwise.
func evalMultipartRatio(ec *EvalContext, args []string) (bool, error) {
	ps, _ := parts(ec)
	alt := false
	text, html := -1, -1
	for _, p := range ps {
		alt = alt || p.Parent == "multipart/alternative"
		if !alt || strings.Contains(p.Disposition, "attachment") {
			continue
		}
		switch p.ContentType {
		case "text/plain":
			text = len(p.Raw)
		case "text/html":
			html = len(p.Raw)
		}
	}
	r := 1.0
	if text >= 0 && html > 0 {
		r = float64(text) / float64(html)
	}
	return r >= argFloat(args, 0, 0) && r < argFloat(args, 1, math.Inf(1)), nil
}

// check_ma_non_text: a multipart/alternative holds a part that is not text.
func evalMANonText(ec *EvalContext, _ []string) (bool, error) {
	ps, _ := parts(ec)
	for _, p := range ps {
		if p.Parent == "multipart/alternative" && !strings.HasPrefix(p.ContentType, "text/") &&
			!strings.HasPrefix(p.ContentType, "multipart/") && p.ContentType != "application/rtf" {
			return true, nil
		}
	}
	return false, nil
}

// check_base64_length(min [, max]): the longest line of a base64 part,
// its newline counted as in SpamAssassin (application/ics left out).
func evalBase64Length(ec *EvalContext, args []string) (bool, error) {
	ps, _ := parts(ec)
	longest := 0
	for _, p := range ps {
		if p.Encoding != "base64" || p.ContentType == "application/ics" {
			continue
		}
		for _, l := range bytes.SplitAfter(p.Raw, []byte("\n")) {
			n := len(bytes.TrimRight(l, "\r\n"))
			if bytes.HasSuffix(l, []byte("\n")) {
				n++
			}
			longest = max(longest, n)
		}
	}
	n := float64(longest)
	return longest > 0 && n >= argFloat(args, 0, 0) && n <= argFloat(args, 1, math.Inf(1)), nil
}

var unicodeEscapeRE = regexp.MustCompile(`&#x[0-9A-F]{4};`)

// plainTextFacts follows the text/plain checks of
// MIMEEval::_check_attachments: whether a part declared US-ASCII (or
// without charset) holds NUL, CR or 8-bit bytes, and the ratio of
// "&#xHHHH;" escapes to the other characters of unencoded parts (-1 when
// there are none).
func plainTextFacts(ec *EvalContext) (asciiIllegal bool, unicodeRatio float64) {
	type res struct {
		illegal bool
		ratio   float64
	}
	r := memo(ec, "plain_text_facts", func() res {
		ps, _ := parts(ec)
		out := res{ratio: -1}
		normal, escapes := 0, 0
		for _, p := range ps {
			if p.ContentType != "text/plain" {
				continue
			}
			if (p.Charset == "" || p.Charset == "us-ascii") && bytes.ContainsFunc(p.Raw, func(c rune) bool { return c == 0 || c == '\r' || c >= 0x80 }) {
				out.illegal = true
			}
			if p.Encoding == "" || p.Encoding == "7bit" || p.Encoding == "8bit" {
				n := len(unicodeEscapeRE.FindAllIndex(p.Raw, -1))
				escapes += n
				normal += len(p.Raw) - 8*n
			}
		}
		if normal > 0 {
			out.ratio = float64(escapes) / float64(normal)
		}
		return out
	})
	return r.illegal, r.ratio
}

// check_for_ascii_text_illegal: a text/plain part claims US-ASCII but is not.
func evalASCIITextIllegal(ec *EvalContext, _ []string) (bool, error) {
	illegal, _ := plainTextFacts(ec)
	return illegal, nil
}

// check_abundant_unicode_ratio(ratio): "&#xHHHH;" escapes per character of
// the unencoded text/plain parts, at least ratio.
func evalUnicodeRatio(ec *EvalContext, args []string) (bool, error) {
	_, r := plainTextFacts(ec)
	return r >= 0 && r >= argFloat(args, 0, math.Inf(1)), nil
}

func evalParseFlags(ec *EvalContext, args []string) (bool, error) {
	pf, ok := ec.Msg.(ParseFlagsMessage)
	if !ok {
		return false, nil
	}
	for _, f := range pf.ParseFlags() {
		if f == arg(args, 0) {
			return true, nil
		}
	}
	return false, nil
}

// check_microsoft_executable: an attachment is a Windows executable.
func evalMSExecutable(ec *EvalContext, _ []string) (bool, error) {
	ps, _ := parts(ec)
	for _, p := range ps {
		fn := strings.ToLower(p.Filename)
		for _, ext := range []string{".exe", ".scr", ".pif", ".com", ".bat", ".cmd", ".cpl", ".lnk"} {
			if strings.HasSuffix(fn, ext) {
				return true, nil
			}
		}
		if bytes.HasPrefix(p.Decoded, []byte("MZ")) && len(p.Decoded) > 64 && !strings.HasPrefix(p.ContentType, "text/") {
			return true, nil
		}
	}
	return false, nil
}

type imageInfo struct {
	kind string // gif, jpeg, png
	area int
}

func images(ec *EvalContext) []imageInfo {
	return memo(ec, "images", func() []imageInfo {
		ps, _ := parts(ec)
		var out []imageInfo
		for _, p := range ps {
			if !strings.HasPrefix(p.ContentType, "image/") {
				continue
			}
			cfg, kind, err := image.DecodeConfig(bytes.NewReader(p.Decoded))
			if err != nil {
				kind = strings.TrimPrefix(p.ContentType, "image/")
			}
			out = append(out, imageInfo{kind: kind, area: cfg.Width * cfg.Height})
		}
		return out
	})
}

// image_count(type, min [, max])
func evalImageCount(ec *EvalContext, args []string) (bool, error) {
	t := arg(args, 0)
	n := 0
	for _, im := range images(ec) {
		if t == "all" || im.kind == t {
			n++
		}
	}
	return float64(n) >= argFloat(args, 1, 0) && float64(n) <= argFloat(args, 2, math.Inf(1)), nil
}

// pixel_coverage(type, min [, max]): total image area.
func evalPixelCoverage(ec *EvalContext, args []string) (bool, error) {
	t := arg(args, 0)
	area := 0
	for _, im := range images(ec) {
		if t == "all" || im.kind == t {
			area += im.area
		}
	}
	return area > 0 && float64(area) >= argFloat(args, 1, 0) && float64(area) <= argFloat(args, 2, math.Inf(1)), nil
}

// image_to_text_ratio(type, min, max): body text length over image area.
func evalImageToTextRatio(ec *EvalContext, args []string) (bool, error) {
	t := arg(args, 0)
	area := 0
	for _, im := range images(ec) {
		if t == "all" || im.kind == t {
			area += im.area
		}
	}
	if area == 0 {
		return false, nil
	}
	text := 0
	for _, p := range bodyText(ec) {
		text += len(bytes.TrimSpace(p))
	}
	r := float64(text) / float64(area)
	return r >= argFloat(args, 1, 0) && r <= argFloat(args, 2, math.Inf(1)), nil
}

// htmlAll returns the facts of every HTML part (SpamAssassin's
// $pms->{html_all}): HTMLPartsMessage when the message has it, else the
// single HTMLMessage facts.
func htmlAll(ec *EvalContext) []HTMLFacts {
	return memo(ec, "html_all", func() []HTMLFacts {
		if hp, ok := ec.Msg.(HTMLPartsMessage); ok {
			return hp.HTMLParts()
		}
		if hm, ok := ec.Msg.(HTMLMessage); ok {
			if f := hm.HTMLFacts(); f.Values != nil || f.Tags != nil {
				return []HTMLFacts{f}
			}
		}
		return nil
	})
}

// anyHTML reports whether test holds for one of the HTML parts, as the
// HTMLEval functions loop over html_all; the first error stops the loop.
func anyHTML(ec *EvalContext, test func(f HTMLFacts) (bool, error)) (bool, error) {
	for _, f := range htmlAll(ec) {
		if ok, err := test(f); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

func evalHTMLTest(ec *EvalContext, args []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) { return f.Values[arg(args, 0)] != 0, nil })
}

// html_range(name, min [, max]): min < value <= max, as SpamAssassin tests it.
func evalHTMLRange(ec *EvalContext, args []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) {
		v, ok := f.Values[arg(args, 0)]
		return ok && v > argFloat(args, 1, math.Inf(-1)) && v <= argFloat(args, 2, math.Inf(1)), nil
	})
}

// html_eval(name, "< 512"): compare a value with a Perl-style comparison.
func evalHTMLEval(ec *EvalContext, args []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) {
		v, ok := f.Values[arg(args, 0)]
		if !ok {
			return false, nil
		}
		return cmpExpr(v, arg(args, 1))
	})
}

func cmpExpr(v float64, expr string) (bool, error) {
	expr = strings.TrimSpace(expr)
	for _, op := range []string{">=", "<=", "==", "!=", ">", "<"} {
		if rest, ok := strings.CutPrefix(expr, op); ok {
			w, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return false, fmt.Errorf("rules: bad comparison %q", expr)
			}
			return compare(op, v, w), nil
		}
	}
	return false, fmt.Errorf("rules: bad comparison %q", expr)
}

func evalHTMLTagExists(ec *EvalContext, args []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) { return f.Tags[strings.ToLower(arg(args, 0))] > 0, nil })
}

func evalHTMLTagBalance(ec *EvalContext, args []string) (bool, error) {
	tag := strings.ToLower(arg(args, 0))
	return anyHTML(ec, func(f HTMLFacts) (bool, error) {
		if f.Tags[tag] == 0 {
			return false, nil
		}
		return cmpExpr(float64(f.Balance[tag]), arg(args, 1))
	})
}

// html_image_only(min, max): HTML with images and min < text length <= max.
func evalHTMLImageOnly(ec *EvalContext, args []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) {
		l, ok := f.Values["length"]
		return ok && f.Tags["img"] > 0 && l > argFloat(args, 0, 0) && l <= argFloat(args, 1, math.Inf(1)), nil
	})
}

// html_image_ratio(min, max): text length over image area.
func evalHTMLImageRatio(ec *EvalContext, args []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) {
		l, ok := f.Values["non_space_len"]
		if !ok || f.Values["image_area"] <= 0 {
			return false, nil
		}
		r := l / f.Values["image_area"]
		return r > argFloat(args, 0, 0) && r <= argFloat(args, 1, math.Inf(1)), nil
	})
}

// html_text_match(kind, perl-regex)
func evalHTMLTextMatch(ec *EvalContext, args []string) (bool, error) {
	all := htmlAll(ec)
	if len(all) == 0 {
		return false, nil
	}
	tr, err := perlre.Translate(arg(args, 1), "", perlre.Options{})
	if err != nil {
		return false, regexError(err)
	}
	re, err := regexp.Compile(tr.RE2)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrRegex, err)
	}
	for _, f := range all {
		for _, t := range f.Text[arg(args, 0)] {
			if re.MatchString(t) {
				return true, nil
			}
		}
	}
	return false, nil
}

// html_title_subject_ratio(ratio): the longest title over the Subject,
// both in characters; SpamAssassin's Subject keeps its newline.
func evalHTMLTitleSubjectRatio(ec *EvalContext, args []string) (bool, error) {
	subj := ec.Msg.Header("Subject", false)
	if len(subj) == 0 {
		return false, nil
	}
	sl := float64(utf8.RuneCountInString(strings.Join(subj, "\n")) + 1)
	return anyHTML(ec, func(f HTMLFacts) (bool, error) {
		longest := 0.0
		for _, t := range f.Text["title"] {
			longest = max(longest, float64(utf8.RuneCountInString(t))/sl)
		}
		return longest > argFloat(args, 0, math.Inf(1)), nil
	})
}

func evalHTMLCharsetFaraway(ec *EvalContext, _ []string) (bool, error) {
	if ec.Config.OKLocales == "all" {
		return false, nil
	}
	return anyHTML(ec, func(f HTMLFacts) (bool, error) { return f.Values["charset_faraway"] != 0, nil })
}

func evalIframeSrc(ec *EvalContext, _ []string) (bool, error) {
	return anyHTML(ec, func(f HTMLFacts) (bool, error) { return f.Values["iframe_src"] != 0, nil })
}

func spfIs(which, want string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		got := ec.Input.Auth.SPF
		if which == "HELO" {
			got = ec.Input.Auth.SPFHelo
		}
		return got == want, nil
	}
}

func evalDKIMSigned(ec *EvalContext, _ []string) (bool, error) {
	return ec.Input.Auth.DKIMAny || ec.Msg.HasHeader("DKIM-Signature"), nil
}

// check_dkim_valid([domain...])
func evalDKIMValid(ec *EvalContext, args []string) (bool, error) {
	doms := ec.Input.Auth.DKIMDomains
	if len(args) == 0 {
		return len(doms) > 0, nil
	}
	for _, d := range doms {
		for _, a := range args {
			if strings.EqualFold(d, a) {
				return true, nil
			}
		}
	}
	return false, nil
}

// check_dkim_valid_author_sig: a valid signature by the From domain.
func evalDKIMAuthor(ec *EvalContext, _ []string) (bool, error) {
	from := ec.addrs("From")
	if len(from) == 0 {
		return false, nil
	}
	fd := from[0][strings.LastIndexByte(from[0], '@')+1:]
	for _, d := range ec.Input.Auth.DKIMDomains {
		if strings.EqualFold(d, fd) {
			return true, nil
		}
	}
	return false, nil
}

func dmarcIs(result, policy string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		a := ec.Input.Auth
		return a.DMARC == result && (policy == "" || a.DMARCPolicy == policy), nil
	}
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

func domainOf(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }

// evalDKIMWelcome: a From address on the (default) DKIM welcomelist whose
// listed signer — or its own domain — signed the message validly.
func evalDKIMWelcome(def bool) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		list := ec.Config.WelcomelistDKIM
		if def {
			list = ec.Config.DefWelcomelistDKIM
		}
		for _, a := range ec.addrs("From") {
			for _, e := range list {
				if !globMatch(e.Addr, a) {
					continue
				}
				signer := e.Signer
				if signer == "" {
					signer = domainOf(a)
				}
				for _, d := range ec.Input.Auth.DKIMDomains {
					d = strings.ToLower(d)
					if d == signer || strings.HasSuffix(signer, "."+d) {
						return true, nil
					}
				}
			}
		}
		return false, nil
	}
}

// evalSPFWelcome: a sender on the (default) SPF welcomelist, with SPF pass.
func evalSPFWelcome(def bool) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		if ec.Input.Auth.SPF != "pass" {
			return false, nil
		}
		list := ec.Config.WelcomelistSPF
		if def {
			list = ec.Config.DefWelcomelistSPF
		}
		for _, a := range ec.senders() {
			for _, e := range list {
				if globMatch(e.Addr, a) {
					return true, nil
				}
			}
		}
		return false, nil
	}
}

// check_dkim_valid_envelopefrom: a valid signature by the envelope sender's domain.
func evalDKIMEnvFrom(ec *EvalContext, _ []string) (bool, error) {
	env := ec.addrs("EnvelopeFrom")
	if len(env) == 0 {
		return false, nil
	}
	for _, d := range ec.Input.Auth.DKIMDomains {
		if strings.EqualFold(d, domainOf(env[0])) {
			return true, nil
		}
	}
	return false, nil
}

// check_body_8bits: eight bytes in a row with the high bit set in the body
// text, where ok_locales does not allow every charset.
func evalBody8Bits(ec *EvalContext, _ []string) (bool, error) {
	if ec.Config.OKLocales == "all" {
		return false, nil
	}
	for _, p := range bodyText(ec) {
		run := 0
		for _, c := range p {
			if c >= 0x80 {
				if run++; run >= 8 {
					return true, nil
				}
			} else {
				run = 0
			}
		}
	}
	return false, nil
}

// check_for_faraway_charset: a text part in a charset far from ok_locales
// (never, with SpamAssassin's default ok_locales all).
func evalFarawayCharset(ec *EvalContext, _ []string) (bool, error) {
	if ec.Config.OKLocales == "all" {
		return false, nil
	}
	ps, _ := parts(ec)
	for _, p := range ps {
		if strings.HasPrefix(p.ContentType, "text/") && farawayCharset(p.Charset) {
			return true, nil
		}
	}
	return false, nil
}

// check_for_faraway_charset_in_headers: an RFC 2047 word in a far charset.
func evalFarawayCharsetHeaders(ec *EvalContext, _ []string) (bool, error) {
	if ec.Config.OKLocales == "all" {
		return false, nil
	}
	for _, f := range ec.Msg.Header("ALL", true) {
		low := strings.ToLower(f)
		for i := strings.Index(low, "=?"); i >= 0; {
			rest := low[i+2:]
			if farawayCharset(rest) {
				return true, nil
			}
			j := strings.Index(rest, "=?")
			if j < 0 {
				break
			}
			i += 2 + j
		}
	}
	return false, nil
}

// maDiff compares the words of the text and HTML alternatives of a
// multipart/alternative: the percentage of distinct HTML words the text
// part lacks, and the distinct word counts of both.
func maDiff(ec *EvalContext) (diff float64, textWords, htmlWords int) {
	type res struct {
		diff       float64
		text, html int
	}
	r := memo(ec, "madiff", func() res {
		ps, _ := parts(ec)
		text, html := map[string]int{}, map[string]int{}
		for _, p := range ps {
			if p.Parent != "multipart/alternative" {
				continue
			}
			body := string(p.Decoded)
			dst := text
			switch p.ContentType {
			case "text/html":
				body = htmlTagRE.ReplaceAllString(body, " ")
				dst = html
			case "text/plain":
			default:
				continue
			}
			for _, w := range strings.Fields(body) {
				if strings.IndexFunc(w, func(r rune) bool { return r < 0x80 && (isAlnum(byte(r)) || r == '_') }) >= 0 {
					dst[w]++
				}
			}
		}
		if len(html) == 0 {
			return res{}
		}
		orig := len(html)
		left := 0
		for w, n := range html {
			if n-text[w] >= 1 {
				left++
			}
		}
		return res{diff: 100 * float64(left) / float64(orig), text: len(text), html: orig}
	})
	return r.diff, r.text, r.html
}

var htmlTagRE = regexp.MustCompile(`(?s)<[^>]*>`)

// multipart_alternative_difference(min, max)
func evalMADiff(ec *EvalContext, args []string) (bool, error) {
	d, _, html := maDiff(ec)
	if html == 0 {
		return false, nil
	}
	lo := argFloat(args, 0, 0)
	return (lo == 0 || d > lo) && d <= argFloat(args, 1, math.Inf(1)), nil
}

// multipart_alternative_difference_count(ratio, minhtml)
func evalMADiffCount(ec *EvalContext, args []string) (bool, error) {
	_, text, html := maDiff(ec)
	if float64(html) <= argFloat(args, 1, 0) || html == 0 {
		return false, nil
	}
	return float64(text)/float64(html) > argFloat(args, 0, 0), nil
}
