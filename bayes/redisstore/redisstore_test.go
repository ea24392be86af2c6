package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// redisStores returns a function making empty stores on one real
// redis-server, each under its own prefix.
func redisStores(t *testing.T) (func(t *testing.T) *Store, *redis.Client) {
	addr, _ := testutil.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	var n atomic.Int64
	return func(t *testing.T) *Store {
		return New(c, fmt.Sprintf("test%d:", n.Add(1)))
	}, c
}

// TestStoreRedis runs the conformance tests every Bayes store passes
// against a real redis-server.
func TestStoreRedis(t *testing.T) {
	newStore, _ := redisStores(t)
	storetest.Run(t, func(t *testing.T) bayes.Store { return newStore(t) })
}

// TestRedisNodesShareOneDatabase: two stores with their own clients, as
// two sluice nodes, learn the same messages concurrently; each message is
// counted once and each node sees the other's learning.
func TestRedisNodesShareOneDatabase(t *testing.T) {
	addr, _ := testutil.StartRedis(t)
	ctx := context.Background()
	var nodes []*Store
	for range 2 {
		s, err := Open("redis://"+addr+"/3", Options{Prefix: "shared:"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nodes = append(nodes, s)
	}
	errs := make(chan error, 2)
	for _, s := range nodes {
		go func() {
			for i := range 50 {
				if _, err := s.Apply(ctx, storetest.Change(fmt.Sprintf("m%d@x", i), bayes.Spam, 0, 30)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range nodes {
		snap, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(29)})
		if err != nil {
			t.Fatal(err)
		}
		if snap.NSpam != 50 || snap.Counts[0].Spam != 50 {
			t.Errorf("node %d: Lookup = %d spam, token %+v; want 50, 50", i, snap.NSpam, snap.Counts[0])
		}
	}
}

// TestRedisPrefixesAreSeparate: a per-user prefix is a database of its
// own, and a dump of the global one does not take in the users' keys.
func TestRedisPrefixesAreSeparate(t *testing.T) {
	newStore, _ := redisStores(t)
	ctx := context.Background()
	global := newStore(t)
	user := global.WithPrefix(global.prefix + "u:alice@example.test:")
	if _, err := user.Apply(ctx, storetest.Change("a@x", bayes.Spam, 0, 5)); err != nil {
		t.Fatal(err)
	}
	b, err := global.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.NSpam != 0 || len(b.Tokens) != 0 || len(b.Seen) != 0 {
		t.Fatalf("global Dump after a user's learn = %d spam, %d tokens, %d seen; want all 0", b.NSpam, len(b.Tokens), len(b.Seen))
	}
	if b, err = user.Dump(ctx); err != nil || b.NSpam != 1 || len(b.Tokens) != 5 {
		t.Fatalf("user Dump = %+v, %v; want 1 spam, 5 tokens", b, err)
	}
}

// TestRedisBadValueChangesNothing: a malformed token value fails the
// change before anything is written.
func TestRedisBadValueChangesNothing(t *testing.T) {
	newStore, c := redisStores(t)
	ctx := context.Background()
	s := newStore(t)
	c.Set(ctx, s.tokenKey(storetest.Tok(3)), "garbage", 0)
	_, err := s.Apply(ctx, storetest.Change("a@x", bayes.Spam, 0, 5))
	if err == nil || !strings.Contains(err.Error(), "bad format") {
		t.Fatalf("Apply over a bad token value = %v, want a bad format error", err)
	}
	if n, _ := c.Exists(ctx, s.nspam, s.seen, s.tokenKey(storetest.Tok(0))).Result(); n != 0 {
		t.Fatalf("failed Apply left %d keys written", n)
	}
}

// TestRedisDown: with no server, operations fail with an error (which
// the pipeline turns into "no Bayes"), they do not hang.
func TestRedisDown(t *testing.T) {
	addr, stop := testutil.StartRedis(t)
	stop()
	s, err := Open("redis://"+addr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(1)}); err == nil {
		t.Fatal("Lookup with Redis down succeeded")
	}
	if _, err := s.Apply(ctx, storetest.Change("a@x", bayes.Spam, 0, 5)); err == nil {
		t.Fatal("Apply with Redis down succeeded")
	}
}

// TestRedisScriptCacheLost: a batch still applies after the server
// forgot its scripts (restart, SCRIPT FLUSH).
func TestRedisScriptCacheLost(t *testing.T) {
	newStore, c := redisStores(t)
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Apply(ctx, storetest.Change("a@x", bayes.Spam, 0, 5)); err != nil {
		t.Fatal(err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	outs, err := s.ApplyAll(ctx, []bayes.Change{storetest.Change("b@x", bayes.Ham, 0, 5), storetest.Change("a@x", bayes.Spam, 0, 5)})
	if err != nil || fmt.Sprint(outs) != fmt.Sprint([]bayes.Outcome{bayes.Learned, bayes.Already}) {
		t.Fatalf("ApplyAll after SCRIPT FLUSH = %v, %v; want [learned already]", outs, err)
	}
}

// TestStoreRedisCluster runs the conformance tests against a real Redis
// Cluster (one node holding every slot), every key under a hash-tagged
// prefix so that each script's keys share a slot.
func TestStoreRedisCluster(t *testing.T) {
	addr := testutil.StartRedisCluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
	t.Cleanup(func() { c.Close() })
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) bayes.Store { return New(c, fmt.Sprintf("{test%d}:", n.Add(1))) })
}
