package rules

// The eval functions of SpamAssassin's HeaderEval plugin
// (Mail::SpamAssassin::Plugin::HeaderEval).

import (
	"github.com/sluice-mail/sluice/mail"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

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
	for _, v := range ec.hdr(arg(args, 0), true) {
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
		text = strings.Join(ec.hdr(h, true), "\n")
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
//
// The addresses keep their case: HeaderEval compares and sorts them as
// written (FOREGONE@MSN.COM and forgione@… differ in their first bytes).
func saRecipients(ec *EvalContext) []string {
	asWritten := func(name string) []string {
		var out []string
		for _, v := range ec.hdr(name, true) {
			out = append(out, mail.HeaderAddr(v)...)
		}
		return out
	}
	in := append(asWritten("To"), asWritten("Cc")...)
	if len(in) < 5 {
		in = append(in, asWritten("Bcc")...)
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

// check_equal_from_domains: HeaderEval compares the last two labels of
// the first From and EnvelopeFrom addresses' domains (not registrable
// domains: giga.net.tw and seed.net.tw are both "net.tw").
func evalEqualFromDomains(ec *EvalContext, _ []string) (bool, error) {
	env, from := ec.addrs("EnvelopeFrom"), ec.addrs("From")
	if len(env) == 0 || len(from) == 0 {
		return false, nil
	}
	d1, d2 := lastTwoLabels(from[0]), lastTwoLabels(env[0])
	return d1 != "" && d2 != "" && d1 != d2, nil
}

// lastTwoLabels is HeaderEval's /\@([^@]*)\z/ then
// s/^.+\.([^\.]+\.[^\.]+)$/$1/ on a lower-case address.
func lastTwoLabels(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	d := addr[i+1:]
	if j := strings.LastIndexByte(d, '.'); j > 0 {
		if k := strings.LastIndexByte(d[:j], '.'); k > 0 && j > k+1 && j < len(d)-1 {
			return d[k+1:]
		}
	}
	return d
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
