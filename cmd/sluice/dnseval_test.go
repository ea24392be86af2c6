package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// dnsEvalCF uses every DNSEval and URIDNSBL lookup sluice runs beyond the
// stock rules' (check_rbl_headers, check_rbl_from_domain,
// check_rbl_from_host, check_rbl_rcvd with tflags ips_only and
// domains_only, urinsrhsbl, urinsrhssub, urifullnsrhssub), each in a zone
// of its own on the loopback DNS server.
const dnsEvalCF = `header LD_HDR_REPLYTO  eval:check_rbl_headers('ldh', 'hdr.test.', '127.0.0.2', 'Reply-To')
tflags LD_HDR_REPLYTO  net
header LD_HDR_SRCIP    eval:check_rbl_headers('ldi', 'ip.test.', '127.0.0.3', 'X-Source-IP')
tflags LD_HDR_SRCIP    net
header LD_HDR_DEFAULT  eval:check_rbl_headers('ldd', 'hdr2.test.')
tflags LD_HDR_DEFAULT  net
header LD_HDR_WRONGSUB eval:check_rbl_headers('ldw', 'hdr.test.', '127.0.0.9', 'Reply-To')
tflags LD_HDR_WRONGSUB net
header LD_FROM_DOMAIN  eval:check_rbl_from_domain('ldf', 'dom.test.')
tflags LD_FROM_DOMAIN  net
header LD_FROM_HOST    eval:check_rbl_from_host('ldfh', 'host.test.')
tflags LD_FROM_HOST    net
header LD_RCVD         eval:check_rbl_rcvd('ldr', 'rcvd.test.')
tflags LD_RCVD         net
header LD_RCVD_IPS     eval:check_rbl_rcvd('ldr2', 'rcvdip.test.')
tflags LD_RCVD_IPS     net ips_only
header LD_RCVD_DOMS    eval:check_rbl_rcvd('ldr3', 'rcvdip.test.')
tflags LD_RCVD_DOMS    net domains_only
urinsrhsbl      LD_NS        ns.test. A
body            LD_NS        eval:check_uridnsbl('LD_NS')
tflags          LD_NS        net
urinsrhssub     LD_NS_MISS   ns.test. A 127.0.0.8
body            LD_NS_MISS   eval:check_uridnsbl('LD_NS_MISS')
tflags          LD_NS_MISS   net
urifullnsrhssub LD_FULLNS    fullns.test. A 127.0.0.4
body            LD_FULLNS    eval:check_uridnsbl('LD_FULLNS')
tflags          LD_FULLNS    net
`

// dnsEvalZone lists what dnsEvalMsg's headers, relay and URI domain lead
// to; rcvdip.test lists the relay's address only.
const dnsEvalZone = `
reply.bad-reply.com.hdr.test. A 127.0.0.2
7.100.51.198.ip.test. A 127.0.0.3
bounce.envsender.com.hdr2.test. A 127.0.0.2
from-dom.com.dom.test. A 127.0.0.2
mail.from-dom.com.host.test. A 127.0.0.2
helo.rcvd-host.com.rcvd.test. A 127.0.0.2
77.2.0.192.rcvdip.test. A 127.0.0.2
uri-dom.com. NS ns1.dns-provider.net.
uri-dom.com. NS ns2.other-dns.org.
ns1.dns-provider.net. A 192.0.2.53
ns2.other-dns.org. A 192.0.2.54
dns-provider.net.ns.test. A 127.0.0.2
ns2.other-dns.org.fullns.test. A 127.0.0.4
`

const dnsEvalMsg = "Return-Path: <x@bounce.envsender.com>\r\n" +
	"Received: from helo.rcvd-host.com (rdns.rcvd-host.com [192.0.2.77])\r\n" +
	"\tby mx.example.org (Postfix) with ESMTP id 4AB12CD;\r\n\tMon, 23 Nov 2026 10:00:00 +0000\r\n" +
	"From: Sender <sender@mail.from-dom.com>\r\nReply-To: <r@reply.bad-reply.com>\r\n" +
	"X-Source-IP: 198.51.100.7\r\nTo: <bob@example.org>\r\nSubject: hello there\r\n" +
	"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <dnseval1@from-dom.com>\r\n\r\n" +
	"See http://www.uri-dom.com/page today.\r\n"

// TestDNSEvalSpamAssassin: the DNSEval and URIDNSBL lookups of dnsEvalCF
// fire in sluice as in SpamAssassin 4.0.1 (spamassassin with network
// tests, dns_server the same loopback server); uridnsbl_skip_domain,
// URIDNSBL's, does not keep the From domain from DNSEval's lookups.
func TestDNSEvalSpamAssassin(t *testing.T) {
	stockRules(t)
	testutil.RequirePeer(t, "spamassassin")
	srv := dnstest.Start(t, dnsEvalZone)
	dir := t.TempDir()
	local := writeSite(t, dir, "dns_server "+srv.Addr+"\ndns_available yes\nuse_razor2 0\nuse_pyzor 0\nuse_dcc 0\n"+
		"rbl_timeout 5\nuridnsbl_skip_domain from-dom.com\n"+dnsEvalCF)
	file := filepath.Join(dir, "msg.eml")
	os.WriteFile(file, []byte(dnsEvalMsg), 0o644)

	_, _, tests := spamassassinNet(t, dir, dnsEvalMsg)
	sa := map[string]bool{}
	for _, n := range strings.Split(tests, ",") {
		sa[n] = true
	}

	conf := filepath.Join(dir, "sluice.toml")
	os.WriteFile(conf, []byte("[rules]\nbudget = \"10m\"\ncache_dir = \"off\"\n"), 0o644)
	var sout, serr bytes.Buffer
	args := []string{"check", "-config", conf, "-json", "-dns", srv.Addr, "-rules", stockRules(t), "-rules", local, file}
	if code := run(args, &sout, &serr); code != 0 {
		t.Fatalf("sluice check = %d\n%s", code, serr.String())
	}
	var r jsonResult
	if err := json.Unmarshal(sout.Bytes(), &r); err != nil {
		t.Fatalf("check -json printed %q: %v", sout.String(), err)
	}
	hit := fired(r)
	want := map[string]bool{"LD_HDR_REPLYTO": true, "LD_HDR_SRCIP": true, "LD_HDR_DEFAULT": true, "LD_FROM_DOMAIN": true,
		"LD_FROM_HOST": true, "LD_RCVD": true, "LD_RCVD_IPS": true, "LD_NS": true, "LD_FULLNS": true,
		"LD_HDR_WRONGSUB": false, "LD_RCVD_DOMS": false, "LD_NS_MISS": false}
	for rule, w := range want {
		if sa[rule] != w || hit[rule] != w {
			t.Errorf("%s: SpamAssassin %v, sluice %v; want %v (SpamAssassin tests=%s)", rule, sa[rule], hit[rule], w, tests)
		}
	}
}
