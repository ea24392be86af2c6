package bayes_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/mail"
)

func msg(id, subject, body string) *mail.Message {
	raw := fmt.Sprintf("Message-Id: <%s@example.com>\nFrom: someone@example.net\nTo: you@example.org\nSubject: %s\n\n%s\n", id, subject, body)
	return mail.Parse([]byte(raw), mail.Options{})
}

func spam(i int) *mail.Message {
	return msg(fmt.Sprint("spam", i), "cheap pills", fmt.Sprintf("Buy cheap viagra pills now, limited offer %d. Click here, unsubscribe below.", i))
}

func ham(i int) *mail.Message {
	return msg(fmt.Sprint("ham", i), "meeting notes", fmt.Sprintf("The quarterly review meeting is on Tuesday; agenda item %d attached. Regards, Bob", i))
}

func TestClassifier(t *testing.T) {
	ctx := context.Background()
	cfg := bayes.DefaultConfig()
	cfg.MinSpamNum, cfg.MinHamNum = 3, 3
	store := &bayes.MemStore{}
	c := &bayes.Classifier{Store: store, Config: cfg}
	learn := func(m *mail.Message, isSpam bool, want bayes.Outcome) {
		t.Helper()
		got, err := c.Learn(ctx, m, isSpam)
		if err != nil || got != want {
			t.Fatalf("Learn(spam=%v) = %v, %v; want %v", isSpam, got, err, want)
		}
	}
	if r, err := c.Score(ctx, spam(100)); err != nil || r.OK {
		t.Fatalf("Score on an empty database = %+v, %v; want not OK", r, err)
	}
	for i := 0; i < 3; i++ {
		learn(spam(i), true, bayes.Learned)
		learn(ham(i), false, bayes.Learned)
	}
	if r, _ := c.Score(ctx, spam(100)); !r.OK || r.Prob < 0.9 {
		t.Errorf("Score(new spam) = %+v, want OK and > 0.9", r)
	}
	r, _ := c.Score(ctx, ham(100))
	if !r.OK || r.Prob > 0.1 {
		t.Errorf("Score(new ham) = %+v, want OK and < 0.1", r)
	}
	if len(r.Significant) == 0 || r.Learned == 0 || r.Tokens < r.Learned {
		t.Errorf("Score(new ham) token figures: %d tokens, %d learned, %d significant", r.Tokens, r.Learned, len(r.Significant))
	}
	if err := c.Touch(ctx, r); err != nil {
		t.Errorf("Touch: %v", err)
	}

	learn(spam(0), true, bayes.Already)
	learn(spam(0), false, bayes.Moved)
	if r, _ := c.Score(ctx, ham(100)); r.NSpam != 2 || r.NHam != 4 {
		t.Errorf("after the move: %d spam, %d ham; want 2, 4", r.NSpam, r.NHam)
	}
	// Below bayes_min_spam_num again: no answer.
	if r, _ := c.Score(ctx, spam(100)); r.OK {
		t.Errorf("Score with 2 spam learned, min 3: OK, want not OK")
	}
	if got, err := c.Forget(ctx, spam(0)); err != nil || got != bayes.Forgotten {
		t.Errorf("Forget = %v, %v; want forgotten", got, err)
	}
	if got, _ := c.Forget(ctx, spam(0)); got != bayes.NotLearned {
		t.Errorf("second Forget = %v, want not-learned", got)
	}

	// Auto-learning never moves what was taught: ham(1) stays ham.
	if got, err := c.AutoLearn(ctx, ham(1), true); err != nil || got != bayes.Already {
		t.Errorf("AutoLearn(ham as spam) = %v, %v; want already (no relearn)", got, err)
	}
	if got, err := c.AutoLearn(ctx, spam(7), true); err != nil || got != bayes.Learned {
		t.Errorf("AutoLearn(new spam) = %v, %v; want learned", got, err)
	}
	// AutoLearnScored learns the tokens Score saw: the same as AutoLearn.
	scored, _ := c.Score(ctx, spam(8))
	if got, err := c.AutoLearnScored(ctx, spam(8), scored, true); err != nil || got != bayes.Learned {
		t.Errorf("AutoLearnScored(new spam) = %v, %v; want learned", got, err)
	}
	if got, _ := c.Forget(ctx, spam(8)); got != bayes.Forgotten {
		t.Errorf("Forget after AutoLearnScored = %v, want forgotten", got)
	}

	off := &bayes.Classifier{Store: store, Config: bayes.Config{}}
	if _, err := off.Learn(ctx, spam(1), true); !errors.Is(err, bayes.ErrDisabled) {
		t.Errorf("Learn with use_bayes 0: %v, want ErrDisabled", err)
	}
	if r, _ := off.Score(ctx, spam(1)); r.OK {
		t.Errorf("Score with use_bayes 0: OK")
	}
}

// TestScoreUnknownTokens: a message sharing no token with the database
// gives no answer, as in Bayes.pm scan.
func TestScoreUnknownTokens(t *testing.T) {
	ctx := context.Background()
	cfg := bayes.DefaultConfig()
	cfg.MinSpamNum, cfg.MinHamNum = 1, 1
	c := &bayes.Classifier{Store: &bayes.MemStore{}, Config: cfg}
	c.Learn(ctx, mail.Parse([]byte("\nalpha bravo charlie\n"), mail.Options{}), true)
	c.Learn(ctx, mail.Parse([]byte("\ndelta echo foxtrot\n"), mail.Options{}), false)
	r, err := c.Score(ctx, mail.Parse([]byte("\nzulu yankee xray\n"), mail.Options{}))
	if err != nil || r.OK || r.Learned != 0 {
		t.Errorf("Score of unknown tokens = %+v, %v; want not OK, none learned", r, err)
	}
}

// TestLearnAll: a batch learns, recognises and forgets as Learn and Forget
// do one message at a time.
func TestLearnAll(t *testing.T) {
	ctx := context.Background()
	store := &bayes.MemStore{}
	c := &bayes.Classifier{Store: store, Config: bayes.DefaultConfig()}
	outs, err := c.LearnAll(ctx, []*mail.Message{spam(1), spam(2), spam(1)}, bayes.Spam)
	if want := "[learned learned already]"; err != nil || fmt.Sprint(outs) != want {
		t.Fatalf("LearnAll(spam) = %v, %v; want %s", outs, err, want)
	}
	outs, err = c.LearnAll(ctx, []*mail.Message{spam(2), ham(1)}, bayes.Ham)
	if want := "[moved learned]"; err != nil || fmt.Sprint(outs) != want {
		t.Fatalf("LearnAll(ham) = %v, %v; want %s", outs, err, want)
	}
	outs, err = c.LearnAll(ctx, []*mail.Message{spam(1), spam(3)}, 0)
	if want := "[forgotten not-learned]"; err != nil || fmt.Sprint(outs) != want {
		t.Fatalf("LearnAll(forget) = %v, %v; want %s", outs, err, want)
	}
	if snap, _ := store.Lookup(ctx, nil); snap.NSpam != 0 || snap.NHam != 2 {
		t.Errorf("totals = %d spam %d ham, want 0, 2", snap.NSpam, snap.NHam)
	}
	c.Config.UseBayes = false
	if _, err := c.LearnAll(ctx, []*mail.Message{spam(1)}, bayes.Spam); !errors.Is(err, bayes.ErrDisabled) {
		t.Errorf("LearnAll with use_bayes 0: %v, want ErrDisabled", err)
	}
}
