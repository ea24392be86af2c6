package netserve

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestLimitAndShutdown: past the limit a client waits unserved; Shutdown
// waits for the connection being served, and once its context ends,
// closes what is left and says so.
func TestLimitAndShutdown(t *testing.T) {
	release := make(chan struct{})
	served := make(chan struct{}, 4)
	l := New("test", 1, func(c net.Conn) {
		served <- struct{}{}
		select {
		case <-release:
			io.WriteString(c, "bye")
		case <-time.After(10 * time.Second):
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- l.Serve(ln) }()
	c1, _ := net.Dial("tcp", ln.Addr().String())
	defer c1.Close()
	<-served
	c2, _ := net.Dial("tcp", ln.Addr().String())
	defer c2.Close()
	select {
	case <-served:
		t.Fatal("a second connection was served past the limit of 1")
	case <-time.After(200 * time.Millisecond):
	}
	if l.Active() != 1 {
		t.Fatalf("Active() = %d, want 1", l.Active())
	}
	// Shutdown waits for the served connection: it ends when released.
	go func() { time.Sleep(100 * time.Millisecond); close(release) }()
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if b, _ := io.ReadAll(c1); string(b) != "bye" {
		t.Fatalf("served client read %q, want bye", b)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve() = %v, want ErrClosed", err)
	}
	if !l.Closing() || l.Context().Err() == nil {
		t.Fatal("after Shutdown: Closing false or Context not cancelled")
	}
}

// TestShutdownDeadline: a connection that does not end is closed when
// Shutdown's context ends, and Shutdown returns the context's error.
func TestShutdownDeadline(t *testing.T) {
	l := New("test", 4, func(c net.Conn) { io.ReadAll(c) })
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go l.Serve(ln)
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()
	for l.Active() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := l.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown() = %v, want DeadlineExceeded", err)
	}
	if l.Active() != 0 {
		t.Fatalf("Active() = %d after Shutdown, want 0", l.Active())
	}
}
