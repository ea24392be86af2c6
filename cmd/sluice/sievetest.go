package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sluice-mail/sluice/sieve"
)

// cmdSieveTest runs one script against one message, as Pigeonhole's
// sieve-test does, and prints the actions one per line.
func cmdSieveTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sieve-test", stderr)
	from := fs.String("from", "sender@example.org", "envelope `sender`")
	rcpt := fs.String("rcpt", "recipient@example.org", "envelope `recipient`")
	spamScore := fs.Float64("spam-score", -1, "spam `score` for spamtest (required 5); negative: not tested")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "usage: sluice sieve-test [-from ADDR] [-rcpt ADDR] [-spam-score N] SCRIPT MESSAGE")
		return 2
	}
	src, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	raw, err := os.ReadFile(fs.Arg(1))
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	script, err := sieve.Compile(fs.Arg(0), src, sieve.Options{})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	env := sieve.Env{From: *from, To: *rcpt, Now: time.Now()}
	if *spamScore >= 0 {
		env.SpamTested, env.SpamScore, env.SpamRequired, env.Spam = true, *spamScore, 5, *spamScore >= 5
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := script.Run(ctx, sieve.ParseMessage(raw), env)
	if err != nil && !errors.Is(err, sieve.ErrRuntime) {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, sieve.FormatActions(res))
	return 0
}

// lintSieve compiles each script and prints its errors as file:line:col:
// message. It reports whether all compiled.
func lintSieve(paths []string, stdout io.Writer) bool {
	ok := true
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err == nil {
			_, err = sieve.Compile(p, src, sieve.Options{})
		}
		if err != nil {
			ok = false
			fmt.Fprintln(stdout, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", p)
	}
	return ok
}
