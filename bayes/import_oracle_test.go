package bayes_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/boltstore"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// bayesBucket is the BAYES_* rule of the stock 23_bayes.cf that fires for
// a probability (check_bayes: min < p <= max, min 0 inclusive).
func bayesBucket(p float64) string {
	for _, b := range []struct {
		name     string
		min, max float64
	}{{"BAYES_00", 0, 0.01}, {"BAYES_05", 0.01, 0.05}, {"BAYES_20", 0.05, 0.20}, {"BAYES_40", 0.20, 0.40}, {"BAYES_50", 0.40, 0.60}, {"BAYES_60", 0.60, 0.80}, {"BAYES_80", 0.80, 0.95}, {"BAYES_95", 0.95, 0.99}, {"BAYES_99", 0.99, 1.00}} {
		if (b.min == 0 || p > b.min) && p <= b.max {
			return b.name
		}
	}
	return "none"
}

var saScore = regexp.MustCompile(`bayes: score = ([0-9.e-]+)`)

// TestOracleImportSA learns corpus messages with sa-learn, imports its
// --backup into a bbolt store, and checks that the learned messages are
// known (same seen ids) and that test messages score as SpamAssassin
// scores them with that database.
func TestOracleImportSA(t *testing.T) {
	bins := testutil.RequirePeer(t, "sa-learn", "spamassassin")
	ham, spam := storetest.CorpusFiles(t, 14)
	dir := t.TempDir()
	db := filepath.Join(dir, "bayes")
	run := func(name string, args ...string) []byte {
		t.Helper()
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %q: %v", name, args, err)
		}
		return out
	}
	run(bins[0], append([]string{"--dbpath", db, "-p", "/dev/null", "--spam"}, spam[:10]...)...)
	run(bins[0], append([]string{"--dbpath", db, "-p", "/dev/null", "--ham"}, ham[:10]...)...)
	backup, err := bayes.ReadSABackup(bytes.NewReader(run(bins[0], "--dbpath", db, "-p", "/dev/null", "--backup")), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	store, err := boltstore.Open(filepath.Join(dir, "sluice.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.Restore(ctx, backup); err != nil {
		t.Fatal(err)
	}
	cfg := stockConfig(t)
	cfg.MinSpamNum, cfg.MinHamNum = 1, 1
	c := &bayes.Classifier{Store: store, Config: cfg}
	for i, p := range append(spam[:10:10], ham[:10]...) {
		if out, err := c.Learn(ctx, parseFile(t, p), i < 10); err != nil || out != bayes.Already {
			t.Errorf("Learn(%s) after import = %v, %v; want already", filepath.Base(p), out, err)
		}
	}
	prefs := filepath.Join(dir, "prefs")
	if err := os.WriteFile(prefs, []byte("bayes_path "+db+"\nbayes_min_spam_num 1\nbayes_min_ham_num 1\nbayes_auto_learn 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	same := 0
	tests := append(spam[10:14:14], ham[10:14]...)
	for _, p := range tests {
		cmd := exec.Command(bins[1], "-L", "-p", prefs, "-D", "bayes")
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stdin, cmd.Stderr = f, &stderr
		err = cmd.Run()
		f.Close()
		if err != nil {
			t.Fatalf("spamassassin: %v", err)
		}
		m := saScore.FindSubmatch(stderr.Bytes())
		if m == nil {
			t.Errorf("%s: spamassassin gave no Bayes score", filepath.Base(p))
			continue
		}
		want, _ := strconv.ParseFloat(string(m[1]), 64)
		r, err := c.Score(ctx, parseFile(t, p))
		if err != nil || !r.OK {
			t.Errorf("%s: Score = %+v, %v", filepath.Base(p), r, err)
			continue
		}
		t.Logf("%s: SpamAssassin %.6f %s, ours %.6f %s", filepath.Base(p), want, bayesBucket(want), r.Prob, bayesBucket(r.Prob))
		if bayesBucket(want) == bayesBucket(r.Prob) {
			same++
		}
	}
	// Our tokens lack SpamAssassin's X-Spam-Relays-* metadata, so the
	// probabilities differ a little; the rule that fires should not.
	if same < len(tests)-1 {
		t.Errorf("same BAYES_* rule as SpamAssassin on %d of %d messages, want at least %d", same, len(tests), len(tests)-1)
	}
}
