// Package redisstore keeps a Bayes database ([bayes.Store]) in Redis, so
// several sluice nodes learn into and score from one database.
//
// Layout, every key under the store's prefix P (default "sluice:"):
//
//	P+"nspam", P+"nham"   learned message totals, decimal strings
//	P+"t:"+hex(token)     one string per token: "SPAM HAM ATIME" in decimal
//	P+"s:"+id             one string per learned message id: its class ("s" or "h")
//	P+"seen"              hash: message id → class, as earlier versions kept
//	                      them; read, and emptied as messages are forgotten
//
// Tokens are the ten hex digits sa-learn --backup writes. A per-user
// database is the same layout under a longer prefix.
//
// Expiry is Redis's own, as in SpamAssassin's BayesStore/Redis.pm: with
// bayes_auto_expire on, every token key written or touched gets
// bayes_token_ttl (default 3 weeks) again, and a seen key
// bayes_seen_ttl (default 8 days) when it is written; Redis deletes keys
// not renewed in time. So there is no expiry run (Expire is not
// offered), and nspam/nham keep counting messages whose tokens have
// expired, as in SpamAssassin. A restore spreads the TTLs over 0.7 to 1.7
// times the setting, as Redis.pm's restore does, so restored keys do not
// all expire at once.
//
// Atomicity: Apply runs one Lua script (EVALSHA) that does what
// [bayes.ApplyChange] does, so learners on any number of nodes racing on
// the same message count it once and their token updates never
// interleave; Redis runs a script to its end before any other command.
// The script reads every token before it writes one, so a malformed
// value fails the change before anything is written. Lookup is one MGET
// of the totals and the tokens: one round trip and one consistent
// snapshot. ApplyAll sends its scripts in one MULTI/EXEC.
//
// Where it diverges from the bbolt store: Dump walks the keys with SCAN,
// so a dump taken while others learn is consistent per key but not a
// point-in-time copy; Restore replaces the keys in one MULTI/EXEC but
// keeps tokens a concurrent learner created between its SCAN and EXEC.
// All keys of one store are named in each script call (KEYS), as Redis
// requires; on Redis Cluster a hash tag in the prefix ("{sluice}:") puts
// them in one slot.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-mail/sluice/bayes"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "sluice:"

// Options configures [Open] and [NewStore].
type Options struct {
	// Prefix starts every key. Default [DefaultPrefix].
	Prefix string
	// Expiry gives the TTLs: TokenTTL and SeenTTL when Auto is on, none
	// when it is off. If nil, [bayes.DefaultExpiry].
	Expiry *bayes.Expiry
}

// Store is a [bayes.Store] (and [bayes.Batcher], [bayes.Dumper],
// [bayes.Restorer], [bayes.Toucher]) in Redis. It is safe for concurrent
// use.
type Store struct {
	c      redis.UniversalClient
	own    bool // Close closes c
	prefix string
	nspam  string
	nham   string
	seen   string
	// Key TTLs in seconds; zero: none.
	tokTTL, seenTTL int64
}

// Open returns a Store on its own client for the Redis server at url
// (redis://host:port/db or rediss:// for TLS, as go-redis ParseURL reads
// it), closed by Close: for tools and tests. It does not connect: a server
// that is down makes each operation fail, not Open. sluice's commands
// share one client between the Bayes store and the outbound state, with
// the timeouts of [redis], and use NewStore.
func Open(url string, opts Options) (*Store, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	s := NewStore(redis.NewClient(o), opts)
	s.own = true
	return s, nil
}

// NewStore returns a Store on c, a client shared with other users of the
// server (the outbound state), under opts.Prefix with opts.Expiry's TTLs;
// timeouts are c's. Close leaves c open.
func NewStore(c redis.UniversalClient, opts Options) *Store {
	e := bayes.DefaultExpiry()
	if opts.Expiry != nil {
		e = *opts.Expiry
	}
	return newStore(c, opts.Prefix, e)
}

// New returns a Store on c under prefix (default [DefaultPrefix]), with
// the TTLs of [bayes.DefaultExpiry]; stores of several users can share one
// client. Close leaves c open.
func New(c redis.UniversalClient, prefix string) *Store {
	return newStore(c, prefix, bayes.DefaultExpiry())
}

