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
		rs.eval(context.Background(), newTestMessage(data), Input{}, prof)
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
