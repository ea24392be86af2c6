package maildir

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
)

// benchMsg is a 5 KB message with CRLF line endings.
func benchMsg() []byte {
	msg := []byte("From: a@example.com\r\nTo: b@example.com\r\nSubject: bench\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 76)+"\r\n", 64))
	return msg[:5*1024]
}

// BenchmarkDeliver delivers a 5 KB message into INBOX with every fsync of a
// real delivery (file and directory); ns/op is dominated by the disk.
func BenchmarkDeliver(b *testing.B) {
	s := testStore(b, nil, Options{})
	msg := benchMsg()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Deliver(ctx, "", Flags{}, true, bytes.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliverParallel delivers 5 KB messages from 4×GOMAXPROCS goroutines
// into INBOX and two folders, fsync on.
func BenchmarkDeliverParallel(b *testing.B) {
	s := testStore(b, nil, Options{})
	msg := benchMsg()
	folders := []string{"", "Spam", "Lists.Go"}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	var n atomic.Int64
	b.SetParallelism(4) // deliveries wait on fsync, not CPU
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			f := folders[n.Add(1)%int64(len(folders))]
			if _, err := s.Deliver(ctx, f, Flags{}, true, bytes.NewReader(msg)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDeliverParallelInbox delivers 5 KB messages from 4×GOMAXPROCS
// goroutines into one INBOX, as bench-lmtp's sessions do: the case the
// group commit of new/'s fsync is for.
func BenchmarkDeliverParallelInbox(b *testing.B) {
	s := testStore(b, nil, Options{})
	msg := benchMsg()
	b.SetBytes(int64(len(msg)))
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := s.Deliver(ctx, "", Flags{}, true, bytes.NewReader(msg)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
