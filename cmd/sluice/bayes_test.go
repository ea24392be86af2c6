package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
)

// bayesTestRules: two loud rules make clear spam (auto-learned as spam),
// anything else scores 0 (auto-learned as ham); BAYES_99 and BAYES_00 are
// the stock definitions with their stock scores; WORD shows the score set.
const bayesTestRules = `
required_score 5
add_header all Status "_YESNO_, score=_SCORE_ required=_REQD_ tests=_TESTS_ autolearn=_AUTOLEARN_ bayes=_BAYES_"
bayes_min_spam_num 5
bayes_min_ham_num 5
header LOUD_H Subject =~ /LOUDSPAM/
score  LOUD_H 10
body   LOUD_B /loudspam/
score  LOUD_B 10
body   WORD /pharmacy/
score  WORD 0.5 0.5 1.5 1.5
body BAYES_00 eval:check_bayes('0.00', '0.01')
body BAYES_99 eval:check_bayes('0.99', '1.00')
tflags BAYES_00 nice learn
tflags BAYES_99 learn
score BAYES_00 0 0 -1.9 -1.9
score BAYES_99 0 0 3.5 3.5
`

// TestBayesLearnsAndScores: deliveries auto-learn clear spam and ham, as
// X-Spam-Status autolearn= says; once bayes_min_*_num are reached a new
// message like the spam fires BAYES_99 with its set-2 score, and the rest
// of its rules are scored in set 2 too.
func TestBayesLearnsAndScores(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "local.cf")
	os.WriteFile(rulesFile, []byte(bayesTestRules), 0o644)
	cfg := config.Default()
	cfg.Delivery.MailRoot = filepath.Join(dir, "mail")
	cfg.Delivery.Domains = []string{"example.test"}
	cfg.Rules.Mode, cfg.Rules.Dirs = "dirs", []string{rulesFile}
	cfg.Sieve.Enabled = false
	mport := testutil.FreePort(t)
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", mport)
	addr, _ := startInProcess(t, cfg)

	status := func(subject string) string {
		t.Helper()
		for _, f := range maildirFiles(t, filepath.Join(cfg.Delivery.MailRoot, "example.test/alice/Maildir")) {
			b, _ := os.ReadFile(f)
			if strings.Contains(string(b), "Subject: "+subject+"\n") {
				m := regexp.MustCompile(`X-Spam-Status: ([^\n]*(\n\t[^\n]*)*)`).FindStringSubmatch(string(b))
				if m == nil {
					t.Fatalf("no X-Spam-Status in %q", subject)
				}
				return strings.Join(strings.Fields(m[1]), " ")
			}
		}
		t.Fatalf("message %q not delivered", subject)
		return ""
	}
	send := func(subject, body string) string {
		t.Helper()
		msg := fmt.Sprintf("From: s@client.test\r\nTo: alice@example.test\r\nSubject: %s\r\nMessage-ID: <%s@client.test>\r\n\r\n%s\r\n", subject, strings.ReplaceAll(subject, " ", "."), body)
		if st := lmtpSend(t, addr, "s@client.test", []string{"alice@example.test"}, msg); st["alice@example.test"] != nil {
			t.Fatalf("delivery of %q: %v", subject, st)
		}
		return status(subject)
	}
	for i := 0; i < 5; i++ {
		if st := send(fmt.Sprintf("LOUDSPAM %d", i), fmt.Sprintf("loudspam cheap pills viagra casino winner %d", i)); !strings.Contains(st, "autolearn=spam") {
			t.Fatalf("spam %d: X-Spam-Status %q, want autolearn=spam", i, st)
		}
		if st := send(fmt.Sprintf("minutes %d", i), fmt.Sprintf("the quarterly review meeting agenda is attached, regards bob %d", i)); !strings.Contains(st, "autolearn=ham") {
			t.Fatalf("ham %d: X-Spam-Status %q, want autolearn=ham", i, st)
		}
	}
	st := send("offer", "cheap pills viagra casino winner pharmacy")
	if !strings.Contains(st, "BAYES_99") || !strings.Contains(st, "score=5.0") {
		t.Fatalf("a new spam after learning: X-Spam-Status %q, want BAYES_99 (3.5) + WORD in set 2 (1.5) = 5.0", st)
	}
	st = send("agenda", "the quarterly review meeting agenda is attached")
	if !strings.Contains(st, "BAYES_00") {
		t.Fatalf("a new ham after learning: X-Spam-Status %q, want BAYES_00", st)
	}

	body := metricsBody(t, cfg)
	for _, want := range []string{`sluice_autolearn_total{result="spam"} 5`, `sluice_autolearn_total{result="ham"} 6`, `sluice_autolearn_total{result="no"} 1`, `sluice_bayes_errors_total{op="score"} 0`,
		`sluice_stage_duration_seconds_count{stage="autolearn"} 11`} { // the 11 learned, not the one not
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestBayesLockedGoesOn: with the database held by another writer past
// bayes.lock_timeout, a delivery is scored without Bayes and answered 250,
// never deferred; the failure is counted.
func TestBayesLockedGoesOn(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "local.cf")
	os.WriteFile(rulesFile, []byte(bayesTestRules), 0o644)
	cfg := config.Default()
	cfg.Delivery.MailRoot = filepath.Join(dir, "mail")
	cfg.Delivery.Domains = []string{"example.test"}
	cfg.Rules.Mode, cfg.Rules.Dirs = "dirs", []string{rulesFile}
	cfg.Bayes.LockTimeout = 200 * time.Millisecond
	mport := testutil.FreePort(t)
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", mport)
	addr, logs := startInProcess(t, cfg)

	db, err := bolt.Open(cfg.BayesPath(), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if st := lmtpSend(t, addr, "s@client.test", []string{"alice@example.test"}, testMessage("while locked", "x")); st["alice@example.test"] != nil {
		t.Fatalf("delivery with the Bayes database locked = %v, want 250", st)
	}
	if !strings.Contains(logs.String(), "bayes unavailable") {
		t.Fatalf("no log line says Bayes was unavailable:\n%s", logs.String())
	}
	if body := metricsBody(t, cfg); !strings.Contains(body, `sluice_bayes_errors_total{op="score"} 1`) {
		t.Fatalf("/metrics does not count the Bayes failure:\n%s", body)
	}
}

// TestCheckUsesBayes: `sluice check -bayes DB` scores with a database that
// `sluice learn` filled: BAYES_99 fires on a message like the learned spam.
func TestCheckUsesBayes(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "local.cf")
	os.WriteFile(rulesFile, []byte(bayesTestRules), 0o644)
	cfgFile := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("[rules]\nmode = \"dirs\"\ndirs = [%q]\n[auth]\nenabled = false\n", rulesFile)), 0o644)
	db := filepath.Join(dir, "bayes.db")
	for _, class := range []string{"spam", "ham"} {
		msgs := filepath.Join(dir, class)
		os.MkdirAll(msgs, 0o755)
		for i := 0; i < 5; i++ {
			body := "cheap pills viagra casino winner"
			if class == "ham" {
				body = "the quarterly review meeting agenda is attached"
			}
			os.WriteFile(filepath.Join(msgs, fmt.Sprint(i)), []byte(fmt.Sprintf("Subject: %s %d\nMessage-ID: <%s.%d@x.test>\n\n%s %d\n", class, i, class, i, body, i)), 0o644)
		}
		var out, errb bytes.Buffer
		if code := run([]string{"learn", "-config", cfgFile, "-bayes", db, "-" + class, msgs}, &out, &errb); code != 0 {
			t.Fatalf("learn -%s = %d\n%s%s", class, code, out.String(), errb.String())
		}
	}
	probe := filepath.Join(dir, "probe")
	os.WriteFile(probe, []byte("Subject: hello\n\ncheap pills viagra casino winner\n"), 0o644)
	var out bytes.Buffer
	run([]string{"check", "-config", cfgFile, "-bayes", db, "-json", probe}, &out, os.Stderr)
	if !strings.Contains(out.String(), `"BAYES_99"`) {
		t.Fatalf("check -bayes did not fire BAYES_99: %s", out.String())
	}
	out.Reset()
	run([]string{"check", "-config", cfgFile, "-json", probe}, &out, os.Stderr)
	if strings.Contains(out.String(), "BAYES_") {
		t.Fatalf("check without a database fired a Bayes rule: %s", out.String())
	}
}

// TestStockBayesRules: the stock 23_bayes.cf sits inside "ifplugin
// Mail::SpamAssassin::Plugin::Bayes"; loadRules counts that plugin as
// loaded, so with a Bayes probability BAYES_99 and BAYES_999 fire with
// their set-2 scores (3.8 and 0.2 in SpamAssassin 4.0.1's 50_scores.cf).
func TestStockBayesRules(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.Enabled = false
	cfg.Rules.Mode, cfg.Rules.Dirs = "dirs", []string{stockRules(t)}
	rs, _, err := loadRules(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p := 0.9995
	res := rs.Eval(context.Background(), rules.FromMail(mail.Parse([]byte("Subject: hi\n\nhello\n"), mail.Options{})), rules.Input{Bayes: &p})
	got := map[string]float64{}
	for _, h := range res.Hits {
		got[h.Rule] = h.Score
	}
	if got["BAYES_99"] != 3.8 || got["BAYES_999"] != 0.2 || res.ScoreSet != 2 {
		t.Fatalf("stock rules with Bayes 0.9995: hits %v, set %d; want BAYES_99 3.8 and BAYES_999 0.2 in set 2", got, res.ScoreSet)
	}
}
