package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/bayes/boltstore"
	"github.com/sluice-mail/sluice/internal/testutil"
	"github.com/sluice-mail/sluice/mail"
)

// TestCheckManyInputs: one `sluice check` over files, a directory and an
// mbox prints one JSON object per message with its file (and mbox index);
// without -json one summary line each; a single file keeps one object,
// now with "file".
func TestCheckManyInputs(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "local.cf")
	os.WriteFile(rules, []byte("body MAGIC /magicword/\nscore MAGIC 6\nrequired_score 5\n"), 0o644)
	msgs := filepath.Join(dir, "msgs")
	os.MkdirAll(msgs, 0o755)
	os.WriteFile(filepath.Join(msgs, "a"), []byte("Subject: a\n\nmagicword\n"), 0o644)
	os.WriteFile(filepath.Join(msgs, "b"), []byte("Subject: b\n\nplain\n"), 0o644)
	mbox := filepath.Join(dir, "box")
	os.WriteFile(mbox, []byte("From x Mon Jan  1 00:00:00 2024\nSubject: c\n\nmagicword\n\nFrom y Mon Jan  1 00:00:01 2024\nSubject: d\n\nplain\n"), 0o644)

	var out, errb bytes.Buffer
	if code := run([]string{"check", "-json", "-dns", "off", "-rules", rules, msgs, mbox}, &out, &errb); code != 0 {
		t.Fatalf("check = %d\n%s", code, errb.String())
	}
	var got []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r jsonResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		name := filepath.Base(r.File)
		if r.Index != nil {
			name += ":" + string(rune('0'+*r.Index))
		}
		if r.Spam {
			name += "=spam"
		}
		got = append(got, name)
	}
	if want := "a=spam b box:0=spam box:1"; strings.Join(got, " ") != want {
		t.Fatalf("check -json over many inputs = %q, want %q\n%s", strings.Join(got, " "), want, out.String())
	}

	out.Reset()
	run([]string{"check", "-dns", "off", "-rules", rules, msgs, mbox}, &out, &errb)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], "/msgs/a spam 6.0 MAGIC") || !strings.HasSuffix(lines[3], "/box:1 ham 0.0 none") {
		t.Fatalf("check summary lines = %q", lines)
	}

	out.Reset()
	run([]string{"check", "-json", "-dns", "off", "-rules", rules, filepath.Join(msgs, "a")}, &out, &errb)
	var one jsonResult
	if err := json.Unmarshal(out.Bytes(), &one); err != nil || one.File != filepath.Join(msgs, "a") || one.Index != nil || !one.Spam {
		t.Fatalf("check -json of one file = %q (%v)", out.String(), err)
	}
}

