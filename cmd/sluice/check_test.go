package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// stockRules returns SpamAssassin's packaged rules directory; missing is a
// failure in CI (make test installs spamassassin).
func stockRules(t *testing.T) string {
	t.Helper()
	testutil.RequirePeer(t, "spamassassin")
	return "/usr/share/spamassassin"
}

// patientConfig writes a configuration whose rule budget no loaded
// machine (or -race) runs out of, for tests that compare verdicts: those
// must be the verdicts of every rule.
func patientConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "patient.toml")
	if err := os.WriteFile(path, []byte("[auth]\nenabled = false\n[rules]\nbudget = \"10m\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckSamples(t *testing.T) {
	dir := stockRules(t)
	cfg := patientConfig(t)
	for _, tc := range []struct {
		file string
		spam bool
		min  float64
	}{
		{"/usr/share/doc/spamassassin/examples/sample-spam.txt", true, 1000},
		{"/usr/share/doc/spamassassin/examples/sample-nonspam.txt", false, -100},
	} {
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-config", cfg, "-json", "-dns", "off", "-rules", dir, tc.file}, &out, &errb); code != 0 {
			t.Fatalf("sluice check %s = %d\n%s", tc.file, code, errb.String())
		}
		var r jsonResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("check -json printed %q: %v", out.String(), err)
		}
		// SpamAssassin shows the score to one decimal (GTUBE 1000 plus two
		// -0.001 rules is "score=1000.0"); compare what it shows.
		if r.Spam != tc.spam || math.Round(r.Score*10)/10 < tc.min || r.Required != 5 {
			t.Fatalf("check %s = %+v, want spam=%v score>=%v required=5", tc.file, r, tc.spam, tc.min)
		}
	}
	var out bytes.Buffer
	run([]string{"check", "-config", cfg, "-dns", "off", "-rules", dir, "/usr/share/doc/spamassassin/examples/sample-spam.txt"}, &out, &bytes.Buffer{})
	if !strings.Contains(out.String(), "GTUBE") || !strings.Contains(out.String(), "required): SPAM") {
		t.Fatalf("check report lacks GTUBE and the verdict:\n%s", out.String())
	}
}

func TestLintStock(t *testing.T) {
	dir := stockRules(t)
	var out bytes.Buffer
	if code := run([]string{"lint", "-rules", dir}, &out, &bytes.Buffer{}); code != 0 {
		t.Fatalf("sluice lint -rules %s = %d, want 0:\n%s", dir, code, out.String())
	}
	for _, want := range []string{"errors: 0", "eval functions: ", " implemented ("} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("lint output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestLintErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.cf")
	os.WriteFile(path, []byte("body OK /fine/\nbody BROKEN /(unclosed/\nbogus_directive 1\n"), 0o644)
	var out bytes.Buffer
	if code := run([]string{"lint", "-rules", path}, &out, &bytes.Buffer{}); code != 1 {
		t.Fatalf("lint of a broken file = %d, want 1:\n%s", code, out.String())
	}
	for _, want := range []string{path + ":2:", path + ":3: "} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("lint output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestReDoSDelivered: catastrophic-backtracking rules against a 1 MB body
// stay within the rule budget and the message is delivered.
func TestReDoSDelivered(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "evil.cf")
	os.WriteFile(rulesFile, []byte(`body EVIL /(a+)+$/
score EVIL 1
body EVIL_BACKREF /(?=(a+))\1b/
score EVIL_BACKREF 1
rawbody EVIL_RAW /(a|aa)+c/
score EVIL_RAW 1
`), 0o644)
	cfg := config.Default()
	cfg.Delivery.MailRoot = filepath.Join(dir, "mail")
	cfg.Rules.Mode, cfg.Rules.Dirs, cfg.Rules.Budget = "dirs", []string{rulesFile}, time.Second
	addr, _ := startInProcess(t, cfg)

	body := strings.Repeat(strings.Repeat("a", 999)+"\r\n", 1000)
	start := time.Now()
	st := lmtpSend(t, addr, "s@client.test", []string{"alice@example.test"}, "Subject: aaaa\r\n\r\n"+body)
	elapsed := time.Since(start)
	if st["alice@example.test"] != nil {
		t.Fatalf("delivery = %v, want 250", st)
	}
	// The budget bounds the rules; parsing and writing 1 MB with the race
	// detector on take their share too.
	if elapsed > 10*time.Second {
		t.Fatalf("delivery took %v with a 1s rule budget", elapsed)
	}
	files := maildirFiles(t, filepath.Join(dir, "mail/example.test/alice/Maildir"))
	if len(files) != 1 {
		t.Fatalf("%d files delivered, want 1", len(files))
	}
	fi, _ := os.Stat(files[0])
	if fi.Size() < 1000*1000 {
		t.Fatalf("delivered %d bytes, want the whole 1 MB message", fi.Size())
	}
}
