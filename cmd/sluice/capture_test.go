package main

import (
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/testutil"
)

// captureCF holds capture rules of the site's own: a header rule capturing
// the From local part, body, rawbody and uri rules using it through
// %{...}, a multiple body rule capturing several values, a template on a
// tag nothing sets, and one on the tag of a zero-scored rule, which
// SpamAssassin never runs.
const captureCF = `header   __LC_FROM_LOCAL From:addr =~ /^(?<LC_FROM_LOCAL>[^@]+)@/
body     LC_DEAR_FROM    /\bdear %{LC_FROM_LOCAL}\b/i
score    LC_DEAR_FROM    3
rawbody  LC_RAW_FROM     /signed,\s+%{LC_FROM_LOCAL}$/m
score    LC_RAW_FROM     0.5
header   LC_SUBJ_FROM    Subject =~ /\[%{LC_FROM_LOCAL}\]/
score    LC_SUBJ_FROM    0.7
body     __LC_CODES      /\bcode (?<LC_CODE>\d{3})\b/
tflags   __LC_CODES      multiple
body     LC_REF_CODE     /\bref %{LC_CODE}\b/
tflags   LC_REF_CODE     multiple
score    LC_REF_CODE     0.3
uri      LC_URI_FROM     m|/%{LC_FROM_LOCAL}/|i
score    LC_URI_FROM     0.4
header   LC_UNSET        Subject =~ /%{LC_NOTHING_SETS_THIS}/
score    LC_UNSET        5
header   LC_NOT_FROM     Subject !~ /%{LC_FROM_LOCAL}/
score    LC_NOT_FROM     0.2
header   LC_ZERO_CAPT    To:addr =~ /(?<LC_ZSUBJ>.+)/
score    LC_ZERO_CAPT    0
uri      LC_USES_ZERO    /%{LC_ZSUBJ}/
score    LC_USES_ZERO    0.6
`

// captureRulesCompared are the rules whose firing the test compares: the
// stock capture variants (72_active.cf) and captureCF's.
var captureRulesCompared = []string{"GB_CUSTOM_HTM_URI", "T_GB_STORAGE_GOOGLE_EMAIL", "T_GB_YOUTUBE_EMAIL",
	"LC_DEAR_FROM", "LC_RAW_FROM", "LC_SUBJ_FROM", "LC_REF_CODE", "LC_URI_FROM", "LC_UNSET", "LC_NOT_FROM", "LC_USES_ZERO"}

// TestCaptureRulesSpamAssassin: capture rules and %{...} templates, the
// stock GB_* ones and a site's own, fire on the same messages, as often,
// as in SpamAssassin 4.0.1 (spamassassin -L with the same local.cf).
func TestCaptureRulesSpamAssassin(t *testing.T) {
	stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	msg := func(from, to, subject, body string) string {
		return "Received: from mail.example.com (mail.example.com [192.0.2.10]) by mx.example.org (Postfix) with ESMTP id 4AbCdE12\n" +
			"\tfor <" + to + ">; Thu, 03 Dec 2026 10:00:00 +0000\n" +
			"From: Sender <" + from + ">\nTo: <" + to + ">\nSubject: " + subject + "\n" +
			"Date: Thu, 03 Dec 2026 09:59:00 +0000\nMessage-ID: <c1@example.com>\nMIME-Version: 1.0\n" +
			"Content-Type: text/plain; charset=us-ascii\n\n" + body
	}
	tests := []struct {
		name, msg string
		want      []string // rules that must fire in both
	}{
		{"custom htm uri", msg("a@example.com", "victim@example.org", "invoice",
			"Open https://evil.example.net/docs/view.html#victim@example.org today.\n"),
			[]string{"GB_CUSTOM_HTM_URI", "LC_NOT_FROM"}},
		{"google storage", msg("a@example.com", "victim@example.org", "files",
			"See https://storage.cloud.google.com/bucket-x/index.html#victim@example.org now.\n"),
			[]string{"T_GB_STORAGE_GOOGLE_EMAIL"}},
		{"youtube", msg("a@example.com", "victim@example.org", "video",
			"https://www.youtube.com/attribution_link?a=abcdefghijklmnopqrstuvwxyz/victim@example.org\n"),
			[]string{"T_GB_YOUTUBE_EMAIL"}},
		{"other address in uri", msg("a@example.com", "victim@example.org", "invoice",
			"Open https://evil.example.net/docs/view.html#someone@example.org today.\n"),
			nil},
		{"site captures", msg("john.doe@example.com", "user@example.org", "hello [john.doe]",
			"Dear John.Doe,\n\ncode 123 and code 456 and code 789; ref 456 ref 123 ref 111\n\n"+
				"http://site.example.net/john.doe/x\n\nsigned, john.doe\n"),
			[]string{"LC_DEAR_FROM", "LC_RAW_FROM", "LC_SUBJ_FROM", "LC_REF_CODE", "LC_URI_FROM"}},
		{"quotemeta", msg("a.b+c@example.com", "user@example.org", "hello [aXb+c]",
			"Dear aXbbc,\n\nDear a.b+c, signed, a.b+c\n"),
			[]string{"LC_DEAR_FROM", "LC_RAW_FROM"}},
		{"no match for regex syntax", msg("a.b+c@example.com", "user@example.org", "hello [aXbbc]",
			"Dear aXbbc,\n"),
			[]string{"LC_NOT_FROM"}},
	}
	dir := t.TempDir()
	local := writeSite(t, dir, captureCF)
	var msgs []string
	for _, tt := range tests {
		msgs = append(msgs, tt.msg)
	}
	results := checkMessages(t, dir, local, msgs)
	for i, tt := range tests {
		_, _, saTests := spamassassinStatus(t, dir, tt.msg)
		sa := map[string]bool{}
		for _, n := range strings.Split(saTests, ",") {
			sa[n] = true
		}
		hit := fired(results[i])
		for _, rule := range captureRulesCompared {
			if sa[rule] != hit[rule] {
				t.Errorf("%s: %s: SpamAssassin %v, sluice %v (SpamAssassin tests=%s)", tt.name, rule, sa[rule], hit[rule], saTests)
			}
		}
		for _, rule := range tt.want {
			if !sa[rule] || !hit[rule] {
				t.Errorf("%s: %s: SpamAssassin %v, sluice %v; want it in both", tt.name, rule, sa[rule], hit[rule])
			}
		}
		// tflags multiple counts every match: compare the scores too.
		for _, h := range results[i].Hits {
			if h.Rule == "LC_REF_CODE" && h.Score != 0.6 {
				t.Errorf("%s: LC_REF_CODE scored %v, want 0.6 (two refs of captured codes)", tt.name, h.Score)
			}
		}
	}
}
