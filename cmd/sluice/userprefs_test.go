package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
