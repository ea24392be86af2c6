package sieve

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// userScript50 builds a typical user script of 50 rules: list sorting,
// sender folders, subject tags, flags and a vacation-free spam rule.
func userScript50() string {
	var b strings.Builder
	b.WriteString(`require ["fileinto", "imap4flags", "variables", "envelope", "subaddress", "mailbox", "body", "relational", "comparator-i;ascii-numeric", "regex"];` + "\n")
	b.WriteString(`if header :is "X-Spam-Flag" "YES" { fileinto :create "Spam"; stop; }` + "\n")
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&b, "if header :contains \"List-Id\" \"list%d.example.org\" { fileinto \"Lists.list%d\"; stop; }\n", i, i)
	}
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&b, "if address :domain :is \"from\" \"customer%d.example.com\" { addflag \"$Customer\"; fileinto \"Customers.c%d\"; }\n", i, i)
	}
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "if header :matches \"Subject\" \"*[ticket-%d*]*\" { set \"t\" \"${2}\"; fileinto \"Tickets.${t}\"; }\n", i)
	}
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&b, "if envelope :detail \"to\" \"tag%d\" { fileinto \"Tags.%d\"; }\n", i, i)
	}
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&b, "if header :regex \"Subject\" \"^(re|fwd): invoice [0-9]{%d}\" { addflag \"\\\\Flagged\"; }\n", i+3)
	}
	b.WriteString(`if size :over 5M { fileinto "Large"; }` + "\n")
	b.WriteString(`if body :text :contains "unsubscribe" { fileinto "Newsletters"; }` + "\n")
	b.WriteString(`if header :count "gt" :comparator "i;ascii-numeric" "Received" "10" { addflag "$ManyHops"; }` + "\n")
	b.WriteString(`if address :is "to" "bob@example.org" { keep; }` + "\n")
	b.WriteString(`if exists "X-Priority" { addflag "\\Flagged"; }` + "\n")
	return b.String()
}

func BenchmarkCompile50(b *testing.B) {
	src := []byte(userScript50())
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Compile("user.sieve", src, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRun50(b *testing.B) {
	s, err := Compile("user.sieve", []byte(userScript50()), Options{})
	if err != nil {
		b.Fatal(err)
	}
	msg := ParseMessage([]byte(strings.Replace(testMsg, "X-Spam-Flag: YES", "X-Spam-Flag: NO", 1)))
	env := Env{From: "alice@example.com", To: "bob+tag3@example.org"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := s.Run(context.Background(), msg, env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompileAndRun50(b *testing.B) {
	src := []byte(userScript50())
	msg := ParseMessage([]byte(strings.Replace(testMsg, "X-Spam-Flag: YES", "X-Spam-Flag: NO", 1)))
	env := Env{From: "alice@example.com", To: "bob+tag3@example.org"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s, err := Compile("user.sieve", src, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Run(context.Background(), msg, env); err != nil {
			b.Fatal(err)
		}
	}
}
