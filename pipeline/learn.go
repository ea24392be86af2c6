package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/scoring"
)

// ErrNoBayes is returned by Learn when no Bayes database takes part: the
// spam stage is off, [bayes] is off, or the rule files say use_bayes 0.
var ErrNoBayes = errors.New("pipeline: Bayes is off")

// Learn teaches the Bayes database of user ("" the global one; a mailbox
// as MailboxUser names it with SpamStage.Users) the message raw as class,
// or forgets it for class zero, as `sluice learn` and spamd's TELL do. The
// message is parsed with the spam stage's options and tokenized with the
// same metadata as when it is scored. A user's database that does not
// exist yet is created when the pipeline creates databases; when it
// cannot be, the outcome is zero and the error nil.
func (p *Pipeline) Learn(ctx context.Context, raw []byte, user string, class bayes.Class) (bayes.Outcome, error) {
	s := p.cfg.Spam
	if s == nil || !s.bayesOn() {
		return 0, ErrNoBayes
	}
	cl, err := s.classifier(ctx, user, class != 0)
	if err != nil {
		return 0, fmt.Errorf("pipeline: learn: %w", err)
	}
	if cl == nil {
		return 0, nil
	}
	msg := mail.Parse(raw, s.Parse)
	if class == 0 {
		return cl.Forget(ctx, msg)
	}
	return cl.Learn(ctx, msg, class == bayes.Spam)
}

// Report returns SpamAssassin's report for m's verdict (scoring.Report
// with the spam stage's rules and options), "" when m was not scored.
func (p *Pipeline) Report(m *Message) string {
	s := p.cfg.Spam
	if s == nil || m.Verdict == nil {
		return ""
	}
	return scoring.Report(*m.Verdict, s.Rules.Config(), s.Scoring)
}
