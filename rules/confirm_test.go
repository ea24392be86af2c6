package rules

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestStartKindOf(t *testing.T) {
	for _, c := range []struct {
		pat  string
		want startKind
	}{
		{`<a\s[^>]*\bhref=`, startConsumes},
		{`(?i)(?:://|@)(?:\w+\.)*`, startConsumes},
		{`(?:)(?:)\x0aFrom:`, startConsumes},
		{`(?m)^From:\s+`, startLine},
		{`(?im)^(?:)(?:\s{0,50})x`, startLine},
		{`\bfoo`, startAny},
		{`(?:foo)?bar`, startAny},
		{`a*b`, startAny},
		{`^foo`, startAny}, // \A, not a line start
		{`(?:x|\by)`, startAny},
	} {
		if got := startKindOf(c.pat); got != c.want {
			t.Errorf("startKindOf(%q) = %d, want %d", c.pat, got, c.want)
		}
	}
}

// TestConfirmAnchoredAgrees compares the anchored confirmation with
// regexp2's own scan on texts with many candidates, hits and misses.
func TestConfirmAnchoredAgrees(t *testing.T) {
	rules := `
rawbody __LA1 /<(?!FONT|font)[Ff][Oo][Nn][Tt]\s/
rawbody __LA2 /^(?>\s{0,5})ab(?!c)/m
tflags __LA2 multiple maxhits=3
rawbody __LA3 /(\w{3})x\1/
tflags __LA3 multiple
rawbody __LA4 /^x(?=y)/m
tflags __LA4 multiple
`
	rs, err := LoadString("t.cf", rules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"<font a><FONT b><Font c>",
		"<font a><FONT b><font c>",
		"  abc\n ab\n   abd\nab\n     ab\nxab",
		"abcxabc defxdef ghixghj",
		"xy\nxz\nxy\n x\nxy",
		"",
		"ab",
	}
	// Many candidates that fail, beyond maxAnchoredTries.
	long := ""
	for range 300 {
		long += "<font a>\n abc\nxz\nabcxabd\n"
	}
	texts = append(texts, long+"<Font z>\nab\nxy\nqqqxqqq", long)
	for _, name := range []string{"__LA1", "__LA2", "__LA3", "__LA4"} {
		r := rs.byName[name]
		if r == nil || r.bt == nil {
			t.Fatalf("%s: not a backtracking rule", name)
		}
		if at, _ := r.bt.anchored(r.re.String()); at == nil {
			t.Fatalf("%s (%s): no anchored confirmation", name, r.re.String())
		}
		for _, text := range texts {
			st := &evalState{rs: rs, deadline: time.Now().Add(time.Minute), ctx: context.Background()}
			loc := r.re.FindIndex([]byte(text))
			got := 0
			if loc != nil {
				got = st.confirm(r, []byte(text), loc[0])
			}
			want := 0
			bt := r.bt.get()
			runes := []rune{}
			for _, c := range []byte(text) {
				runes = append(runes, rune(c))
			}
			m, _ := bt.FindRunesMatch(runes)
			for m != nil {
				want++
				if !r.multiple || (r.maxhits > 0 && want >= r.maxhits) {
					break
				}
				m, _ = bt.FindNextMatch(m)
			}
			if got != want {
				t.Errorf("%s on %.40q: %d matches, regexp2 alone %d", name, text, got, want)
			}
		}
	}
}

// TestEvalConcurrentAgrees evaluates corpus messages from several
// goroutines at once, sharing the Ruleset's pooled scratch space, and
// compares every rule's value with a serial evaluation.
func TestEvalConcurrentAgrees(t *testing.T) {
	shared := loadStock(t)
	rs := &Ruleset{}
	*rs = *shared
	rs.opt.Budget = time.Hour // never skip: this compares results, not speed
	var msgs []*testMessage
	var want [][]float64
	for _, f := range corpusFiles(t, 4) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := newTestMessage(data)
		_, v := rs.eval(context.Background(), m, Input{})
		msgs = append(msgs, m)
		want = append(want, v)
	}
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 2 * len(msgs) {
				i := (k + g) % len(msgs)
				_, v := rs.eval(context.Background(), msgs[i], Input{})
				if !slices.Equal(v, want[i]) {
					t.Errorf("message %d: concurrent values differ from serial ones", i)
				}
			}
		}()
	}
	wg.Wait()
}
