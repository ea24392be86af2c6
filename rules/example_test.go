package rules

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

func ExampleLoadString() {
	rs, err := LoadString("local.cf", `
body     GTUBE   /XJS\*C4JDBQADN1\.NSBN3\*2IDNEN\*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL\*C\.34X/
score    GTUBE   1000
describe GTUBE   Generic Test for Unsolicited Bulk Email
header   __FREE  Subject =~ /\bfree\b/i
body     __MONEY /\$\d+/
meta     FREE_MONEY  __FREE && __MONEY
score    FREE_MONEY  2.5
required_score 5
`, Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := newTestMessage([]byte("Subject: Free cash\n\nWin $100 now.\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n"))
	res := rs.Eval(context.Background(), msg, Input{})
	for _, h := range res.Hits {
		fmt.Printf("%s %.1f\n", h.Rule, h.Score)
	}
	fmt.Printf("score %.1f, spam %v\n", res.Score, res.Score >= rs.Config().RequiredScore)
	// Output:
	// FREE_MONEY 2.5
	// GTUBE 1000.0
	// score 1002.5, spam true
}

func ExampleRuleset_Lint() {
	rs, _ := LoadString("local.cf", "body A /a(?=b)/\nbody B /[/\nfrobnicate 1\n", Options{})
	l := rs.Lint()
	for _, d := range l.Errors {
		fmt.Println(d)
	}
	for _, d := range l.Warnings {
		fmt.Println(d)
	}
	fmt.Println("active", l.Active, "of", l.Total, "backtracking", l.Backtrack)
	// Output:
	// local.cf:2:8: body B: rules: bad regex: offset 0: missing ]
	// local.cf:3: unknown directive frobnicate
	// active 1 of 2 backtracking 1
}

// TestEvalConcurrent runs one Ruleset from several goroutines (run with -race).
func TestEvalConcurrent(t *testing.T) {
	rs, err := LoadString("c.cf", `
body  A  /hello\s+world/i
body  B  /(\w+) \1/
body  C  /foo(?!bar)/
header D Subject =~ /test/
meta  E  A && D
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	msg := newTestMessage([]byte("Subject: a test\n\nHello World, the the foobaz\n"))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				res := rs.Eval(context.Background(), msg, Input{})
				if len(res.Hits) != 5 {
					t.Errorf("Eval hits = %v, want A B C D E", res.Hits)
					return
				}
			}
		}()
	}
	wg.Wait()
}
