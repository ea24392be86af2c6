package rules

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// referenceValue evaluates one regex rule the slow, obvious way: alone, on
// every text of its kind, with no prefilter and no set.
func referenceValue(rs *Ruleset, r *rule, msg Message) float64 {
	st := &evalState{rs: rs, ctx: context.Background(), deadline: time.Now().Add(time.Minute)}
	d := r.def
	if d.kind == KindHeader || d.kind == KindMIMEHeader {
		text, set := st.headerText(msg, d)
		if !set && d.unset == nil {
			text = ""
		}
		if (referenceMatch(st, r, []byte(text)) > 0) != d.negate {
			return 1
		}
		return 0
	}
	var texts [][]byte
	switch d.kind {
	case KindBody:
		texts = msg.Body()
	case KindRawBody:
		texts = msg.RawBody()
	case KindFull:
		texts = [][]byte{msg.Full()}
	case KindURI:
		for _, u := range msg.URIs() {
			texts = append(texts, []byte(u))
		}
	}
	n := 0.0
	for i, t := range texts {
		if r.nosubject && d.kind == KindBody && i == 0 {
			continue
		}
		n += float64(referenceMatch(st, r, t))
		if n > 0 && !r.multiple {
			return 1
		}
		if r.maxhits > 0 && n >= float64(r.maxhits) {
			return float64(r.maxhits)
		}
	}
	return n
}

// referenceMatch counts the matches of r in text: RE2 alone, or for a
// backtracking rule regexp2 alone, scanning the whole text itself.
func referenceMatch(st *evalState, r *rule, text []byte) int {
	if r.bt == nil {
		return st.match(r, text)
	}
	bt := r.bt.get()
	runes := make([]rune, len(text))
	for i, c := range text {
		runes[i] = rune(c)
	}
	n := 0
	m, err := bt.FindRunesMatch(runes)
	for err == nil && m != nil {
		n++
		if !r.multiple || (r.maxhits > 0 && n >= r.maxhits) {
			break
		}
		m, err = bt.FindNextMatch(m)
	}
	return n
}

// TestShortcutsAgree checks that the literal prefilter, the RE2 sets, the
// header groups and the anchored confirmations give exactly the hits of
// the slow reference on corpus messages (SLUICE_AGREE_N of them).
func TestShortcutsAgree(t *testing.T) {
	shared := loadStock(t)
	rs := &Ruleset{}
	*rs = *shared
	rs.opt.Budget = time.Hour // never skip: this compares results, not speed
	n := 60
	if testing.Short() || raceEnabled {
		n = 6
	}
	if v, err := strconv.Atoi(os.Getenv("SLUICE_AGREE_N")); err == nil {
		n = v
	}
	for _, f := range corpusFiles(t, n/2) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg := newTestMessage(data)
		res, vals := rs.eval(context.Background(), msg, Input{})
		if res.TimedOut || res.Skipped > 0 {
			t.Fatalf("%s: Eval timed out (skipped %d)", f, res.Skipped)
		}
		for _, r := range rs.rules {
			if r.inactive != "" || r.re == nil {
				continue
			}
			if want := referenceValue(rs, r, msg); vals[r.idx] != want {
				t.Errorf("%s: rule %s = %v, reference %v", f, r.name, vals[r.idx], want)
			}
		}
	}
}
