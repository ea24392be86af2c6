package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestRedisTTL: with bayes_auto_expire on, learned tokens carry
// bayes_token_ttl and seen keys bayes_seen_ttl; a touch renews a token's;
// with it off, keys live for ever.
func TestRedisTTL(t *testing.T) {
	addr, _ := testutil.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	ttl := func(key string) time.Duration {
		t.Helper()
		d, err := c.TTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	near := func(got, want time.Duration) bool { return got <= want && got > want-time.Minute }

	s := New(c, "ttl:")
	def := bayes.DefaultExpiry()
	if _, err := s.Apply(ctx, storetest.Change("a@x", bayes.Spam, 0, 3)); err != nil {
		t.Fatal(err)
	}
	if got := ttl(s.tokenKey(storetest.Tok(1))); !near(got, def.TokenTTL) {
		t.Errorf("TTL of a learned token = %v, want %v", got, def.TokenTTL)
	}
	if got := ttl(s.seenKey("a@x")); !near(got, def.SeenTTL) {
		t.Errorf("TTL of a seen key = %v, want %v", got, def.SeenTTL)
	}
	if err := c.Expire(ctx, s.tokenKey(storetest.Tok(1)), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Touch(ctx, []bayes.Token{storetest.Tok(1), storetest.Tok(50)}, 5000); err != nil {
		t.Fatal(err)
	}
	if got := ttl(s.tokenKey(storetest.Tok(1))); !near(got, def.TokenTTL) {
		t.Errorf("TTL of a touched token = %v, want %v again", got, def.TokenTTL)
	}
	if n, _ := c.Exists(ctx, s.tokenKey(storetest.Tok(50))).Result(); n != 0 {
		t.Errorf("Touch created a token")
	}

	off := bayes.DefaultExpiry()
	off.Auto = false
	so, err := Open("redis://"+addr, Options{Prefix: "nottl:", Expiry: &off})
	if err != nil {
		t.Fatal(err)
	}
	defer so.Close()
	if _, err := so.Apply(ctx, storetest.Change("b@x", bayes.Ham, 0, 3)); err != nil {
		t.Fatal(err)
	}
	if got := ttl(so.tokenKey(storetest.Tok(1))); got != -1 {
		t.Errorf("TTL with bayes_auto_expire 0 = %v, want none (-1)", got)
	}

	// A restore spreads the TTLs over 0.7 to 1.7 times the setting.
	b, err := s.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Seen["a@x"] != bayes.Spam {
		t.Errorf("Dump seen = %v, want a@x spam", b.Seen)
	}
	if err := s.Restore(ctx, b); err != nil {
		t.Fatal(err)
	}
	got := ttl(s.tokenKey(storetest.Tok(2)))
	if lo, hi := def.TokenTTL*7/10-time.Minute, def.TokenTTL*17/10; got < lo || got > hi {
		t.Errorf("TTL of a restored token = %v, want within [%v, %v]", got, lo, hi)
	}
}

// TestRedisLegacySeenHash: message ids learned into the seen hash of
// earlier versions still count as learned, and a forget removes them.
func TestRedisLegacySeenHash(t *testing.T) {
	newStore, c := redisStores(t)
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.Apply(ctx, storetest.Change("old@x", bayes.Spam, 0, 3)); err != nil {
		t.Fatal(err)
	}
	// Move the entry to the hash, as an earlier version kept it.
	if err := c.Del(ctx, s.seenKey("old@x")).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, s.seen, "old@x", "s").Err(); err != nil {
		t.Fatal(err)
	}
	if out, err := s.Apply(ctx, storetest.Change("old@x", bayes.Spam, 0, 3)); err != nil || out != bayes.Already {
		t.Fatalf("Apply of a message in the legacy hash = %v, %v; want already", out, err)
	}
	if out, err := s.Apply(ctx, storetest.Change("old@x", 0, 0, 3)); err != nil || out != bayes.Forgotten {
		t.Fatalf("forget of a message in the legacy hash = %v, %v; want forgotten", out, err)
	}
	if n, _ := c.HLen(ctx, s.seen).Result(); n != 0 {
		t.Errorf("legacy hash holds %d entries after the forget, want 0", n)
	}
}
