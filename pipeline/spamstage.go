package pipeline

import (
	"context"
	"strings"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/scoring"
)

// SpamStage configures rule evaluation and scoring.
type SpamStage struct {
	Rules   *rules.Ruleset
	Scoring scoring.Options
	// Parse configures the message parser (body_part_scan_size …).
	Parse mail.Options
}

// runSpam parses the message once, evaluates the rules with the auth
// results as input, decides, and rewrites m.Header with SpamAssassin's
// headers (and Subject for spam; report_safe replaces m.Body too).
func (p *Pipeline) runSpam(ctx context.Context, m *Message) {
	s := p.cfg.Spam
	mt := p.cfg.Metrics
	start := p.cfg.Now()
	opts := s.Parse
	if opts.EnvelopeFrom == "" {
		opts.EnvelopeFrom = m.Env.MailFrom
	}
	m.Parsed = mail.Parse(m.Raw, opts)
	parsed := p.cfg.Now()
	res := s.Rules.Eval(ctx, rules.FromMail(m.Parsed), rules.Input{Auth: rulesAuth(m.Auth), Rules: dnsblRules(m.Auth)})
	conf := s.Rules.Config()
	v := scoring.Decide(res, conf)
	v.Preview = scoring.Preview(m.Parsed.Body())
	m.Verdict = &v
	m.Header, m.Body = scoring.ApplyParts(m.Header, m.Body, v, conf, s.Scoring)
	if res.TimedOut {
		p.log.WarnContext(ctx, "rule evaluation ran out of time; remaining regex rules skipped",
			"msgid", m.MessageID, "queue_id", m.QueueID, "skipped", res.Skipped)
	}
	for _, err := range res.Errors {
		p.log.DebugContext(ctx, "eval function failed", "msgid", m.MessageID, "err", err)
	}
	if mt != nil {
		mt.ObserveStage("parse", parsed.Sub(start))
		mt.ObserveStage("rules", p.cfg.Now().Sub(parsed))
		mt.Score.Observe(v.Score)
		for _, h := range v.Hits {
			mt.RuleHits.WithLabelValues(h.Rule).Inc()
		}
		if res.TimedOut {
			mt.RuleTimeouts.Inc()
		}
	}
}

// dnsblRules names the rules the DNSBL answers fire (SpamAssassin's
// check_rbl/check_rbl_sub rules are net rules whose outcome comes from
// outside the rule engine).
func dnsblRules(a *auth.Results) map[string]bool {
	if a == nil || len(a.DNSBL) == 0 {
		return nil
	}
	fired := map[string]bool{}
	for _, h := range a.DNSBL {
		for _, name := range h.Subtests {
			fired[name] = true
		}
	}
	return fired
}

// rulesAuth turns auth results into what the rule engine's SPF, DKIM and
// DMARC eval functions read.
func rulesAuth(a *auth.Results) rules.Auth {
	if a == nil {
		return rules.Auth{}
	}
	out := rules.Auth{
		SPF:         a.SPF.Result,
		SPFHelo:     a.SPFHELO.Result,
		DMARC:       a.DMARC.Result,
		DMARCPolicy: a.DMARC.Policy,
	}
	for _, d := range a.DKIM {
		out.DKIMAny = true
		switch d.Result {
		case auth.DKIMPass:
			out.DKIMDomains = append(out.DKIMDomains, strings.ToLower(d.Domain))
		case auth.DKIMFail, auth.DKIMPermError:
			out.DKIMInvalid = true
		}
	}
	return out
}
