package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/metrics"
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
	// Bayes. With Users set, Bayes serves only what has no mailbox (a
	// bounce to an SRS address, `sluice check` without a user).
	Bayes *bayes.Classifier
	// Users, when set, gives every recipient the Bayes database of its
	// mailbox ([bayes] per_user): a message whose recipients belong to
	// several mailboxes is evaluated once per mailbox, parsed once, and
	// each recipient gets the copy scored (and auto-learned) with its
	// own database.
	Users BayesUsers
	// RecipientDelimiter names a recipient's mailbox for Users, as
	// DirectoryConfig.RecipientDelimiter does for delivery.
	RecipientDelimiter string
	// UserPrefs is the path template of a recipient's SpamAssassin
	// user_prefs file (%h home, %u user, %n local part, %d domain, ~
	// home); "" is off. Its required_score, scores, lists,
	// rewrite_header and report_safe apply to the recipient's copy (see
	// rules.Prefs); recipients whose files differ get copies scored
	// apart. The file is read as sieve.ReadUserFile describes.
	UserPrefs string
	// UserPrefsMaxSize bounds a user_prefs file, and the text of a
	// user's SQL rows; if zero, DefaultUserPrefsMaxSize.
	UserPrefsMaxSize int
	// SQLPrefs, when set, gives each user's preference rows
	// (SpamAssassin's user_scores_dsn), read as user_prefs lines after
	// the user's file, if any; see sqlprefs.go for the cache and
	// failures.
	SQLPrefs PrefsSource
	// SQLPrefsTTL is how long a user's rows are used before they are read
	// again; if zero, DefaultSQLPrefsTTL.
	SQLPrefsTTL time.Duration
	// DNS, when set, runs the rule files' DNSBL and URI blocklist lookups
	// (through the auth resolver) before every evaluation.
	DNS *rules.DNS
}

// BayesUsers opens per-user Bayes databases.
type BayesUsers interface {
	// Classifier returns the classifier of user's database, user being a
	// mailbox as MailboxUser names it. Without create, a database that
	// does not exist yet is (nil, nil): scoring creates nothing. With
	// create (auto-learn) it may still be (nil, nil) when the
	// implementation makes no databases.
	Classifier(ctx context.Context, user string, create bool) (*bayes.Classifier, error)
}

// bayesOn reports whether any Bayes database can take part.
func (s *SpamStage) bayesOn() bool {
	return (s.Bayes != nil || s.Users != nil) && s.Rules.Config().Bayes.UseBayes
}

// classifier returns the classifier of user's database: the global one
// for "" or without Users. Nil means no Bayes for this evaluation.
func (s *SpamStage) classifier(ctx context.Context, user string, create bool) (*bayes.Classifier, error) {
	if user == "" || s.Users == nil {
		return s.Bayes, nil
	}
	return s.Users.Classifier(ctx, user, create)
}

// evals keeps the rule results of one message by Bayes probability, so
// that copies for mailboxes whose databases give the same answer (most
// often: none, the database not being trained yet) share one evaluation.
type evals map[string]rules.Result

func bayesKey(prob *float64) string {
	if prob == nil {
		return "none"
	}
	return strconv.FormatFloat(*prob, 'g', -1, 64)
}

