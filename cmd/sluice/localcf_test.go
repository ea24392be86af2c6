package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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
// welcomed by either. One local.cf holds every case, each for its own
// sender, so that sluice loads the rules once for all the messages.
func TestLocalCFWelcomelists(t *testing.T) {
	stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	cf := localCFSpammy + `welcomelist_from_rcvd rcvd@example.com example.com
whitelist_from_rcvd *@byip.example.com [192.0.2.0]/24
def_welcomelist_from_rcvd def@example.com example.com
welcomelist_from_rcvd forged@example.com example.com
welcomelist_from gone@example.com
unwelcomelist_from gone@example.com
`
	msg := func(from, relay string) string {
		return "Received: from " + relay + " by mx.example.org (Postfix) with ESMTP id 4AbCdE12\n" +
			"\tfor <user@example.org>; Thu, 03 Dec 2026 10:00:00 +0000\n" +
			"From: Friend <" + from + ">\nTo: user@example.org\nSubject: hello\n" +
			"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <x1@example.com>\n\n" +
			"Here are the cheap pills you asked about.\n"
	}
	const listed, other = "mail.example.com (mail.example.com [192.0.2.10])", "bad.example.net (bad.example.net [198.51.100.7])"
	tests := []struct {
		name, msg string
		spam      bool
		rule      string // fires in both
	}{
		{"baseline", msg("nobody@example.com", listed), true, "LOCAL_PILLS"},
		{"welcomelist_from_rcvd", msg("rcvd@example.com", listed), false, "USER_IN_WELCOMELIST"},
		{"whitelist_from_rcvd by IP", msg("a@byip.example.com", listed), false, "USER_IN_WELCOMELIST"},
		{"def_welcomelist_from_rcvd", msg("def@example.com", listed), false, "USER_IN_DEF_WELCOMELIST"},
		{"forged relay", msg("forged@example.com", other), true, "LOCAL_PILLS"},
		{"unwelcomelist_from", msg("gone@example.com", listed), true, "LOCAL_PILLS"},
	}
	dir := t.TempDir()
	local := writeSite(t, dir, cf)
	// A budget no loaded machine (or -race) runs out of: the verdicts
	// compared must be those of every rule.
	var msgs []string
	for _, tt := range tests {
		msgs = append(msgs, tt.msg)
	}
	results := checkMessages(t, dir, local, msgs)
	for i, tt := range tests {
		r := results[i]
		saSpam, saTests := spamassassinVerdict(t, dir, tt.msg)
		hit := fired(r)
		if saSpam != tt.spam || r.Spam != tt.spam {
			t.Errorf("%s: spam: SpamAssassin %v (%s), sluice %v (score %.1f); want %v", tt.name, saSpam, saTests, r.Spam, r.Score, tt.spam)
		}
		if !strings.Contains(","+saTests+",", ","+tt.rule+",") || !hit[tt.rule] {
			t.Errorf("%s: %s: SpamAssassin tests=%s, sluice fired %v; want it in both", tt.name, tt.rule, saTests, hit[tt.rule])
		}
	}
}

var saStatus = regexp.MustCompile(`(?m)^X-Spam-Status: (Yes|No), score=(-?[\d.]+) required=[\d.]+ tests=((?:[^\n]|\n\t)*?)\s+autolearn=`)

// writeSite writes a SpamAssassin site configuration under dir: Debian's
// plugin files and cf as local.cf (Bayes and AWL off). It returns the
// local.cf path, which sluice reads after the packaged rules.
func writeSite(t *testing.T, dir, cf string) string {
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
	local := filepath.Join(site, "local.cf")
	os.WriteFile(local, []byte("use_bayes 0\nuse_auto_whitelist 0\n"+cf), 0o644)
	os.WriteFile(filepath.Join(dir, "user_prefs"), nil, 0o644)
	return local
}

// spamassassinVerdict runs spamassassin -L on msg with the site writeSite
// wrote under dir, and returns its verdict and its tests= list.
func spamassassinVerdict(t *testing.T, dir, msg string) (bool, string) {
	t.Helper()
	spam, _, tests := spamassassinStatus(t, dir, msg)
	return spam, tests
}

// spamassassinStatus is spamassassinVerdict with the score.
func spamassassinStatus(t *testing.T, dir, msg string) (spam bool, score float64, tests string) {
	t.Helper()
	return runSpamassassin(t, dir, msg, "-L")
}

// spamassassinNet is spamassassinStatus with network tests on (the site's
// dns_server).
func spamassassinNet(t *testing.T, dir, msg string) (spam bool, score float64, tests string) {
	t.Helper()
	return runSpamassassin(t, dir, msg)
}

// runSpamassassin runs spamassassin with flags on msg and the site
// writeSite wrote under dir, and returns its verdict, score and tests=
// list (comma-separated, no blanks).
func runSpamassassin(t *testing.T, dir, msg string, flags ...string) (spam bool, score float64, tests string) {
	t.Helper()
	args := append(flags, "--siteconfigpath="+filepath.Join(dir, "site"), "-p", filepath.Join(dir, "user_prefs"))
	cmd := exec.Command("spamassassin", args...)
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
	score, _ = strconv.ParseFloat(m[2], 64)
	return m[1] == "Yes", score, strings.NewReplacer("\r", "", "\n\t", "", " ", "").Replace(m[3])
}

// checkMessages scores msgs with one `sluice check -json` (the stock rules
// and then rulesArg: local.cf or the site directory) under a budget no
// loaded machine runs out of, and returns one result per message.
func checkMessages(t *testing.T, dir, rulesArg string, msgs []string) []jsonResult {
	t.Helper()
	return checkMessagesArgs(t, dir, []string{"-dns", "off", "-rules", stockRules(t), "-rules", rulesArg}, msgs)
}

// checkMessagesArgs is checkMessages with check's flags given.
func checkMessagesArgs(t *testing.T, dir string, flags, msgs []string) []jsonResult {
	t.Helper()
	conf := filepath.Join(dir, "sluice.toml")
	os.WriteFile(conf, []byte("[rules]\nbudget = \"10m\"\ncache_dir = \"off\"\n"), 0o644)
	args := append([]string{"check", "-config", conf, "-json"}, flags...)
	for i, m := range msgs {
		f := filepath.Join(dir, fmt.Sprintf("msg%d.eml", i))
		os.WriteFile(f, []byte(m), 0o644)
		args = append(args, f)
	}
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("sluice check = %d\n%s", code, errb.String())
	}
	dec := json.NewDecoder(&out)
	res := make([]jsonResult, len(msgs))
	for i := range res {
		if err := dec.Decode(&res[i]); err != nil {
			t.Fatalf("check -json: %v", err)
		}
	}
	return res
}

// fired is the set of rules a check result hit.
func fired(r jsonResult) map[string]bool {
	m := map[string]bool{}
	for _, h := range r.Hits {
		m[h.Rule] = true
	}
	return m
}
