package main

import (
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestURIEvalVBounceAgainstSA: the URIEval (check_https_ip_mismatch,
// check_uri_truncated) and VBounce (welcomelist_bounce_relays) rules of
// the stock rule files fire on the same crafted messages in sluice as in
// spamassassin -L 4.0.1 with the same local.cf.
func TestURIEvalVBounceAgainstSA(t *testing.T) {
	stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	// HTTPS_IP_MISMATCH scores 0 in the stock files: scored here so that
	// it shows in tests=.
	cf := "score HTTPS_IP_MISMATCH 0.5\nwelcomelist_bounce_relays relay*.mysite.example\n"
	head := func(id, from, subject, extra string) string {
		return "Received: from mx.remote.example (mx.remote.example [198.51.100.7])\n" +
			"\tby mx.mysite.example (Postfix) with ESMTP id 4AbCdE12\n" +
			"\tfor <me@mysite.example>; Thu, 03 Dec 2026 10:00:00 +0000\n" +
			"From: " + from + "\nTo: me@mysite.example\nSubject: " + subject + "\n" +
			"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <" + id + "@remote.example>\n" + extra
	}
	html := "MIME-Version: 1.0\nContent-Type: text/html; charset=us-ascii\n\n"
	bounce := "Return-Path: <>\n"
	quoted := "This is the mail system at host mx.remote.example.\n\n" +
		"I'm sorry to have to inform you that your message could not be delivered.\n\n" +
		"Received: from relay1.mysite.example (relay1.mysite.example [192.0.2.5]) by mx.remote.example\n"
	tests := []struct {
		name, msg  string
		fire, miss []string // rules that fire, or not, in both
	}{
		{"https ip mismatch", head("m1", "Bank <a@remote.example>", "your account", html) +
			"<html><body><p>Log in at <a href=\"http://192.0.2.1/login\">https://www.bank.example/login</a></p></body></html>\n",
			[]string{"HTTPS_IP_MISMATCH"}, []string{"URI_TRUNCATED"}},
		{"no mismatch", head("m2", "Bank <a@remote.example>", "your account", html) +
			"<html><body><p>Log in at <a href=\"http://192.0.2.1/login\">http://www.bank.example/login</a></p></body></html>\n",
			nil, []string{"HTTPS_IP_MISMATCH"}},
		{"uri truncated", head("m3", "a@remote.example", "link", html) +
			"<html><body><a href=\"http://www.remote.example/" + strings.Repeat("x", 9000) + "\">here</a></body></html>\n",
			[]string{"URI_TRUNCATED"}, nil},
		{"bounce of ours", head("m4", "MAILER-DAEMON@remote.example (Mail Delivery System)", "Undelivered Mail Returned to Sender", bounce) +
			"\n" + quoted, nil, []string{"BOUNCE_MESSAGE", "ANY_BOUNCE_MESSAGE"}},
		{"backscatter", head("m5", "MAILER-DAEMON@remote.example (Mail Delivery System)", "Undelivered Mail Returned to Sender", bounce) +
			"\n" + strings.ReplaceAll(quoted, "relay1.mysite.example", "smtp.elsewhere.example"),
			[]string{"BOUNCE_MESSAGE", "ANY_BOUNCE_MESSAGE"}, nil},
		{"challenge for ours", head("m6", "verify@remote.example", "Please Verify Your Email Address", "") +
			"\n" + quoted, []string{"CHALLENGE_RESPONSE"}, []string{"CRBOUNCE_MESSAGE"}},
	}
	dir := t.TempDir()
	local := writeSite(t, dir, cf)
	var msgs []string
	for _, tt := range tests {
		msgs = append(msgs, tt.msg)
	}
	results := checkMessages(t, dir, local, msgs)
	for i, tt := range tests {
		_, saTests := spamassassinVerdict(t, dir, tt.msg)
		hit := fired(results[i])
		sa := "," + saTests + ","
		for _, r := range tt.fire {
			if !strings.Contains(sa, ","+r+",") || !hit[r] {
				t.Errorf("%s: %s: SpamAssassin tests=%s, sluice fired %v; want it in both", tt.name, r, saTests, hit[r])
			}
		}
		for _, r := range tt.miss {
			if strings.Contains(sa, ","+r+",") || hit[r] {
				t.Errorf("%s: %s: SpamAssassin tests=%s, sluice fired %v; want it in neither", tt.name, r, saTests, hit[r])
			}
		}
	}
}
