package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/mail"
)

const plainMessage = "From: Alice <alice@example.com>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: hello\r\n" +
	"Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"\r\n" +
	"Hi Bob.\r\n"

// signed signs msg for domain/selector with key.
func signed(t testing.TB, msg, domain, selector string, key crypto.Signer) []byte {
	t.Helper()
	var b bytes.Buffer
	err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{
		Domain: domain, Selector: selector, Signer: key,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"},
	})
	if err != nil {
		t.Fatalf("dkim.Sign: %v", err)
	}
	return b.Bytes()
}

// authZone starts a DNS server with SPF, DMARC and DKIM key records for
// example.com, signing with key under selector "sel".
func authZone(t testing.TB, pub crypto.PublicKey) *dnstest.Server {
	t.Helper()
	srv := dnstest.Start(t, `
example.com.        TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc.example.com. TXT "v=DMARC1; p=reject"
`)
	var rec string
	switch k := pub.(type) {
	case ed25519.PublicKey:
		rec = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k)
	default:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		rec = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	}
	srv.AddTXT("sel._domainkey.example.com", rec, 300)
	return srv
}

func TestCheck(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := authZone(t, pub)
	r := testResolver(t, srv.Addr)
	raw := signed(t, plainMessage, "example.com", "sel", priv)
	cfg := Config{Sample: func(int) int { return 0 }}

	good := Check(context.Background(), nil, r, cfg, Input{
		ClientIP: net.ParseIP("192.0.2.10"), HELO: "mail.example.com",
		MailFrom: "alice@example.com", Raw: raw,
	})
	if good.SPF.Result != SPFPass || len(good.DKIM) != 1 || good.DKIM[0].Result != DKIMPass ||
		good.DMARC.Result != DMARCPass || good.DMARC.Apply != PolicyNone {
		t.Errorf("Check(good) = %+v, want spf, dkim and dmarc pass", good)
	}
	if good.SPFHELO.Identity != "helo" || good.SPFHELO.Result != SPFNone || good.SPFHELO.Domain != "mail.example.com" {
		t.Errorf("Check(good).SPFHELO = %+v, want helo none", good.SPFHELO)
	}
	if d := good.DKIM[0]; d.Domain != "example.com" || d.Selector != "sel" || d.Algorithm != "ed25519-sha256" || d.KeyBits != 256 {
		t.Errorf("Check(good).DKIM[0] = %+v", d)
	}

	// A forgery: wrong client, body changed after signing.
	forged := bytes.Replace(raw, []byte("Hi Bob."), []byte("Pay me."), 1)
	bad := Check(context.Background(), nil, r, cfg, Input{
		ClientIP: net.ParseIP("198.51.100.7"), HELO: "evil.example",
		MailFrom: "alice@example.com", Raw: forged,
	})
	if bad.SPF.Result != SPFFail || bad.DKIM[0].Result != DKIMFail ||
		bad.DMARC.Result != DMARCFail || bad.DMARC.Apply != PolicyReject {
		t.Errorf("Check(forged) = %+v, want spf fail, dkim fail, dmarc fail → reject", bad)
	}

	// Null sender: SPF checks the HELO identity.
	bounce := Check(context.Background(), nil, r, cfg, Input{
		ClientIP: net.ParseIP("192.0.2.10"), HELO: "example.com", Raw: raw,
	})
	if bounce.SPF.Identity != "helo" || bounce.SPF.Result != SPFPass || bounce.SPF.Sender != "postmaster@example.com" {
		t.Errorf("Check(null sender).SPF = %+v, want helo pass", bounce.SPF)
	}
	if bounce.SPFHELO != bounce.SPF {
		t.Errorf("Check(null sender).SPFHELO = %+v, want it equal to SPF %+v", bounce.SPFHELO, bounce.SPF)
	}

	// Unknown client: SPF none, no DNSBL lookups; DKIM still passes.
	unknown := Check(context.Background(), nil, r, cfg, Input{MailFrom: "alice@example.com", Raw: raw})
	if unknown.SPF.Result != SPFNone || unknown.DKIM[0].Result != DKIMPass || unknown.DMARC.Result != DMARCPass {
		t.Errorf("Check(no client IP) = %+v, want spf none, dkim and dmarc pass", unknown)
	}

	// DNS down: temperror everywhere, nothing lost.
	srv.ServFail("example.com")
	srv.ServFail("_dmarc.example.com")
	srv.ServFail("sel._domainkey.example.com")
	down := Check(context.Background(), nil, testResolver(t, srv.Addr), cfg, Input{
		ClientIP: net.ParseIP("192.0.2.10"), HELO: "mail.example.com",
		MailFrom: "alice@example.com", Raw: raw,
	})
	if down.SPF.Result != SPFTempError || down.DKIM[0].Result != DKIMTempError || down.DMARC.Result != DMARCTempError {
		t.Errorf("Check(DNS down) = %+v, want temperror", down)
	}
}

