package config

import (
	"strings"
	"testing"
)

// TestRedisSentinelConfig: sentinel_addrs and sentinel_master parse, go
// together, and need a url for the credentials and database.
func TestRedisSentinelConfig(t *testing.T) {
	c, err := Parse("sluice.toml", []byte("[redis]\nurl = \"redis://:pw@x:1/2\"\nsentinel_addrs = [\"127.0.0.1:26379\", \"127.0.0.2:26379\"]\nsentinel_master = \"mymaster\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Redis.SentinelAddrs) != 2 || c.Redis.SentinelMaster != "mymaster" {
		t.Fatalf("Redis = %+v", c.Redis)
	}
	for src, want := range map[string]string{
		"[redis]\nurl = \"redis://x:1\"\nsentinel_addrs = [\"a:1\"]\n":   "go together",
		"[redis]\nurl = \"redis://x:1\"\nsentinel_master = \"m\"\n":      "go together",
		"[redis]\nsentinel_addrs = [\"a:1\"]\nsentinel_master = \"m\"\n": "redis.url is empty",
	} {
		if _, err := Parse("sluice.toml", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", src, err, want)
		}
	}
}

func TestRedisClusterConfig(t *testing.T) {
	c, err := Parse("sluice.toml", []byte("[redis]\nurl = \"redis://x:1\"\nkey_prefix = \"{mail}:\"\ncluster_addrs = [\"127.0.0.1:7000\"]\n"))
	if err != nil || len(c.Redis.ClusterAddrs) != 1 {
		t.Fatalf("Parse = %+v, %v", c.Redis, err)
	}
	for src, want := range map[string]string{
		"[redis]\nurl = \"redis://x:1\"\ncluster_addrs = [\"a:1\"]\n":                                                                             "hash tag",
		"[redis]\nurl = \"redis://x:1\"\nkey_prefix = \"{}:\"\ncluster_addrs = [\"a:1\"]\n":                                                       "hash tag",
		"[redis]\nkey_prefix = \"{s}:\"\ncluster_addrs = [\"a:1\"]\n":                                                                             "redis.url is empty",
		"[redis]\nurl = \"redis://x:1\"\nkey_prefix = \"{s}:\"\ncluster_addrs = [\"a:1\"]\nsentinel_addrs = [\"b:1\"]\nsentinel_master = \"m\"\n": "exclude",
	} {
		if _, err := Parse("sluice.toml", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", src, err, want)
		}
	}
}
