package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/internal/testutil"
	"github.com/sluice-mail/sluice/rules"
)

// learnMessage is a distinct message: its own Message-Id, To and body, so
// SpamAssassin's generated id differs too.
func learnMessage(i int, subject, body string) string {
	return fmt.Sprintf("From: sender%d@client.test\nTo: user%d@example.test\nSubject: %s %d\n"+
		"Date: Mon, 2 Mar 2026 10:%02d:00 +0000\nMessage-ID: <learn-%d@client.test>\n\n%s %d\n",
		i, i, subject, i, i%60, i, body, i)
}

func learnSpam(i int) string {
	return learnMessage(i, "cheap pills", "Buy cheap viagra pills now, limited offer. Click here to unsubscribe.")
}

func learnHam(i int) string {
	return learnMessage(1000+i, "meeting notes", "The quarterly review meeting is on Tuesday; agenda attached. Regards, Bob")
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sluiceLearn runs `sluice learn args...` in process on the offline
// configuration (built-in rules) and returns stdout, stderr and the exit
// status.
func sluiceLearn(t *testing.T, cfg string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"learn", "-config", cfg}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// learnStatsOf returns the -stats figures by name (nspam, nham, ntokens, …).
func learnStatsOf(t *testing.T, cfg, db string, extra ...string) map[string]int64 {
	t.Helper()
	out, errs, code := sluiceLearn(t, cfg, append([]string{"-bayes", db, "-stats"}, extra...)...)
	if code != 0 {
		t.Fatalf("sluice learn -stats: exit %d\n%s", code, errs)
	}
	return parseMagic(t, out)
}

// parseMagic reads `sa-learn --dump magic` lines, which -stats imitates.
func parseMagic(t *testing.T, out string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		i := strings.Index(l, "non-token data: ")
		if len(f) < 4 || i < 0 {
			t.Fatalf("not a --dump magic line: %q", l)
		}
		n, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("not a --dump magic line: %q", l)
		}
		m[l[i+len("non-token data: "):]] = n
	}
	return m
}

func wantCounts(t *testing.T, got map[string]int64, nspam, nham int64) {
	t.Helper()
	if got["nspam"] != nspam || got["nham"] != nham {
		t.Fatalf("stats: nspam %d nham %d, want %d, %d (%v)", got["nspam"], got["nham"], nspam, nham, got)
	}
}

// TestLearnCountsOnceMovesForgets: learning a message twice counts it
// once; learning it as the other class moves it (nspam and nham change,
// the output says "moved"); -forget removes it and its tokens.
func TestLearnCountsOnceMovesForgets(t *testing.T) {
	cfg := offlineConfig(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "bayes.db")
	a := writeFile(t, filepath.Join(dir, "a.eml"), learnSpam(1))
	b := writeFile(t, filepath.Join(dir, "b.eml"), learnSpam(2))
	learn := func(want string, args ...string) {
		t.Helper()
		out, errs, code := sluiceLearn(t, cfg, append([]string{"-bayes", db}, args...)...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("sluice learn %v: exit %d, output\n%s%s\nwant %q", args, code, out, errs, want)
		}
	}
	learn("Learned tokens from 2 message(s) (2 message(s) examined)\nlearned 2, already known 0", "-spam", a, b)
	learn("Learned tokens from 0 message(s) (1 message(s) examined)\nlearned 0, already known 1", "-spam", a)
	st := learnStatsOf(t, cfg, db)
	wantCounts(t, st, 2, 0)
	if st["ntokens"] == 0 || st["oldest atime"] == 0 || st["newest atime"] < st["oldest atime"] {
		t.Fatalf("stats after learning: %v", st)
	}
	learn("learned 0, already known 0, moved from spam 1", "-ham", a)
	wantCounts(t, learnStatsOf(t, cfg, db), 1, 1)
	learn("Forgot tokens from 2 message(s) (2 message(s) examined)", "-forget", a, b)
	st = learnStatsOf(t, cfg, db)
	wantCounts(t, st, 0, 0)
	if st["ntokens"] != 0 {
		t.Fatalf("ntokens after forgetting everything = %d, want 0", st["ntokens"])
	}
	learn("forgotten 0, not learned before 1", "-forget", a)
}

