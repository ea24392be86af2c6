package rules

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func TestReDoSBudget(t *testing.T) {
	const rulesText = `
body EVIL   /(a+)+$/
body EVIL2  /^(a+)+\1(?=b)/
body EVIL3  /(?:a|aa)+(?<=b)c/
body SANE   /aaaa/
`
	budget := 500 * time.Millisecond
	rs, err := LoadString("redos.cf", rulesText, Options{Budget: budget})
	if err != nil {
		t.Fatalf("LoadString = %v", err)
	}
	if l := rs.Lint(); len(l.Errors) > 0 || l.Backtrack != 2 {
		t.Fatalf("Lint() = %v errors %v, want 2 backtracking rules", l, l.Errors)
	}
	body := bytes.Repeat([]byte("a"), 1<<20)
	msg := &testMessage{body: [][]byte{[]byte("subject"), body}, rawBody: [][]byte{body}, full: body}
	start := time.Now()
	res := rs.Eval(context.Background(), msg, Input{})
	elapsed := time.Since(start)
	t.Logf("1 MB of a: %v, hits %v, timed out %v, skipped %d", elapsed, res.Hits, res.TimedOut, res.Skipped)
	// The budget stops new work; one running confirmation may overrun it
	// by its own timeout check interval.
	// Under -race go-re2's WebAssembly (compiled to Go) is instrumented and
	// one uninterruptible RE2 call on 1 MB overruns any small budget.
	if !raceEnabled && elapsed > budget+500*time.Millisecond {
		t.Errorf("Eval took %v, want within the %v budget", elapsed, budget)
	}
	hit := map[string]bool{}
	for _, h := range res.Hits {
		hit[h.Rule] = true
	}
	if !raceEnabled && (!hit["EVIL"] || !hit["SANE"]) {
		t.Errorf("hits = %v, want EVIL and SANE (RE2 rules finish in linear time)", res.Hits)
	}
	if hit["EVIL2"] || hit["EVIL3"] {
		t.Errorf("hits = %v, want no EVIL2/EVIL3 (they cannot match)", res.Hits)
	}
}
