package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// vacationSpecs registers the commands and tests of vacation.
func vacationSpecs(add func(*spec)) {
	// RFC 5230 vacation, RFC 6131 vacation-seconds.
	add(&spec{name: "vacation", ext: "vacation", tags: []tagDef{
		{name: "days", group: "period", param: argNumber, paramName: "period"},
		{name: "seconds", group: "period", param: argNumber, ext: "vacation-seconds", paramName: "period"},
		{name: "subject", param: argString, paramName: "subject"},
		{name: "from", param: argString, paramName: "from address"},
		{name: "addresses", param: argStringList, paramName: "addresses"},
		{name: "mime", param: noParam},
		{name: "handle", param: argString, paramName: "handle"},
	}, pos: []posDef{{typ: argString, name: "reason"}}, check: checkVacation, exec: execVacation})
}

func checkVacation(v *validator, n *node) bool {
	if f, ok := n.tagStr("from"); ok && v.isConstant(f) && !validAddress(f) {
		v.errorf(n.tags["from"].pos, "specified :from address '%s' is invalid for vacation action", f)
		return false
	}
	if t := n.tags["addresses"]; t != nil {
		for _, a := range t.strs {
			if v.isConstant(a) && !validAddress(a) {
				v.errorf(t.pos, "specified :addresses item '%s' is invalid for vacation action", a)
				return false
			}
		}
	}
	return true
}

func execVacation(r *run, n *node) error {
	vac := &Vacation{Reason: r.arg1(n, 0), MIME: n.has("mime")}
	vac.Subject, _ = r.tag(n, "subject")
	vac.From, _ = r.tag(n, "from")
	if t := n.tags["addresses"]; t != nil {
		vac.Addresses = r.strs(t.strs)
	}
	vac.Handle, _ = r.tag(n, "handle")
	period := r.opts.VacationDefaultPeriod
	if d, ok := n.tagNum("days"); ok {
		period = time.Duration(d) * 24 * time.Hour
	}
	if s, ok := n.tagNum("seconds"); ok {
		period = time.Duration(s) * time.Second
		vac.Seconds = true
	}
	// Pigeonhole clamps the period to the configured range; 0 seconds means
	// "always reply" (RFC 6131 §2).
	if !(vac.Seconds && period == 0) {
		period = max(period, r.opts.VacationMinPeriod)
		period = min(period, r.opts.VacationMaxPeriod)
	}
	vac.Period = period
	if vac.Handle == "" {
		// RFC 5230 §4.2: the default handle derives from the arguments.
		vac.Handle = strings.Join([]string{vac.Subject, vac.From, vac.Reason, strconv.FormatBool(vac.MIME)}, "\x00")
	}
	return r.addAction(n, Action{Kind: VacationAction, Vacation: vac})
}

// finishVacation fills in the reply fields and decides whether to send
// (RFC 5230 §4.5-§4.6, with Pigeonhole's choices).
func (r *run) finishVacation(res *Result) {
	for i := range res.Actions {
		a := &res.Actions[i]
		if a.Kind != VacationAction {
			continue
		}
		v := a.Vacation
		h := r.header
		sender, _ := parsePath(r.env.From)
		v.To = sender
		v.ToHeader = "<" + sender + ">"
		for _, name := range []string{"sender", "resent-from", "from"} {
			for _, fv := range headerValues(h, name, false) {
				addrs, ok := headerAddresses(fv)
				if !ok || len(addrs) != 1 {
					continue
				}
				if r.opts.VacationToHeaderIgnoreEnvelope || strings.EqualFold(addrs[0], sender) {
					if v.ToHeader == "<"+sender+">" || r.opts.VacationToHeaderIgnoreEnvelope && v.To == sender {
						v.To, v.ToHeader = addrs[0], strings.TrimSpace(fv)
					}
				}
			}
			if v.ToHeader != "<"+sender+">" {
				break
			}
		}
		if v.Subject == "" {
			v.Subject = r.vacationSubject()
		}
		v.Subject = limitCodepoints(v.Subject, r.opts.VacationMaxSubjectCodepoints)
		if ids := headerValues(h, "message-id", false); len(ids) > 0 {
			v.InReplyTo = ids[0]
			refs := headerValues(h, "references", false)
			if len(refs) == 0 {
				refs = headerValues(h, "in-reply-to", false)
			}
			if len(refs) > 0 {
				v.References = strings.Join(strings.Fields(refs[0]), " ") + " " + ids[0]
			} else {
				v.References = ids[0]
			}
		}
		matched := ""
		v.Suppressed, matched = r.vacationSuppressed(v)
		if v.From == "" {
			v.From = matched
		}
		if r.opts.VacationSendFromRecipient {
			v.EnvelopeFrom = r.env.To
		}
		if v.Suppressed == "" && r.env.Duplicate != nil {
			key := "vacation\x00" + v.Handle + "\x00" + strings.ToLower(sender)
			sum := sha256.Sum256([]byte(key))
			k := hex.EncodeToString(sum[:])
			if seen, err := r.env.Duplicate.Seen(r.ctx, k); err == nil && seen && v.Period > 0 {
				v.Suppressed = "already replied to sender"
			} else if v.Period > 0 {
				res.dupMarks = append(res.dupMarks, dupMark{key: k, expiry: r.env.Now.Add(v.Period)})
			}
		}
	}
}

