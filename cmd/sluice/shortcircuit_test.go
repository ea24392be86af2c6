package main

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
	"github.com/sluice-mail/sluice/mail"
)

// TestLocalCFShortcircuit: with the Shortcircuit plugin loaded, shortcircuit
// rules (spam, ham, on, a meta whose dependency takes its priority, a
// stock rule's priority -1000; off undoing one) end the
// evaluation and change verdict and score as in SpamAssassin 4.0.1
// (spamassassin -L with the same site configuration).
func TestLocalCFShortcircuit(t *testing.T) {
	stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	cf := localCFSpammy + `loadplugin Mail::SpamAssassin::Plugin::Shortcircuit
header LOCAL_SC_HAM Subject =~ /sc-ham/
score LOCAL_SC_HAM -1
shortcircuit LOCAL_SC_HAM ham
header LOCAL_SC_SPAM Subject =~ /sc-spam/
score LOCAL_SC_SPAM 1
shortcircuit LOCAL_SC_SPAM spam
body LOCAL_SC_ON /shortcut on/
score LOCAL_SC_ON 6
priority LOCAL_SC_ON -300
shortcircuit LOCAL_SC_ON on
header LOCAL_SC_OFF Subject =~ /sc-off/
score LOCAL_SC_OFF -1
shortcircuit LOCAL_SC_OFF ham
shortcircuit LOCAL_SC_OFF off
shortcircuit_spam_score 50
header __LOCAL_SC_A Subject =~ /sc-meta/
meta LOCAL_SC_META __LOCAL_SC_A
score LOCAL_SC_META 2
priority LOCAL_SC_META -500
shortcircuit LOCAL_SC_META spam
welcomelist_from friend@example.com
shortcircuit USER_IN_WELCOMELIST ham
`
	msg := func(from, subject, body string) string {
		return "Received: from mail.example.com (mail.example.com [192.0.2.10]) by mx.example.org (Postfix) with ESMTP id 4AbCdE12\n" +
			"\tfor <user@example.org>; Thu, 03 Dec 2026 10:00:00 +0000\n" +
			"From: Friend <" + from + ">\nTo: user@example.org\nSubject: " + subject + "\n" +
			"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <x1@example.com>\n\n" + body + "\n"
	}
	const pills = "Here are the cheap pills you asked about."
	tests := []struct {
		name, msg string
		spam      bool
		sc        bool // SHORTCIRCUIT fires
	}{
		{"baseline", msg("a@example.com", "hello", pills), true, false},
		{"ham", msg("a@example.com", "sc-ham", pills), false, true},
		{"spam", msg("a@example.com", "sc-spam", "Nothing to see."), true, true},
		{"on", msg("a@example.com", "hello", "Take the shortcut on the left. "+pills), true, true},
		{"off", msg("a@example.com", "sc-off", pills), true, false},
		{"meta", msg("a@example.com", "sc-meta", pills), true, true},
		{"meta before ham", msg("a@example.com", "sc-meta sc-ham", pills), true, true},
		{"stock rule's priority", msg("friend@example.com", "sc-meta", pills), false, true},
	}
	dir := t.TempDir()
	local := writeSite(t, dir, cf)
	var msgs []string
	for _, tt := range tests {
		msgs = append(msgs, tt.msg)
	}
	results := checkMessages(t, dir, filepath.Dir(local), msgs)
	for i, tt := range tests {
		r := results[i]
		saSpam, saScore, saTests := spamassassinScore(t, dir, tt.msg)
		var names []string
		for _, h := range r.Hits {
			names = append(names, h.Rule)
		}
		got := strings.Join(names, ",")
		if saSpam != tt.spam || r.Spam != tt.spam {
			t.Errorf("%s: spam: SpamAssassin %v (%s), sluice %v (%s); want %v", tt.name, saSpam, saTests, r.Spam, got, tt.spam)
		}
		if math.Abs(saScore-r.Score) > 0.05 {
			t.Errorf("%s: score: SpamAssassin %.3f (%s), sluice %.3f (%s)", tt.name, saScore, saTests, r.Score, got)
		}
		saSC := strings.Contains(","+saTests+",", ",SHORTCIRCUIT,")
		if saSC != tt.sc || strings.Contains(","+got+",", ",SHORTCIRCUIT,") != tt.sc {
			t.Errorf("%s: SHORTCIRCUIT: SpamAssassin tests=%s, sluice %s; want fired=%v", tt.name, saTests, got, tt.sc)
		}
	}
}

// spamassassinScore is spamassassinStatus for a site whose X-Spam-Status
// carries shortcircuit= between tests= and autolearn=.
func spamassassinScore(t *testing.T, dir, msg string) (bool, float64, string) {
	t.Helper()
	spam, score, tests := spamassassinStatus(t, dir, msg)
	tests, _, _ = strings.Cut(tests, "shortcircuit=")
	return spam, score, tests
}

// TestShortcircuitPluginFile: the plugin loaded by the site's v320.pre
// (not local.cf) turns on the stock 60_shortcircuit.cf block too: its
// SHORTCIRCUIT rule and X-Spam-Status with shortcircuit=_SCTYPE_, which
// reads as SpamAssassin 4.0.1 writes it, field for field.
func TestShortcircuitPluginFile(t *testing.T) {
	stock := stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	dir := t.TempDir()
	local := writeSite(t, dir, localCFSpammy+"header LOCAL_SC Subject =~ /sc-spam/\nscore LOCAL_SC 1\nshortcircuit LOCAL_SC spam\n")
	pre := filepath.Join(filepath.Dir(local), "v320.pre")
	b, err := os.ReadFile(pre)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pre, append(b, "\nloadplugin Mail::SpamAssassin::Plugin::Shortcircuit\n"...), 0o644)
	cfg, err := config.Parse("t.toml", []byte("[rules]\nbudget = \"10m\"\ncache_dir = \"off\"\nimitate_spamassassin = true\n[auth]\nenabled = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Rules.Mode, cfg.Rules.Dirs = "dirs", []string{stock, filepath.Dir(local)}
	p, err := newPipeline(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, buildOpts{oneShot: true})
	if err != nil {
		t.Fatal(err)
	}
	status := regexp.MustCompile(`(?m)^X-Spam-Status: (?:[^\n]|\n\t)*`)
	for _, subject := range []string{"sc-spam", "hello"} {
		msg := "From: Friend <a@example.com>\nTo: user@example.org\nSubject: " + subject + "\n" +
			"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <x1.abcdefgh@example.com>\n\nHere are the cheap pills you asked about.\n"
		cmd := exec.Command("spamassassin", "-L", "--siteconfigpath="+filepath.Dir(local), "-p", filepath.Join(dir, "user_prefs"))
		cmd.Stdin = strings.NewReader(msg)
		sa, err := cmd.Output()
		if err != nil {
			t.Fatalf("spamassassin: %v", err)
		}
		m, err := p.Check(context.Background(), &mail.Envelope{}, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		unfold := func(s string) string { return strings.Join(strings.Fields(s), " ") }
		want, got := unfold(status.FindString(string(sa))), unfold(status.FindString(string(m.Out())))
		if got != want || !strings.Contains(want, "shortcircuit=") {
			t.Errorf("Subject %s:\n sluice      %s\n SpamAssassin %s", subject, got, want)
		}
	}
}
