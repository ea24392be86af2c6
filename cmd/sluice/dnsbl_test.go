package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/dnstest"
)

// stockDNSZone lists the relay 192.0.2.99 in zen.spamhaus.org (SBL and
// XBL codes) and the URI host www.spam-domain.com in multi.uribl.com
// (black) and dbl.spamhaus.org (spam domain): the zones the stock rule
// files ask, served on loopback.
const stockDNSZone = `
99.2.0.192.zen.spamhaus.org. A 127.0.0.2
99.2.0.192.zen.spamhaus.org. A 127.0.0.4
spam-domain.com.multi.uribl.com. A 127.0.0.2
www.spam-domain.com.dbl.spamhaus.org. A 127.0.1.2
`

const stockDNSMsg = "Received: from mail.spam-relay.com (mail.spam-relay.com [192.0.2.99])\r\n" +
	"\tby mx.example.org (Postfix) with ESMTP id 4AB12CD;\r\n\tMon, 23 Nov 2026 10:00:00 +0000\r\n" +
	"DKIM-Signature: v=1; a=rsa-sha256; d=spam-relay.com; s=sel; h=from; bh=AAAA; b=AAAA\r\n" +
	"From: Offers <offers@spam-relay.com>\r\nTo: <bob@example.org>\r\nSubject: your offer\r\n" +
	"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <dnsbl1@spam-relay.com>\r\n\r\n" +
	"See the offer at http://www.spam-domain.com/offer today.\r\n"

// checkHits runs `sluice check -json` with the stock rules and returns the
// rules hit.
func checkHits(t *testing.T, file string, args ...string) map[string]bool {
	t.Helper()
	var out, errb bytes.Buffer
	argv := append([]string{"check", "-json", "-rules", stockRules(t)}, args...)
	if code := run(append(argv, file), &out, &errb); code != 0 {
		t.Fatalf("sluice %v = %d\n%s", argv, code, errb.String())
	}
	var r jsonResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("check -json printed %q: %v", out.String(), err)
	}
	got := map[string]bool{}
	for _, h := range r.Hits {
		got[h.Rule] = true
	}
	return got
}

// netHits returns the hits starting with one of prefixes.
func netHits(got map[string]bool, prefixes ...string) []string {
	var out []string
	for r := range got {
		for _, p := range prefixes {
			if strings.HasPrefix(r, p) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

func TestCheckStockDNSBL(t *testing.T) {
	file := filepath.Join(t.TempDir(), "listed.eml")
	if err := os.WriteFile(file, []byte(stockDNSMsg), 0o644); err != nil {
		t.Fatal(err)
	}
	// No [[auth.dnsbl]] is configured: the zones come from the rule files.
	srv := dnstest.Start(t, stockDNSZone)
	got := checkHits(t, file, "-dns", srv.Addr)
	for _, want := range []string{"RCVD_IN_SBL", "RCVD_IN_XBL", "URIBL_BLACK", "URIBL_DBL_SPAM"} {
		if !got[want] {
			t.Errorf("listed message: %s did not fire; hits %v", want, got)
		}
	}
	if got["RCVD_IN_PBL"] || got["URIBL_GREY"] {
		t.Errorf("listed message: rules fired for codes not answered; hits %v", got)
	}
	// The same zones answering NXDOMAIN.
	empty := dnstest.Start(t, "")
	if n := netHits(checkHits(t, file, "-dns", empty.Addr), "RCVD_IN_", "URIBL_"); len(n) > 0 {
		t.Errorf("NXDOMAIN zones: network rules fired: %v", n)
	}
	// -dns off is spamassassin -L: no network rule, no DKIM result.
	if n := netHits(checkHits(t, file, "-dns", "off"), "RCVD_IN_", "URIBL_", "DKIM_"); len(n) > 0 {
		t.Errorf("-dns off: network rules fired: %v", n)
	}
}

func TestCheckDNSBLDisabledZone(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "listed.eml")
	cfgPath := filepath.Join(dir, "sluice.toml")
	if err := os.WriteFile(file, []byte(stockDNSMsg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte("[[auth.dnsbl]]\nzone = \"multi.uribl.com\"\ndisable = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Start(t, stockDNSZone)
	got := checkHits(t, file, "-config", cfgPath, "-dns", srv.Addr)
	if got["URIBL_BLACK"] || !got["URIBL_DBL_SPAM"] {
		t.Errorf("multi.uribl.com disabled: hits %v, want URIBL_DBL_SPAM without URIBL_BLACK", got)
	}
}
