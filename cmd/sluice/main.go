// Command sluice is a mail filter and LMTP delivery agent for Postfix.
//
// Usage:
//
//	sluice serve [-config FILE] [-lmtp ADDR] [-mail-root DIR] [-metrics ADDR] [-milter ADDR] [-spamd ADDR]
//	sluice pipe [-config FILE] -f SENDER [-client-ip IP] [-helo NAME] -- RECIPIENT...
//	sluice check [-config FILE] [-rules DIR]... [-json] [-client-ip IP] [-helo NAME] [-mail-from ADDR] [-rcpt ADDR] [-bayes DB] [-user ADDR] [-dns HOST:PORT] [FILE]
//	sluice masscheck -spam PATH... -ham PATH... [-train-fraction F] [-html FILE] [-config FILE] [-rules DIR]... [-bayes DB] [-export DIR]
//	sluice lint [-config FILE] [-rules DIR]... [-json] [-sieve SCRIPT]...
//	sluice learn [-config FILE] [-bayes DB] [-user ADDR] (-spam|-ham|-forget) PATH...
//	sluice learn [-config FILE] [-bayes DB] [-user ADDR] (-stats|-backup|-restore FILE|-import-sa FILE)
//	sluice sieve-test [-from ADDR] [-rcpt ADDR] [-spam-score N] SCRIPT MESSAGE
//	sluice dkim-keygen -d DOMAIN -s SELECTOR [-a rsa|ed25519] [-b BITS] [-dir DIR]
//	sluice version [-config FILE]   (also: sluice -version)
//
// With no -config, serve runs on the embedded defaults: LMTP on
// 127.0.0.1:2424, mail under ./maildata, every recipient accepted.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr)
	case "pipe":
		return cmdPipe(args[1:], os.Stdin, stderr)
	case "check":
		return cmdCheck(args[1:], os.Stdin, stdout, stderr)
	case "masscheck":
		return cmdMasscheck(args[1:], stdout, stderr)
	case "lint":
		return cmdLint(args[1:], stdout, stderr)
	case "learn":
		return cmdLearn(args[1:], os.Stdin, stdout, stderr)
	case "sieve-test":
		return cmdSieveTest(args[1:], stdout, stderr)
	case "dkim-keygen":
		return cmdDKIMKeygen(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		return cmdVersion(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "sluice: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

// newFlagSet is a command's flag set: errors and -h go to stderr, and a
// bad flag is returned rather than exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: sluice <command> [flags]

commands:
  serve     run the LMTP delivery service (and the SMTP filter, if configured)
  pipe      content_filter mode: filter stdin and re-inject it with sendmail
  check     score one message (stdin or FILE) and print the report
  masscheck train Bayes on the older part of a labelled corpus, test on the rest
  lint      check rule files (and Sieve scripts) and print statistics
  learn     learn messages as spam or ham (sa-learn); Bayes database stats, backup, restore
  sieve-test  run a Sieve script against a message and print its actions
  dkim-keygen generate a DKIM key and print its DNS record
  version   print the version, the build and the rules the configuration loads

Run "sluice <command> -h" for a command's flags.
`)
}
