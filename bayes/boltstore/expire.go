package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/sluice-mail/sluice/bayes"
	bolt "go.etcd.io/bbolt"
)

// Expiry, after BayesStore.pm expire_old_tokens_trapped and DBM.pm
// token_expiration: once the file holds more than MaxDBSize tokens, the
// tokens of oldest atime go until ExpiryKeep remain. Where it diverges:
//
//   - SpamAssassin picks the atime cutoff among powers of two of 12 hours
//     (calculate_expire_delta) or estimates it from the last run, and so
//     keeps roughly, not exactly, the goal. Here the atimes are sorted and
//     the cutoff is the atime of the oldest token kept: every token older
//     than it goes, so the run keeps the goal and at most the tokens that
//     share the cutoff atime with it.
//   - SpamAssassin rewrites the whole database into a new file (DB_File
//     never shrinks); bbolt deletes in place, in one transaction, and
//     reuses the freed pages.
//   - The hapax and low-frequency counts SpamAssassin prints with
//     --force-expire are not computed: they decide nothing.
//
// As there, a run that would remove fewer than minExpire tokens removes
// none, and an automatic run needs ExpiryPeriod since the last one and
// atimes spread over at least ExpiryPeriod; each run, even one that
// removes nothing, records its time.
const minExpire = 1000

// Expire implements [bayes.Expirer]: an expiry run now, whatever the time
// since the last one or e.Auto (sa-learn --force-expire), in its own
// transaction.
func (s *Store) Expire(ctx context.Context, e bayes.Expiry) (bayes.ExpiryResult, error) {
	if err := ctx.Err(); err != nil {
		return bayes.ExpiryResult{}, err
	}
	return s.expire(e, true, time.Now())
}

func (s *Store) expire(e bayes.Expiry, force bool, now time.Time) (bayes.ExpiryResult, error) {
	var res bayes.ExpiryResult
	err := s.update(func(w *wtx) error {
		var err error
		res, err = expireTx(w, e, force, now)
		return err
	})
	return res, err
}

// expiryDue is BayesStore.pm expiry_due from what a write read anyway:
// the token count and the last run's time.
func expiryDue(e bayes.Expiry, ntokens, lastExpire uint64, now time.Time) bool {
	return e.Auto && ntokens > bayes.ExpiryKeepMin && ntokens > uint64(e.MaxDBSize) &&
		now.Unix()-int64(lastExpire) >= int64(bayes.ExpiryPeriod/time.Second)
}

// maybeExpire starts an automatic expiry run, after a write that found
// one due, in its own goroutine and transaction: the delivery or learn
// whose write found it due does not wait for it. Close waits for it.
func (s *Store) maybeExpire(ntokens, lastExpire uint64) {
	now := time.Now()
	if !expiryDue(s.expiry, ntokens, lastExpire, now) || s.expiring.Swap(true) {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.expiring.Store(false)
		if _, err := s.expire(s.expiry, false, now); err != nil {
			s.emu.Lock()
			s.expErr = fmt.Errorf("boltstore: automatic expiry: %w", err)
			s.emu.Unlock()
		}
	}()
}

// expireTx is one expiry run in w.
func expireTx(w *wtx, e bayes.Expiry, force bool, now time.Time) (bayes.ExpiryResult, error) {
	meta, tb := w.tx.Bucket(bucketMeta), w.tx.Bucket(bucketTokens)
	ntokens, last := getU64(meta, keyNTokens), getU64(meta, keyLastExpire)
	res := bayes.ExpiryResult{Before: int(ntokens)}
	// Another process may have expired since the write that found this
	// run due.
	if !force && !expiryDue(e, ntokens, last, now) {
		res.Skipped = "not due"
		return res, nil
	}
	if err := meta.Put(keyLastExpire, u64(uint64(now.Unix()))); err != nil {
		return res, err
	}
	keep := e.ExpiryKeep()
	goal := int(ntokens) - keep
	if goal < minExpire {
		res.Skipped = fmt.Sprintf("%d tokens, keeping %d: fewer than %d to remove", ntokens, keep, minExpire)
		return res, nil
	}
	atimes := make([]int64, 0, ntokens)
	err := tb.ForEach(func(_, v []byte) error {
		c, err := decodeCounts(v)
		if err != nil {
			return err
		}
		atimes = append(atimes, c.Atime)
		return nil
	})
	if err != nil {
		return res, err
	}
	// The count kept in meta is a hint; the tokens are the truth, and
	// update takes the removals off it.
	res.Before = len(atimes)
	if err := meta.Put(keyNTokens, u64(uint64(len(atimes)))); err != nil {
		return res, err
	}
	goal = len(atimes) - keep
	if goal < minExpire {
		res.Skipped = fmt.Sprintf("%d tokens, keeping %d: fewer than %d to remove", len(atimes), keep, minExpire)
		return res, nil
	}
	slices.Sort(atimes)
	newest := atimes[len(atimes)-1]
	if !force && newest-atimes[0] < int64(bayes.ExpiryPeriod/time.Second) {
		res.Skipped = "token atimes span less than the expiry period"
		return res, nil
	}
	cutoff := atimes[goal]
	var doomed []bayes.Token
	c := tb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) == 16 && int64(binary.BigEndian.Uint64(v[8:])) < cutoff {
			doomed = append(doomed, bayes.Token(k))
		}
	}
	if len(doomed) < minExpire {
		res.Skipped = fmt.Sprintf("only %d tokens older than the %d newest", len(doomed), keep)
		return res, nil
	}
	for _, t := range doomed {
		if err := w.del(t); err != nil {
			return res, err
		}
	}
	res.Removed, res.Cutoff = len(doomed), cutoff
	if err := meta.Put(keyLastDelta, u64(uint64(newest-cutoff))); err != nil {
		return res, err
	}
	return res, meta.Put(keyLastReduction, u64(uint64(len(doomed))))
}

// ExpiryStats implements [bayes.ExpiryStater].
func (s *Store) ExpiryStats(ctx context.Context) (bayes.ExpiryStats, error) {
	var st bayes.ExpiryStats
	if err := ctx.Err(); err != nil {
		return st, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	db, release, err := s.reader()
	if err != nil {
		return st, err
	}
	defer release()
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: %s: buckets missing", bayes.ErrFormat, s.path)
		}
		st.NTokens = int(getU64(meta, keyNTokens))
		st.LastExpire = int64(getU64(meta, keyLastExpire))
		st.LastAtimeDelta = int64(getU64(meta, keyLastDelta))
		st.LastReduce = int(getU64(meta, keyLastReduction))
		return nil
	})
	return st, err
}
