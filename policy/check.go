package policy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/auth"
)

// SPFReject says which SPF results of one identity refuse the mail, as
// policyd-spf's HELO_reject and Mail_From_reject do.
type SPFReject string

// SPFReject values. The policyd-spf name of each is in parentheses.
const (
	// RejectFail refuses fail ("Fail"), the default.
	RejectFail SPFReject = "fail"
	// RejectSoftfail refuses fail and softfail ("Softfail").
	RejectSoftfail SPFReject = "softfail"
	// RejectNotPass refuses every result but pass, none, temperror and
	// permerror ("SPF_Not_Pass").
	RejectNotPass SPFReject = "not_pass"
	// RejectNull refuses a HELO fail only for the null reverse-path
	// ("Null"); HELO only.
	RejectNull SPFReject = "null"
	// RejectOff checks and adds Received-SPF, never refuses ("False").
	RejectOff SPFReject = "off"
	// RejectNoCheck does not check the identity at all ("No_Check").
	RejectNoCheck SPFReject = "no_check"
)

// Action is what the server answers when a client check (FCrDNS, DNSBL)
// finds something.
type Action string

// Action values.
const (
	// ActionOff: the check is not made.
	ActionOff Action = "off"
	// ActionWarn lets the mail through to the SPF check, noting the
	// finding in Decision.Warning; Postfix logs it (WARN) when SPF has
	// nothing to answer.
	ActionWarn Action = "warn"
	// ActionDefer defers the recipient if nothing else refuses it
	// (DEFER_IF_PERMIT, 450).
	ActionDefer Action = "defer"
	// ActionReject refuses the recipient (550); a DNS failure during the
	// check defers instead.
	ActionReject Action = "reject"
)

// Config configures the checks of a Server. Zero values are the
// documented defaults, except where a field says otherwise.
type Config struct {
	// Hostname names this receiver in Received-SPF and the rejection's
	// explanation.
	Hostname string
	// HELOReject and MailFromReject say which results refuse the mail.
	// Default RejectFail.
	HELOReject, MailFromReject SPFReject
	// PermErrorReject refuses a MAIL FROM permerror (550 5.7.24).
	PermErrorReject bool
	// TempErrorDefer defers a MAIL FROM or HELO temperror
	// (DEFER_IF_PERMIT 4.7.24); otherwise Received-SPF: temperror is
	// added and the mail goes on.
	TempErrorDefer bool
	// ExemptRecipients are never refused: "local@" matches that local
	// part in every domain, "@domain" a whole domain, anything else one
	// address; case-insensitive.
	ExemptRecipients []string
	// SkipNetworks are clients not checked at all (DUNNO).
	SkipNetworks []*net.IPNet
	// FCrDNS is what to do with a client without forward-confirmed
	// reverse DNS. Default ActionOff.
	FCrDNS Action
	// DNSBLs are the blocklists the client address is looked up in;
	// DNSBLAction is what a listing gets. Default ActionReject.
	DNSBLs      []auth.DNSBL
	DNSBLAction Action
	// Timeout bounds the checks of one request. Default 20s.
	Timeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.HELOReject == "" {
		c.HELOReject = RejectFail
	}
	if c.MailFromReject == "" {
		c.MailFromReject = RejectFail
	}
	if c.FCrDNS == "" {
		c.FCrDNS = ActionOff
	}
	if c.DNSBLAction == "" {
		c.DNSBLAction = ActionReject
	}
	if c.Timeout <= 0 {
		c.Timeout = 20 * time.Second
	}
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	return c
}

// Decision is the answer to one request and why.
type Decision struct {
	// Action is the text after "action=": "DUNNO", "PREPEND ...", a
	// "550 5.7.23 ..." reply, "DEFER_IF_PERMIT ...", "WARN ...".
	Action string
	// Reason is a stable word for logs and metrics: "exempt", "skip",
	// "not_rcpt", "dnsbl", "fcrdns", "helo_fail", "mailfrom_fail",
	// "permerror", "temperror", "spf" (header added), "none" or "error"
	// (a panic in a check).
	Reason string
	// SPF is the MAIL FROM result (the HELO result for a null sender),
	// HELO the HELO identity's; empty Result when not checked.
	SPF, HELO auth.SPFResult
	// Header is the Received-SPF field for SPF, whatever the action;
	// empty when SPF was not checked.
	Header string
	// Warning is what a client check set to warn found ("Service
	// unavailable; client [IP] blocked using ZONE"), for the log.
	Warning string
}

// Checker decides requests. It is safe for concurrent use.
type Checker struct {
	cfg Config
	r   auth.Resolver
}

// NewChecker returns a Checker for cfg that looks names up through r.
func NewChecker(cfg Config, r auth.Resolver) *Checker {
	return &Checker{cfg: cfg.withDefaults(), r: r}
}

// clientKey is what a verdict depends on besides the recipient: Postfix
// sends one request per recipient of a message, with one instance.
type clientKey struct {
	instance, client, helo, sender string
}

