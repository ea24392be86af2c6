package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/bayes"
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
	// Bayes, when set, scores every message before the rules (its
	// probability feeds check_bayes and switches the score set) and
	// auto-learns it afterwards as the rule files' bayes_* settings say.
	// A Bayes failure is logged and counted; the message goes on without
	// Bayes.
	Bayes *bayes.Classifier
}

// runSpam parses the message once, evaluates the rules with the auth
// results as input, decides, and rewrites m.Header with SpamAssassin's
// headers (and Subject for spam; report_safe replaces m.Body too).
func (p *Pipeline) runSpam(ctx context.Context, m *Message) {
	s := p.cfg.Spam
	mt := p.cfg.Metrics
	p.parse(m)
	parsed := p.cfg.Now()
	conf := s.Rules.Config()
	in := rules.Input{Auth: rulesAuth(m.Auth), Rules: dnsblRules(m.Auth)}
	var bres bayes.Result
	if s.Bayes != nil && conf.Bayes.UseBayes {
		var err error
		if bres, err = s.Bayes.Score(ctx, m.Parsed); err != nil {
			p.log.WarnContext(ctx, "bayes unavailable; scoring without it", "msgid", m.MessageID, "queue_id", m.QueueID, "err", err)
			p.bayesError("score")
		} else if bres.OK {
			prob := bres.Prob
			in.Bayes = &prob
		}
	}
	bayesDone := p.cfg.Now()
	res := s.Rules.Eval(ctx, rules.FromMail(m.Parsed), in)
	v := scoring.Decide(res, conf)
	v.Autolearn = p.autoLearn(ctx, m, s, res, bres, v.Spam)
	if in.Bayes != nil {
		v.Tags = withBayesTags(v.Tags, bres)
	}
	v.Preview = scoring.Preview(m.Parsed.Body())
	m.Verdict = &v
	p.editSpamHeaders(m, v, conf)
	if res.TimedOut {
		p.log.WarnContext(ctx, "rule evaluation ran out of time; remaining regex rules skipped",
			"msgid", m.MessageID, "queue_id", m.QueueID, "skipped", res.Skipped)
	}
	for _, err := range res.Errors {
		p.log.DebugContext(ctx, "eval function failed", "msgid", m.MessageID, "err", err)
	}
	if mt != nil {
		if s.Bayes != nil {
			mt.ObserveStage("bayes", bayesDone.Sub(parsed))
		}
		mt.ObserveStage("rules", p.cfg.Now().Sub(bayesDone))
		mt.Score.Observe(v.Score)
		for _, h := range v.Hits {
			mt.RuleHits.WithLabelValues(h.Rule).Inc()
		}
		if res.TimedOut {
			mt.RuleTimeouts.Inc()
		}
	}
}

// autoLearn applies SpamAssassin's auto-learn to one scored message and
// returns what X-Spam-Status says after autolearn=: disabled (no Bayes, or
// use_bayes / bayes_auto_learn off), no (the discriminator said no),
// ham or spam (learned), unavailable (chosen, but the message was already
// learned: auto-learn never relearns), failed (the database failed).
func (p *Pipeline) autoLearn(ctx context.Context, m *Message, s *SpamStage, res rules.Result, scored bayes.Result, isSpam bool) string {
	conf := s.Rules.Config().Bayes
	status := "disabled"
	defer func() {
		if mt := p.cfg.Metrics; mt != nil {
			mt.AutoLearn.WithLabelValues(status).Inc()
		}
	}()
	if s.Bayes == nil || !conf.UseBayes || !conf.AutoLearn || !conf.UseLearner {
		return status
	}
	switch s.Rules.AutoLearnDecision(res, isSpam) {
	case rules.AutoLearnNo:
		status = "no"
		return status
	case rules.AutoLearnSpam:
		status = "spam"
	default:
		status = "ham"
	}
	out, err := s.Bayes.AutoLearnScored(ctx, m.Parsed, scored, status == "spam")
	switch {
	case err != nil:
		p.log.WarnContext(ctx, "bayes auto-learn failed", "msgid", m.MessageID, "queue_id", m.QueueID, "err", err)
		p.bayesError("learn")
		status = "failed"
	case out != bayes.Learned:
		status = "unavailable"
	}
	return status
}

func (p *Pipeline) bayesError(op string) {
	if mt := p.cfg.Metrics; mt != nil {
		mt.BayesErrors.WithLabelValues(op).Inc()
	}
}

// withBayesTags adds SpamAssassin's Bayes template tags (_BAYES_,
// _BAYESTC_, _BAYESTCLEARNED_, _BAYESTCSPAMMY_, _BAYESTCHAMMY_) to tags.
func withBayesTags(tags map[string]string, r bayes.Result) map[string]string {
	if tags == nil {
		tags = map[string]string{}
	}
	tags["BAYES"] = fmt.Sprintf("%.4f", r.Prob)
	tags["BAYESTC"] = fmt.Sprint(r.Tokens)
	tags["BAYESTCLEARNED"] = fmt.Sprint(r.Learned)
	spammy, hammy := 0, 0
	for _, t := range r.Significant {
		if t.Prob >= 0.5 {
			spammy++
		} else {
			hammy++
		}
	}
	tags["BAYESTCSPAMMY"] = fmt.Sprint(spammy)
	tags["BAYESTCHAMMY"] = fmt.Sprint(hammy)
	return tags
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