func newStore(c redis.UniversalClient, prefix string, e bayes.Expiry) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	s := &Store{c: c, prefix: prefix, nspam: prefix + "nspam", nham: prefix + "nham", seen: prefix + "seen"}
	if e.Auto {
		s.tokTTL, s.seenTTL = max(int64(e.TokenTTL/time.Second), 0), max(int64(e.SeenTTL/time.Second), 0)
	}
	return s
}

// WithPrefix returns a Store on the same client under another prefix,
// e.g. a per-user database, with the same TTLs. Closing it leaves the
// client open.
func (s *Store) WithPrefix(prefix string) *Store {
	n := newStore(s.c, prefix, bayes.Expiry{})
	n.tokTTL, n.seenTTL = s.tokTTL, s.seenTTL
	return n
}

// Close closes the client if Open made it.
func (s *Store) Close() error {
	if s.own {
		return s.c.Close()
	}
	return nil
}

func (s *Store) tokenKey(t bayes.Token) string { return s.prefix + "t:" + t.String() }

func (s *Store) seenKey(id string) string { return s.prefix + "s:" + id }

// Lookup implements [bayes.Store]: one MGET of the totals and toks.
func (s *Store) Lookup(ctx context.Context, toks []bayes.Token) (bayes.Snapshot, error) {
	var snap bayes.Snapshot
	keys := make([]string, 0, 2+len(toks))
	keys = append(keys, s.nspam, s.nham)
	for _, t := range toks {
		keys = append(keys, s.tokenKey(t))
	}
	vals, err := s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return snap, fmt.Errorf("redisstore: lookup: %w", err)
	}
	if len(vals) != len(keys) {
		return snap, fmt.Errorf("redisstore: lookup: %d values for %d keys", len(vals), len(keys))
	}
	if snap.NSpam, err = total(vals[0]); err != nil {
		return snap, err
	}
	if snap.NHam, err = total(vals[1]); err != nil {
		return snap, err
	}
	snap.Counts = make([]bayes.Counts, len(toks))
	for i, v := range vals[2:] {
		if v == nil {
			continue
		}
		str, _ := v.(string)
		if snap.Counts[i], err = decodeCounts(str); err != nil {
			return snap, err
		}
	}
	return snap, nil
}

func total(v any) (uint64, error) {
	if v == nil {
		return 0, nil
	}
	str, _ := v.(string)
	n, err := strconv.ParseUint(str, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: total %q", bayes.ErrFormat, str)
	}
	return n, nil
}

