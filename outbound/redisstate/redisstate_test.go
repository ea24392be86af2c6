package redisstate_test

import (
	"context"
	"errors"
	"strings"
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