// TestLearnMaildirAndMbox: a Maildir is read in cur/ and new/ (not tmp/,
// not Dovecot's files), an mbox message by message; what is not a message
// is skipped, named, and makes the exit status 1.
// TestLearnExpire: -expire runs an expiry (on a database this small it
// removes nothing but records its time), and -stats shows it.
func TestLearnExpire(t *testing.T) {
	cfg := offlineConfig(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "bayes.db")
	a := writeFile(t, filepath.Join(dir, "a.eml"), learnSpam(1))
	if _, errs, code := sluiceLearn(t, cfg, "-bayes", db, "-spam", a); code != 0 {
		t.Fatalf("sluice learn -spam: exit %d\n%s", code, errs)
	}
	if st := learnStatsOf(t, cfg, db); st["last expiry atime"] != 0 {
		t.Fatalf("stats before -expire: %v, want last expiry atime 0", st)
	}
	out, errs, code := sluiceLearn(t, cfg, "-bayes", db, "-expire")
	if code != 0 || !strings.Contains(out, "Expired nothing: ") {
		t.Fatalf("sluice learn -expire: exit %d, output\n%s%s", code, out, errs)
	}
	st := learnStatsOf(t, cfg, db)
	if at := st["last expiry atime"]; time.Since(time.Unix(at, 0)) > time.Minute {
		t.Errorf("stats after -expire: last expiry atime %d, want now", at)
	}
	if _, ok := st["last expire reduction count"]; !ok {
		t.Errorf("stats after -expire: %v, want a last expire reduction count", st)
	}
}

func TestLearnMaildirAndMbox(t *testing.T) {
	cfg := offlineConfig(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "bayes.db")
	md := filepath.Join(dir, "Maildir", ".Junk")
	writeFile(t, filepath.Join(md, "cur", "1.host:2,S"), learnSpam(1))
	writeFile(t, filepath.Join(md, "cur", "2.host:2,"), learnSpam(2))
	writeFile(t, filepath.Join(md, "new", "3.host"), learnSpam(3))
	writeFile(t, filepath.Join(md, "tmp", "4.host"), learnSpam(4))
	writeFile(t, filepath.Join(md, "dovecot-uidlist"), "3 V1 N4\n")
	out, errs, code := sluiceLearn(t, cfg, "-bayes", db, "-spam", filepath.Join(dir, "Maildir"))
	if code != 0 || !strings.Contains(out, "learned 3, already known 0") || !strings.Contains(out, "(3 message(s) examined)") {
		t.Fatalf("learn Maildir: exit %d\n%s%s", code, out, errs)
	}
	var mbox strings.Builder
	for i := range 3 {
		fmt.Fprintf(&mbox, "From sender@client.test Mon Mar  2 10:00:00 2026\n%s\n", learnHam(i))
	}
	mb := writeFile(t, filepath.Join(dir, "ham.mbox"), mbox.String())
	junk := writeFile(t, filepath.Join(dir, "notes.txt"), "just some text\nno header\n")
	out, errs, code = sluiceLearn(t, cfg, "-bayes", db, "-ham", mb, junk)
	if code != 1 || !strings.Contains(out, "learned 3, already known 0, moved from spam 0, skipped 1") ||
		!strings.Contains(errs, "notes.txt: skipped: not a message") {
		t.Fatalf("learn mbox + junk: exit %d (want 1)\n%s%s", code, out, errs)
	}
	wantCounts(t, learnStatsOf(t, cfg, db), 3, 3)
}

// TestLearnStdinAndUser: "-" learns the message on stdin (what the
// imapsieve scripts pipe), and -user keeps a separate database beside the
// global one; an address that could name another file is refused.
func TestLearnStdinAndUser(t *testing.T) {
	cfg := offlineConfig(t)
	db := filepath.Join(t.TempDir(), "bayes.db")
	cmd := sluiceCommand("learn", "-config", cfg, "-bayes", db, "-user", "Alice@Example.TEST", "-spam", "-")
	cmd.Stdin = strings.NewReader(learnSpam(1))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "learned 1") {
		t.Fatalf("learn -user -spam - : %v\n%s", err, out)
	}
	if _, err := os.Stat(db + ".alice@example.test"); err != nil {
		t.Fatalf("per-user database: %v", err)
	}
	wantCounts(t, learnStatsOf(t, cfg, db, "-user", "alice@example.test"), 1, 0)
	if _, _, code := sluiceLearn(t, cfg, "-bayes", db, "-stats"); code != 1 {
		t.Fatalf("-stats of the global database that was never written: exit %d, want 1", code)
	}
	for _, bad := range []string{"../x@y", "a/b@example.test", "alice", "a@b@c", ".hidden@x"} {
		if _, errs, code := sluiceLearn(t, cfg, "-bayes", db, "-user", bad, "-stats"); code != 2 || !strings.Contains(errs, "plain address") {
			t.Errorf("-user %q: exit %d %s, want 2 and a refusal", bad, code, errs)
		}
	}
}

