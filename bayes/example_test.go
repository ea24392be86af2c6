package bayes_test

import (
	"context"
	"fmt"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/mail"
)

func ExampleClassifier() {
	ctx := context.Background()
	cfg := bayes.DefaultConfig()
	cfg.MinSpamNum, cfg.MinHamNum = 1, 1 // SpamAssassin waits for 200 of each
	c := &bayes.Classifier{Store: &bayes.MemStore{}, Config: cfg}

	spam := mail.Parse([]byte("Subject: cheap pills\n\nBuy cheap pills today, limited offer!\n"), mail.Options{})
	ham := mail.Parse([]byte("Subject: minutes\n\nMinutes of Tuesday's review meeting attached.\n"), mail.Options{})
	out, _ := c.Learn(ctx, spam, true)
	fmt.Println(out)
	out, _ = c.Learn(ctx, spam, true)
	fmt.Println(out)
	c.Learn(ctx, ham, false)

	r, _ := c.Score(ctx, mail.Parse([]byte("Subject: pills\n\nCheap pills, limited offer\n"), mail.Options{}))
	fmt.Printf("ok=%v spam=%v\n", r.OK, r.Prob > 0.9)
	// Output:
	// learned
	// already
	// ok=true spam=true
}