// TestMasscheckMath: ROC, AUC and recall at a false-positive rate on
// hand-made scores.
func TestMasscheckMath(t *testing.T) {
	spam := []float64{10, 8, 6, 4}
	ham := []float64{7, 3, 2, 1, 0}
	// Pairs spam > ham: 10 and 8 beat all five, 6 and 4 four each: 18 of 20.
	if got := auc(spam, ham); math.Abs(got-0.9) > 1e-12 {
		t.Fatalf("auc = %v, want 0.9", got)
	}
	if got := auc([]float64{1, 2}, []float64{1, 2}); got != 0.5 {
		t.Fatalf("auc with ties = %v, want 0.5", got)
	}
	wantROC := []rocPoint{{0, 0}, {0, .25}, {0, .5}, {.2, .5}, {.2, .75}, {.2, 1}, {.4, 1}, {.6, 1}, {.8, 1}, {1, 1}}
	if got := rocCurve(spam, ham); !reflect.DeepEqual(got, wantROC) {
		t.Fatalf("rocCurve = %v, want %v", got, wantROC)
	}
	// Tied scores move both rates in one step.
	if got, want := rocCurve([]float64{5, 5}, []float64{5}), []rocPoint{{0, 0}, {1, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rocCurve of ties = %v, want %v", got, want)
	}
	for _, c := range []struct {
		maxFP         float64
		recall, thres float64
	}{
		{0, 0.5, 7},     // no FP allowed: above the top ham (7)
		{0.2, 1, 3},     // one of five: above the second ham (3)
		{0.001, 0.5, 7}, // floor(0.005) = 0
		{1, 1, math.Inf(-1)},
	} {
		r, th := recallAtFP(spam, ham, c.maxFP)
		if r != c.recall || th != c.thres {
			t.Errorf("recallAtFP(%v) = %v, %v; want %v, %v", c.maxFP, r, th, c.recall, c.thres)
		}
	}
	if got, want := histogram([]float64{-50, -1, 0, 0.5, 2, 99}, -1, 3, 1), []int{2, 2, 0, 2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("histogram = %v, want %v", got, want)
	}
	in := "X-Spam-Status: Yes, score=9\n\tfolded\nSubject: s\nX-Spam-Flag: YES\nx-spam-level: **\n\nX-Spam-Flag: body line\n"
	if got, want := string(stripSpamFields([]byte(in))), "Subject: s\n\nX-Spam-Flag: body line\n"; got != want {
		t.Fatalf("stripSpamFields = %q, want %q", got, want)
	}
}

// TestMasscheckCorpus: 20 spam and 20 ham of the shared corpus with the
// stock rules. The printed counts and figures agree with each other and
// with the split; the split is chronological; Bayes scored every test
// message and caught at least as much spam at required_score as the rules
// alone, at no more false positives (true of this set); the test phase learned nothing although auto-learn
// would take every message; the HTML has the ROC curve and both modes'
// histograms and rule tables.
func TestMasscheckCorpus(t *testing.T) {
	testutil.RequirePeer(t, "spamassassin")
	corpus := filepath.Join(testutil.SharedDir(t), "corpus", "spamassassin")
	dir := t.TempDir()
	local := filepath.Join(dir, "local.cf")
	// Bayes answers after 5 of each (the stock minimum is 200); the
	// auto-learn thresholds would learn every test message.
	os.WriteFile(local, []byte("bayes_min_spam_num 5\nbayes_min_ham_num 5\nbayes_auto_learn 1\n"+
		"bayes_auto_learn_threshold_nonspam 100\nbayes_auto_learn_threshold_spam -100\n"), 0o644)
	args := []string{"masscheck", "-config", patientConfig(t), "-rules", "/usr/share/spamassassin", "-rules", local,
		"-bayes", filepath.Join(dir, "bayes.db"), "-html", filepath.Join(dir, "r.html"), "-export", filepath.Join(dir, "split"),
		"-log", filepath.Join(dir, "mc.log")}
	for _, class := range []string{"spam", "ham"} {
		names, err := os.ReadDir(filepath.Join(corpus, class))
		if err != nil || len(names) < 20 {
			t.Fatalf("corpus %s: %d files (%v)", class, len(names), err)
		}
		for _, n := range names[:20] {
			args = append(args, "-"+class, filepath.Join(corpus, class, n.Name()))
		}
	}
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("masscheck = %d\n%s", code, errb.String())
	}
	text := out.String()
	for _, want := range []string{"trained: 14 spam, 14 ham (oldest 70% of each)\n", "tested: 6 spam, 6 ham\n", "required_score: 5.0\n"} {
		if !strings.Contains(text, want) {
			t.Fatalf("masscheck output lacks %q:\n%s", want, text)
		}
	}
	type row struct{ recall, fp, recallFP, thres, oneMinusAUC, scored, timedOut float64 }
	rows := map[string]row{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) != 8 || !strings.HasPrefix(f[0], "set") {
			continue
		}
		var v [7]float64
		for i, s := range f[1:] {
			x, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
			if err != nil {
				t.Fatalf("line %q: field %q: %v", line, s, err)
			}
			v[i] = x
		}
		rows[f[0]] = row{v[0], v[1], v[2], v[3], v[4], v[5], v[6]}
	}
	set0, bay := rows["set0"], rows["set2+bayes"]
	if len(rows) != 2 || bay.scored != 12 || set0.scored != 0 {
		t.Fatalf("masscheck rows = %v, want set0 (0 Bayes-scored) and set2+bayes (12)\n%s", rows, text)
	}
	for name, r := range rows {
		// Six of each class: every rate is a multiple of 1/6.
		for _, p := range []float64{r.recall, r.fp, r.recallFP} {
			if k := p * 6 / 100; math.Abs(k-math.Round(k)) > 0.001 || p < 0 || p > 100 {
				t.Errorf("%s: rate %v%% is not k/6", name, p)
			}
		}
		if r.oneMinusAUC < 0 || r.oneMinusAUC > 1 {
			t.Errorf("%s: 1-AUC %v", name, r.oneMinusAUC)
		}
	}
	if set0.timedOut+bay.timedOut > 0 {
		t.Fatalf("rules ran out of time on %v and %v messages; the figures depend on load", set0.timedOut, bay.timedOut)
	}
	if bay.recall < set0.recall || bay.fp > set0.fp {
		t.Errorf("Bayes did worse than the rules alone on this set: %+v vs %+v", bay, set0)
	}

	st, err := boltstore.Open(filepath.Join(dir, "bayes.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := st.Lookup(context.Background(), nil)
	st.Close()
	if err != nil || snap.NSpam != 14 || snap.NHam != 14 {
		t.Fatalf("bayes database after masscheck: %d spam, %d ham (%v); want 14, 14: the test phase must not learn", snap.NSpam, snap.NHam, err)
	}

	// Every test message is dated no earlier than every training message.
	for _, class := range []string{"spam", "ham"} {
		last := int64(math.MinInt64)
		for _, phase := range []string{"train", "test"} {
			list, err := os.ReadFile(filepath.Join(dir, "split", phase+"-"+class+".list"))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range strings.Fields(string(list)) {
				raw, _ := os.ReadFile(p)
				if bytes.Contains(raw[:mail.HeaderLen(raw)], []byte("\nX-Spam-")) {
					t.Errorf("%s still has X-Spam-* fields", p)
				}
				d, ok := headerDate(raw)
				if !ok {
					continue
				}
				if d < last {
					t.Errorf("%s: %s is older than the message before it", phase, p)
				}
				last = d
			}
		}
	}

	logText, err := os.ReadFile(filepath.Join(dir, "mc.log"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(logText)), "\n"); len(lines) != 24 || len(strings.Split(lines[0], "\t")) != 6 {
		t.Errorf("-log has %d lines (want 12 messages × 2 modes) of %q", len(lines), lines[0])
	}

	page, err := os.ReadFile(filepath.Join(dir, "r.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, want := range []string{`<svg id="roc"`, "<polyline", "Rules on false positives", "Rules on false negatives"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if n := strings.Count(html, `<svg id="histogram"`); n != 2 {
		t.Errorf("report has %d histograms, want 2 (one per mode)", n)
	}
	if strings.Contains(html, "<script") || strings.Contains(html, "<link") || strings.Contains(html, "src=") {
		t.Errorf("report is not self-contained")
	}
}
