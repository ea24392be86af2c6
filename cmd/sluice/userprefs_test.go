package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/parity"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestUserPrefsSpamAssassin: a user_prefs file (required_score, score,
// welcomelist_from, a user rule under the site's allow_user_rules 1)
// changes verdict and score as spamassassin -p does with it on the same
// message and site. (spamassassin -p also takes administrator settings
// and rules from the file without allow_user_rules, as a user's own
// command; sluice reads it as spamd does, which TestPrefsOverlay covers.)
func TestUserPrefsSpamAssassin(t *testing.T) {
	stock := stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	msg := func(from string) string {
		return "Received: from mail.example.com (mail.example.com [192.0.2.10]) by mx.example.org (Postfix) with ESMTP id 4AbCdE12\n" +
			"\tfor <user@example.org>; Thu, 03 Dec 2026 10:00:00 +0000\n" +
			"From: Friend <" + from + ">\nTo: user@example.org\nSubject: hello\n" +
			"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <x1@example.com>\n\n" +
			"Here are the cheap pills you asked about.\n"
	}
	type msgCase struct {
		name, msg string
		spam      bool
		rule      string // fires in both
	}
	tests := []struct {
		name, site, prefs string
		msgs              []msgCase
	}{
		{"required_score", localCFSpammy,
			"required_score 12\nwelcomelist_from friend@example.com\n",
			[]msgCase{
				{"pills", msg("a@example.com"), false, "LOCAL_PILLS"},
				{"welcomelist", msg("friend@example.com"), false, "USER_IN_WELCOMELIST"},
			}},
		{"score", localCFSpammy, "score LOCAL_PILLS 1\n",
			[]msgCase{
				{"pills", msg("a@example.com"), false, "LOCAL_PILLS"},
			}},
		{"user rules", localCFSpammy + "allow_user_rules 1\n",
			"score LOCAL_PILLS 1\nbody USER_RULE /asked about/\nscore USER_RULE 6\n",
			[]msgCase{
				{"pills", msg("a@example.com"), true, "USER_RULE"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeSite(t, dir, tt.site)
			prefs := filepath.Join(dir, "user_prefs")
			os.WriteFile(prefs, []byte(tt.prefs), 0o644)
			conf := filepath.Join(dir, "sluice.toml")
			os.WriteFile(conf, []byte("[rules]\nbudget = \"10m\"\ncache_dir = \"off\"\n"), 0o644)
			args := []string{"check", "-config", conf, "-json", "-dns", "off", "-rules", stock, "-rules", filepath.Join(dir, "site"), "-prefs", prefs}
			for i, m := range tt.msgs {
				f := filepath.Join(dir, fmt.Sprintf("msg%d.eml", i))
				os.WriteFile(f, []byte(m.msg), 0o644)
				args = append(args, f)
			}
			var out, errb bytes.Buffer
			if code := run(args, &out, &errb); code != 0 {
				t.Fatalf("sluice check = %d\n%s", code, errb.String())
			}
			dec := json.NewDecoder(&out)
			for _, m := range tt.msgs {
				var r jsonResult
				if err := dec.Decode(&r); err != nil {
					t.Fatalf("check -json: %v", err)
				}
				saSpam, saScore, saTests := spamassassinStatus(t, dir, m.msg)
				var names []string
				for _, h := range r.Hits {
					names = append(names, h.Rule)
				}
				got := "," + strings.Join(names, ",") + ","
				if saSpam != m.spam || r.Spam != m.spam {
					t.Errorf("%s: spam: SpamAssassin %v (%.1f %s), sluice %v (%.1f %s); want %v", m.name, saSpam, saScore, saTests, r.Spam, r.Score, got, m.spam)
				}
				if math.Abs(saScore-r.Score) > 0.05 || r.Required != map[bool]float64{true: 12, false: 5}[strings.Contains(tt.prefs, "required_score 12")] {
					t.Errorf("%s: score: SpamAssassin %.3f (%s), sluice %.3f/%.1f (%s)", m.name, saScore, saTests, r.Score, r.Required, got)
				}
				if !strings.Contains(","+saTests+",", ","+m.rule+",") || !strings.Contains(got, ","+m.rule+",") {
					t.Errorf("%s: %s: SpamAssassin %s, sluice %s; want it in both", m.name, m.rule, saTests, got)
				}
			}
		})
	}
}

// TestUserPrefsLMTP: one LMTP transaction to four recipients: alice's
// user_prefs lowers required_score and her copy is flagged, bob has none
// and his is not; carol's user_prefs is a symlink and dave's a FIFO, and
// both are refused (promptly, the FIFO never opened for a blocking read):
// they get the site's verdict, and every copy is delivered.
func TestUserPrefsLMTP(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "local.cf")
	os.WriteFile(rulesFile, []byte("body LOCAL_PILLS /cheap pills/\nscore LOCAL_PILLS 4\n"), 0o644)
	root := filepath.Join(dir, "mail")
	prefsOf := func(user string) string {
		p := filepath.Join(root, "example.test", user, ".spamassassin", "user_prefs")
		os.MkdirAll(filepath.Dir(p), 0o755)
		return p
	}
	os.WriteFile(prefsOf("alice"), []byte("required_score 3\n"), 0o644)
	prefsOf("bob")
	elsewhere := filepath.Join(dir, "lenient_prefs")
	os.WriteFile(elsewhere, []byte("required_score 1\n"), 0o644)
	if err := os.Symlink(elsewhere, prefsOf("carol")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(prefsOf("dave"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("[delivery]\nmail_root = %q\ndomains = [\"example.test\"]\n[rules]\nmode = \"dirs\"\ndirs = [%q]\nuser_prefs = \"%%h/.spamassassin/user_prefs\"\n[auth]\nenabled = false\n[sieve]\nenabled = false\n[bayes]\nenabled = false\n",
		root, rulesFile)
	cfgFile := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfgFile, []byte(src), 0o644)
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	addr, logs := startInProcess(t, cfg)
	rcpts := []string{"alice@example.test", "bob@example.test", "carol@example.test", "dave@example.test"}
	done := make(chan map[string]error, 1)
	go func() { done <- lmtpSend(t, addr, "s@client.test", rcpts, testMessage("offer", "cheap pills")) }()
	select {
	case st := <-done:
		for _, r := range rcpts {
			if st[r] != nil {
				t.Fatalf("delivery to %s: %v", r, st[r])
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("delivery hangs (the FIFO user_prefs?)")
	}
	for _, c := range []struct {
		user, want string
	}{
		{"alice", "Yes, score=4.0 required=3.0"},
		{"bob", "No, score=4.0 required=5.0"},
		{"carol", "No, score=4.0 required=5.0"},
		{"dave", "No, score=4.0 required=5.0"},
	} {
		if st := statusOf(t, cfg, c.user, "offer"); !strings.HasPrefix(st, c.want) {
			t.Errorf("%s's copy: X-Spam-Status %q, want %q…", c.user, st, c.want)
		}
	}
	for _, user := range []string{"carol", "dave"} {
		if !strings.Contains(logs.String(), "user_prefs not applied") || !strings.Contains(logs.String(), user+"@example.test") {
			t.Errorf("no log line refusing %s's user_prefs:\n%s", user, logs.String())
		}
	}
}

// TestUserPrefsSpamd: spamc -u USER gets the same verdict and score from
// `sluice serve -spamd` with [rules] user_prefs as from spamd
// --virtual-config-dir with the same user_prefs files: alice's
// required_score flips the verdict; bob's score and trusted_networks
// apply (spamd lets a user set them), his rule and his administrator
// setting (util_rb_tld) do not without allow_user_rules; carol has no
// file and gets the site's verdict.
func TestUserPrefsSpamd(t *testing.T) {
	testutil.RequirePeer(t, "spamd", "spamc")
	dir := testutil.PeerDir(t)
	const site = "body LOCAL_PILLS /cheap pills/\nscore LOCAL_PILLS 3\n"
	users := filepath.Join(dir, "users")
	for user, prefs := range map[string]string{
		"alice@example.test": "required_score 3\n",
		"bob@example.test":   "score LOCAL_PILLS 0.5\ntrusted_networks 192.0.2.0/24\nbody USER_RULE /pills/\nscore USER_RULE 5\nutil_rb_tld example\n",
	} {
		os.MkdirAll(filepath.Join(users, user), 0o755)
		if err := os.WriteFile(filepath.Join(users, user, "user_prefs"), []byte(prefs), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sd, err := parity.StartSpamd(context.Background(), parity.SpamdOptions{Dir: filepath.Join(dir, "spamd"), ExtraCF: site, VirtualConfigDir: users + "/%u"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	sdir := filepath.Join(dir, "sluice")
	os.MkdirAll(sdir, 0o755)
	lcf := filepath.Join(sdir, "local.cf")
	os.WriteFile(lcf, []byte(parity.LocalCF+site), 0o644)
	cfg := filepath.Join(sdir, "sluice.toml")
	os.WriteFile(cfg, []byte(serveTOML(t, sdir)+fmt.Sprintf(`[rules]
mode = "dirs"
dirs = [%q, %q]
budget = "5m"
user_prefs = %q
[bayes]
enabled = false
`, stockRules(t), lcf, users+"/%u/user_prefs")), 0o644)
	port := startSpamdServe(t, cfg)

	msg := filepath.Join(dir, "pills.eml")
	os.WriteFile(msg, []byte("Received: from mail.example.com (mail.example.com [192.0.2.10]) by mx.example.org (Postfix) with ESMTP id 4AbCdE12\n"+
		"\tfor <user@example.org>; Thu, 03 Dec 2026 10:00:00 +0000\n"+
		"From: Friend <a@example.com>\nTo: user@example.org\nSubject: hello\n"+
		"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <x1@example.com>\n\nHere are the cheap pills you asked about.\n"), 0o644)
	for _, c := range []struct {
		user     string
		spam     bool
		required string
	}{{"alice@example.test", true, "/3.0\n"}, {"bob@example.test", false, "/5.0\n"}, {"carol@example.test", false, "/5.0\n"}} {
		saOut, saCode := spamc(t, sd.Port(), msg, "-c", "-u", c.user)
		slOut, slCode := spamc(t, port, msg, "-c", "-u", c.user)
		if saOut != slOut || saCode != slCode {
			t.Errorf("spamc -c -u %s: spamd %q exit %d, sluice %q exit %d", c.user, saOut, saCode, slOut, slCode)
		}
		if want := map[bool]int{true: 1, false: 0}[c.spam]; slCode != want || !strings.HasSuffix(slOut, c.required) {
			t.Errorf("spamc -c -u %s against sluice: exit %d (%q), want %d", c.user, slCode, slOut, want)
		}
	}
}