// TestLearnBackupRestore: -backup writes sa-learn --backup's format and
// -restore into a new database gives the same -stats and the same dump,
// and the messages are known there.
func TestLearnBackupRestore(t *testing.T) {
	cfg := offlineConfig(t)
	dir := t.TempDir()
	db, db2 := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	var files []string
	for i := range 3 {
		files = append(files, writeFile(t, filepath.Join(dir, "s", strconv.Itoa(i)), learnSpam(i)))
		writeFile(t, filepath.Join(dir, "h", strconv.Itoa(i)), learnHam(i))
	}
	for _, args := range [][]string{{"-spam", filepath.Join(dir, "s")}, {"-ham", filepath.Join(dir, "h")}} {
		if out, errs, code := sluiceLearn(t, cfg, append([]string{"-bayes", db}, args...)...); code != 0 {
			t.Fatalf("learn %v: exit %d\n%s%s", args, code, out, errs)
		}
	}
	dump, errs, code := sluiceLearn(t, cfg, "-bayes", db, "-backup")
	if code != 0 || !strings.HasPrefix(dump, "v\t3\tdb_version # this must be the first line!!!\nv\t3\tnum_spam\nv\t3\tnum_nonspam\nt\t") {
		t.Fatalf("-backup: exit %d\n%.300s%s", code, dump, errs)
	}
	if n := strings.Count(dump, "\ns\t"); n != 6 {
		t.Fatalf("-backup has %d seen lines, want 6", n)
	}
	bf := writeFile(t, filepath.Join(dir, "backup.txt"), dump)
	if out, errs, code := sluiceLearn(t, cfg, "-bayes", db2, "-restore", bf); code != 0 || !strings.Contains(out, "Restored 3 spam, 3 ham") {
		t.Fatalf("-restore: exit %d\n%s%s", code, out, errs)
	}
	st1, st2 := learnStatsOf(t, cfg, db), learnStatsOf(t, cfg, db2)
	if fmt.Sprint(st1) != fmt.Sprint(st2) {
		t.Fatalf("stats after restore = %v, want %v", st2, st1)
	}
	if dump2, _, _ := sluiceLearn(t, cfg, "-bayes", db2, "-backup"); dump2 != dump {
		t.Fatalf("-backup of the restored database differs")
	}
	if out, errs, _ := sluiceLearn(t, cfg, "-bayes", db2, "-spam", files[0]); !strings.Contains(out, "already known 1") {
		t.Fatalf("learn a restored message again:\n%s%s", out, errs)
	}
}

