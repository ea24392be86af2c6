package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
	"github.com/sluice-mail/sluice/outbound"
	"github.com/sluice-mail/sluice/outbound/redisstate"
)

// TestRedisSentinel: with [redis] sentinel_addrs and sentinel_master, the
// client asks a real Sentinel (redis-server --sentinel) for the master
// and the outbound state works through it; the URL gives the database.
func TestRedisSentinel(t *testing.T) {
	master, _ := testutil.StartRedis(t)
	bin := testutil.RequirePeer(t, "redis-server")[0]
	dir := t.TempDir()
	sport := testutil.FreePort(t)
	conf := filepath.Join(dir, "sentinel.conf")
	host, port := master[:len("127.0.0.1")], master[len("127.0.0.1:"):]
	os.WriteFile(conf, fmt.Appendf(nil, "bind 127.0.0.1\nport %d\ndir %s\nsentinel monitor mymaster %s %s 1\n", sport, dir, host, port), 0o644)
	cmd := exec.Command(bin, conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := testutil.WaitPort(sport, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	r := config.Default().Redis
	r.URL = "redis://ignored.invalid:1/3"
	r.SentinelAddrs = []string{fmt.Sprintf("127.0.0.1:%d", sport)}
	r.SentinelMaster = "mymaster"
	c, err := newRedisClient(r)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	st := redisstate.New(c, redisstate.Options{Prefix: "s:"})
	k := outbound.DeliveryKey{Message: "m", Recipient: "r@x", Action: "a"}
	if err := st.Mark(ctx, k); err != nil {
		t.Fatalf("Mark through the Sentinel's master = %v", err)
	}
	direct := redis.NewClient(&redis.Options{Addr: master, DB: 3})
	defer direct.Close()
	if n, err := direct.Exists(ctx, "s:o:d:"+k.ID()).Result(); n != 1 || err != nil {
		t.Fatalf("key not in the master's database 3 (from the URL): %v, %v", n, err)
	}
}
