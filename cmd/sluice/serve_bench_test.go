package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/config"
)

// BenchmarkServeDelivery: one 5 KB message per iteration over one LMTP
// connection to an in-process `sluice serve` with rules, Sieve and auth
// off (bench-lmtp's delivery row), into a mail root on /dev/shm when it
// exists, so that the Go side of the path (LMTP, pipeline, Maildir) is
// what is measured rather than the disk.
func BenchmarkServeDelivery(b *testing.B) {
	base := os.Getenv("SLUICE_BENCH_DIR")
	if base == "" {
		if _, err := os.Stat("/dev/shm"); err == nil {
			base = "/dev/shm"
		}
	}
	root, err := os.MkdirTemp(base, "sluice-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(root)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := config.Default()
	cfg.LMTP.Listen = []string{addr}
	cfg.Metrics.Listen = ""
	cfg.Delivery.MailRoot = root
	cfg.Delivery.Domains = []string{"example.test"}
	cfg.Auth.Enabled = false
	cfg.Rules.Mode = "off"
	cfg.Sieve.Enabled = false
	cfg.Log.Level = "warn"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil) }()
	defer func() { cancel(); <-done }()
	var c *smtp.Client
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			c = smtp.NewClientLMTP(conn)
			break
		}
		if time.Now().After(deadline) {
			b.Fatal(err)
		}
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 5000/64)
	b.SetBytes(5000)
	b.ResetTimer()
	for i := range b.N {
		msg := fmt.Sprintf("From: s@client.test\r\nTo: alice@example.test\r\nSubject: bench %d\r\nMessage-ID: <bench.%d@client.test>\r\n\r\n%s", i, i, body)
		if err := c.Mail("s@client.test", nil); err != nil {
			b.Fatal(err)
		}
		if err := c.Rcpt("alice@example.test", nil); err != nil {
			b.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			b.Fatal(err)
		}
		io.WriteString(w, msg)
		if _, err := w.CloseWithLMTPResponse(); err != nil {
			b.Fatal(err)
		}
	}
}
