package maildir

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// BenchmarkDeliver delivers a 5 KB message into INBOX with every fsync of a
// real delivery (file and directory); ns/op is dominated by the disk.
func BenchmarkDeliver(b *testing.B) {
	s := testStore(b, nil, Options{})
	msg := []byte("From: a@example.com\r\nTo: b@example.com\r\nSubject: bench\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 76)+"\r\n", 64))
	msg = msg[:5*1024]
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Deliver(ctx, "", Flags{}, true, bytes.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
}
