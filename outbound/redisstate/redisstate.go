// Package redisstate keeps outbound's state in Redis, so that several
// sluice nodes behind one Postfix share it: the delivery log
// ([outbound.DeliveryLog]), the vacation windows
// ([outbound.VacationWindows]) and Sieve's duplicate memory (RFC 7352).
//
// Layout, every key under the prefix P (default "sluice:"):
//
//	P+"o:d:"+DeliveryKey.ID()   "1" done, PX the delivery TTL (default 7 days);
//	                            "claimed" while a node carries the action out, PX outbound.ClaimHold
//	P+"o:v:"+VacationKey.ID()   "1", PX the window: the window is open while the key lives
//	P+"o:s:"+user+NUL+id        "1", PXAT the duplicate expiry
//
// Atomicity: a vacation window is claimed with one SET NX PX, so of two
// nodes answering the same sender at once exactly one wins. A forward is
// claimed the same way before it is sent ([outbound.DeliveryClaimer]), and
// its entry set to "1" with SET PX once it is done; Done is a GET. Expiry is Redis's own (every key has a TTL): there is no expiry
// run.
//
// Where it diverges from the bbolt store: with Redis down every
// operation fails (wrapping [outbound.ErrTemporary]) rather than
// blocking, so a forward waits for Postfix's retry; a server restarted
// without persistence forgets what was done, so run Redis with AOF or
// RDB, or a replica, where a lost delivery log matters.
package redisstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-mail/sluice/outbound"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "sluice:"

// DefaultDeliveryTTL is how long a delivery log entry is kept: longer than
// Postfix's maximal_queue_lifetime default (5 days), as outbound.Store.
const DefaultDeliveryTTL = 7 * 24 * time.Hour

// ErrUnavailable is wrapped (with [outbound.ErrTemporary]) by every error
// of a failed Redis operation.
var ErrUnavailable = errors.New("redisstate: redis unavailable")

// Options configures [New].
type Options struct {
	// Prefix starts every key. Default [DefaultPrefix].
	Prefix string
	// DeliveryTTL is how long a delivery log entry is kept. Default
	// [DefaultDeliveryTTL].
	DeliveryTTL time.Duration
}

// Store is the outbound state in Redis. It is safe for concurrent use.
type Store struct {
	c      redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// New returns a Store on c; it shares c's pool with whatever else uses it
// (the Bayes store) and never closes it.
func New(c redis.UniversalClient, opts Options) *Store {
	s := &Store{c: c, prefix: opts.Prefix, ttl: opts.DeliveryTTL}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.ttl <= 0 {
		s.ttl = DefaultDeliveryTTL
	}
	return s
}

func (s *Store) fail(what string, err error) error {
	return fmt.Errorf("%w: %w: %s: %w", outbound.ErrTemporary, ErrUnavailable, what, err)
}

// Done implements [outbound.DeliveryLog]: a claimed action is not done.
func (s *Store) Done(ctx context.Context, k outbound.DeliveryKey) (bool, error) {
	v, err := s.c.Get(ctx, s.prefix+"o:d:"+k.ID()).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, s.fail("delivery log", err)
	}
	return v == "1", nil
}

// claimScript is Claim in one round trip: done when the entry says so,
// else the entry taken with NX, else held by someone else.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == '1' then return 2 end
if v then return 0 end
redis.call('SET', KEYS[1], 'claimed', 'PX', ARGV[1])
return 1
`)

// Claim implements [outbound.DeliveryClaimer].
func (s *Store) Claim(ctx context.Context, k outbound.DeliveryKey, hold time.Duration) (claimed, done bool, err error) {
	n, err := claimScript.Run(ctx, s.c, []string{s.prefix + "o:d:" + k.ID()}, max(hold, time.Millisecond).Milliseconds()).Int()
	if err != nil {
		return false, false, s.fail("delivery log", err)
	}
	return n == 1, n == 2, nil
}

// releaseScript deletes a claim, never a done entry.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == 'claimed' then redis.call('DEL', KEYS[1]) end
return 0
`)

// Release implements [outbound.DeliveryClaimer].
func (s *Store) Release(ctx context.Context, k outbound.DeliveryKey) error {
	if err := releaseScript.Run(ctx, s.c, []string{s.prefix + "o:d:" + k.ID()}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return s.fail("delivery log", err)
	}
	return nil
}

// Mark implements [outbound.DeliveryLog].
func (s *Store) Mark(ctx context.Context, k outbound.DeliveryKey) error {
	if err := s.c.Set(ctx, s.prefix+"o:d:"+k.ID(), "1", s.ttl).Err(); err != nil {
		return s.fail("delivery log", err)
	}
	return nil
}

// ClaimVacation implements [outbound.VacationWindows] with SET NX PX.
func (s *Store) ClaimVacation(ctx context.Context, k outbound.VacationKey, window time.Duration) (bool, error) {
	// A window under a millisecond would be no TTL at all to Redis.
	window = max(window, time.Millisecond)
	ok, err := s.c.SetNX(ctx, s.prefix+"o:v:"+k.ID(), "1", window).Result()
	if err != nil {
		return false, s.fail("vacation", err)
	}
	return ok, nil
}

// ReleaseVacation implements [outbound.VacationWindows].
func (s *Store) ReleaseVacation(ctx context.Context, k outbound.VacationKey) error {
	if err := s.c.Del(ctx, s.prefix+"o:v:"+k.ID()).Err(); err != nil {
		return s.fail("vacation", err)
	}
	return nil
}

// Seen reports whether key was marked with MarkSeen and has not expired
// (Sieve's duplicate test).
func (s *Store) Seen(ctx context.Context, key string) (bool, error) {
	n, err := s.c.Exists(ctx, s.prefix+"o:s:"+key).Result()
	if err != nil {
		return false, s.fail("duplicate", err)
	}
	return n == 1, nil
}

// MarkSeen records key until expiry; an expiry already past records
// nothing.
func (s *Store) MarkSeen(ctx context.Context, key string, expiry time.Time) error {
	if !time.Now().Before(expiry) {
		return nil
	}
	err := s.c.SetArgs(ctx, s.prefix+"o:s:"+key, "1", redis.SetArgs{ExpireAt: expiry}).Err()
	if err != nil {
		return s.fail("duplicate", err)
	}
	return nil
}

// Expire does nothing and returns 0: Redis expires every key itself. It
// lets a Store stand where an outbound.Store's hourly expiry runs.
func (s *Store) Expire() (int, error) { return 0, nil }

// Ping checks that the server answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return s.fail("ping", err)
	}
	return nil
}
