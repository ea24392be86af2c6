package spamd

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// filterScanner answers FILTER with one copy per recipient, each marked
// with the envelope it was given.
type filterScanner struct{ fakeScanner }

func (f *filterScanner) Filter(_ context.Context, req *Request) ([]Copy, error) {
	if strings.Contains(string(req.Message), "FAIL") {
		return nil, errors.New("rules not loaded")
	}
	var out []Copy
	for _, r := range req.Envelope.To {
		e := req.Envelope
		out = append(out, Copy{Recipients: []string{r},
			Message: []byte("X-Env: " + e.From + " " + e.ClientAddress + " " + e.ClientHelo + " " + e.QueueID + "\r\n" + string(req.Message))})
	}
	return out, nil
}

func dialFilter(t *testing.T, addr string, env Envelope, msg string) ([]Copy, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return RequestFilter(ctx, c, env, []byte(msg), 1<<20)
}

// TestFilter: FILTER carries the envelope to the Scanner's Filter and
// brings every copy back with its recipients; a failure comes back as a
// refusal; a Scanner without Filter refuses the command.
func TestFilter(t *testing.T) {
	addr := startServer(t, Config{}, &filterScanner{})
	env := Envelope{From: "s@example.org", To: []string{"a@example.test", "b@example.test"}, ClientAddress: "192.0.2.1", ClientHelo: "mail.example.org", QueueID: "4AbC"}
	msg := "Subject: x\r\n\r\nbody\r\n"
	copies, err := dialFilter(t, addr, env, msg)
	if err != nil {
		t.Fatal(err)
	}
	want := []Copy{
		{Recipients: []string{"a@example.test"}, Message: []byte("X-Env: s@example.org 192.0.2.1 mail.example.org 4AbC\r\n" + msg)},
		{Recipients: []string{"b@example.test"}, Message: []byte("X-Env: s@example.org 192.0.2.1 mail.example.org 4AbC\r\n" + msg)},
	}
	if !reflect.DeepEqual(copies, want) {
		t.Fatalf("RequestFilter = %q, want %q", copies, want)
	}
	if _, err := dialFilter(t, addr, env, "Subject: FAIL\r\n\r\n"); !errors.Is(err, ErrFilterRefused) || !strings.Contains(err.Error(), "EX_") {
		t.Fatalf("a failing filter: %v, want ErrFilterRefused with the EX_ code", err)
	}
	if got := exchange(t, addr, request(Filter, "1.5", "", msg)); !strings.Contains(got, "76") {
		t.Fatalf("FILTER without Envelope-To = %q, want EX_PROTOCOL", got)
	}
	plain := startServer(t, Config{}, &fakeScanner{})
	if _, err := dialFilter(t, plain, env, msg); !errors.Is(err, ErrFilterRefused) {
		t.Fatalf("FILTER to a scanner without Filter: %v, want ErrFilterRefused", err)
	}
}