func TestHeader(t *testing.T) {
	res := Results{
		SPF: SPFResult{Result: SPFPass, Identity: "mailfrom", Domain: "example.com", Sender: "alice@example.com"},
		DKIM: []DKIMResult{
			{Result: DKIMPass, Domain: "example.com", Identifier: "@example.com", Selector: "sel", Algorithm: "rsa-sha256", B: "AbCd+/Ef"},
			{Result: DKIMFail, Domain: "example.org", Identifier: "@example.org", Selector: "s2", Algorithm: "ed25519-sha256", B: "xyz"},
		},
		DMARC: DMARCResult{Result: DMARCPass, FromDomain: "example.com"},
	}
	want := "Authentication-Results: mx.example.net;\r\n" +
		"\tspf=pass smtp.mailfrom=alice@example.com;\r\n" +
		"\tdkim=pass header.a=rsa-sha256 header.b=AbCd+/Ef header.d=example.com header.i=@example.com header.s=sel;\r\n" +
		"\tdkim=fail header.a=ed25519-sha256 header.b=xyz header.d=example.org header.i=@example.org header.s=s2;\r\n" +
		"\tdmarc=pass header.from=example.com\r\n"
	if got := res.Header("mx.example.net"); got != want {
		t.Errorf("Header() =\n%s\nwant\n%s", got, want)
	}
	helo := Results{SPF: SPFResult{Result: SPFNone, Identity: "helo", Domain: "mail.example.com"}}
	want = "Authentication-Results: mx;\r\n\tspf=none smtp.helo=mail.example.com;\r\n\tdkim=none\r\n"
	if got := helo.Header("mx"); got != want {
		t.Errorf("Header(helo) = %q, want %q", got, want)
	}
}

func TestStripForged(t *testing.T) {
	in := "Received: from x\r\n" +
		"Authentication-Results: mx.example.net; spf=pass\r\n" +
		"Authentication-Results: (comment) MX.Example.NET 1;\r\n" +
		"\tdkim=pass header.d=bank.example\r\n" +
		"Authentication-Results: other.example; dmarc=pass\r\n" +
		"authentication-results: \"mx.example.net\"; none\r\n" +
		"Subject: Authentication-Results: mx.example.net; x\r\n" +
		"\r\n" +
		"Authentication-Results: mx.example.net; in the body\r\n"
	want := "Received: from x\r\n" +
		"Authentication-Results: other.example; dmarc=pass\r\n" +
		"Subject: Authentication-Results: mx.example.net; x\r\n" +
		"\r\n" +
		"Authentication-Results: mx.example.net; in the body\r\n"
	if got := string(StripForged([]byte(in), "mx.example.net")); got != want {
		t.Errorf("StripForged() =\n%q\nwant\n%q", got, want)
	}
	// Nothing to strip: the input comes back as it is.
	lf := "A: b\nAuthentication-Results: x; none\n\nbody\n"
	if got := string(StripForged([]byte(lf), "mx.example.net")); got != lf {
		t.Errorf("StripForged(%q) = %q, want it unchanged", lf, got)
	}
	if got := string(StripForged([]byte("Authentication-Results: mx; none\n"), "mx")); got != "" {
		t.Errorf("StripForged(only forged, no body) = %q, want empty", got)
	}
}

func TestFromDomain(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string
		ok   bool
	}{
		{"From: Alice <alice@Example.COM>\r\n\r\n", "example.com", true},
		{"from: alice@example.com\n\nbody", "example.com", true},
		{"From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\n\r\n", "example.org", true},
		{"From: a@example.com, b@example.org\r\n\r\n", "", false},
		{"From: a@example.com\r\nFrom: b@example.org\r\n\r\n", "", false},
		{"Subject: x\r\n\r\n", "", false},
		{"From: broken <<a@example.net>\r\n\r\n", "example.net", true},
	} {
		got, ok := fromDomain(mail.ParseHeader([]byte(tc.raw)))
		if got != tc.want || ok != tc.ok {
			t.Errorf("fromDomain(%q) = %q, %v, want %q, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
	}
}

// BenchmarkCheck measures all checks for one message (SPF for MAIL FROM
// and HELO, one RSA-2048 DKIM signature, DMARC, two DNSBLs) with a warm
// cache.
func BenchmarkCheck(b *testing.B) { benchmarkCheck(b, 0) }

// BenchmarkCheckNoCache is the same with every lookup sent to the loopback
// DNS server: the floor of the cold-cache cost.
func BenchmarkCheckNoCache(b *testing.B) { benchmarkCheck(b, -1) }

func benchmarkCheck(b *testing.B, cacheSize int) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	srv := authZone(b, &key.PublicKey)
	r, err := NewDNSResolver(DNSConfig{Servers: []string{srv.Addr}, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	raw := signed(b, plainMessage, "example.com", "sel", key)
	cfg := Config{
		DNSBLs: []DNSBL{
			{Set: "zen", Zone: "zen.example.org", Subtests: []DNSBLSubtest{{Name: "RCVD_IN_SBL", Test: "127.0.0.2"}}},
			{Set: "other", Zone: "bl.example.net"},
		},
	}
	in := Input{ClientIP: net.ParseIP("192.0.2.10"), HELO: "mail.example.com", MailFrom: "alice@example.com", Raw: raw}
	ctx := context.Background()
	if res := Check(ctx, nil, r, cfg, in); res.DMARC.Result != DMARCPass {
		b.Fatalf("Check = %+v, want dmarc pass", res)
	}
	b.ReportAllocs()
	for b.Loop() {
		res := Check(ctx, nil, r, cfg, in)
		_ = res.Header("mx.example.net")
	}
}
