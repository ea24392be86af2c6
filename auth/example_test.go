package auth_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/auth"
)

// Check runs once per message; the pipeline prepends the header and hands
// the results to the rule engine.
func ExampleCheck() {
	r, err := auth.NewDNSResolver(auth.DNSConfig{Servers: []string{"127.0.0.1:53"}, Timeout: time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	raw := []byte("From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n")
	cfg := auth.Config{}
	const authservID = "mx.example.net"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := auth.Check(ctx, slog.Default(), r, cfg, auth.Input{
		ClientIP: net.ParseIP("192.0.2.1"),
		HELO:     "mail.example.com",
		MailFrom: "a@example.com",
		Raw:      auth.StripForged(raw, authservID),
	})
	os.Stdout.WriteString(res.Header(authservID))
	if res.DMARC.Apply == auth.PolicyReject {
		fmt.Println("550 5.7.1 rejected by DMARC policy")
	}
}

func ExampleResults_Header() {
	res := auth.Results{
		SPF:   auth.SPFResult{Result: auth.SPFPass, Identity: "mailfrom", Domain: "example.com", Sender: "a@example.com"},
		DKIM:  []auth.DKIMResult{{Result: auth.DKIMPass, Domain: "example.com", Identifier: "@example.com", Selector: "s1", Algorithm: "ed25519-sha256", B: "Xy12AbCd"}},
		DMARC: auth.DMARCResult{Result: auth.DMARCPass, FromDomain: "example.com"},
	}
	// The field uses CRLF line endings, as on the wire.
	fmt.Print(strings.ReplaceAll(res.Header("mx.example.net"), "\r\n", "\n"))
	// Output:
	// Authentication-Results: mx.example.net;
	//	spf=pass smtp.mailfrom=a@example.com;
	//	dkim=pass header.a=ed25519-sha256 header.b=Xy12AbCd header.d=example.com header.i=@example.com header.s=s1;
	//	dmarc=pass header.from=example.com
}

func ExampleStripForged() {
	in := "Authentication-Results: mx.example.net; dkim=pass header.d=bank.example\n" +
		"Authentication-Results: relay.example.org; spf=pass\n" +
		"Subject: hello\n\nbody\n"
	fmt.Print(string(auth.StripForged([]byte(in), "mx.example.net")))
	// Output:
	// Authentication-Results: relay.example.org; spf=pass
	// Subject: hello
	//
	// body
}

func ExampleOrgDomain() {
	fmt.Println(auth.OrgDomain("mail.example.co.uk"))
	fmt.Println(auth.OrgDomain("someone.blogspot.com"))
	// Output:
	// example.co.uk
	// blogspot.com
}

func ExampleMatchSubtest() {
	fmt.Println(auth.MatchSubtest("127.0.0.2", "127.0.0.2"))
	fmt.Println(auth.MatchSubtest("127.0.0.6", "4"))
	fmt.Println(auth.MatchSubtest("127.0.0.10", `^127\.0\.0\.1[01]$`))
	// Output:
	// true
	// true
	// true
}