func (r *run) vacationSubject() string {
	orig := ""
	if subj := headerValues(r.header, "subject", true); len(subj) > 0 {
		orig = subj[0]
	}
	if r.opts.VacationSubjectTemplate != "" {
		t := strings.ReplaceAll(r.opts.VacationSubjectTemplate, "%{subject}", orig)
		t = strings.ReplaceAll(t, "%$", orig)
		return strings.ReplaceAll(t, "%%", "%")
	}
	if orig == "" {
		if r.opts.VacationDefaultSubject != "" {
			return r.opts.VacationDefaultSubject
		}
		return "Automated reply"
	}
	return "Auto: " + orig
}

func limitCodepoints(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	rs := []rune(s)
	return string(rs[:max-1]) + "\u2026"
}

// userAddresses are the addresses vacation considers the user's own.
func (r *run) userAddresses(v *Vacation) []string {
	mine := []string{r.env.To}
	if r.opts.VacationUseOriginalRecipient && r.env.OrigTo != "" {
		mine = append(mine, r.env.OrigTo)
	}
	if r.env.UserEmail != "" {
		mine = append(mine, r.env.UserEmail)
	}
	return append(mine, v.Addresses...)
}

// vacationSuppressed says why no reply goes out ("" to reply), and which of
// the user's addresses the message was sent to.
func (r *run) vacationSuppressed(v *Vacation) (string, string) {
	from := strings.ToLower(v.To)
	if from == "" {
		return "null sender", ""
	}
	mine := r.userAddresses(v)
	for _, m := range mine {
		if m != "" && strings.EqualFold(normalizeAddr(m), normalizeAddr(from)) {
			return "sender is the user", ""
		}
	}
	local, _, _ := splitAddress(from)
	for _, p := range []string{"mailer-daemon", "listserv", "majordomo", "owner-"} {
		if strings.HasPrefix(local, p) {
			return "sender is a system address", ""
		}
	}
	if strings.HasSuffix(local, "-request") {
		return "sender is a list address", ""
	}
	h := r.header
	for _, as := range headerValues(h, "auto-submitted", false) {
		if !strings.EqualFold(strings.TrimSpace(strings.SplitN(as, ";", 2)[0]), "no") {
			return "message is auto-submitted", ""
		}
	}
	for _, x := range headerValues(h, "x-auto-response-suppress", false) {
		for _, f := range strings.FieldsFunc(x, func(c rune) bool { return c == ',' || c == ' ' }) {
			if strings.EqualFold(f, "all") || strings.EqualFold(f, "oof") {
				return "sender suppresses auto-responses", ""
			}
		}
	}
	for _, name := range []string{"list-id", "list-owner", "list-unsubscribe", "list-post", "list-help", "list-subscribe", "list-archive"} {
		if len(headerValues(h, name, false)) > 0 {
			return "message is from a mailing list", ""
		}
	}
	for _, p := range headerValues(h, "precedence", false) {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "bulk", "list", "junk":
			return "message has precedence " + strings.ToLower(strings.TrimSpace(p)), ""
		}
	}
	// RFC 5230 §4.5: reply only if one of the user's addresses is a recipient.
	for _, name := range []string{"to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"} {
		for _, fv := range headerValues(h, name, false) {
			for _, a := range parseAddressList(fv) {
				for _, m := range mine {
					if m != "" && strings.EqualFold(normalizeAddr(a), normalizeAddr(m)) {
						return "", a
					}
				}
			}
		}
	}
	if r.opts.VacationDontCheckRecipient {
		return "", ""
	}
	return "user is not a recipient of the message", ""
}
