package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/testutil"
)

// localCFSpammy makes a test message spam by a rule of the site's own, so
// that a welcomelist can turn the verdict round.
const localCFSpammy = "body LOCAL_PILLS /cheap pills/\nscore LOCAL_PILLS 10\n"

// TestLocalCFWelcomelists: welcomelist_from_rcvd and
// def_welcomelist_from_rcvd change the verdict of the same message as they
// do in SpamAssassin 4.0.1 (spamassassin -L with the same local.cf), and a
// From that names the listed sender but came through another relay is not
// welcomed by either.
func TestLocalCFWelcomelists(t *testing.T) {
	rules := stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	bin := "spamassassin"
	msg := func(relay string) string {
		return "Received: from " + relay + " by mx.example.org (Postfix) with ESMTP id 4AbCdE12\n" +
			"\tfor <user@example.org>; Thu, 03 Dec 2026 10:00:00 +0000\n" +
			"From: Friend <friend@example.com>\nTo: user@example.org\nSubject: hello\n" +
			"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <x1@example.com>\n\n" +
			"Here are the cheap pills you asked about.\n"
	}
	listed := msg("mail.example.com (mail.example.com [192.0.2.10])")
	forged := msg("bad.example.net (bad.example.net [198.51.100.7])")
	tests := []struct {
		name, cf, msg string
		spam          bool
		rule          string // fires in both, "" for none to check
	}{
		{"baseline", "", listed, true, "LOCAL_PILLS"},
		{"welcomelist_from_rcvd", "welcomelist_from_rcvd friend@example.com example.com\n", listed, false, "USER_IN_WELCOMELIST"},
		{"whitelist_from_rcvd by IP", "whitelist_from_rcvd *@example.com [192.0.2.0]/24\n", listed, false, "USER_IN_WELCOMELIST"},
		{"def_welcomelist_from_rcvd", "def_welcomelist_from_rcvd friend@example.com example.com\n", listed, false, "USER_IN_DEF_WELCOMELIST"},
		{"forged relay", "welcomelist_from_rcvd friend@example.com example.com\n", forged, true, "LOCAL_PILLS"},
		{"unwelcomelist_from", "welcomelist_from friend@example.com\nunwelcomelist_from friend@example.com\n", listed, true, "LOCAL_PILLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cf := localCFSpammy + tt.cf
			saSpam, saTests := spamassassinVerdict(t, bin, dir, cf, tt.msg)
			local := filepath.Join(dir, "site", "local.cf")
			in := filepath.Join(dir, "msg.eml")
			os.WriteFile(in, []byte(tt.msg), 0o644)
			var out, errb bytes.Buffer
			if code := run([]string{"check", "-json", "-dns", "off", "-rules", rules, "-rules", local, in}, &out, &errb); code != 0 {
				t.Fatalf("sluice check = %d\n%s", code, errb.String())
			}
			var r jsonResult
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("check -json printed %q: %v", out.String(), err)
			}
			fired := map[string]bool{}
			for _, h := range r.Hits {
				fired[h.Rule] = true
			}
			if saSpam != tt.spam || r.Spam != tt.spam {
				t.Errorf("spam: SpamAssassin %v (%s), sluice %v (score %.1f); want %v", saSpam, saTests, r.Spam, r.Score, tt.spam)
			}
			if tt.rule != "" && (!strings.Contains(","+saTests+",", ","+tt.rule+",") || !fired[tt.rule]) {
				t.Errorf("%s: SpamAssassin tests=%s, sluice fired %v; want it in both", tt.rule, saTests, fired[tt.rule])
			}
		})
	}
}

var saStatus = regexp.MustCompile(`(?m)^X-Spam-Status: (Yes|No), score=(-?[\d.]+) required=[\d.]+ tests=((?:[^\n]|\n\t)*?)\s+autolearn=`)

// spamassassinVerdict runs spamassassin -L on msg with the packaged rules,
// Debian's plugin files and cf as local.cf, and returns its verdict and
// its tests= list.
func spamassassinVerdict(t *testing.T, bin, dir, cf, msg string) (bool, string) {
	t.Helper()
	site := filepath.Join(dir, "site")
	os.MkdirAll(site, 0o755)
	pres, _ := filepath.Glob("/etc/spamassassin/*.pre")
	for _, p := range pres {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(site, filepath.Base(p)), b, 0o644)
	}
	os.WriteFile(filepath.Join(site, "local.cf"), []byte("use_bayes 0\nuse_auto_whitelist 0\n"+cf), 0o644)
	prefs := filepath.Join(dir, "user_prefs")
	os.WriteFile(prefs, nil, 0o644)
	cmd := exec.Command(bin, "-L", "--siteconfigpath="+site, "-p", prefs)
	cmd.Stdin = strings.NewReader(msg)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("spamassassin: %v\n%s", err, errb.String())
	}
	m := saStatus.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no X-Spam-Status in spamassassin's output:\n%s", out.String())
	}
	if _, err := strconv.ParseFloat(m[2], 64); err != nil {
		t.Fatal(err)
	}
	return m[1] == "Yes", strings.NewReplacer("\n\t", "", " ", "").Replace(m[3])
}
