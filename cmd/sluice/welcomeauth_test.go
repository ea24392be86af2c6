package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestLocalCFWelcomelistAuth: welcomelist_auth and def_welcomelist_auth
// welcome a sender whose mail our own DKIM check verifies, and nobody who
// merely uses the address, exactly as SpamAssassin 4.0.1 (network tests
// on, its DKIM check against the same loopback DNS server) scores the
// same four messages: verdicts, scores (to the one decimal SpamAssassin
// prints) and the USER_IN_* rules agree.
func TestLocalCFWelcomelistAuth(t *testing.T) {
	stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Start(t, "")
	for _, d := range []string{"auth.test", "def.test"} {
		srv.AddTXT("sel._domainkey."+d, "v=DKIM1; k=rsa; p="+base64.StdEncoding.EncodeToString(der), 300)
	}
	msg := func(from, id string, sign string) string {
		m := "Received: from mail.sender.example (mail.sender.example [192.0.2.77])\r\n" +
			"\tby mx.example.org (Postfix) with ESMTP id 4AB12CD; Mon, 23 Nov 2026 10:00:00 +0000\r\n" +
			"From: <" + from + ">\r\nTo: <bob@example.org>\r\nSubject: the offer\r\n" +
			"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <" + id + "@sender.example>\r\n\r\n" +
			"Cheap welcome pills, today only.\r\n"
		if sign == "" {
			return m
		}
		var b strings.Builder
		if err := dkim.Sign(&b, strings.NewReader(m), &dkim.SignOptions{Domain: sign, Selector: "sel", Signer: key}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	msgs := []string{
		msg("alice@auth.test", "wa1", "auth.test"), // welcomelist_auth, signed: welcomed
		msg("alice@auth.test", "wa2", ""),          // the same address unsigned: not welcomed
		msg("bob@def.test", "wa3", "def.test"),     // def_welcomelist_auth, signed
		msg("carol@auth.test", "wa4", "auth.test"), // signed but not listed
	}
	dir := t.TempDir()
	local := writeSite(t, dir, "dns_server "+srv.Addr+"\ndns_available yes\nuse_razor2 0\nuse_pyzor 0\nuse_dcc 0\nskip_rbl_checks 1\n"+
		"body LOCAL_PILLS /welcome pills/\nscore LOCAL_PILLS 10\n"+
		"welcomelist_auth alice@auth.test\ndef_welcomelist_auth *@def.test\n")

	res := checkMessagesDNS(t, dir, local, srv.Addr, msgs)
	for i, m := range msgs {
		spam, score, tests := spamassassinNet(t, dir, m)
		hit := fired(res[i])
		for _, r := range []string{"USER_IN_DKIM_WELCOMELIST", "USER_IN_DEF_DKIM_WL", "USER_IN_SPF_WELCOMELIST", "USER_IN_DEF_SPF_WL", "DKIM_VALID"} {
			if sa := strings.Contains(","+tests+",", ","+r+","); sa != hit[r] {
				t.Errorf("message %d: %s: SpamAssassin %v, sluice %v (SpamAssassin tests=%s)", i+1, r, sa, hit[r], tests)
			}
		}
		if res[i].Spam != spam || (score-res[i].Score) > 0.051 || (res[i].Score-score) > 0.051 {
			t.Errorf("message %d: sluice spam=%v score=%.2f, SpamAssassin spam=%v score=%.2f (tests=%s)", i+1, res[i].Spam, res[i].Score, spam, score, tests)
		}
	}
	if !res[1].Spam || res[0].Spam || res[2].Spam || !res[3].Spam {
		t.Errorf("verdicts %v %v %v %v, want ham (welcomed), spam, ham (default list), spam", res[0].Spam, res[1].Spam, res[2].Spam, res[3].Spam)
	}
}

// checkMessagesDNS is checkMessages with sluice's own checks asking the
// loopback DNS server at dns.
func checkMessagesDNS(t *testing.T, dir, rulesArg, dns string, msgs []string) []jsonResult {
	t.Helper()
	return checkMessagesArgs(t, dir, []string{"-dns", dns, "-rules", stockRules(t), "-rules", rulesArg}, msgs)
}
