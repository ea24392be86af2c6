// Package boltstore keeps a Bayes database ([bayes.Store]) in one bbolt
// file.
//
// Sharing the file between processes: bbolt takes an exclusive flock(2)
// for a read-write handle and a shared one for a read-only handle, and
// holds it for as long as the handle is open. A delivery process that kept
// the file open read-write would lock `sluice learn` out for good, and a
// read-only handle cannot follow another process's writes (its mmap does
// not grow). So this store holds no handle between operations: each
// Lookup opens the file read-only (shared lock; many deliveries read at
// once), each Apply opens it read-write (exclusive lock), runs one
// transaction and closes it. A process that finds the file locked waits up
// to Options.LockTimeout and then fails with an error wrapping
// [ErrLocked], so a delivery goes on without Bayes instead of waiting
// behind a long learning run. Within one process a sync.RWMutex orders the
// opens, so goroutines never poll the file lock (bbolt retries every
// 50 ms).
//
// Writes are durable when Apply returns (bbolt fsyncs the commit). Token
// atimes raised by Touch are kept in memory and written with the next
// Apply, or by Flush or Close, so scoring costs no write.
//
// Layout: bucket "tokens" maps the five-byte token to spam count, ham
// count (uint32 each) and atime (int64, Unix seconds), big-endian; bucket
// "seen" maps a message id to its class byte ('s' or 'h'); bucket "meta"
// holds "nspam" and "nham" (uint64) and "version".
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluice-mail/sluice/bayes"
	bolt "go.etcd.io/bbolt"
)

// ErrLocked reports that another process held the database file longer
// than Options.LockTimeout.
var ErrLocked = errors.New("boltstore: database locked by another process")

var (
	bucketTokens = []byte("tokens")
	bucketSeen   = []byte("seen")
	bucketMeta   = []byte("meta")
	keyNSpam     = []byte("nspam")
	keyNHam      = []byte("nham")
	keyVersion   = []byte("version")
)

// formatVersion is the layout described in the package comment.
const formatVersion = 1

// maxPendingTouches bounds the atimes Touch keeps before it writes them.
const maxPendingTouches = 20000

// Options configures [Open].
type Options struct {
	// LockTimeout bounds the wait for a file lock held by another
	// process. Default 2 seconds.
	LockTimeout time.Duration
	// ReadLease, if positive, lets Lookup keep its read-only handle (and
	// the shared lock) open for up to this long, so lookups find the
	// pages mapped. After a lease no new one starts for leaseGap, twice
	// bbolt's lock polling interval, so a writer in another process gets
	// the lock; its writes wait up to ReadLease meanwhile, so keep it well
	// under the writers' LockTimeout. Default 0: a fresh open per Lookup.
	ReadLease time.Duration
}

// leaseGap is how long after a read lease the store opens per Lookup
// again, leaving the file lock free between lookups: more than bbolt's
// 50 ms flock retry interval.
const leaseGap = 120 * time.Millisecond

// Store is a [bayes.Store] (and [bayes.Toucher]) in a bbolt file. It is
// safe for concurrent use, and for use by several processes at once.
type Store struct {
	path    string
	timeout time.Duration
	lease   time.Duration

	lmu      sync.Mutex // guards the read lease
	ro       *bolt.DB   // leased read-only handle, or nil
	roUntil  time.Time  // end of the lease
	roUsers  int        // lookups using ro
	gapUntil time.Time  // no new lease before this

	mu sync.RWMutex // readers: Lookup; writers: Apply, flush

	pmu     sync.Mutex
	pending map[bayes.Token]int64 // atimes from Touch not yet written

	// cache holds token counts read at transaction cacheTx. A file
	// opened afresh maps its pages anew, and the page faults of the
	// lookups cost more than the rest of a scan; tokens common to many
	// messages (header and frequent words) are served from here until a
	// write, by any process, gives the file a new transaction id.
	cmu     sync.Mutex
	cacheTx int
	cache   map[bayes.Token]bayes.Counts
}

