// Package boltstore keeps a Bayes database ([bayes.Store]) in one bbolt
// file.
//
// Sharing the file between processes: bbolt takes an exclusive flock(2)
// for a read-write handle and a shared one for a read-only handle, and
// holds it for as long as the handle is open. A delivery process that kept
// the file open read-write would lock `sluice learn` out for good, and a
// read-only handle cannot follow another process's writes (its mmap does
// not grow). So this store holds no handle between operations: each
// Apply opens the file read-write (exclusive lock), runs one transaction
// and closes it. A process that finds the file locked waits up to
// Options.LockTimeout and then fails with an error wrapping [ErrLocked],
// so a delivery goes on without Bayes instead of waiting behind a long
// learning run. Within one process a sync.RWMutex orders the opens, so
// goroutines never poll the file lock (bbolt retries every 50 ms).
//
// Lookups from memory: opening the file costs more than a whole scan, so
// the store keeps a copy of the totals and of every token, read in one
// transaction, and tagged with that transaction's id and the file's
// inode. A Lookup reads the current transaction id from the file's two
// meta pages (an open and two preads, no lock: see readVersion) and
// answers from memory when it is the copy's; when another process has
// committed since, the copy is read again, under the shared lock. The
// first Lookup of a Store reads only its own tokens, so a Store used
// once costs no copy; keep one Store per file for the process's life. The
// store's own commits update the copy while the exclusive lock is still
// held, so they never cost a reload. A file of more tokens than
// Options.MemTokens is read per Lookup instead.
//
// Writes are durable when Apply returns (bbolt fsyncs the commit). Token
// atimes raised by Touch are kept in memory and written with the next
// Apply, at most touchFlushInterval after the first of them, or by Flush
// or Close, so scoring costs no write.
//
// Expiry (see expire.go) removes the tokens of oldest atime once the file
// holds more than [bayes.Expiry] MaxDBSize, at most every
// [bayes.ExpiryPeriod], in its own transaction after a write.
//
// Layout: bucket "tokens" maps the five-byte token to spam count, ham
// count (uint32 each) and atime (int64, Unix seconds), big-endian; bucket
// "seen" maps a message id to its class byte ('s' or 'h'); bucket "meta"
// holds "nspam", "nham", "ntokens", the expiry state ("last_expire",
// "last_atime_delta", "last_expire_reduce") as uint64 and "version".
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluice-mail/sluice/bayes"
	bolt "go.etcd.io/bbolt"
)

// ErrLocked reports that another process held the database file longer
// than Options.LockTimeout.
var ErrLocked = errors.New("boltstore: database locked by another process")

var (
	bucketTokens     = []byte("tokens")
	bucketSeen       = []byte("seen")
	bucketMeta       = []byte("meta")
	keyNSpam         = []byte("nspam")
	keyNHam          = []byte("nham")
	keyNTokens       = []byte("ntokens")
	keyVersion       = []byte("version")
	keyLastExpire    = []byte("last_expire")
	keyLastDelta     = []byte("last_atime_delta")
	keyLastReduction = []byte("last_expire_reduce")
)

// formatVersion is the layout described in the package comment.
const formatVersion = 1

// maxPendingTouches bounds the atimes Touch keeps before it writes them.
const maxPendingTouches = 20000

// touchFlushInterval bounds how long an atime from Touch waits for a
// write: expiry goes by atimes, and a day's touches lost to a crash would
// expire useful tokens early.
const touchFlushInterval = time.Minute

// maxMemTokens is the default bound of the in-memory copy (about 47 bytes
// a token). Past it, which only a database with expiry off reaches,
// Lookup reads the file.
const maxMemTokens = 1 << 20

// Options configures [Open].
type Options struct {
	// LockTimeout bounds the wait for a file lock held by another
	// process. Default 2 seconds.
	LockTimeout time.Duration
	// Expiry is when and how far to expire; MaxDBSize and Auto are
	// read. If nil, [bayes.DefaultExpiry].
	Expiry *bayes.Expiry
	// MemTokens bounds the in-memory copy Lookup answers from: a file
	// with more tokens is read per Lookup. Default 1<<20; negative: never
	// copy (many small stores, e.g. one per user, each read per Lookup).
	MemTokens int
}

