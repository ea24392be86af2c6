package redisstate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-mail/sluice/internal/testutil"
	"github.com/sluice-mail/sluice/outbound"
	"github.com/sluice-mail/sluice/outbound/internal/statetest"
	"github.com/sluice-mail/sluice/outbound/redisstate"
)

// TestConformance runs the state back-end table against a real
// redis-server; two opens in one test are two nodes on one server.
func TestConformance(t *testing.T) {
	addr, _ := testutil.StartRedis(t)
	statetest.Run(t, func(t *testing.T, ttl time.Duration) statetest.State {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		// One prefix per test: separate states, shared by the test's nodes.
		prefix := "t:" + strings.ReplaceAll(t.Name(), "/", ":") + ":"
		return redisstate.New(c, redisstate.Options{Prefix: prefix, DeliveryTTL: ttl})
	}, true)
}

// TestUnavailable: with the server gone every operation fails fast,
// temporary, and wrapping ErrUnavailable; a restarted server serves again.
func TestUnavailable(t *testing.T) {
	addr, stop := testutil.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	s := redisstate.New(c, redisstate.Options{})
	ctx := context.Background()
	k := outbound.DeliveryKey{Message: "m", Recipient: "r@x", Action: "a"}
	if err := s.Mark(ctx, k); err != nil {
		t.Fatal(err)
	}
	stop()
	checks := map[string]func() error{
		"Done":            func() error { _, err := s.Done(ctx, k); return err },
		"Mark":            func() error { return s.Mark(ctx, k) },
		"ClaimVacation":   func() error { _, err := s.ClaimVacation(ctx, outbound.VacationKey{}, time.Hour); return err },
		"ReleaseVacation": func() error { return s.ReleaseVacation(ctx, outbound.VacationKey{}) },
		"Seen":            func() error { _, err := s.Seen(ctx, "k"); return err },
		"MarkSeen":        func() error { return s.MarkSeen(ctx, "k", time.Now().Add(time.Hour)) },
		"Ping":            func() error { return s.Ping(ctx) },
	}
	for name, f := range checks {
		start := time.Now()
		err := f()
		if !errors.Is(err, redisstate.ErrUnavailable) || !outbound.IsTemporary(err) {
			t.Errorf("%s with Redis down = %v, want temporary ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s with Redis down took %v", name, d)
		}
	}
}

// TestClaim: of two nodes claiming one forward, one wins and the other is
// told to wait; a released claim can be taken again, a marked one is done
// for everyone, and Release never undoes a done entry.
func TestClaim(t *testing.T) {
	addr, _ := testutil.StartRedis(t)
	ctx := context.Background()
	node := func() *redisstate.Store {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		return redisstate.New(c, redisstate.Options{Prefix: "claim:"})
	}
	a, b := node(), node()
	k := outbound.DeliveryKey{Message: "m", Recipient: "r@x", Action: "redirect:f@y"}
	step := func(s *redisstate.Store, wantClaimed, wantDone bool) {
		t.Helper()
		claimed, done, err := s.Claim(ctx, k, time.Minute)
		if err != nil || claimed != wantClaimed || done != wantDone {
			t.Fatalf("Claim = %v, %v, %v; want %v, %v", claimed, done, err, wantClaimed, wantDone)
		}
	}
	step(a, true, false)
	step(b, false, false) // a holds it
	if done, _ := b.Done(ctx, k); done {
		t.Fatal("a claimed action reads as done")
	}
	if err := a.Release(ctx, k); err != nil {
		t.Fatal(err)
	}
	step(b, true, false)
	if err := b.Mark(ctx, k); err != nil {
		t.Fatal(err)
	}
	step(a, false, true)
	if err := a.Release(ctx, k); err != nil {
		t.Fatal(err)
	}
	if done, _ := a.Done(ctx, k); !done {
		t.Fatal("Release undid a done entry")
	}
}

// slowSubmitter counts submissions and takes its time over each.
type slowSubmitter struct {
	n    atomic.Int32
	wait time.Duration
	fail bool
}

func (s *slowSubmitter) Submit(context.Context, string, []string, []byte) error {
	s.n.Add(1)
	time.Sleep(s.wait)
	if s.fail {
		return fmt.Errorf("%w: relay down", outbound.ErrTemporary)
	}
	return nil
}

// TestSenderClaims: two nodes handed the same redirect at once send it
// once; the other gets a temporary failure and, retried later, finds it
// done. A failed send releases its claim, so the retry sends.
func TestSenderClaims(t *testing.T) {
	addr, _ := testutil.StartRedis(t)
	ctx := context.Background()
	sub := &slowSubmitter{wait: 300 * time.Millisecond}
	sender := func() *outbound.Sender {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		s, err := outbound.NewSender(outbound.SenderConfig{Submitter: sub, Store: redisstate.New(c, redisstate.Options{}), Hostname: "mx.test"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := sender(), sender()
	k := outbound.DeliveryKey{Message: "m1", Recipient: "u@example.test", Action: "redirect:f@example.net"}
	msg := outbound.Msg{Kind: outbound.Redirect, From: "s@example.org", To: []string{"f@example.net"}, Rcpt: "u@example.test",
		Raw: []byte("From: s@example.org\r\nSubject: x\r\n\r\nbody\r\n"), Key: &k}
	errs := make(chan error, 2)
	go func() { errs <- a.Send(ctx, msg) }()
	time.Sleep(50 * time.Millisecond)
	go func() { errs <- b.Send(ctx, msg) }()
	e1, e2 := <-errs, <-errs
	if sub.n.Load() != 1 || (e1 == nil) == (e2 == nil) || !outbound.IsTemporary(errors.Join(e1, e2)) {
		t.Fatalf("concurrent sends: %d submissions, errors %v and %v; want 1 and one temporary failure", sub.n.Load(), e1, e2)
	}
	if err := b.Send(ctx, msg); err != nil || sub.n.Load() != 1 {
		t.Fatalf("the retry: %v, %d submissions; want nil and still 1", err, sub.n.Load())
	}
	k2 := outbound.DeliveryKey{Message: "m2", Recipient: "u@example.test", Action: "redirect:f@example.net"}
	msg.Key = &k2
	sub.fail, sub.wait = true, 0
	if err := a.Send(ctx, msg); !outbound.IsTemporary(err) {
		t.Fatalf("send with the relay down = %v, want temporary", err)
	}
	sub.fail = false
	if err := b.Send(ctx, msg); err != nil || sub.n.Load() != 3 {
		t.Fatalf("retry after a failed send: %v, %d submissions; want nil and 3", err, sub.n.Load())
	}
}

// TestConformanceCluster runs the state table against a real Redis
// Cluster (one node, every slot), keys under a hash-tagged prefix.
func TestConformanceCluster(t *testing.T) {
	addr := testutil.StartRedisCluster(t)
	statetest.Run(t, func(t *testing.T, ttl time.Duration) statetest.State {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
		t.Cleanup(func() { c.Close() })
		prefix := "{t:" + strings.ReplaceAll(t.Name(), "/", ":") + "}:"
		return redisstate.New(c, redisstate.Options{Prefix: prefix, DeliveryTTL: ttl})
	}, true)
}