func keyOf(req Request) clientKey {
	return clientKey{req["instance"], req["client_address"], req["helo_name"], req["sender"]}
}

// Check answers one request, the only one of its message. Only RCPT
// requests are checked; an exempt recipient or a skipped client is never
// refused.
func (c *Checker) Check(ctx context.Context, req Request) Decision {
	return c.forRecipient(req, c.evaluate(ctx, req), false)
}

// forRecipient turns the verdict of a message, which holds for all its
// recipients, into the answer for one: an exempt recipient gets the
// Received-SPF field instead of a refusal, and the field is prepended once
// per message (prepended: an earlier recipient's answer did), since Postfix
// adds every PREPEND it is given.
func (c *Checker) forRecipient(req Request, d Decision, prepended bool) Decision {
	if refusal(d.Action) && c.exempt(req["recipient"]) {
		d.Action, d.Reason = "DUNNO", "exempt"
		if d.Header != "" && !prepended {
			d.Action = "PREPEND " + d.Header
		}
	}
	if prepended && strings.HasPrefix(d.Action, "PREPEND ") {
		d.Action = "DUNNO"
	}
	return d
}

// refusal reports whether action refuses or defers the recipient.
func refusal(action string) bool {
	return action != "" && (action[0] >= '0' && action[0] <= '9' || strings.HasPrefix(action, "DEFER"))
}

// exempt reports whether rcpt matches one of the ExemptRecipients.
func (c *Checker) exempt(rcpt string) bool {
	rcpt = strings.ToLower(rcpt)
	at := strings.LastIndexByte(rcpt, '@')
	for _, e := range c.cfg.ExemptRecipients {
		e = strings.ToLower(e)
		switch {
		case strings.HasSuffix(e, "@") && at >= 0:
			if rcpt[:at+1] == e {
				return true
			}
		case strings.HasPrefix(e, "@") && at >= 0:
			if rcpt[at:] == e {
				return true
			}
		case rcpt == e:
			return true
		}
	}
	return false
}

