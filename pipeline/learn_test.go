package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
)

// TestLearnAndReport: Learn teaches the spam stage's database and
// forgets; Report gives the scored message's report; without Bayes,
// Learn says so.
func TestLearnAndReport(t *testing.T) {
	rs, err := rules.LoadString("local.cf", "body TEST_WORD /viagra/\nscore TEST_WORD 6\ndescribe TEST_WORD Mentions the word\n", rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := &bayes.MemStore{}
	cl := &bayes.Classifier{Store: st, Config: bayes.DefaultConfig()}
	p := New(Config{Hostname: "mx.test", Spam: &SpamStage{Rules: rs, Bayes: cl}}, quietLog())
	ctx := context.Background()
	raw := []byte("From: a@client.test\r\nMessage-ID: <1@client.test>\r\nSubject: x\r\n\r\ncheap viagra\r\n")
	for _, tc := range []struct {
		class bayes.Class
		want  bayes.Outcome
	}{
		{bayes.Spam, bayes.Learned},
		{bayes.Spam, bayes.Already},
		{bayes.Ham, bayes.Moved},
		{0, bayes.Forgotten},
		{0, bayes.NotLearned},
	} {
		if got, err := p.Learn(ctx, raw, "", tc.class); err != nil || got != tc.want {
			t.Fatalf("Learn(class %q) = %v, %v; want %v", tc.class, got, err, tc.want)
		}
	}
	m, err := p.Check(ctx, &mail.Envelope{}, raw)
	if err != nil {
		t.Fatal(err)
	}
	if rep := p.Report(m); !strings.Contains(rep, "6.0 TEST_WORD") || !strings.Contains(rep, "Mentions the word") || !strings.Contains(rep, "(6.0 points, 5.0 required)") {
		t.Fatalf("Report:\n%s", rep)
	}
	off := New(Config{Hostname: "mx.test", Spam: &SpamStage{Rules: rs}}, quietLog())
	if _, err := off.Learn(ctx, raw, "", bayes.Spam); !errors.Is(err, ErrNoBayes) {
		t.Fatalf("Learn without Bayes = %v, want ErrNoBayes", err)
	}
}
