package sieve_test

import (
	"context"
	"fmt"

	"github.com/sluice-mail/sluice/sieve"
)

func ExampleCompile() {
	script := `require ["fileinto", "imap4flags", "mailbox"];
if header :is "X-Spam-Flag" "YES" {
	addflag "\\Seen";
	fileinto :create "Spam";
	stop;
}`
	s, err := sieve.Compile("spam.sieve", []byte(script), sieve.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := sieve.ParseMessage([]byte("From: a@example.com\r\nX-Spam-Flag: YES\r\nSubject: hi\r\n\r\nbody\r\n"))
	res, err := s.Run(context.Background(), msg, sieve.Env{From: "a@example.com", To: "b@example.org"})
	if err != nil {
		fmt.Println("error:", err)
	}
	fmt.Print(sieve.FormatActions(res))
	// Output:
	// fileinto Spam create flags=\Seen
}

func ExampleCompile_errors() {
	_, err := sieve.Compile("bad.sieve", []byte("fileinto \"x\";\nif true { keep }\n"), sieve.Options{})
	fmt.Println(err)
	// Output:
	// bad.sieve:2:16: expected ';' or '{' after command 'keep' but found '}'
	// bad.sieve: parse failed
}

func ExampleSequence_Run() {
	before, _ := sieve.Compile("before", []byte(`require "fileinto"; if header :is "X-Spam-Flag" "YES" { fileinto "Spam"; }`), sieve.Options{})
	user, _ := sieve.Compile("user", []byte(`require "fileinto"; if header :contains "Subject" "report" { fileinto "Reports"; }`), sieve.Options{})
	q := sieve.Sequence{Before: []*sieve.Script{before}, User: user}
	msg := sieve.ParseMessage([]byte("Subject: weekly report\r\n\r\nbody\r\n"))
	res, _ := q.Run(context.Background(), msg, sieve.Env{})
	fmt.Print(sieve.FormatActions(res))
	// Output:
	// fileinto Reports
}
