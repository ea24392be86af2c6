package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestLocalCFScanSize: body_part_scan_size and rawbody_part_scan_size
// bound what body and rawbody rules see of a text part as in
// SpamAssassin 4.0.1 (spamassassin -L, same site): a word past the body
// limit but within the rawbody limit fires only the rawbody rule; past
// both, neither.
func TestLocalCFScanSize(t *testing.T) {
	stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	cf := "body_part_scan_size 1000\nrawbody_part_scan_size 2000\n" +
		"body LOCAL_FAR /farword/\nscore LOCAL_FAR 0.6\nrawbody LOCAL_RAWFAR /farword/\nscore LOCAL_RAWFAR 0.7\n"
	filler := func(n int) string {
		return strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed\n", n/60)
	}
	msg := func(body string) string {
		return "From: Friend <a@example.com>\nTo: user@example.org\nSubject: hello\n" +
			"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <x1@example.com>\n\n" + body
	}
	tests := []struct {
		name, msg string
		body, raw bool
	}{
		{"near", msg("farword\n" + filler(600)), true, true},
		{"past body", msg(filler(1400) + "farword\n"), false, true},
		{"past both", msg(filler(3000) + "farword\n"), false, false},
	}
	dir := t.TempDir()
	local := writeSite(t, dir, cf)
	var msgs []string
	for _, tt := range tests {
		msgs = append(msgs, tt.msg)
	}
	results := checkMessages(t, dir, local, msgs)
	for i, tt := range tests {
		r := results[i]
		agreeOnRules(t, dir, tt.name, tt.msg, r, map[string]bool{"LOCAL_FAR": tt.body, "LOCAL_RAWFAR": tt.raw})
	}
}

// TestLocalCFMSANetworks: with trusted_networks and msa_networks, the
// relay that handed a message to a trusted MSA is trusted too, as in
// SpamAssassin 4.0.1 (ALL_TRUSTED fires, the client is not an untrusted
// relay); through a trusted relay that is no MSA, the client stays
// untrusted.
func TestLocalCFMSANetworks(t *testing.T) {
	stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	cf := "trusted_networks 10.0.0.0/8\ninternal_networks 10.0.0.0/8\nmsa_networks 10.0.0.5\n" +
		"header LOCAL_UNTRUSTED_CLIENT X-Spam-Relays-Untrusted =~ /ip=198\\.51\\.100\\.7 /\nscore LOCAL_UNTRUSTED_CLIENT 0.5\n"
	msg := func(via string) string {
		return "Received: from relay.example.org (relay.example.org [" + via + "]) by mx.example.org (Postfix) with ESMTP id 4AbCdE12\n" +
			"\tfor <user@example.org>; Thu, 03 Dec 2026 10:00:05 +0000\n" +
			"Received: from laptop.example.net (laptop.example.net [198.51.100.7]) by relay.example.org (Postfix) with ESMTP id 5BcDeF23\n" +
			"\tfor <user@example.org>; Thu, 03 Dec 2026 10:00:00 +0000\n" +
			"From: Friend <a@example.org>\nTo: user@example.org\nSubject: hello\n" +
			"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <x1.abcdef@example.org>\n\nHello there.\n"
	}
	tests := []struct {
		name, msg       string
		trusted, client bool // ALL_TRUSTED, LOCAL_UNTRUSTED_CLIENT
	}{
		{"through the MSA", msg("10.0.0.5"), true, false},
		{"through another relay", msg("10.0.0.6"), false, true},
	}
	dir := t.TempDir()
	local := writeSite(t, dir, cf)
	var msgs []string
	for _, tt := range tests {
		msgs = append(msgs, tt.msg)
	}
	results := checkMessages(t, dir, local, msgs)
	for i, tt := range tests {
		r := results[i]
		agreeOnRules(t, dir, tt.name, tt.msg, r, map[string]bool{"ALL_TRUSTED": tt.trusted, "LOCAL_UNTRUSTED_CLIENT": tt.client})
	}
}

