package parity_test

import (
	"fmt"

	"github.com/sluice-mail/sluice/internal/parity"
)

// Clean prepares a corpus message for both engines.
func ExampleClean() {
	raw := []byte("From someone Mon Aug  5 2002\nX-Spam-Status: No, hits=0.1\n\ttests=NONE\nSubject: hello\n\nX-Spam-Status: in the body stays\n")
	fmt.Printf("%s", parity.Clean(raw))
	// Output:
	// Subject: hello
	//
	// X-Spam-Status: in the body stays
}