// decodeCounts reads "SPAM HAM ATIME".
func decodeCounts(v string) (bayes.Counts, error) {
	sp, rest, ok1 := strings.Cut(v, " ")
	hm, at, ok2 := strings.Cut(rest, " ")
	s, err1 := strconv.ParseUint(sp, 10, 32)
	h, err2 := strconv.ParseUint(hm, 10, 32)
	a, err3 := strconv.ParseInt(at, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil {
		return bayes.Counts{}, fmt.Errorf("%w: token value %q", bayes.ErrFormat, v)
	}
	return bayes.Counts{Spam: uint32(s), Ham: uint32(h), Atime: a}, nil
}

func encodeCounts(c bayes.Counts) string {
	return strconv.FormatUint(uint64(c.Spam), 10) + " " + strconv.FormatUint(uint64(c.Ham), 10) + " " + strconv.FormatInt(c.Atime, 10)
}

// applyArgs returns the KEYS and ARGV of applyScript for ch.
func (s *Store) applyArgs(ch bayes.Change) ([]string, []any, error) {
	if len(ch.IDs) == 0 {
		return nil, nil, errors.New("redisstore: change without a message id")
	}
	keys := make([]string, 0, 3+len(ch.IDs)+len(ch.Tokens))
	keys = append(keys, s.nspam, s.nham, s.seen)
	for _, id := range ch.IDs {
		keys = append(keys, s.seenKey(id))
	}
	for _, t := range ch.Tokens {
		keys = append(keys, s.tokenKey(t))
	}
	class := ""
	switch ch.Class {
	case 0:
	case bayes.Spam, bayes.Ham:
		class = string(rune(ch.Class))
	default:
		return nil, nil, fmt.Errorf("redisstore: unknown class %q", ch.Class)
	}
	norelearn := "0"
	if ch.NoRelearn {
		norelearn = "1"
	}
	args := make([]any, 0, 6+len(ch.IDs))
	args = append(args, class, norelearn, ch.Atime, s.tokTTL, s.seenTTL, len(ch.IDs))
	for _, id := range ch.IDs {
		args = append(args, id)
	}
	return keys, args, nil
}

// Apply implements [bayes.Store]: one script run, atomic on the server.
func (s *Store) Apply(ctx context.Context, ch bayes.Change) (bayes.Outcome, error) {
	keys, args, err := s.applyArgs(ch)
	if err != nil {
		return 0, err
	}
	n, err := applyScript.Run(ctx, s.c, keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("redisstore: apply: %w", err)
	}
	return outcome(n)
}

func outcome(n int) (bayes.Outcome, error) {
	switch o := bayes.Outcome(n); o {
	case bayes.Learned, bayes.Already, bayes.Moved, bayes.Forgotten, bayes.NotLearned:
		return o, nil
	}
	return 0, fmt.Errorf("redisstore: apply: script returned %d", n)
}

// ApplyAll implements [bayes.Batcher]: the scripts of all changes in one
// MULTI/EXEC, so they run in order with no other command between them,
// and a connection lost before EXEC applies none.
func (s *Store) ApplyAll(ctx context.Context, chs []bayes.Change) ([]bayes.Outcome, error) {
	outs, err := s.applyAll(ctx, chs, true)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// The server lost its script cache (restart, SCRIPT FLUSH): every
		// EVALSHA of the transaction failed alike, none applied.
		outs, err = s.applyAll(ctx, chs, false)
	}
	return outs, err
}

func (s *Store) applyAll(ctx context.Context, chs []bayes.Change, sha bool) ([]bayes.Outcome, error) {
	cmds := make([]*redis.Cmd, len(chs))
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, ch := range chs {
			keys, args, err := s.applyArgs(ch)
			if err != nil {
				return err
			}
			if sha {
				cmds[i] = applyScript.EvalSha(ctx, p, keys, args...)
			} else {
				cmds[i] = applyScript.Eval(ctx, p, keys, args...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redisstore: apply: %w", err)
	}
	outs := make([]bayes.Outcome, len(chs))
	for i, c := range cmds {
		n, err := c.Int()
		if err == nil {
			outs[i], err = outcome(n)
		}
		if err != nil {
			return nil, fmt.Errorf("redisstore: apply: %w", err)
		}
	}
	return outs, nil
}

// Touch implements [bayes.Toucher]: one script raises the atimes of the
// tokens that exist, never lowering one nor creating a token.
func (s *Store) Touch(ctx context.Context, toks []bayes.Token, atime int64) error {
	if len(toks) == 0 {
		return nil
	}
	keys := make([]string, len(toks))
	for i, t := range toks {
		keys[i] = s.tokenKey(t)
	}
	if err := touchScript.Run(ctx, s.c, keys, atime, s.tokTTL).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: touch: %w", err)
	}
	return nil
}

// scanBatch is how many keys one SCAN or MGET asks for.
const scanBatch = 1000

// tokenKeys returns every token key of the store.
func (s *Store) tokenKeys(ctx context.Context) ([]string, error) { return s.keys(ctx, "t:") }

// keys returns every key of the store starting with the prefix and kind.
func (s *Store) keys(ctx context.Context, kind string) ([]string, error) {
	var keys []string
	match := globEscape(s.prefix+kind) + "*"
	iter := s.c.Scan(ctx, 0, match, scanBatch).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: scan: %w", err)
	}
	return keys, nil
}