// Store is a [bayes.Store] (and [bayes.Toucher], [bayes.Expirer]) in a
// bbolt file. It is safe for concurrent use, and for use by several
// processes at once.
type Store struct {
	path    string
	timeout time.Duration
	expiry  bayes.Expiry
	memMax  int // Options.MemTokens; -1: no copy

	mu sync.RWMutex // readers: file reads; writers: update

	pmu       sync.Mutex
	pending   map[bayes.Token]int64 // atimes from Touch not yet written
	pendingAt time.Time             // when the first of them came

	rmu     sync.Mutex
	reading *fileRead   // the Lookup reading the file, or nil
	looked  atomic.Bool // a Lookup has run
	cmu     sync.RWMutex
	mem     *memCopy // nil until read, or after a write it could not follow

	expiring atomic.Bool    // an automatic expiry run is under way
	wg       sync.WaitGroup // automatic expiry runs
	emu      sync.Mutex
	expErr   error // the last automatic run's error, for Close
}

// memCopy is the whole database but the seen entries, as of one
// committed transaction.
type memCopy struct {
	ver         fileVersion
	nspam, nham uint64
	toks        map[bayes.Token]bayes.Counts
}

// Open creates the database file at path if needed (mode 0600) and
// returns a Store for it. No handle stays open; see the package comment.
func Open(path string, opts Options) (*Store, error) {
	s := &Store{path: path, timeout: opts.LockTimeout, expiry: bayes.DefaultExpiry(), memMax: opts.MemTokens}
	switch {
	case s.memMax == 0:
		s.memMax = maxMemTokens
	case s.memMax < 0:
		s.memMax = -1
	}
	if opts.Expiry != nil {
		s.expiry = *opts.Expiry
	}
	if s.timeout <= 0 {
		s.timeout = 2 * time.Second
	}
	// A file already set up is only read: a write would cost every
	// other process's in-memory copy a reload. Any doubt (an empty file,
	// a lock held) is settled by the write, which reports it.
	if ready, err := s.ready(); err == nil && ready {
		return s, nil
	}
	err := s.update(func(w *wtx) error {
		tx := w.tx
		for _, b := range [][]byte{bucketTokens, bucketSeen, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyVersion); v == nil {
			if err := meta.Put(keyVersion, u64(formatVersion)); err != nil {
				return err
			}
		} else if err := checkVersion(path, v); err != nil {
			return err
		}
		if meta.Get(keyNTokens) == nil {
			// A file written before the count was kept: count once.
			n := tx.Bucket(bucketTokens).Stats().KeyN
			return meta.Put(keyNTokens, u64(uint64(n)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// ready reports whether the file exists with every bucket and meta key
// this version writes.
func (s *Store) ready() (bool, error) {
	if _, err := os.Stat(s.path); err != nil {
		return false, nil
	}
	db, err := s.open(true)
	if err != nil {
		return false, err
	}
	defer db.Close()
	ready := false
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || tx.Bucket(bucketTokens) == nil || tx.Bucket(bucketSeen) == nil {
			return nil
		}
		v := meta.Get(keyVersion)
		if v == nil {
			return nil
		}
		if err := checkVersion(s.path, v); err != nil {
			return err
		}
		ready = meta.Get(keyNTokens) != nil
		return nil
	})
	return ready, err
}

func checkVersion(path string, v []byte) error {
	if len(v) != 8 || binary.BigEndian.Uint64(v) != formatVersion {
		return fmt.Errorf("%w: %s: unknown format version %x", bayes.ErrFormat, path, v)
	}
	return nil
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

// wtx is one read-write transaction and what it changed, for the
// in-memory copy.
type wtx struct {
	tx      *bolt.Tx
	id      uint64                       // the transaction's id, once committed the file's
	changed map[bayes.Token]bayes.Counts // zero Counts: deleted
	dtoks   int                          // tokens added less tokens deleted
	reload  bool                         // the change is too wide to follow: drop the copy
	// Meta values read at the end of the transaction.
	nspam, nham, ntokens, lastExpire uint64
}

func (w *wtx) put(t bayes.Token, c bayes.Counts) error {
	if w.changed == nil {
		w.changed = make(map[bayes.Token]bayes.Counts)
	}
	w.changed[t] = c
	return w.tx.Bucket(bucketTokens).Put(t[:], encodeCounts(c))
}

func (w *wtx) del(t bayes.Token) error {
	if w.changed == nil {
		w.changed = make(map[bayes.Token]bayes.Counts)
	}
	w.changed[t] = bayes.Counts{}
	w.dtoks--
	return w.tx.Bucket(bucketTokens).Delete(t[:])
}

// update runs fn in one read-write transaction and, after the commit but
// still holding the file lock, brings the in-memory copy up to it.
func (s *Store) update(fn func(w *wtx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	db, err := s.open(false)
	if err != nil {
		return err
	}
	var w *wtx
	err = db.Update(func(tx *bolt.Tx) error {
		w = &wtx{tx: tx, id: uint64(tx.ID())}
		if err := fn(w); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		w.ntokens = uint64(max(int64(getU64(meta, keyNTokens))+int64(w.dtoks), 0))
		if w.dtoks != 0 {
			if err := meta.Put(keyNTokens, u64(w.ntokens)); err != nil {
				return err
			}
		}
		w.nspam, w.nham = getU64(meta, keyNSpam), getU64(meta, keyNHam)
		w.lastExpire = getU64(meta, keyLastExpire)
		return nil
	})
	if err == nil {
		s.follow(w)
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("boltstore: close %s: %w", s.path, cerr)
	}
	return err
}

// follow applies the committed w to the in-memory copy if the copy was of
// the transaction w started from; otherwise another process wrote in
// between and the copy is dropped, to be read again by the next Lookup.
func (s *Store) follow(w *wtx) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	m := s.mem
	if m == nil {
		return
	}
	id := w.id
	if w.reload || m.ver.txid != id-1 {
		s.mem = nil
		return
	}
	dev, ino, ok := statFile(s.path)
	if !ok || dev != m.ver.dev || ino != m.ver.ino {
		s.mem = nil
		return
	}
	for t, c := range w.changed {
		if c.Spam == 0 && c.Ham == 0 {
			delete(m.toks, t)
		} else {
			m.toks[t] = c
		}
	}
	if len(m.toks) > s.memMax {
		s.mem = nil
		return
	}
	m.nspam, m.nham = w.nspam, w.nham
	m.ver.txid = id
}

func statFile(path string) (dev, ino uint64, ok bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Ino), true
}

// Lookup implements [bayes.Store]: from the in-memory copy when the file
// is still at its transaction, else from a copy read again.
func (s *Store) Lookup(ctx context.Context, toks []bayes.Token) (bayes.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return bayes.Snapshot{}, err
	}
	if v, err := readVersion(s.path); err == nil {
		if snap, ok := s.fromMem(v, toks); ok {
			return snap, nil
		}
	}
	// One file read at a time: the lookups that arrive meanwhile wait
	// for it and use the copy it made, or fail with it (a foreign lock
	// held past LockTimeout fails them all at once, not one after the
	// other).
	s.rmu.Lock()
	if r := s.reading; r != nil {
		s.rmu.Unlock()
		<-r.done
		if r.err != nil {
			return bayes.Snapshot{}, r.err
		}
		if v, err := readVersion(s.path); err == nil {
			if snap, ok := s.fromMem(v, toks); ok {
				return snap, nil
			}
		}
		return s.lookupFile(toks)
	}
	r := &fileRead{done: make(chan struct{})}
	s.reading = r
	s.rmu.Unlock()
	snap, err := s.lookupFile(toks)
	r.err = err
	s.rmu.Lock()
	s.reading = nil
	s.rmu.Unlock()
	close(r.done)
	return snap, err
}

// fileRead is a Lookup reading the file, for the lookups waiting on it.
type fileRead struct {
	done chan struct{}
	err  error // set before done is closed
}

// lookupFile answers a Lookup in a read-only transaction, from the
// in-memory copy if it is of that transaction, else making one.
func (s *Store) lookupFile(toks []bayes.Token) (bayes.Snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	db, release, err := s.reader()
	if err != nil {
		return bayes.Snapshot{}, err
	}
	defer release()
	var snap bayes.Snapshot
	err = db.View(func(tx *bolt.Tx) error {
		meta, tb := tx.Bucket(bucketMeta), tx.Bucket(bucketTokens)
		if meta == nil || tb == nil {
			return fmt.Errorf("%w: %s: buckets missing", bayes.ErrFormat, s.path)
		}
		dev, ino, _ := statFile(s.path)
		v := fileVersion{dev: dev, ino: ino, txid: uint64(tx.ID())}
		var ok bool
		if snap, ok = s.fromMem(v, toks); ok {
			return nil
		}
		// A Store's first Lookup reads only its tokens: a Store opened
		// for one message (a per-user database opened per delivery)
		// would pay for a copy it never uses again.
		var m *memCopy
		if s.looked.Swap(true) && s.memMax > 0 {
			var err error
			if m, err = load(tx, v, s.memMax); err != nil {
				return err
			}
		}
		if m != nil {
			s.cmu.Lock()
			s.mem = m
			s.cmu.Unlock()
			snap, _ = s.fromMem(v, toks)
			return nil
		}
		// A first Lookup, or a file too big to copy: read the tokens
		// asked for.
		var err error
		snap.NSpam, snap.NHam = getU64(meta, keyNSpam), getU64(meta, keyNHam)
		snap.Counts = make([]bayes.Counts, len(toks))
		for i, t := range toks {
			if v := tb.Get(t[:]); v != nil {
				if snap.Counts[i], err = decodeCounts(v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return snap, err
}

// fromMem answers a Lookup from the in-memory copy if it is of v.
func (s *Store) fromMem(v fileVersion, toks []bayes.Token) (bayes.Snapshot, bool) {
	s.cmu.RLock()
	defer s.cmu.RUnlock()
	m := s.mem
	if m == nil || m.ver != v {
		return bayes.Snapshot{}, false
	}
	snap := bayes.Snapshot{NSpam: m.nspam, NHam: m.nham, Counts: make([]bayes.Counts, len(toks))}
	for i, t := range toks {
		snap.Counts[i] = m.toks[t]
	}
	return snap, true
}

// load reads the in-memory copy in tx; nil when the file holds more than
// limit tokens.
func load(tx *bolt.Tx, v fileVersion, limit int) (*memCopy, error) {
	meta, tb := tx.Bucket(bucketMeta), tx.Bucket(bucketTokens)
	n := getU64(meta, keyNTokens)
	if n > uint64(limit) {
		return nil, nil
	}
	m := &memCopy{ver: v, nspam: getU64(meta, keyNSpam), nham: getU64(meta, keyNHam), toks: make(map[bayes.Token]bayes.Counts, n)}
	errTooMany := errors.New("too many")
	err := tb.ForEach(func(k, val []byte) error {
		if len(k) != len(bayes.Token{}) {
			return fmt.Errorf("%w: token key of %d bytes", bayes.ErrFormat, len(k))
		}
		c, err := decodeCounts(val)
		if err != nil {
			return err
		}
		if len(m.toks) >= limit {
			return errTooMany
		}
		m.toks[bayes.Token(k)] = c
		return nil
	})
	if errors.Is(err, errTooMany) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// reader opens the file read-only (shared lock) for one read; release
// closes it.
func (s *Store) reader() (*bolt.DB, func(), error) {
	db, err := s.open(true)
	if err != nil {
		return nil, nil, err
	}
	return db, func() { db.Close() }, nil
}

// Apply implements [bayes.Store]: one read-write transaction, fsynced
// before it returns. Pending Touch atimes are written with it.
func (s *Store) Apply(ctx context.Context, ch bayes.Change) (bayes.Outcome, error) {
	outs, err := s.apply(ctx, []bayes.Change{ch})
	if err != nil {
		return 0, err
	}
	return outs[0], nil
}

func (s *Store) apply(ctx context.Context, chs []bayes.Change) ([]bayes.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pending := s.takePending()
	outs := make([]bayes.Outcome, len(chs))
	var w *wtx
	err := s.update(func(tx *wtx) error {
		w = tx
		if err := writeTouches(tx, pending); err != nil {
			return err
		}
		for i, ch := range chs {
			out, err := bayes.ApplyChange(txn{tx}, ch)
			if err != nil {
				return err
			}
			outs[i] = out
		}
		return nil
	})
	if err != nil {
		s.restorePending(pending)
		return nil, err
	}
	s.maybeExpire(w.ntokens, w.lastExpire)
	return outs, nil
}

// Touch implements [bayes.Toucher]. The atimes are kept in memory and
// written with the next Apply or Flush, or at once when many are pending
// or the first of them waited touchFlushInterval.
func (s *Store) Touch(ctx context.Context, toks []bayes.Token, atime int64) error {
	s.pmu.Lock()
	if s.pending == nil {
		s.pending = make(map[bayes.Token]int64)
		s.pendingAt = time.Now()
	}
	for _, t := range toks {
		if atime > s.pending[t] {
			s.pending[t] = atime
		}
	}
	due := len(s.pending) >= maxPendingTouches || time.Since(s.pendingAt) >= touchFlushInterval
	s.pmu.Unlock()
	if due {
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
	err := s.update(func(w *wtx) error { return writeTouches(w, pending) })
	if err != nil {
		s.restorePending(pending)
	}
	return err
}

// Close waits for an automatic expiry run and writes what Touch left
// pending. It returns the error of an automatic
// expiry run, if one failed. The Store can still be used afterwards.
func (s *Store) Close() error {
	s.wg.Wait()
	s.emu.Lock()
	err := s.expErr
	s.expErr = nil
	s.emu.Unlock()
	return errors.Join(err, s.Flush(context.Background()))
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
		s.pending, s.pendingAt = p, time.Now()
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
func writeTouches(w *wtx, p map[bayes.Token]int64) error {
	if len(p) == 0 {
		return nil
	}
	tb := w.tx.Bucket(bucketTokens)
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
		if err := w.put(t, c); err != nil {
			return err
		}
	}
	return nil
}

// txn adapts a bbolt read-write transaction to [bayes.Txn].
type txn struct{ w *wtx }

func (t txn) Seen(id string) (bayes.Class, bool, error) {
	v := t.w.tx.Bucket(bucketSeen).Get([]byte(id))
	if v == nil {
		return 0, false, nil
	}
	if len(v) != 1 || (v[0] != byte(bayes.Spam) && v[0] != byte(bayes.Ham)) {
		return 0, false, fmt.Errorf("%w: seen entry %q = %q", bayes.ErrFormat, id, v)
	}
	return bayes.Class(v[0]), true, nil
}

func (t txn) PutSeen(id string, c bayes.Class) error {
	return t.w.tx.Bucket(bucketSeen).Put([]byte(id), []byte{byte(c)})
}

func (t txn) DeleteSeen(id string) error {
	return t.w.tx.Bucket(bucketSeen).Delete([]byte(id))
}

func (t txn) AddTotals(ds, dh int) error {
	meta := t.w.tx.Bucket(bucketMeta)
	if err := meta.Put(keyNSpam, u64(addTotal(getU64(meta, keyNSpam), ds))); err != nil {
		return err
	}
	return meta.Put(keyNHam, u64(addTotal(getU64(meta, keyNHam), dh)))
}

func (t txn) AddCounts(toks []bayes.Token, ds, dh int, atime int64) error {
	tb := t.w.tx.Bucket(bucketTokens)
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
			if v != nil {
				if err := t.w.del(tok); err != nil {
					return err
				}
			}
			continue
		}
		if v == nil {
			t.w.dtoks++
		}
		if err := t.w.put(tok, c); err != nil {
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
	return s.update(func(w *wtx) error {
		tx := w.tx
		w.reload = true
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
		if err := meta.Put(keyNTokens, u64(uint64(len(toks)))); err != nil {
			return err
		}
		if err := meta.Put(keyNSpam, u64(b.NSpam)); err != nil {
			return err
		}
		return meta.Put(keyNHam, u64(b.NHam))
	})
}
