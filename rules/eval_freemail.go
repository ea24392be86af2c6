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
