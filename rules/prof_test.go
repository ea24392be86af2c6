package rules

import (
	"context"
	"os"
	"sort"
	"testing"
	"time"
)

// TestProfileRules prints the most expensive rules over the corpus. It runs
// only when SLUICE_PROFILE_RULES is set.
func TestProfileRules(t *testing.T) {
	if os.Getenv("SLUICE_PROFILE_RULES") == "" {
		t.Skip("set SLUICE_PROFILE_RULES=1 to profile rules")
	}
	rs := loadStock(t)
	prof := map[string]*ruleProf{}
	for _, f := range corpusFiles(t, 100) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		profileMessage(rs, newTestMessage(data), prof)
	}
	type row struct {
		name string
		p    *ruleProf
	}
	var rows []row
	var total time.Duration
	for n, p := range prof {
		rows = append(rows, row{n, p})
		total += p.re + p.bt
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].p.re+rows[i].p.bt > rows[j].p.re+rows[j].p.bt })
	t.Logf("total %v over %d rules", total, len(rows))
	for _, r := range rows[:min(40, len(rows))] {
		t.Logf("%-32s calls %6d confirms %5d re %10v bt %10v", r.name, r.p.calls, r.p.confirms, r.p.re, r.p.bt)
	}
}

// ruleProf accumulates the matching cost of one rule.
type ruleProf struct {
	calls, confirms int
	re, bt          time.Duration
}

// profileMessage times every regex rule of rs on the texts of msg it
// reads, one rule at a time, without the prefilters and sets of Eval.
func profileMessage(rs *Ruleset, msg Message, prof map[string]*ruleProf) {
	st := &evalState{rs: rs, ctx: context.Background(), deadline: time.Now().Add(time.Hour),
		vals: make([]float64, len(rs.rules)), stamp: make([]uint32, len(rs.rules))}
	texts := map[Kind][][]byte{KindBody: msg.Body(), KindRawBody: msg.RawBody(), KindFull: {msg.Full()}}
	for _, u := range msg.URIs() {
		texts[KindURI] = append(texts[KindURI], []byte(u))
	}
	for _, r := range rs.rules {
		if r.re == nil || r.inactive != "" {
			continue
		}
		list := texts[r.kind]
		if r.kind == KindHeader || r.kind == KindMIMEHeader {
			h, _ := st.headerText(msg, r.def)
			list = [][]byte{[]byte(h)}
		}
		p := prof[r.name]
		if p == nil {
			p = &ruleProf{}
			prof[r.name] = p
		}
		for _, text := range list {
			start := time.Now()
			p.calls++
			loc := r.re.FindIndex(text)
			p.re += time.Since(start)
			if r.bt != nil && loc != nil {
				start = time.Now()
				p.confirms++
				st.confirm(r, text, loc[0])
				p.bt += time.Since(start)
			}
		}
	}
}
