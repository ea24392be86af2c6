package outbound

import (
	"bytes"
	"testing"
	"time"
)

func BenchmarkSign(b *testing.B) {
	body := bytes.Repeat([]byte("A line of a typical forwarded message body, about seventy bytes.\r\n"), 300)
	raw := append([]byte("From: a@bench.example\r\nTo: b@x.example\r\nSubject: s\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@bench.example>\r\n\r\n"), body...)
	for _, alg := range []string{"rsa", "ed25519"} {
		b.Run(alg, func(b *testing.B) {
			key, err := GenerateKey(alg, 2048)
			if err != nil {
				b.Fatal(err)
			}
			d, err := NewDKIM([]KeyTableEntry{{Name: "k", Domain: "bench.example", Selector: "s", Key: "inline"}}, []SigningTableEntry{{Pattern: "*@bench.example", KeyName: "k"}}, DKIMConfig{})
			if err != nil {
				b.Fatal(err)
			}
			d.loaded["inline"] = key
			b.SetBytes(int64(len(raw)))
			for i := 0; i < b.N; i++ {
				if _, ok, err := d.Sign(raw, "a@bench.example"); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

func BenchmarkSRSForwardReverse(b *testing.B) {
	s, _ := NewSRS(SRSConfig{Secrets: []string{"a", "b"}, Now: func() time.Time { return postsrsdTime }})
	for i := 0; i < b.N; i++ {
		f, _ := s.Forward("someone@origin.example", "forward.example")
		if _, err := s.Reverse(f); err != nil {
			b.Fatal(err)
		}
	}
}
