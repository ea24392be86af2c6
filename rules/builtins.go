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
		"check_rbl", "check_rbl_sub", "check_rbl_txt", "check_rbl_from_host", "check_rbl_from_domain",
		"check_rbl_envfrom", "check_rbl_headers", "check_rbl_ns_from", "check_rbl_rcvd", "check_rbl_accreditor",
		"check_uridnsbl", "check_dns_sender", "check_razor2", "check_razor2_range", "check_pyzor",
		"check_dcc", "check_dcc_reputation_range", "check_hashbl_bodyre", "check_hashbl_emails",
		"check_hashbl_uris", "check_access_database", "check_senders_reputation", "check_from_in_auto_whitelist",
		"check_avira", "check_asn", "askdns", "check_dkim_adsp",
	}
}

// registerBuiltins adds every eval function implemented here, one table
// per SpamAssassin plugin (eval_*.go), and the network and Bayes evals
// answered from Input.
func registerBuiltins(r *EvalRegistry) {
	for _, n := range networkEvalNames() {
		r.Register(n, evalFromInput)
	}
	r.Register("check_bayes", evalCheckBayes)
	for _, table := range []map[string]EvalFunc{
		headerEvals(),
		fromnamespoofEvals(),
		bodyEvals(),
		mimeEvals(),
		antivirusEvals(),
		textcatEvals(),
		imageEvals(),
		htmlEvals(),
		wlblEvals(),
		wlsubjectEvals(),
		freemailEvals(),
		spfEvals(),
		dkimEvals(),
		dmarcEvals(),
	} {
		for n, f := range table {
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
	for _, v := range ec.Msg.Header(name, true) {
		for _, a := range mail.HeaderAddr(v) {
			out = append(out, strings.ToLower(a))
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
