package metrics

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
)

// TestServePprof: /debug/pprof/ is served only when asked for; /metrics
// and /readyz either way.
func TestServePprof(t *testing.T) {
	for _, withPprof := range []bool{false, true} {
		m := New("test")
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Serve(ctx, l, slog.New(slog.NewTextHandler(io.Discard, nil)), withPprof) }()
		get := func(path string) int {
			resp, err := http.Get("http://" + l.Addr().String() + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		want := map[bool]int{false: 404, true: 200}[withPprof]
		if got := get("/debug/pprof/"); got != want {
			t.Errorf("pprof %v: /debug/pprof/ = %d, want %d", withPprof, got, want)
		}
		if got := get("/metrics"); got != 200 {
			t.Errorf("pprof %v: /metrics = %d, want 200", withPprof, got)
		}
		m.SetReady(true)
		if got := get("/readyz"); got != 200 {
			t.Errorf("pprof %v: /readyz = %d after SetReady(true), want 200", withPprof, got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
