package rules

import (
	"os"
	"testing"
)

const stockDir = "/usr/share/spamassassin"

// stockRules returns the Debian SpamAssassin rules directory, failing in CI
// when it is missing and skipping otherwise.
func stockRules(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(stockDir + "/72_active.cf"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("peer missing: spamassassin rules in %s", stockDir)
		}
		t.Skip("peer missing: spamassassin rules in " + stockDir)
	}
	return stockDir
}

func TestStockRulesLoad(t *testing.T) {
	rs, err := Load([]string{stockRules(t)}, Options{})
	if err != nil {
		t.Fatalf("Load(%s) = %v", stockDir, err)
	}
	l := rs.Lint()
	for _, d := range l.Errors {
		t.Errorf("error: %s", d)
	}
	if testing.Verbose() {
		for _, d := range l.Warnings {
			t.Logf("warning: %s", d)
		}
		t.Logf("\n%s", l)
	}
	netRS, err := Load([]string{stockDir}, Options{Net: true})
	if err != nil {
		t.Fatalf("Load(Net) = %v", err)
	}
	nl := netRS.Lint()
	t.Logf("score set 0: active %d/%d (%.1f%%); with network results (Net): active %d/%d (%.1f%%)",
		l.Active, l.Total, 100*float64(l.Active)/float64(l.Total), nl.Active, nl.Total, 100*float64(nl.Active)/float64(nl.Total))
	ratio := float64(l.Active) / float64(l.Total)
	if ratio < 0.95 {
		t.Errorf("active rules = %d/%d (%.1f%%), want >= 95%%", l.Active, l.Total, 100*ratio)
	}
}
