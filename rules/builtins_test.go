package rules

import (
	"context"
	"strings"
	"testing"
)

func TestEvalFunctions(t *testing.T) {
	conf := Config{FreemailDomains: []string{"gmail.com", "yahoo.*"}, TLDs: map[string]bool{}, TwoLevelTLDs: map[string]bool{"co.uk": true},
		WelcomelistFrom: []string{"*@good.example"}, AddrLists: map[string][]string{"BANKS": {"*@*.bank.example"}},
		URIHostLists:    map[string][]string{"BAD": {"evil.example", "!ok.evil.example"}},
		WelcomelistDKIM: []AuthListEntry{{Addr: "*@news.example"}}, WelcomelistSPF: []AuthListEntry{{Addr: "*@news.example"}}}
	conf.freemail = newFreemailIndex(conf.FreemailDomains)
	hdr := func(h string) string { return strings.ReplaceAll(h, "|", "\n") + "\n\nbody text\n" }
	tests := []struct {
		name string
		msg  string
		fn   string
		args []string
		want bool
		auth Auth
	}{
		{"shifted date 4h", hdr("Received: from a by b; Mon, 1 Jan 2024 10:00:00 +0000|Date: Mon, 1 Jan 2024 14:00:00 +0000"), "check_for_shifted_date", []string{"3", "6"}, true, Auth{}},
		{"shifted date 0h", hdr("Received: from a by b; Mon, 1 Jan 2024 10:00:00 +0000|Date: Mon, 1 Jan 2024 10:30:00 +0000"), "check_for_shifted_date", []string{"3", "6"}, false, Auth{}},
		{"date far past", hdr("Received: from a by b; Mon, 1 Jan 2024 10:00:00 +0000|Date: Mon, 1 Jan 2020 10:00:00"), "check_for_shifted_date", []string{"undef", "-96"}, true, Auth{}},
		{"two subjects", hdr("Subject: a|Subject: b"), "check_header_count_range", []string{"Subject", "2", "999"}, true, Auth{}},
		{"one subject", hdr("Subject: a"), "check_header_count_range", []string{"Subject", "2", "999"}, false, Auth{}},
		{"illegal chars", hdr("Subject: \xe9\xe9\xe9 ok"), "check_illegal_chars", []string{"Subject", "0.00", "2"}, true, Auth{}},
		{"all caps", hdr("Subject: BUY CHEAP PILLS NOW"), "subject_is_all_caps", nil, true, Auth{}},
		{"not all caps", hdr("Subject: Buy cheap pills now"), "subject_is_all_caps", nil, false, Auth{}},
		{"to user in subject", hdr("To: bob@example.com|Subject: bob, your invoice"), "check_for_to_in_subject", []string{"user"}, true, Auth{}},
		{"freemail from", hdr("From: x@gmail.com"), "check_freemail_from", nil, true, Auth{}},
		// all_from_addrs: a Resent-From replaces From (spam/00224, resent by a non-freemail user).
		{"freemail from resent", hdr("From: x@gmail.com|Resent-From: \"P\" <p@llamas.example>"), "check_freemail_from", nil, false, Auth{}},
		{"from domains differ", hdr("From: a@giga.example.com|Return-Path: <b@other.com>"), "check_equal_from_domains", nil, true, Auth{}},
		// HeaderEval compares the last two labels: both are "net.tw" (spam/00977).
		{"from domains last two labels", hdr("From: a@giga.net.tw|Return-Path: <b@mars.seed.net.tw>"), "check_equal_from_domains", nil, false, Auth{}},
		{"freemail glob", hdr("Reply-To: x@yahoo.de"), "check_freemail_header", []string{"Reply-To"}, true, Auth{}},
		{"freemail digit", hdr("Reply-To: x@gmail.com"), "check_freemail_header", []string{"Reply-To", `\d@`}, false, Auth{}},
		{"welcomelist", hdr("From: Joe <joe@good.example>"), "check_from_in_welcomelist", nil, true, Auth{}},
		{"addrlist", hdr("From: a@mail.bank.example"), "check_from_in_list", []string{"BANKS"}, true, Auth{}},
		{"missing to", hdr("From: a@b.c"), "check_for_missing_to_header", nil, true, Auth{}},
		{"unresolved template", hdr("X-Foo: %RND_NUMBER%"), "check_unresolved_template", nil, true, Auth{}},
		{"no relays", hdr("From: a@b.c"), "check_no_relays", nil, true, Auth{}},
		{"sorted recipients", hdr("To: a@x.com, b@x.com, c@x.com, d@x.com, e@x.com, f@x.com, g@x.com"), "sorted_recipients", nil, true, Auth{}},
		// HeaderEval sorts the addresses as written: "B@" sorts before "a@".
		{"sorted recipients case", hdr("To: B@x.com, a@x.com, c@x.com, d@x.com, e@x.com, f@x.com, g@x.com"), "sorted_recipients", nil, true, Auth{}},
		{"sorted recipients too few", hdr("To: a@x.com, b@x.com, c@x.com, d@x.com, e@x.com"), "sorted_recipients", nil, false, Auth{}},
		{"uri host listed", hdr("From: a@b.c") + "see http://www.evil.example/x\n", "check_uri_host_listed", []string{"BAD"}, true, Auth{}},
		{"uri host excluded", hdr("From: a@b.c") + "see http://ok.evil.example/x\n", "check_uri_host_listed", []string{"BAD"}, false, Auth{}},
		{"body length", hdr("From: a@b.c"), "check_body_length", []string{"128"}, true, Auth{}},
		{"mime base64 text", "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=\n", "check_for_mime", []string{"mime_base64_encoded_text"}, true, Auth{}},
		// MIMEEval: with QP bytes read, mime_qp_count counts needless escapes (spam/00415: none).
		{"qp needed escapes", "Content-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n<a href=3D\"x\">caf=E9=20\n", "check_for_mime", []string{"mime_qp_count"}, false, Auth{}},
		{"qp needless escape", "Content-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n=41BC\n", "check_for_mime", []string{"mime_qp_count"}, true, Auth{}},
		{"qp trailing space only", "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nabc=20=41=20\n", "check_for_mime", []string{"mime_qp_count"}, true, Auth{}},
		{"mime html only", "Content-Type: text/html\n\n<html><body>hi</body></html>\n", "check_for_mime_html_only", nil, true, Auth{}},
		{"mime html only, enriched alternative", "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/enriched\n\nhi\n--b\nContent-Type: text/html\n\n<p>hi</p>\n--b--\n", "check_for_mime_html_only", nil, false, Auth{}},
		{"mime html only, untyped part", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n--b\nContent-Type: text/html\n\n<p>hi</p>\n--b--\n", "check_for_mime_html_only", nil, false, Auth{}},
		{"mime html only, html alternatives", "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>hi</p>\n--b--\n", "check_for_mime_html_only", nil, true, Auth{}},
		{"html tag exists", "Content-Type: text/html\n\n<html><body>hi</body></html>\n", "html_tag_exists", []string{"body"}, true, Auth{}},
		{"html tag balance", "Content-Type: text/html\n\n<html><body>hi</html>\n", "html_tag_balance", []string{"body", "!= 0"}, true, Auth{}},
		{"fromname spoof", hdr(`From: "support@bank.example" <x@evil.example>`), "check_fromname_spoof", nil, true, Auth{}},
		{"outlook id ok", hdr("Message-ID: <notoutlook@x>"), "check_outlook_message_id", nil, false, Auth{}},
		{"dkim welcomelist", hdr("From: a@news.example"), "check_for_dkim_welcomelist_from", nil, true, Auth{DKIMDomains: []string{"news.example"}}},
		{"dkim welcomelist unsigned", hdr("From: a@news.example"), "check_for_dkim_welcomelist_from", nil, false, Auth{}},
		{"dkim welcomelist wrong signer", hdr("From: a@news.example"), "check_for_dkim_welcomelist_from", nil, false, Auth{DKIMDomains: []string{"other.example"}}},
		{"spf welcomelist", hdr("From: a@news.example"), "check_for_spf_welcomelist_from", nil, true, Auth{SPF: "pass"}},
		{"spf welcomelist fail", hdr("From: a@news.example"), "check_for_spf_welcomelist_from", nil, false, Auth{SPF: "fail"}},
		{"madiff", "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nhello there\n--b\nContent-Type: text/html\n\n<p>buy pills now</p>\n--b--\n", "multipart_alternative_difference", []string{"99", "100"}, true, Auth{}},
		{"madiff same", "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nbuy pills now\n--b\nContent-Type: text/html\n\n<p>buy pills now</p>\n--b--\n", "multipart_alternative_difference", []string{"99", "100"}, false, Auth{}},
	}
	reg := NewEvalRegistry()
	for _, tt := range tests {
		fn, ok := reg.Lookup(tt.fn)
		if !ok {
			t.Fatalf("Lookup(%q) = false", tt.fn)
		}
		ec := &EvalContext{Msg: newTestMessage([]byte(tt.msg)), Input: &Input{Auth: tt.auth}, Config: &conf, ctx: context.Background(), cache: map[string]any{}}
		got, err := fn(ec, tt.args)
		if err != nil || got != tt.want {
			t.Errorf("%s: %s(%q) = %v, %v, want %v", tt.name, tt.fn, tt.args, got, err, tt.want)
		}
	}
}

func TestEvalFromInput(t *testing.T) {
	rs, err := LoadString("net.cf", `
header RCVD_IN_X  eval:check_rbl('x', 'zen.example.')
tflags RCVD_IN_X  net
header SPF_PASS   eval:check_for_spf_pass()
tflags SPF_PASS   net
header DKIM_OK    eval:check_dkim_valid()
`, Options{Net: true})
	if err != nil {
		t.Fatal(err)
	}
	msg := newTestMessage([]byte("From: a@b.c\n\nx\n"))
	res := rs.Eval(context.Background(), msg, Input{Rules: map[string]bool{"RCVD_IN_X": true}, Auth: Auth{SPF: "pass", DKIMDomains: []string{"b.c"}}})
	if len(res.Hits) != 3 {
		t.Errorf("Eval hits = %v, want DKIM_OK, RCVD_IN_X, SPF_PASS", res.Hits)
	}
}