// maxCached bounds the cache; past it, it starts again empty.
const maxCached = 200000

// Open creates the database file at path if needed (mode 0600) and
// returns a Store for it. No handle stays open; see the package comment.
func Open(path string, opts Options) (*Store, error) {
	s := &Store{path: path, timeout: opts.LockTimeout, lease: opts.ReadLease}
	if s.timeout <= 0 {
		s.timeout = 2 * time.Second
	}
	err := s.update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketTokens, bucketSeen, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyVersion); v == nil {
			return meta.Put(keyVersion, u64(formatVersion))
		} else if len(v) != 8 || binary.BigEndian.Uint64(v) != formatVersion {
			return fmt.Errorf("%w: %s: unknown format version %x", bayes.ErrFormat, path, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) open(readOnly bool) (*bolt.DB, error) {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: s.timeout, ReadOnly: readOnly})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, s.path)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", s.path, err)
	}
	return db, nil
}

func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// No lookup is running (they hold s.mu shared): end the lease, or
	// our own shared lock would keep the write lock from us.
	s.lmu.Lock()
	if s.ro != nil {
		s.ro.Close()
		s.ro = nil
	}
	s.lmu.Unlock()
	db, err := s.open(false)
	if err != nil {
		return err
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("boltstore: close %s: %w", s.path, cerr)
	}
	return err
}

// Lookup implements [bayes.Store]. It reads toks in the order given; sorted
// tokens (as [bayes.Classifier] passes them) keep the reads local.
func (s *Store) Lookup(ctx context.Context, toks []bayes.Token) (bayes.Snapshot, error) {
	var snap bayes.Snapshot
	if err := ctx.Err(); err != nil {
		return snap, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	db, release, err := s.reader()
	if err != nil {
		return snap, err
	}
	defer release()
	err = db.View(func(tx *bolt.Tx) error {
		meta, tb := tx.Bucket(bucketMeta), tx.Bucket(bucketTokens)
		if meta == nil || tb == nil {
			return fmt.Errorf("%w: %s: buckets missing", bayes.ErrFormat, s.path)
		}
		snap.NSpam, snap.NHam = getU64(meta, keyNSpam), getU64(meta, keyNHam)
		snap.Counts = make([]bayes.Counts, len(toks))
		s.cmu.Lock()
		if s.cacheTx != tx.ID() || len(s.cache) > maxCached {
			s.cacheTx, s.cache = tx.ID(), make(map[bayes.Token]bayes.Counts)
		}
		var miss []int
		for i, t := range toks {
			if c, ok := s.cache[t]; ok {
				snap.Counts[i] = c
			} else {
				miss = append(miss, i)
			}
		}
		s.cmu.Unlock()
		for _, i := range miss {
			if v := tb.Get(toks[i][:]); v != nil {
				c, err := decodeCounts(v)
				if err != nil {
					return err
				}
				snap.Counts[i] = c
			}
		}
		s.cmu.Lock()
		if s.cacheTx == tx.ID() {
			for _, i := range miss {
				s.cache[toks[i]] = snap.Counts[i]
			}
		}
		s.cmu.Unlock()
		return nil
	})
	return snap, err
}

// reader returns a read-only handle: the leased one, a new lease, or one
// opened for this lookup alone; release gives it back.
func (s *Store) reader() (*bolt.DB, func(), error) {
	if s.lease <= 0 {
		db, err := s.open(true)
		if err != nil {
			return nil, nil, err
		}
		return db, func() { db.Close() }, nil
	}
	now := time.Now()
	s.lmu.Lock()
	if s.ro != nil && !now.Before(s.roUntil) && s.roUsers == 0 {
		s.ro.Close()
		s.ro, s.gapUntil = nil, now.Add(leaseGap)
	}
	if s.ro == nil && !now.Before(s.gapUntil) {
		db, err := s.open(true)
		if err != nil {
			s.lmu.Unlock()
			return nil, nil, err
		}
		s.ro, s.roUntil = db, now.Add(s.lease)
	}
	if s.ro != nil && now.Before(s.roUntil) {
		db := s.ro
		s.roUsers++
		s.lmu.Unlock()
		return db, func() {
			s.lmu.Lock()
			s.roUsers--
			if s.roUsers == 0 && s.ro == db && !time.Now().Before(s.roUntil) {
				db.Close()
				s.ro, s.gapUntil = nil, time.Now().Add(leaseGap)
			}
			s.lmu.Unlock()
		}, nil
	}
	s.lmu.Unlock()
	db, err := s.open(true)
	if err != nil {
		return nil, nil, err
	}
	return db, func() { db.Close() }, nil
}

// Apply implements [bayes.Store]: one read-write transaction, fsynced
// before it returns. Pending Touch atimes are written with it.
func (s *Store) Apply(ctx context.Context, ch bayes.Change) (bayes.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	pending := s.takePending()
	var out bayes.Outcome
	err := s.update(func(tx *bolt.Tx) error {
		if err := writeTouches(tx, pending); err != nil {
			return err
		}
		var err error
		out, err = bayes.ApplyChange(txn{tx}, ch)
		return err
	})
	if err != nil {
		s.restorePending(pending)
		return 0, err
	}
	return out, nil
}

// Touch implements [bayes.Toucher]. The atimes are kept in memory and
// written with the next Apply or Flush, or at once when many are pending.
func (s *Store) Touch(ctx context.Context, toks []bayes.Token, atime int64) error {
	s.pmu.Lock()
	if s.pending == nil {
		s.pending = make(map[bayes.Token]int64)
	}
	for _, t := range toks {
		if atime > s.pending[t] {
			s.pending[t] = atime
		}
	}
	full := len(s.pending) >= maxPendingTouches
	s.pmu.Unlock()
	if full {
		return s.Flush(ctx)
	}
	return nil
}

// Flush writes the atimes pending from Touch.
func (s *Store) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	pending := s.takePending()
	if len(pending) == 0 {
		return nil
	}
	err := s.update(func(tx *bolt.Tx) error { return writeTouches(tx, pending) })
	if err != nil {
		s.restorePending(pending)
	}
	return err
}

