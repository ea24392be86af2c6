package rules

// The eval functions of SpamAssassin's FreeMail plugin
// (Mail::SpamAssassin::Plugin::FreeMail).

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

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
	case what == "reply" && !fromFM:
		// FreeMail.pm: no freemail Reply-To, and From is not freemail.
		return false, nil
	}
	cmp := reply
	if what == "reply" && !replyFM {
		cmp = from
	}
	body, ok := bodyFreemails(ec)
	if !ok {
		return false, nil
	}
	for _, b := range body {
		for _, r := range cmp {
			if b != r {
				return true, nil
			}
		}
	}
	return false, nil
}

// bulkEnvFromRE is FreeMail.pm's $skip_replyto_envfrom: envelope senders
// of lists and bounces, for which the Reply-To checks are skipped.
var bulkEnvFromRE = regexp.MustCompile(`(?i)(?:^(?:post|host|domain)master|^double-bounce|^(?:sentto|owner|return|(?:gr)?bounced?)-.+|-(?:request|bounces?|admin|owner)|\b(?:do[._-t]?)?no[._-t]?repl(?:y|ies)|.+=.+)@`)

// FreeMail.pm's defaults for freemail_max_body_emails and
// freemail_max_body_freemails (freemail_skip_when_over_max 1): at that
// many distinct addresses, or freemail addresses, in the body the body
// comparison is skipped.
const (
	freemailMaxBodyEmails    = 5
	freemailMaxBodyFreemails = 3
)

// bodyFreemails returns the freemail addresses of the body as
// FreeMail.pm's _parse_body collects them: the mailto: links of <a>
// elements the text does not show (at most 20), then the addresses in
// the rendered text (up to 40 in all), leaving out those inside URLs,
// in <...> or before a "wrote:"-like word. ok is false when the body
// holds too many addresses or freemail addresses to be compared.
func bodyFreemails(ec *EvalContext) (addrs []string, ok bool) {
	type result struct {
		addrs []string
		ok    bool
	}
	r := memo(ec, "body_freemails", func() result {
		var all []string
		seen := map[string]bool{}
		addr := func(e string) {
			if !seen[e] {
				seen[e] = true
				all = append(all, e)
			}
		}
		if am, ok := ec.Msg.(AnchorMailtoMessage); ok {
			for _, u := range am.AnchorMailtos() {
				if e, _, ok := scanEmail(ec.Config.TLDs, strings.ToLower(u), len("mailto:")); ok && strings.HasPrefix(strings.ToLower(u), "mailto:"+e) {
					addr(e)
					if len(all) >= 20 {
						break
					}
				}
			}
		}
	body:
		for _, p := range bodyText(ec) {
			if bytes.IndexByte(p, '@') < 0 {
				continue
			}
			t := urlWithAtRE.ReplaceAllString(strings.ToLower(string(p)), " ")
			for i := 0; i < len(t); {
				e, end, ok := scanEmail(ec.Config.TLDs, t, i)
				if !ok {
					break
				}
				i = end
				if !quotedEmail(t, end-len(e), end) {
					addr(e)
					if len(all) >= 40 {
						break body
					}
				}
			}
		}
		var out []string
		for n, e := range all {
			if n+1 == freemailMaxBodyEmails {
				return result{}
			}
			if !isFreemail(ec, e) {
				continue
			}
			if out = append(out, e); len(out) == freemailMaxBodyFreemails {
				return result{}
			}
		}
		return result{out, true}
	})
	return r.addrs, r.ok
}

// quotedEmail reports whether the address at t[start:end] is one
// _parse_body removes before it scans: one not after "mailto:" that is
// followed by ">" or by white space and a word with a colon ("wrote:",
// not "fax:", "tel:", "phone:", "mail:").
func quotedEmail(t string, start, end int) bool {
	if strings.HasSuffix(t[:start], "mailto:") {
		return false
	}
	rest := t[end:]
	if strings.HasPrefix(rest, ">") {
		return true
	}
	ws := 0
	for ws < len(rest) && ws <= 10 && isSpaceByte(rest[ws]) {
		ws++
	}
	if ws == 0 || ws > 10 {
		return false
	}
	w := rest[ws:]
	for _, p := range []string{"fax", "facsi", "tel", "phone", "email", "e-mail", "-mail", "mail"} {
		if strings.HasPrefix(w, p) {
			return false
		}
	}
	n := 0
	for n < len(w) && w[n] >= 'a' && w[n] <= 'z' {
		n++
	}
	return n >= 2 && n <= 11 && n < len(w) && w[n] == ':'
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// emailLocal reports a byte of FreeMail.pm's email_regex local part
// (besides the dots between runs).
func emailLocal(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+/=?^_`{|}~-", c) >= 0
}

func emailLabel(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' }

// scanEmail finds the first address of FreeMail.pm's email_regex in the
// lower-case t from byte from: a local part of at most 64 characters not
// preceded by a local-part character, "@", one to four host labels and a
// valid TLD that ends the host name. It returns the address and where it
// ends.
func scanEmail(tlds map[string]bool, t string, from int) (email string, end int, ok bool) {
	for at := from; at < len(t); at++ {
		if t[at] != '@' {
			continue
		}
		// The local part: runs of local characters joined by single dots,
		// back from the "@", at most 64 characters, starting at a run.
		start := at
		for start > from && emailLocal(t[start-1]) {
			start--
			if start > from+1 && t[start-1] == '.' && emailLocal(t[start-2]) {
				start--
			}
		}
		if start < len(t) && t[start] == '.' {
			start++
		}
		for at-start > 64 {
			j := strings.IndexByte(t[start:at], '.')
			if j < 0 {
				start = at
				break
			}
			start += j + 1
		}
		if start >= at || (start > 0 && emailLocal(t[start-1])) {
			continue
		}
		if e, ok := emailHost(tlds, t, at+1); ok {
			return t[start:e], e, true
		}
	}
	return "", len(t), false
}

// emailHost matches the host part of email_regex at t[i:]: one to four
// labels of [a-z0-9-] (not starting or ending with "-", at most 61
// characters), each followed by ".", then a TLD not followed by a label
// character or by "." and one. It returns where the host ends.
func emailHost(tlds map[string]bool, t string, i int) (int, bool) {
	var labels [][2]int
	for j := i; ; {
		k := j
		for k < len(t) && emailLabel(t[k]) {
			k++
		}
		if k == j {
			break
		}
		labels = append(labels, [2]int{j, k})
		if k+1 < len(t) && t[k] == '.' && t[k+1] >= 'a' && t[k+1] <= 'z' || k+1 < len(t) && t[k] == '.' && t[k+1] >= '0' && t[k+1] <= '9' {
			j = k + 1
			continue
		}
		break
	}
	n := len(labels)
	if n < 2 || n > 5 || !tlds[t[labels[n-1][0]:labels[n-1][1]]] {
		return 0, false
	}
	for _, l := range labels[:n-1] {
		s := t[l[0]:l[1]]
		if len(s) > 61 || s[0] == '-' || s[len(s)-1] == '-' {
			return 0, false
		}
	}
	return labels[n-1][1], true
}
