package scoring_test

import (
	"fmt"
	"time"

	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/scoring"
)

func ExampleDecide() {
	res := rules.Result{Hits: []rules.Hit{
		{Rule: "GTUBE", Score: 1000, Describe: "Generic Test for Unsolicited Bulk Email"},
		{Rule: "__SUBRULE", Score: 0.1},
		{Rule: "NO_RELAYS", Score: -0.001, Describe: "Informational: message was not relayed via SMTP"},
	}}
	v := scoring.Decide(res, rules.Config{RequiredScore: 5})
	fmt.Println(v.Score, v.Spam, len(v.Hits))
	// Output: 999.999 true 2
}

func ExampleHeaders() {
	v := scoring.Verdict{Score: 7.3, Required: 5, Spam: true, Hits: []rules.Hit{
		{Rule: "FREEMAIL_FROM", Score: 0.001}, {Rule: "DRUGS_ERECTILE", Score: 1.778}, {Rule: "EXCUSE_4", Score: 5.521},
	}}
	conf := rules.Config{RequiredScore: 5, ReportSafe: 1}
	opt := scoring.Options{Hostname: "mx.example.test", Version: "0.1.0", SubVersion: "2026-11-23"}
	for _, f := range scoring.Headers(v, conf, opt) {
		fmt.Printf("%s: %s\n", f.Name, f.Value)
	}
	// Output:
	// X-Spam-Checker-Version: sluice 0.1.0 (2026-11-23) on mx.example.test
	// X-Spam-Flag: YES
	// X-Spam-Level: *******
	// X-Spam-Status: Yes, score=7.3 required=5.0 tests=DRUGS_ERECTILE,EXCUSE_4,
	// 	FREEMAIL_FROM autolearn=disabled version=0.1.0
}

func ExampleApply() {
	raw := []byte("From: a@example.com\nSubject: cheap pills\nX-Spam-Flag: NO\n\nBuy now.\n")
	v := scoring.Verdict{Score: 6.2, Required: 5, Spam: true, Hits: []rules.Hit{
		{Rule: "DRUGS_ERECTILE", Score: 6.2, Describe: "Refers to an erectile drug"},
	}}
	conf := rules.Config{RequiredScore: 5, ReportSafe: 0, RewriteHeader: map[string]string{"Subject": "*****SPAM*****"},
		RemoveHeaders: []rules.HeaderTemplate{{When: "spam", Name: "Report"}}}
	opt := scoring.Options{Hostname: "mx.example.test", Version: "0.1.0", SubVersion: "2026-11-23",
		Now: func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }}
	fmt.Print(string(scoring.Apply(raw, v, conf, opt)))
	// Output:
	// X-Spam-Checker-Version: sluice 0.1.0 (2026-11-23) on mx.example.test
	// X-Spam-Flag: YES
	// X-Spam-Level: ******
	// X-Spam-Status: Yes, score=6.2 required=5.0 tests=DRUGS_ERECTILE
	// 	autolearn=disabled version=0.1.0
	// From: a@example.com
	// Subject: *****SPAM***** cheap pills
	// X-Spam-Prev-Subject: cheap pills
	//
	// Buy now.
}

func ExamplePreview() {
	body := [][]byte{
		[]byte("Cheap pills\n"), // the Subject comes first and is skipped
		[]byte("Dear friend, we offer the best prices on the market for everything you need, shipped worldwide in discreet packaging within days.\n"),
		[]byte("-------------------------------\n"),
		[]byte("Click here to unsubscribe.\n"),
	}
	fmt.Println(scoring.Preview(body))
	// Output:
	// Dear friend, we offer the best prices on the market for everything
	//    you need, shipped worldwide in discreet packaging within days. Click here
	//    to unsubscribe.
}