// Close writes what Touch left pending and ends a read lease. The Store
// can still be used afterwards.
func (s *Store) Close() error {
	err := s.Flush(context.Background())
	s.mu.Lock()
	s.lmu.Lock()
	if s.ro != nil {
		s.ro.Close()
		s.ro = nil
	}
	s.lmu.Unlock()
	s.mu.Unlock()
	return err
}

func (s *Store) takePending() map[bayes.Token]int64 {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

func (s *Store) restorePending(p map[bayes.Token]int64) {
	if len(p) == 0 {
		return
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if s.pending == nil {
		s.pending = p
		return
	}
	for t, a := range p {
		if a > s.pending[t] {
			s.pending[t] = a
		}
	}
}

// writeTouches raises token atimes; BayesStore tok_touch_token never
// lowers one, nor creates a token.
func writeTouches(tx *bolt.Tx, p map[bayes.Token]int64) error {
	if len(p) == 0 {
		return nil
	}
	tb := tx.Bucket(bucketTokens)
	for t, atime := range p {
		v := tb.Get(t[:])
		if v == nil {
			continue
		}
		c, err := decodeCounts(v)
		if err != nil {
			return err
		}
		if atime <= c.Atime {
			continue
		}
		c.Atime = atime
		if err := tb.Put(t[:], encodeCounts(c)); err != nil {
			return err
		}
	}
	return nil
}

// txn adapts a bbolt read-write transaction to [bayes.Txn].
type txn struct{ tx *bolt.Tx }

func (t txn) Seen(id string) (bayes.Class, bool, error) {
	v := t.tx.Bucket(bucketSeen).Get([]byte(id))
	if v == nil {
		return 0, false, nil
	}
	if len(v) != 1 || (v[0] != byte(bayes.Spam) && v[0] != byte(bayes.Ham)) {
		return 0, false, fmt.Errorf("%w: seen entry %q = %q", bayes.ErrFormat, id, v)
	}
	return bayes.Class(v[0]), true, nil
}

func (t txn) PutSeen(id string, c bayes.Class) error {
	return t.tx.Bucket(bucketSeen).Put([]byte(id), []byte{byte(c)})
}

func (t txn) DeleteSeen(id string) error {
	return t.tx.Bucket(bucketSeen).Delete([]byte(id))
}

func (t txn) AddTotals(ds, dh int) error {
	meta := t.tx.Bucket(bucketMeta)
	if err := meta.Put(keyNSpam, u64(addTotal(getU64(meta, keyNSpam), ds))); err != nil {
		return err
	}
	return meta.Put(keyNHam, u64(addTotal(getU64(meta, keyNHam), dh)))
}

func (t txn) AddCounts(toks []bayes.Token, ds, dh int, atime int64) error {
	tb := t.tx.Bucket(bucketTokens)
	for _, tok := range toks {
		var old bayes.Counts
		v := tb.Get(tok[:])
		if v == nil && (ds < 0 || dh < 0) {
			continue
		}
		if v != nil {
			var err error
			if old, err = decodeCounts(v); err != nil {
				return err
			}
		}
		c := old.Add(ds, dh, atime)
		if c.Spam == 0 && c.Ham == 0 {
			if err := tb.Delete(tok[:]); err != nil {
				return err
			}
			continue
		}
		if err := tb.Put(tok[:], encodeCounts(c)); err != nil {
			return err
		}
	}
	return nil
}

func addTotal(v uint64, d int) uint64 {
	if d < 0 && uint64(-d) > v {
		return 0
	}
	return uint64(int64(v) + int64(d))
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func encodeCounts(c bayes.Counts) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b[0:], c.Spam)
	binary.BigEndian.PutUint32(b[4:], c.Ham)
	binary.BigEndian.PutUint64(b[8:], uint64(c.Atime))
	return b
}

func decodeCounts(v []byte) (bayes.Counts, error) {
	if len(v) != 16 {
		return bayes.Counts{}, fmt.Errorf("%w: token value of %d bytes", bayes.ErrFormat, len(v))
	}
	return bayes.Counts{
		Spam:  binary.BigEndian.Uint32(v[0:]),
		Ham:   binary.BigEndian.Uint32(v[4:]),
		Atime: int64(binary.BigEndian.Uint64(v[8:])),
	}, nil
}

// Restore implements [bayes.Restorer]: the file's buckets are replaced in
// one transaction.
func (s *Store) Restore(ctx context.Context, b *bayes.Backup) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.takePending()
	return s.update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketTokens, bucketSeen} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		tb, err := tx.CreateBucket(bucketTokens)
		if err != nil {
			return err
		}
		sb, err := tx.CreateBucket(bucketSeen)
		if err != nil {
			return err
		}
		// Keys in order: bbolt appends instead of splitting pages.
		toks := make([]bayes.Token, 0, len(b.Tokens))
		for t := range b.Tokens {
			toks = append(toks, t)
		}
		slices.SortFunc(toks, func(a, b bayes.Token) int { return bytes.Compare(a[:], b[:]) })
		for _, t := range toks {
			if err := tb.Put(t[:], encodeCounts(b.Tokens[t])); err != nil {
				return err
			}
		}
		for id, c := range b.Seen {
			if err := sb.Put([]byte(id), []byte{byte(c)}); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyNSpam, u64(b.NSpam)); err != nil {
			return err
		}
		return meta.Put(keyNHam, u64(b.NHam))
	})
}