// evaluate makes the checks that do not depend on the recipient.
func (c *Checker) evaluate(ctx context.Context, req Request) Decision {
	if st := req["protocol_state"]; st != "" && !strings.EqualFold(st, "RCPT") {
		return Decision{Action: "DUNNO", Reason: "not_rcpt"}
	}
	ip := net.ParseIP(req["client_address"])
	if ip == nil {
		return Decision{Action: "DUNNO", Reason: "skip"}
	}
	for _, n := range c.cfg.SkipNetworks {
		if n.Contains(ip) {
			return Decision{Action: "DUNNO", Reason: "skip"}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cd, final := c.checkClient(ctx, ip)
	if final {
		return cd
	}
	d := c.checkSPF(ctx, ip, req["helo_name"], req["sender"])
	if cd.Action != "" {
		// A warning goes on to SPF; Postfix logs it (WARN) only when
		// SPF has nothing else to answer, sluice's log always.
		d.Warning = strings.TrimPrefix(cd.Action, "WARN ")
		if d.Action == "DUNNO" {
			d.Action = cd.Action
		}
	}
	return d
}

// checkClient makes the DNSBL and FCrDNS checks: final when one refused
// or deferred, a WARN action when one only warns.
func (c *Checker) checkClient(ctx context.Context, ip net.IP) (d Decision, final bool) {
	if len(c.cfg.DNSBLs) > 0 && c.cfg.DNSBLAction != ActionOff {
		hits, _ := auth.CheckDNSBL(ctx, c.r, ip, c.cfg.DNSBLs, len(c.cfg.DNSBLs))
		if len(hits) > 0 {
			text := fmt.Sprintf("Service unavailable; client [%s] blocked using %s", ip, hits[0].Zone)
			d = Decision{Action: actionText(c.cfg.DNSBLAction, "554 5.7.1", text), Reason: "dnsbl"}
			if c.cfg.DNSBLAction != ActionWarn {
				return d, true
			}
		}
	}
	if c.cfg.FCrDNS != ActionOff {
		_, err := auth.FCrDNS(ctx, c.r, ip)
		switch {
		case err == nil:
		case errors.Is(err, auth.ErrNoFCrDNS):
			text := fmt.Sprintf("Client host rejected: cannot find your hostname, [%s]", ip)
			if c.cfg.FCrDNS != ActionWarn {
				return Decision{Action: actionText(c.cfg.FCrDNS, "550 5.7.25", text), Reason: "fcrdns"}, true
			}
			if d.Action == "" {
				d = Decision{Action: "WARN " + text, Reason: "fcrdns"}
			}
		case c.cfg.FCrDNS == ActionReject || c.cfg.FCrDNS == ActionDefer:
			// RFC 7372 §3.3: X.7.25 is the reverse DNS failure code;
			// a DNS failure can pass on retry.
			text := fmt.Sprintf("Client host rejected: cannot find your hostname, [%s] (temporary DNS failure)", ip)
			return Decision{Action: "DEFER_IF_PERMIT 4.7.25 " + text, Reason: "fcrdns"}, true
		}
	}
	return d, false
}

// actionText is the policy action for a client check that found
// something: code is the rejection's SMTP and enhanced code.
func actionText(a Action, code, text string) string {
	switch a {
	case ActionReject:
		return code + " " + text
	case ActionDefer:
		return "DEFER_IF_PERMIT 4" + code[5:] + " " + text
	default:
		return "WARN " + text
	}
}

// checkSPF checks HELO, then MAIL FROM, as policyd-spf does: a refused
// HELO refuses without looking at MAIL FROM.
func (c *Checker) checkSPF(ctx context.Context, ip net.IP, helo, sender string) Decision {
	var d Decision
	null := !strings.Contains(sender, "@")
	if c.cfg.HELOReject != RejectNoCheck && helo != "" {
		d.HELO = auth.CheckSPF(ctx, c.r, ip, helo, "")
		mode := c.cfg.HELOReject
		if mode == RejectNull {
			mode = RejectOff
			if null {
				mode = RejectFail
			}
		}
		if refuses(mode, d.HELO.Result) {
			d.SPF = d.HELO
			d.Header = receivedSPF(c.cfg.Hostname, ip, helo, sender, d.SPF)
			d.Action, d.Reason = c.rejectText(d.HELO, ip), "helo_fail"
			return d
		}
		if d.HELO.Result == auth.SPFTempError && c.cfg.TempErrorDefer && null {
			d.SPF = d.HELO
			d.Header = receivedSPF(c.cfg.Hostname, ip, helo, sender, d.SPF)
			d.Action, d.Reason = c.deferText(d.HELO), "temperror"
			return d
		}
	}
	switch {
	case null && d.HELO.Result != "":
		d.SPF = d.HELO
	case c.cfg.MailFromReject != RejectNoCheck:
		// For a null sender the check is of postmaster@HELO
		// (RFC 7208 §2.4).
		d.SPF = auth.CheckSPF(ctx, c.r, ip, helo, sender)
	}
	if d.SPF.Result != "" {
		d.Header = receivedSPF(c.cfg.Hostname, ip, helo, sender, d.SPF)
	}
	switch {
	case d.SPF.Result == "":
		d.Action, d.Reason = "DUNNO", "none"
	case !null && refuses(c.cfg.MailFromReject, d.SPF.Result):
		d.Action, d.Reason = c.rejectText(d.SPF, ip), "mailfrom_fail"
	case d.SPF.Result == auth.SPFPermError && c.cfg.PermErrorReject:
		d.Action, d.Reason = c.permErrorText(d.SPF), "permerror"
	case d.SPF.Result == auth.SPFTempError && c.cfg.TempErrorDefer:
		d.Action, d.Reason = c.deferText(d.SPF), "temperror"
	default:
		d.Action, d.Reason = "PREPEND "+d.Header, "spf"
	}
	return d
}

// refuses reports whether mode refuses result.
func refuses(mode SPFReject, result string) bool {
	switch mode {
	case RejectFail:
		return result == auth.SPFFail
	case RejectSoftfail:
		return result == auth.SPFFail || result == auth.SPFSoftFail
	case RejectNotPass:
		return result == auth.SPFFail || result == auth.SPFSoftFail || result == auth.SPFNeutral
	}
	return false
}

// rejectText is the refusal of an SPF fail (RFC 7208 §8.4: 550 5.7.23)
// or softfail, with an explanation in the style of the RFC 7208 §6.2
// default and a link to the explanation page policyd-spf points to.
func (c *Checker) rejectText(r auth.SPFResult, ip net.IP) string {
	scope := "mfrom"
	if r.Identity == "helo" {
		scope = "helo"
	}
	why := fmt.Sprintf("https://www.open-spf.org/Why?s=%s;id=%s;ip=%s;r=%s",
		scope, url.QueryEscape(r.Sender), ip, url.QueryEscape(c.cfg.Hostname))
	what := "SPF fail - not authorized"
	code := "550 5.7.23"
	switch r.Result {
	case auth.SPFSoftFail:
		what = "SPF softfail - not authorized (receiver policy)"
	case auth.SPFNeutral:
		what, code = "SPF neutral - not authorized (receiver policy)", "550 5.7.1"
	}
	return fmt.Sprintf("%s Message rejected due to: %s. Please see %s", code, what, why)
}

// permErrorText refuses a permerror (RFC 7372 §3.2: X.7.24).
func (c *Checker) permErrorText(r auth.SPFResult) string {
	return fmt.Sprintf("550 5.7.24 Message rejected due to: SPF permanent error for %s: %s", r.Domain, oneLine(r.Reason))
}

// deferText defers a temperror (RFC 7208 §8.6: retry later; RFC 7372:
// X.7.24).
func (c *Checker) deferText(r auth.SPFResult) string {
	return fmt.Sprintf("DEFER_IF_PERMIT 4.7.24 SPF temporary error for %s, try again later", r.Domain)
}
