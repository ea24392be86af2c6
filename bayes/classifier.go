package bayes

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-mail/sluice/mail"
)

// Classifier learns messages into a [Store] and scores messages against
// it, as SpamAssassin's Bayes plugin does. It is safe for concurrent use
// when its Store is.
type Classifier struct {
	// Store holds the tokens, totals and learned ids.
	Store Store
	// Config holds the bayes_* settings; see [DefaultConfig].
	Config Config
	// Metadata, if set, returns SpamAssassin's metadata pseudo-headers
	// for msg ("X-Spam-Relays-Untrusted: ...\n", "X-AuthorDomain: ...\n"),
	// which the rule engine derives; nil tokenizes without them.
	Metadata func(msg *mail.Message) []string
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Result is the outcome of [Classifier.Score].
type Result struct {
	// Prob is the chi-squared combined spam probability, 0 to 1; valid
	// only when OK.
	Prob float64
	// OK is false when Bayes gives no answer: use_bayes off, fewer than
	// bayes_min_spam_num spam or bayes_min_ham_num ham learned, none of
	// the message's tokens known, or none significant.
	OK bool
	// NSpam and NHam are the learned totals the score is based on.
	NSpam, NHam uint64
	// Tokens is the number of distinct tokens in the message, Learned how
	// many of them the store knows (SpamAssassin's BAYESTC and
	// BAYESTCLEARNED tags).
	Tokens, Learned int
	// Significant are the tokens combined, strongest first, with their
	// probabilities.
	Significant []TokenProb
	// Atime is the message's receive time, for [Classifier.Touch].
	Atime int64
	// keys are the message's tokens, sorted, for AutoLearnScored.
	keys []Token
}

// TokenProb is one token used in a score.
type TokenProb struct {
	Token Token
	// Text is the token text, as tokenized from this message.
	Text string
	Prob float64
	Counts
}

func (c *Classifier) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// tokens returns the distinct tokens of msg in byte order, and their texts.
func (c *Classifier) tokens(msg *mail.Message) ([]Token, []string) {
	var meta []string
	if c.Metadata != nil {
		meta = c.Metadata(msg)
	}
	return tokenize(msg, meta, c.Config)
}

// Learn learns msg as spam or ham. A message already learned as that
// class is not counted again (Already); one learned as the other class is
// moved (Moved).
func (c *Classifier) Learn(ctx context.Context, msg *mail.Message, isSpam bool) (Outcome, error) {
	if !c.Config.UseBayes {
		return 0, ErrDisabled
	}
	class := Ham
	if isSpam {
		class = Spam
	}
	return c.apply(ctx, msg, class, false)
}

// AutoLearn learns msg as spam or ham unless it was learned before, as
// either class: what a user taught is never overruled by auto-learning.
func (c *Classifier) AutoLearn(ctx context.Context, msg *mail.Message, isSpam bool) (Outcome, error) {
	if !c.Config.UseBayes {
		return 0, ErrDisabled
	}
	class := Ham
	if isSpam {
		class = Spam
	}
	return c.apply(ctx, msg, class, true)
}

// AutoLearnScored is AutoLearn for a message Score has just tokenized
// (res is what it returned): the tokens are not computed a second time.
func (c *Classifier) AutoLearnScored(ctx context.Context, msg *mail.Message, res Result, isSpam bool) (Outcome, error) {
	if res.keys == nil {
		return c.AutoLearn(ctx, msg, isSpam)
	}
	if !c.Config.UseBayes {
		return 0, ErrDisabled
	}
	class := Ham
	if isSpam {
		class = Spam
	}
	ch := Change{IDs: MessageIDs(msg), Class: class, Tokens: res.keys, Atime: receiveDate(msg, c.now()), NoRelearn: true}
	out, err := c.Store.Apply(ctx, ch)
	if err != nil {
		return 0, fmt.Errorf("bayes: learn: %w", err)
	}
	return out, nil
}

// Forget removes msg from the database, whichever class it was learned
// as; NotLearned when it was not.
func (c *Classifier) Forget(ctx context.Context, msg *mail.Message) (Outcome, error) {
	if !c.Config.UseBayes {
		return 0, ErrDisabled
	}
	return c.apply(ctx, msg, 0, false)
}

func (c *Classifier) apply(ctx context.Context, msg *mail.Message, class Class, noRelearn bool) (Outcome, error) {
	ch := c.change(msg, class)
	ch.NoRelearn = noRelearn
	out, err := c.Store.Apply(ctx, ch)
	if err != nil {
		return 0, fmt.Errorf("bayes: learn: %w", err)
	}
	return out, nil
}

// change is the Change that learns msg as class (forgets it for zero).
func (c *Classifier) change(msg *mail.Message, class Class) Change {
	keys, _ := c.tokens(msg)
	return Change{
		IDs:    MessageIDs(msg),
		Class:  class,
		Tokens: keys,
		Atime:  receiveDate(msg, c.now()),
	}
}

// Score returns the Bayes probability that msg is spam, as Bayes.pm scan
// computes it. It does not write to the store; see [Classifier.Touch].
func (c *Classifier) Score(ctx context.Context, msg *mail.Message) (Result, error) {
	var res Result
	if !c.Config.UseBayes {
		return res, nil
	}
	// learner_is_scan_available reads the totals before tokenizing;
	// reading them with the counts keeps both from one snapshot, so the
	// threshold check comes after the lookup.
	keys, texts := c.tokens(msg)
	res.keys = keys
	snap, err := c.Store.Lookup(ctx, keys)
	if err != nil {
		return res, fmt.Errorf("bayes: score: %w", err)
	}
	res.NSpam, res.NHam, res.Tokens = snap.NSpam, snap.NHam, len(keys)
	if snap.NSpam < uint64(max(c.Config.MinSpamNum, 0)) || snap.NHam < uint64(max(c.Config.MinHamNum, 0)) {
		return res, nil
	}
	ns, nn := float64(snap.NSpam), float64(snap.NHam)
	all := make([]scored, 0, len(keys))
	for i, k := range keys {
		ct := snap.Counts[i]
		p, ok := tokenProb(float64(ct.Spam), float64(ct.Ham), ns, nn, c.Config.UseHapaxes)
		if !ok {
			continue
		}
		all = append(all, scored{tok: k, prob: p, strength: abs(p - 0.5), index: i})
	}
	res.Learned = len(all)
	if len(all) == 0 {
		return res, nil
	}
	sig := significant(all)
	if len(sig) == 0 {
		return res, nil
	}
	probs := make([]float64, len(sig))
	res.Significant = make([]TokenProb, len(sig))
	for i, s := range sig {
		probs[i] = s.prob
		res.Significant[i] = TokenProb{Token: s.tok, Text: texts[s.index], Prob: s.prob, Counts: snap.Counts[s.index]}
	}
	res.Prob, res.OK = combine(ns, nn, probs)
	now := c.now()
	res.Atime = min(receiveDate(msg, now), now.Unix())
	return res, nil
}

// Touch raises the atime of the tokens res used, as Bayes.pm scan does
// after scoring, when the store supports it ([Toucher]). It is separate
// from Score so a caller can do the write off the delivery path.
func (c *Classifier) Touch(ctx context.Context, res Result) error {
	t, ok := c.Store.(Toucher)
	if !ok || !res.OK || len(res.Significant) == 0 {
		return nil
	}
	toks := make([]Token, len(res.Significant))
	for i, s := range res.Significant {
		toks[i] = s.Token
	}
	return t.Touch(ctx, toks, res.Atime)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
