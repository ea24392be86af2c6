package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sluice-mail/sluice/outbound"
)

// cmdDKIMKeygen writes a DKIM private key (mode 0600) and prints the DNS
// TXT record to publish, split into strings as opendkim-genkey does.
func cmdDKIMKeygen(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("dkim-keygen", stderr)
	domain := fs.String("d", "", "signing `domain`")
	selector := fs.String("s", "", "`selector`")
	alg := fs.String("a", "rsa", "`algorithm`: rsa or ed25519")
	bits := fs.Int("b", 2048, "RSA key size in `bits`")
	dir := fs.String("dir", ".", "`directory` for SELECTOR.private and SELECTOR.txt")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *domain == "" || *selector == "" {
		fmt.Fprintln(stderr, "usage: sluice dkim-keygen -d DOMAIN -s SELECTOR [-a rsa|ed25519] [-b BITS] [-dir DIR]")
		return 2
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	keyPath, record, err := outbound.GenerateKeyFiles(*dir, *selector, *domain, *alg, *bits)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "private key written to %s\n", keyPath)
	fmt.Fprint(stdout, record)
	if !strings.HasSuffix(record, "\n") {
		fmt.Fprintln(stdout)
	}
	return 0
}