// TestLocalCFRecipientLists: welcomelist_to, more_spam_to, all_spam_to
// and blocklist_to fire their rules and change the score as in
// SpamAssassin 4.0.1, each for its own recipient.
func TestLocalCFRecipientLists(t *testing.T) {
	stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	cf := localCFSpammy + "welcomelist_to wl@example.org\nmore_spam_to more@example.org\nall_spam_to all@example.org\nblocklist_to bl@example.org\n"
	msg := func(to string) string {
		return "Received: from mail.example.com (mail.example.com [192.0.2.10]) by mx.example.org (Postfix) with ESMTP id 4AbCdE12\n" +
			"\tfor <" + to + ">; Thu, 03 Dec 2026 10:00:00 +0000\n" +
			"From: Friend <a@example.com>\nTo: " + to + "\nSubject: hello\n" +
			"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <x1@example.com>\n\nHere are the cheap pills you asked about.\n"
	}
	tests := []string{"wl@example.org", "more@example.org", "all@example.org", "bl@example.org", "other@example.org"}
	dir := t.TempDir()
	// The site directory: its init.pre's enable_compat
	// welcomelist_blocklist drops the deprecated USER_IN_WHITELIST_TO.
	local := writeSite(t, dir, cf)
	var msgs []string
	for _, to := range tests {
		msgs = append(msgs, msg(to))
	}
	results := checkMessages(t, dir, filepath.Dir(local), msgs)
	for i, to := range tests {
		r := results[i]
		saSpam, saScore, saTests := spamassassinStatus(t, dir, msg(to))
		var names []string
		for _, h := range r.Hits {
			if !strings.HasPrefix(h.Rule, "USER_IN_") {
				continue
			}
			names = append(names, h.Rule)
		}
		var saNames []string
		for _, n := range strings.Split(saTests, ",") {
			if strings.HasPrefix(n, "USER_IN_") {
				saNames = append(saNames, n)
			}
		}
		if saSpam != r.Spam || math.Abs(saScore-r.Score) > 0.05 || strings.Join(names, ",") != strings.Join(saNames, ",") {
			t.Errorf("To %s: SpamAssassin %v %.2f (%s), sluice %v %.2f (%s)", to, saSpam, saScore, saTests, r.Spam, r.Score, strings.Join(names, ","))
		}
	}
}

// TestLocalCFLang: with [rules] lang = "de_DE.UTF-8", the rule files'
// "lang de describe" lines name the rules in reports, as SpamAssassin
// 4.0.1 run with LANG=de_DE.UTF-8 names them (the bytes as the file has
// them); without it, English.
func TestLocalCFLang(t *testing.T) {
	stock := stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	dir := t.TempDir()
	writeSite(t, dir, "")
	m := filepath.Join(dir, "msg.eml")
	os.WriteFile(m, []byte("Received: from mail.example.com (mail.example.com [192.0.2.10]) by mx.example.org (Postfix) with ESMTP id 4AbCdE12\n"+
		"\tfor <user@example.org>; Thu, 03 Dec 2026 10:00:00 +0000\n"+
		"From: Friend <a@example.com>\nTo: user@example.org\nSubject: hello\n"+
		"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <x1@example.com>\n\nHello.\n"), 0o644)
	describe := func(report, rule string) string {
		for _, l := range strings.Split(report, "\n") {
			if f := strings.Fields(l); len(f) > 2 && f[1] == rule {
				return strings.Join(f[2:], " ")
			}
		}
		t.Fatalf("no %s line in the report:\n%s", rule, report)
		return ""
	}
	for _, lang := range []string{"de_DE.UTF-8", ""} {
		cmd := exec.Command("spamassassin", "-L", "-t", "--siteconfigpath="+filepath.Join(dir, "site"), "-p", filepath.Join(dir, "user_prefs"))
		cmd.Env = append(os.Environ(), "LANG="+lang, "LANGUAGE=", "LC_ALL=", "LC_MESSAGES=")
		in, _ := os.Open(m)
		cmd.Stdin = in
		sa, err := cmd.Output()
		in.Close()
		if err != nil {
			t.Fatalf("spamassassin: %v", err)
		}
		conf := filepath.Join(dir, "sluice.toml")
		os.WriteFile(conf, []byte(fmt.Sprintf("[rules]\ncache_dir = \"off\"\nlang = %q\n", lang)), 0o644)
		var out, errb bytes.Buffer
		run([]string{"check", "-config", conf, "-dns", "off", "-rules", stock, "-rules", filepath.Join(dir, "site"), m}, &out, &errb)
		want, got := describe(string(sa), "RCVD_ILLEGAL_IP"), describe(out.String(), "RCVD_ILLEGAL_IP")
		if got != want {
			t.Errorf("lang %q: RCVD_ILLEGAL_IP described %q, SpamAssassin %q", lang, got, want)
		}
	}
}

// agreeOnRules checks that each rule of want fires (true) or not (false)
// on msg in both SpamAssassin (spamassassin -L on the site under dir) and
// sluice's result r.
func agreeOnRules(t *testing.T, dir, name, msg string, r jsonResult, want map[string]bool) {
	t.Helper()
	_, saTests := spamassassinVerdict(t, dir, msg)
	hit := fired(r)
	for rule, w := range want {
		sa := strings.Contains(","+saTests+",", ","+rule+",")
		if sa != w || hit[rule] != w {
			t.Errorf("%s: %s: SpamAssassin %v (%s), sluice %v; want %v", name, rule, sa, saTests, hit[rule], w)
		}
	}
}
