package boltstore

import (
	"context"
	"fmt"

	"github.com/sluice-mail/sluice/bayes"
	bolt "go.etcd.io/bbolt"
)

// ApplyAll implements [bayes.Batcher]: the changes are applied in order in
// one read-write transaction, fsynced once, so learning a folder costs one
// commit per batch instead of one per message. The file stays locked for
// the whole transaction: callers keep batches small enough (a hundred
// messages) that deliveries waiting for it stay well within LockTimeout.
func (s *Store) ApplyAll(ctx context.Context, chs []bayes.Change) ([]bayes.Outcome, error) {
	return s.apply(ctx, chs)
}

// Dump implements [bayes.Dumper]: the whole database from one read-only
// transaction, as sa-learn --backup reads it.
func (s *Store) Dump(ctx context.Context) (*bayes.Backup, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	db, release, err := s.reader()
	if err != nil {
		return nil, err
	}
	defer release()
	b := &bayes.Backup{Tokens: make(map[bayes.Token]bayes.Counts), Seen: make(map[string]bayes.Class)}
	err = db.View(func(tx *bolt.Tx) error {
		meta, tb, sb := tx.Bucket(bucketMeta), tx.Bucket(bucketTokens), tx.Bucket(bucketSeen)
		if meta == nil || tb == nil || sb == nil {
			return fmt.Errorf("%w: %s: buckets missing", bayes.ErrFormat, s.path)
		}
		b.NSpam, b.NHam = getU64(meta, keyNSpam), getU64(meta, keyNHam)
		err := tb.ForEach(func(k, v []byte) error {
			if len(k) != len(bayes.Token{}) {
				return fmt.Errorf("%w: token key of %d bytes", bayes.ErrFormat, len(k))
			}
			c, err := decodeCounts(v)
			if err != nil {
				return err
			}
			b.Tokens[bayes.Token(k)] = c
			return nil
		})
		if err != nil {
			return err
		}
		return sb.ForEach(func(k, v []byte) error {
			if len(v) != 1 || (v[0] != byte(bayes.Spam) && v[0] != byte(bayes.Ham)) {
				return fmt.Errorf("%w: seen entry %q = %q", bayes.ErrFormat, k, v)
			}
			b.Seen[string(k)] = bayes.Class(v[0])
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	// Atimes Touch has not written yet belong to the database too.
	s.pmu.Lock()
	for t, a := range s.pending {
		if c, ok := b.Tokens[t]; ok && a > c.Atime {
			c.Atime = a
			b.Tokens[t] = c
		}
	}
	s.pmu.Unlock()
	return b, nil
}
