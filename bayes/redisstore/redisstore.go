// Package redisstore keeps a Bayes database ([bayes.Store]) in Redis, so
// several sluice nodes learn into and score from one database.
//
// Layout, every key under the store's prefix P (default "sluice:"):
//
//	P+"nspam", P+"nham"   learned message totals, decimal strings
//	P+"t:"+hex(token)     one string per token: "SPAM HAM ATIME" in decimal
//	P+"seen"              hash: message id → class ("s" or "h")
//
// Tokens are the ten hex digits sa-learn --backup writes. A per-user
// database is the same layout under a longer prefix.
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
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-mail/sluice/bayes"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "sluice:"

// Options configures [Open].
type Options struct {
	// Prefix starts every key. Default [DefaultPrefix].
	Prefix string
	// Timeout bounds the connect and each reply, unless the URL sets
	// dial_timeout, read_timeout or write_timeout. Default 1 second. A
	// failed operation is retried once (the URL's max_retries overrides).
	Timeout time.Duration
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
}

// Open returns a Store on the Redis server at url (redis://host:port/db
// or rediss:// for TLS, as go-redis ParseURL reads it). It does not
// connect: a server that is down makes each operation fail, not Open.
func Open(url string, opts Options) (*Store, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	t := opts.Timeout
	if t <= 0 {
		t = time.Second
	}
	for _, d := range []*time.Duration{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout} {
		if *d == 0 {
			*d = t
		}
	}
	// A delivery waits for Bayes, and goes on without it when Redis is
	// down: one dial and one retry, not go-redis's 5 dials of 4 tries
	// (two seconds per operation against a closed port).
	o.DialerRetries = 1
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	s := New(redis.NewClient(o), opts.Prefix)
	s.own = true
	return s, nil
}

// New returns a Store on c under prefix (default [DefaultPrefix]); stores
// of several users can share one client. Close leaves c open.
func New(c redis.UniversalClient, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{c: c, prefix: prefix, nspam: prefix + "nspam", nham: prefix + "nham", seen: prefix + "seen"}
}

// WithPrefix returns a Store on the same client under another prefix,
// e.g. a per-user database. Closing it leaves the client open.
func (s *Store) WithPrefix(prefix string) *Store { return New(s.c, prefix) }

// Close closes the client if Open made it.
func (s *Store) Close() error {
	if s.own {
		return s.c.Close()
	}
	return nil
}

func (s *Store) tokenKey(t bayes.Token) string { return s.prefix + "t:" + t.String() }

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
	keys := make([]string, 0, 3+len(ch.Tokens))
	keys = append(keys, s.nspam, s.nham, s.seen)
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
	args := make([]any, 0, 3+len(ch.IDs))
	args = append(args, class, norelearn, ch.Atime)
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
	if err := touchScript.Run(ctx, s.c, keys, atime).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: touch: %w", err)
	}
	return nil
}

// scanBatch is how many keys one SCAN or MGET asks for.
const scanBatch = 1000

// tokenKeys returns every token key of the store.
func (s *Store) tokenKeys(ctx context.Context) ([]string, error) {
	var keys []string
	match := globEscape(s.prefix) + "t:*"
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
	return b, nil
}

// Restore implements [bayes.Restorer]: the old keys are deleted and the
// backup written in one MULTI/EXEC.
func (s *Store) Restore(ctx context.Context, b *bayes.Backup) error {
	old, err := s.tokenKeys(ctx)
	if err != nil {
		return err
	}
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
		for t, c := range b.Tokens {
			kv = append(kv, s.tokenKey(t), encodeCounts(c))
			if len(kv) == cap(kv) {
				p.MSet(ctx, kv...)
				kv = make([]any, 0, 2*scanBatch)
			}
		}
		if len(kv) > 0 {
			p.MSet(ctx, kv...)
		}
		seen := make([]any, 0, 2*scanBatch)
		for id, c := range b.Seen {
			seen = append(seen, id, string(rune(c)))
			if len(seen) == cap(seen) {
				p.HSet(ctx, s.seen, seen...)
				seen = make([]any, 0, 2*scanBatch)
			}
		}
		if len(seen) > 0 {
			p.HSet(ctx, s.seen, seen...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: restore: %w", err)
	}
	return nil
}
