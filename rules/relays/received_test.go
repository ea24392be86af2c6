package relays

import (
	"bytes"
	"testing"
)

func TestParseReceived(t *testing.T) {
	tests := []struct {
		in   string
		want string
		st   rcvdStatus
	}{
		{"from mail.example.com (mail.example.com [192.0.2.1])\n\tby mx.example.org (Postfix) with ESMTP id ABC123\n\tfor <u@example.org>; Mon, 23 Nov 2026 10:00:00 +0000 (UTC)",
			"[ ip=192.0.2.1 rdns=mail.example.com helo=mail.example.com by=mx.example.org ident= envfrom= intl=0 id=ABC123 auth= msa=0 ]", rcvdParsed},
		{"from helo.example (unknown [198.51.100.7]) by mx.example.org (Postfix) with ESMTPSA id X12; Mon, 23 Nov 2026 10:00:00 +0000",
			"[ ip=198.51.100.7 rdns= helo=helo.example by=mx.example.org ident= envfrom= intl=0 id=X12 auth=ESMTPSA msa=0 ]", rcvdParsed},
		{"from dsl.example.net ([66.92.72.213] helo=blazing.example.org) by list.example.net with esmtp (Exim 3.31-VA-mm2 #1 (Debian)) id 18lyuU-0007TI-00; Thu, 20 Feb 2003 14:11:18 -0800",
			"[ ip=66.92.72.213 rdns=dsl.example.net helo=blazing.example.org by=list.example.net ident= envfrom= intl=0 id=18lyuU-0007TI-00 auth= msa=0 ]", rcvdParsed},
		{"from unknown (HELO x.example) (203.0.113.9) by mail.example.com with SMTP; 14 Mar 2003 07:24:34 -0000",
			"[ ip=203.0.113.9 rdns= helo=x.example by=mail.example.com ident= envfrom= intl=0 id= auth= msa=0 ]", rcvdParsed},
		{"(qmail 27981 invoked by uid 225); 14 Mar 2003 07:24:34 -0000", "", rcvdSkip},
		{"by oak.example (Postfix, from userid 1002) id DABBD1BED3; Thu, 13 Feb 2003 14:02:21 +0100", "", rcvdSkip},
		{"from nowhere", "", rcvdUnparseable},
	}
	for _, tc := range tests {
		r, st := parseReceived(tc.in)
		if st != tc.st || st == rcvdParsed && r.String() != tc.want {
			t.Errorf("parseReceived(%q) = %s, %d, want %s, %d", tc.in, r, st, tc.want, tc.st)
		}
	}
}

func FuzzParseReceived(f *testing.F) {
	f.Add("from a (b [1.2.3.4]) by c (Postfix) with ESMTP id X; Mon, 1 Jan 2024 00:00:00 +0000")
	f.Add("from [1.2.3.4] (helo=x) by y with smtp (Exim 4) id 1")
	f.Fuzz(func(t *testing.T, s string) {
		r, st := parseReceived(s)
		if st == rcvdParsed && bytes.ContainsAny([]byte(r.IP), " \t\n") {
			t.Fatalf("parseReceived(%q): IP %q has white space", s, r.IP)
		}
	})
}
