package main

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/outbound"
)

// TestRelayCommandTimeout: outbound.command_timeout bounds the wait for a
// relay that accepts the connection and never greets; the redirect fails
// as a temporary error (Postfix retries) after that long, not after
// go-smtp's fixed 5 minutes.
func TestRelayCommandTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent
		}
	}()
	cfg, err := config.Parse("test.toml", []byte("[outbound]\nrelay = \""+l.Addr().String()+"\"\ncommand_timeout = \"300ms\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSender(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// The test's own bound: far above 300ms, far below 5 minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = s.Out.Send(ctx, outbound.Msg{Kind: outbound.Redirect, From: "a@example.test", To: []string{"b@example.test"}, Raw: []byte("Subject: x\r\n\r\nx\r\n")})
	if err == nil || !outbound.IsTemporary(err) {
		t.Fatalf("Send to a silent relay = %v, want a temporary error", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Send to a silent relay ran into the test's 20s bound, not command_timeout: %v", err)
	}
}
