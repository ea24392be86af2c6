package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/redisstore"
	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/metrics"
	"github.com/sluice-mail/sluice/outbound"
	"github.com/sluice-mail/sluice/outbound/redisstate"
	"github.com/sluice-mail/sluice/pipeline"
)

// redisPool keeps one go-redis client, and so one connection pool, per
// [redis] setting, and one Bayes store per setting and prefix, for the
// life of a `serve` process: the Bayes stores (global and per user) and
// the outbound state all use the client, and a reload that keeps the
// setting keeps the pool (closing the old pipeline's pool under
// deliveries still in flight would fail them over to no Bayes for
// nothing). Commands that build one pipeline use a pool of their own. It
// is safe for concurrent use; the zero value is ready.
type redisPool struct {
	mu      sync.Mutex
	clients map[string]redis.UniversalClient
	stores  map[string]*redisstore.Store
}

// client returns the pool's client for cfg.Redis. It does not connect: a
// server that is down fails each operation instead.
func (p *redisPool) client(cfg config.Config) (redis.UniversalClient, error) {
	r := cfg.Redis
	key := strings.Join(append([]string{r.URL, r.Timeout.String(), r.SentinelMaster}, r.SentinelAddrs...), "\x00")
	key += "\x00" + strings.Join(r.ClusterAddrs, "\x00")
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		return c, nil
	}
	c, err := newRedisClient(r)
	if err != nil {
		return nil, err
	}
	if p.clients == nil {
		p.clients = map[string]redis.UniversalClient{}
	}
	p.clients[key] = c
	return c, nil
}

// bayesStore returns the pool's Bayes store under cfg.Redis.KeyPrefix,
// opening it on first use.
func (p *redisPool) bayesStore(cfg config.Config, exp *bayes.Expiry) (*redisstore.Store, error) {
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%s", cfg.Redis.URL, strings.Join(cfg.Redis.ClusterAddrs, ","), cfg.Redis.KeyPrefix, cfg.Redis.Timeout)
	p.mu.Lock()
	st, ok := p.stores[key]
	p.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := p.redisStore(cfg, cfg.Redis.KeyPrefix, exp)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.stores[key]; ok {
		return old, nil
	}
	if p.stores == nil {
		p.stores = map[string]*redisstore.Store{}
	}
	p.stores[key] = st
	return st, nil
}

// redisStore opens a Redis Bayes store under prefix on the pool's client.
func (p *redisPool) redisStore(cfg config.Config, prefix string, exp *bayes.Expiry) (*redisstore.Store, error) {
	c, err := p.client(cfg)
	if err != nil {
		return nil, err
	}
	return redisstore.NewStore(c, redisstore.Options{Prefix: prefix, Expiry: exp}), nil
}

// newRedisClient builds a client for r: on the server of r.URL, or on the
// master the Sentinels name. r.Timeout fills the dial, read and write
// timeouts the URL leaves unset. A delivery waits for Redis, and goes on
// without it when it is down: one dial and one retry, not go-redis's 5
// dials of 4 tries (two seconds per operation against a closed port).
func newRedisClient(r config.Redis) (redis.UniversalClient, error) {
	o, err := redis.ParseURL(r.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	t := r.Timeout
	if t <= 0 {
		t = time.Second
	}
	for _, d := range []*time.Duration{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout} {
		if *d == 0 {
			*d = t
		}
	}
	o.DialerRetries = 1
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	if len(r.ClusterAddrs) > 0 {
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: r.ClusterAddrs, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			MaxRetries: o.MaxRetries, PoolSize: o.PoolSize,
		}), nil
	}
	if len(r.SentinelAddrs) == 0 {
		return redis.NewClient(o), nil
	}
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: r.SentinelMaster, SentinelAddrs: r.SentinelAddrs,
		Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		MaxRetries: o.MaxRetries, PoolSize: o.PoolSize,
	}), nil
}

// openedState is the outbound state serve keeps for its life.
type openedState struct {
	st pipeline.State
	// expire, when not nil, drops old entries (bbolt); Redis expires its
	// own keys.
	expire func() (int, error)
	// ping, when not nil, tells /readyz whether the shared state answers.
	ping  func(context.Context) error
	close func() error
}

// openState opens the outbound state: in Redis when [redis] url is set,
// else the bbolt file statePath(cfg). Every failed operation is logged
// and counted in sluice_state_errors_total.
func openState(cfg config.Config, pool *redisPool, log *slog.Logger, mt *metrics.Metrics) (*openedState, error) {
	if cfg.Redis.URL != "" {
		c, err := pool.client(cfg)
		if err != nil {
			return nil, err
		}
		rs := redisstate.New(c, redisstate.Options{Prefix: cfg.Redis.KeyPrefix})
		log.Info("outbound state in redis", "key_prefix", cfg.Redis.KeyPrefix)
		return &openedState{st: countedState{rs, log, mt}, ping: rs.Ping, close: func() error { return nil }}, nil
	}
	path := statePath(cfg)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("outbound state: %w", err)
	}
	st, err := outbound.OpenStore(outbound.StoreConfig{Path: path, OpenTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("outbound state %s: %w", path, err)
	}
	return &openedState{st: countedState{st, log, mt}, expire: st.Expire, close: st.Close}, nil
}

// countedState logs and counts every failed operation of a state.
type countedState struct {
	pipeline.State
	log *slog.Logger
	mt  *metrics.Metrics
}

func (c countedState) count(ctx context.Context, state, op string, err error) {
	if err == nil {
		return
	}
	c.log.WarnContext(ctx, "shared state unavailable", "state", state, "op", op, "err", err)
	if c.mt != nil {
		c.mt.StateErrors.WithLabelValues(state).Inc()
	}
}

// Done implements outbound.DeliveryLog.
func (c countedState) Done(ctx context.Context, k outbound.DeliveryKey) (bool, error) {
	ok, err := c.State.Done(ctx, k)
	c.count(ctx, "delivery_log", "done", err)
	return ok, err
}

// Mark implements outbound.DeliveryLog.
func (c countedState) Mark(ctx context.Context, k outbound.DeliveryKey) error {
	err := c.State.Mark(ctx, k)
	c.count(ctx, "delivery_log", "mark", err)
	return err
}

// ClaimVacation implements outbound.VacationWindows.
func (c countedState) ClaimVacation(ctx context.Context, k outbound.VacationKey, window time.Duration) (bool, error) {
	ok, err := c.State.ClaimVacation(ctx, k, window)
	c.count(ctx, "vacation", "claim", err)
	return ok, err
}

// ReleaseVacation implements outbound.VacationWindows.
func (c countedState) ReleaseVacation(ctx context.Context, k outbound.VacationKey) error {
	err := c.State.ReleaseVacation(ctx, k)
	c.count(ctx, "vacation", "release", err)
	return err
}

// Seen implements pipeline.State.
func (c countedState) Seen(ctx context.Context, key string) (bool, error) {
	ok, err := c.State.Seen(ctx, key)
	c.count(ctx, "duplicate", "seen", err)
	return ok, err
}

// MarkSeen implements pipeline.State.
func (c countedState) MarkSeen(ctx context.Context, key string, expiry time.Time) error {
	err := c.State.MarkSeen(ctx, key, expiry)
	c.count(ctx, "duplicate", "mark", err)
	return err
}