// globEscape quotes the characters SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Dump implements [bayes.Dumper]. See the package comment: consistent per
// key, not a point-in-time copy while others learn.
func (s *Store) Dump(ctx context.Context) (*bayes.Backup, error) {
	b := &bayes.Backup{Tokens: make(map[bayes.Token]bayes.Counts), Seen: make(map[string]bayes.Class)}
	vals, err := s.c.MGet(ctx, s.nspam, s.nham).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: dump: %w", err)
	}
	if b.NSpam, err = total(vals[0]); err != nil {
		return nil, err
	}
	if b.NHam, err = total(vals[1]); err != nil {
		return nil, err
	}
	keys, err := s.tokenKeys(ctx)
	if err != nil {
		return nil, err
	}
	tokPrefix := s.prefix + "t:"
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), scanBatch)]
		keys = keys[len(chunk):]
		vals, err := s.c.MGet(ctx, chunk...).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: dump: %w", err)
		}
		for i, v := range vals {
			if v == nil {
				continue // deleted since the SCAN
			}
			t, err := bayes.ParseToken(strings.TrimPrefix(chunk[i], tokPrefix))
			if err != nil {
				return nil, err
			}
			str, _ := v.(string)
			if b.Tokens[t], err = decodeCounts(str); err != nil {
				return nil, err
			}
		}
	}
	iter := s.c.HScan(ctx, s.seen, 0, "*", scanBatch).Iterator()
	for iter.Next(ctx) {
		id := iter.Val()
		if !iter.Next(ctx) {
			break
		}
		c := iter.Val()
		if c != "s" && c != "h" {
			return nil, fmt.Errorf("%w: seen entry %q = %q", bayes.ErrFormat, id, c)
		}
		b.Seen[id] = bayes.Class(c[0])
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: dump: %w", err)
	}
	seenKeys, err := s.keys(ctx, "s:")
	if err != nil {
		return nil, err
	}
	for len(seenKeys) > 0 {
		chunk := seenKeys[:min(len(seenKeys), scanBatch)]
		seenKeys = seenKeys[len(chunk):]
		vals, err := s.c.MGet(ctx, chunk...).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: dump: %w", err)
		}
		for i, v := range vals {
			c, _ := v.(string)
			if v == nil {
				continue // expired since the SCAN
			}
			id := strings.TrimPrefix(chunk[i], s.prefix+"s:")
			if c != "s" && c != "h" {
				return nil, fmt.Errorf("%w: seen entry %q = %q", bayes.ErrFormat, id, c)
			}
			b.Seen[id] = bayes.Class(c[0])
		}
	}
	return b, nil
}

// spread returns ttl seconds times a random factor in [0.7, 1.7), as
// Redis.pm restore_database does, so restored keys expire over time and
// not all at once.
func spread(ttl int64) time.Duration {
	return time.Duration(float64(ttl)*(0.7+rand.Float64())) * time.Second
}

// Restore implements [bayes.Restorer]: the old keys are deleted and the
// backup written in one MULTI/EXEC.
func (s *Store) Restore(ctx context.Context, b *bayes.Backup) error {
	old, err := s.tokenKeys(ctx)
	if err != nil {
		return err
	}
	oldSeen, err := s.keys(ctx, "s:")
	if err != nil {
		return err
	}
	old = append(old, oldSeen...)
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for len(old) > 0 {
			chunk := old[:min(len(old), scanBatch)]
			old = old[len(chunk):]
			p.Del(ctx, chunk...)
		}
		p.Del(ctx, s.seen)
		p.Set(ctx, s.nspam, b.NSpam, 0)
		p.Set(ctx, s.nham, b.NHam, 0)
		kv := make([]any, 0, 2*scanBatch)
		var ttl []string
		for t, c := range b.Tokens {
			kv = append(kv, s.tokenKey(t), encodeCounts(c))
			if s.tokTTL > 0 {
				ttl = append(ttl, s.tokenKey(t))
			}
			if len(kv) == cap(kv) {
				p.MSet(ctx, kv...)
				kv = make([]any, 0, 2*scanBatch)
			}
		}
		if len(kv) > 0 {
			p.MSet(ctx, kv...)
		}
		for _, k := range ttl {
			p.Expire(ctx, k, spread(s.tokTTL))
		}
		for id, c := range b.Seen {
			if s.seenTTL > 0 {
				p.Set(ctx, s.seenKey(id), string(rune(c)), spread(s.seenTTL))
			} else {
				p.Set(ctx, s.seenKey(id), string(rune(c)), 0)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: restore: %w", err)
	}
	return nil
}