// runSpam evaluates the rules on the parsed message with the auth
// results and user's Bayes database ("" the global one) as input,
// decides, and rewrites m.Header with SpamAssassin's headers (and Subject
// for spam; report_safe replaces m.Body too). Results in seen are reused.
func (p *Pipeline) runSpam(ctx context.Context, m *Message, t scoreTarget, seen evals) {
	s := p.cfg.Spam
	mt := p.cfg.Metrics
	start := p.cfg.Now()
	user := t.user
	conf := s.Rules.ConfigFor(t.prefs)
	in := rules.Input{Auth: rulesAuth(m.Auth), Rules: dnsblRules(m.Auth), DNS: s.DNS, Prefs: t.prefs}
	var bres bayes.Result
	var cl *bayes.Classifier
	if s.bayesOn() {
		var err error
		cl, err = s.classifier(ctx, user, false)
		if err == nil && cl != nil {
			bres, err = cl.Score(ctx, m.Parsed)
		}
		if err != nil {
			p.log.WarnContext(ctx, "bayes unavailable; scoring without it", "msgid", m.MessageID, "queue_id", m.QueueID, "user", user, "err", err)
			p.bayesError("score")
		} else if bres.OK {
			prob := bres.Prob
			in.Bayes = &prob
		}
	}
	bayesDone := p.cfg.Now()
	key := bayesKey(in.Bayes) + "\x00" + t.prefs.Key()
	res, ok := seen[key]
	if !ok {
		res = s.Rules.Eval(ctx, rules.FromMail(m.Parsed), in)
		seen[key] = res
	}
	v := scoring.Decide(res, conf)
	learnStart := p.cfg.Now()
	v.Autolearn = p.autoLearn(ctx, m, s, user, cl, res, bres, v.Spam)
	learnDone := p.cfg.Now()
	if in.Bayes != nil {
		v.Tags = withBayesTags(v.Tags, bres)
	}
	v.Preview = scoring.Preview(m.Parsed.Body())
	m.Verdict = &v
	p.editSpamHeaders(m, v, conf)
	if res.TimedOut && !ok {
		p.log.WarnContext(ctx, "rule evaluation ran out of time; remaining regex rules skipped",
			"msgid", m.MessageID, "queue_id", m.QueueID, "skipped", res.Skipped,
			"undecided", res.Undecided, "undecided_metas", res.UndecidedMetas)
	}
	for _, err := range res.Errors {
		p.log.DebugContext(ctx, "eval function failed", "msgid", m.MessageID, "err", err)
	}
	if d := res.DNS; d.Queries > 0 && !ok {
		p.log.DebugContext(ctx, "rule DNS lookups", "msgid", m.MessageID, "queue_id", m.QueueID, "queries", d.Queries,
			"over_budget", d.OverBudget, "failed", d.Failed, "timed_out", d.TimedOut, "elapsed", d.Elapsed)
	}
	if mt != nil {
		if s.bayesOn() {
			mt.ObserveStage("bayes", bayesDone.Sub(start))
		}
		// The auto-learn write (a database transaction, fsynced) is its
		// own stage, not the rules': only for the messages it wrote.
		learn := learnDone.Sub(learnStart)
		if learnWrote(v.Autolearn) {
			mt.ObserveStage("autolearn", learn)
		} else {
			learn = 0
		}
		mt.ObserveStage("rules", p.cfg.Now().Sub(bayesDone)-learn)
		mt.Score.Observe(v.Score)
		for _, h := range v.Hits {
			mt.RuleHits.WithLabelValues(h.Rule).Inc()
		}
		if res.TimedOut {
			mt.RuleTimeouts.Inc()
		}
		observeRuleDNS(mt, res.DNS, s.DNS != nil && !ok)
	}
}

// learnWrote reports whether an auto-learn status (autoLearn's result)
// means the database was written or tried.
func learnWrote(status string) bool {
	switch status {
	case "ham", "spam", "unavailable", "failed":
		return true
	}
	return false
}

// autoLearn applies SpamAssassin's auto-learn to one scored message and
// returns what X-Spam-Status says after autolearn=: disabled (no Bayes, or
// use_bayes / bayes_auto_learn off), no (the discriminator said no),
// ham or spam (learned), unavailable (chosen, but the message was already
// learned: auto-learn never relearns), failed (the database failed). cl
// is the classifier that scored the message (nil: user's database does
// not exist yet, and auto-learn may create it).
func (p *Pipeline) autoLearn(ctx context.Context, m *Message, s *SpamStage, user string, cl *bayes.Classifier, res rules.Result, scored bayes.Result, isSpam bool) string {
	conf := s.Rules.Config().Bayes
	status := "disabled"
	defer func() {
		if mt := p.cfg.Metrics; mt != nil {
			mt.AutoLearn.WithLabelValues(status).Inc()
		}
	}()
	// Plugin/Shortcircuit.pm: a shortcircuited message is not learned;
	// nor, as Plugin/Check.pm skips learn() past the deadline, one whose
	// rules ran out of time (its score lacks the skipped rules).
	if !s.bayesOn() || !conf.AutoLearn || !conf.UseLearner || res.Shortcircuit != "" || res.TimedOut {
		return status
	}
	// A user's database that does not exist yet is there to be created.
	if cl == nil && (user == "" || s.Users == nil) {
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
	if cl == nil {
		var err error
		cl, err = s.classifier(ctx, user, true)
		if err != nil {
			p.log.WarnContext(ctx, "bayes auto-learn failed", "msgid", m.MessageID, "queue_id", m.QueueID, "user", user, "err", err)
			p.bayesError("learn")
			status = "failed"
			return status
		}
		if cl == nil {
			status = "disabled"
			return status
		}
	}
	out, err := cl.AutoLearnScored(ctx, m.Parsed, scored, status == "spam")
	switch {
	case err != nil:
		p.log.WarnContext(ctx, "bayes auto-learn failed", "msgid", m.MessageID, "queue_id", m.QueueID, "user", user, "err", err)
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

// observeRuleDNS records what the lookup phase of one evaluation did;
// fresh is false for a result reused for another mailbox.
func observeRuleDNS(mt *metrics.Metrics, d rules.DNSStats, fresh bool) {
	if !fresh {
		return
	}
	mt.RuleDNSQueries.Observe(float64(d.Queries))
	if d.OverBudget > 0 {
		mt.RuleDNSExhausted.WithLabelValues("count").Inc()
	}
	if d.TimedOut {
		mt.RuleDNSExhausted.WithLabelValues("time").Inc()
	}
}