// TestLearnImportSA: a database SpamAssassin's sa-learn made is read with
// -import-sa: the same nspam, nham and ntokens as `sa-learn --dump magic`,
// and the messages sa-learn learned are already known to sluice (same
// message ids). The way back works too: sa-learn --restore of sluice's
// -backup gives SpamAssassin the same counts.
func TestLearnImportSA(t *testing.T) {
	saLearn := testutil.RequirePeer(t, "sa-learn")[0]
	cfg := offlineConfig(t)
	dir := t.TempDir()
	sa := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(saLearn, append([]string{"--dbpath", filepath.Join(dir, "sa", "bayes"), "-p", "/dev/null"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sa-learn %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	var spam, ham []string
	for i := range 4 {
		spam = append(spam, writeFile(t, filepath.Join(dir, "spam", strconv.Itoa(i)), learnSpam(i)))
		ham = append(ham, writeFile(t, filepath.Join(dir, "ham", strconv.Itoa(i)), learnHam(i)))
	}
	sa(append([]string{"--spam"}, spam...)...)
	sa(append([]string{"--ham"}, ham[:3]...)...)
	saMagic := parseMagic(t, sa("--dump", "magic"))
	dump := writeFile(t, filepath.Join(dir, "sa-backup.txt"), sa("--backup"))

	db := filepath.Join(dir, "sluice.db")
	if out, errs, code := sluiceLearn(t, cfg, "-bayes", db, "-import-sa", dump); code != 0 || !strings.Contains(out, "Restored 4 spam, 3 ham") {
		t.Fatalf("-import-sa: exit %d\n%s%s", code, out, errs)
	}
	st := learnStatsOf(t, cfg, db)
	for _, k := range []string{"nspam", "nham", "ntokens"} {
		if st[k] != saMagic[k] {
			t.Errorf("%s after -import-sa = %d, sa-learn --dump magic says %d", k, st[k], saMagic[k])
		}
	}
	out, errs, _ := sluiceLearn(t, cfg, "-bayes", db, "-spam", filepath.Join(dir, "spam"))
	if !strings.Contains(out, "learned 0, already known 4") {
		t.Fatalf("learning sa-learn's spam again after -import-sa:\n%s%s", out, errs)
	}
	out, errs, _ = sluiceLearn(t, cfg, append([]string{"-bayes", db, "-ham"}, ham...)...)
	if !strings.Contains(out, "learned 1, already known 3") {
		t.Fatalf("learning sa-learn's ham (and one new) after -import-sa:\n%s%s", out, errs)
	}

	back, errs, code := sluiceLearn(t, cfg, "-bayes", db, "-backup")
	if code != 0 {
		t.Fatalf("-backup: exit %d\n%s", code, errs)
	}
	sa("--clear")
	sa("--restore", writeFile(t, filepath.Join(dir, "sluice-backup.txt"), back))
	saMagic = parseMagic(t, sa("--dump", "magic"))
	st = learnStatsOf(t, cfg, db)
	for _, k := range []string{"nspam", "nham", "ntokens"} {
		if st[k] != saMagic[k] {
			t.Errorf("%s: sluice %d, sa-learn after --restore of sluice's -backup %d", k, st[k], saMagic[k])
		}
	}
}

// TestBayesConfigFrom: the bayes_* settings the rules read reach the
// classifier's Config; what the rules leave alone keeps SpamAssassin's
// defaults.
func TestBayesConfigFrom(t *testing.T) {
	def := bayesConfigFrom(rules.DefaultBayesConfig())
	if want := bayes.DefaultConfig(); def.UseBayes != want.UseBayes || def.MinSpamNum != want.MinSpamNum ||
		def.MaxTokenLength != want.MaxTokenLength || def.TokenSources != want.TokenSources || def.Stopwords == nil || !def.UseHapaxes {
		t.Fatalf("bayesConfigFrom(defaults) = %+v, want bayes.DefaultConfig()", def)
	}
	b := rules.DefaultBayesConfig()
	b.UseLearner = false
	if bayesConfigFrom(b).UseBayes {
		t.Errorf("use_learner 0 leaves UseBayes on")
	}
	b = rules.DefaultBayesConfig()
	b.UseBayesRules, b.AutoLearn, b.AutoLearnOnError = false, false, true
	b.AutoLearnThresholdNonspam, b.AutoLearnThresholdSpam = -1, 9
	b.MinHamNum, b.MinSpamNum = 5, 7
	b.IgnoreHeaders = []string{"x-spam-relay", "X-Virus"}
	b.Other = map[string]string{
		"bayes_max_token_length":   "20",
		"bayes_use_hapaxes":        "0",
		"bayes_token_sources":      "none header uri !header",
		"bayes_stopword_languages": "de fr",
	}
	c := bayesConfigFrom(b)
	if c.UseBayesRules || c.AutoLearn || !c.AutoLearnOnError || c.AutoLearnThresholdNonspam != -1 || c.AutoLearnThresholdSpam != 9 ||
		c.MinHamNum != 5 || c.MinSpamNum != 7 || !c.IgnoreHeaders["x-spam-relay"] || !c.IgnoreHeaders["x-virus"] ||
		c.MaxTokenLength != 20 || c.UseHapaxes || c.TokenSources != (bayes.TokenSources{URI: true}) || c.Stopwords != nil {
		t.Errorf("bayesConfigFrom(%+v) = %+v", b, c)
	}
}

// TestLearnRefusesWhenOff: with [bayes] enabled = false sluice learn
// learns nothing and says so.
func TestLearnRefusesWhenOff(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, filepath.Join(dir, "off.toml"), "[auth]\nenabled = false\n[rules]\nmode = \"builtin\"\n[bayes]\nenabled = false\n")
	m := writeFile(t, filepath.Join(dir, "m.eml"), learnSpam(1))
	if _, errs, code := sluiceLearn(t, cfg, "-bayes", filepath.Join(dir, "b.db"), "-spam", m); code != 1 || !strings.Contains(errs, "Bayes is off") {
		t.Fatalf("learn with Bayes off: exit %d %q, want 1 and a refusal", code, errs)
	}
}
