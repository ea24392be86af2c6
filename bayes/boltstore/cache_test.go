package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
	bolt "go.etcd.io/bbolt"
)

// TestReadVersion guards the meta-page reading against a bbolt upgrade:
// the txid read from the file must be the one bbolt reports, and move
// with every commit made through another handle.
func TestReadVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bayes.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 5 {
		var id int
		err := db.Update(func(tx *bolt.Tx) error {
			id = tx.ID()
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte{byte(i)}, []byte("v"))
		})
		if err != nil {
			t.Fatal(err)
		}
		v, err := readVersion(path)
		if err != nil {
			t.Fatalf("readVersion after commit %d: %v", i, err)
		}
		if v.txid != uint64(id) {
			t.Fatalf("readVersion after commit %d: txid %d, want %d (bbolt's meta page layout changed?)", i, v.txid, id)
		}
	}
}

// TestReadVersionCorrupt: a short or corrupt file gives no version, and a
// Lookup then goes to bbolt, which reports the damage.
func TestReadVersionCorrupt(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"empty":   nil,
		"short":   []byte("not a bolt file"),
		"garbage": make([]byte, 3*os.Getpagesize()),
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if v, err := readVersion(path); err == nil {
			t.Errorf("readVersion(%s) = %+v, want an error", name, v)
		}
	}

	// One meta page torn: the other still gives a version.
	path := filepath.Join(dir, "bayes.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Apply(ctx, storetest.Change("a", bayes.Spam, 0, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(1)}); err != nil {
		t.Fatal(err)
	}
	before, err := readVersion(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt the current meta page's checksum.
	off := int64(before.txid%2) * int64(os.Getpagesize())
	if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, off+boltPageHeader+boltMetaSum); err != nil {
		t.Fatal(err)
	}
	f.Close()
	after, err := readVersion(path)
	if err != nil {
		t.Fatalf("readVersion with one meta page corrupt: %v", err)
	}
	if after.txid != before.txid-1 {
		t.Errorf("readVersion with meta %d corrupt: txid %d, want %d", before.txid%2, after.txid, before.txid-1)
	}
	// The version no longer matches the copy: Lookup asks bbolt, which
	// falls back to the older meta page too, and the store still
	// answers.
	if _, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(1)}); err != nil {
		t.Errorf("Lookup with one meta page corrupt: %v", err)
	}

	// A file replaced under the same name is not the cached one, even at
	// the same txid.
	if err := os.WriteFile(path, []byte("not a bolt file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(1)}); err == nil {
		t.Errorf("Lookup of a file that is no bbolt database: no error")
	}
}

// TestCacheSeesOtherHandle: handle A answers from memory; handle B, a
// separate Open of the file as `sluice learn` makes, learns; A's next
// Lookup sees B's counts. A's own writes keep its copy without a reload.
func TestCacheSeesOtherHandle(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bayes.db")
	a, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok := storetest.Tok(2)
	lookup := func(s *Store) bayes.Snapshot {
		t.Helper()
		snap, err := s.Lookup(ctx, []bayes.Token{tok})
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	if _, err := a.Apply(ctx, storetest.Change("a1", bayes.Spam, 0, 5)); err != nil {
		t.Fatal(err)
	}
	lookup(a)
	if a.mem != nil {
		t.Fatal("in-memory copy after the first Lookup; want the tokens read alone")
	}
	lookup(a)
	cached := a.mem
	if cached == nil {
		t.Fatal("no in-memory copy after a second Lookup")
	}
	if _, err := a.Apply(ctx, storetest.Change("a2", bayes.Ham, 0, 5)); err != nil {
		t.Fatal(err)
	}
	if snap := lookup(a); a.mem != cached || snap.NSpam != 1 || snap.NHam != 1 || snap.Counts[0].Ham != 1 {
		t.Errorf("after A's own learn: copy reloaded %v, snapshot %+v; want the same copy, 1 spam 1 ham", a.mem != cached, snap)
	}
	if _, err := b.Apply(ctx, storetest.Change("b1", bayes.Spam, 0, 5)); err != nil {
		t.Fatal(err)
	}
	if snap := lookup(a); snap.NSpam != 2 || snap.Counts[0].Spam != 2 {
		t.Errorf("A after B learned: %+v, want 2 spam", snap)
	}
	if _, err := b.Apply(ctx, storetest.Change("b2", bayes.Spam, 0, 5)); err != nil {
		t.Fatal(err)
	}
	// A learns after B without having looked: its copy is one commit
	// behind, so it must drop it, not patch it.
	if _, err := a.Apply(ctx, storetest.Change("a3", bayes.Spam, 0, 5)); err != nil {
		t.Fatal(err)
	}
	if snap := lookup(a); snap.NSpam != 4 || snap.Counts[0].Spam != 4 {
		t.Errorf("A after B and A learned: %+v, want 4 spam", snap)
	}
	if snap := lookup(b); snap.NSpam != 4 || snap.Counts[0].Spam != 4 {
		t.Errorf("B after B and A learned: %+v, want 4 spam", snap)
	}
}

// TestTouchBuffered: Touch writes nothing until Flush (or the next
// write), and then only raises atimes.
func TestTouchBuffered(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bayes.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, storetest.Change("a", bayes.Spam, 0, 3)); err != nil {
		t.Fatal(err)
	}
	v0, _ := readVersion(path)
	if err := s.Touch(ctx, []bayes.Token{storetest.Tok(0), storetest.Tok(99)}, 5000); err != nil {
		t.Fatal(err)
	}
	if v, _ := readVersion(path); v != v0 {
		t.Errorf("Touch committed (txid %d → %d); want it buffered", v0.txid, v.txid)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(0), storetest.Tok(1), storetest.Tok(99)})
	if err != nil {
		t.Fatal(err)
	}
	if got := []int64{snap.Counts[0].Atime, snap.Counts[1].Atime, snap.Counts[2].Atime}; got[0] != 5000 || got[1] != 1000 || got[2] != 0 {
		t.Errorf("atimes after Touch and Close = %v, want [5000 1000 0]", got)
	}
}

// TestOpenWritesOnce: opening a file already set up commits nothing, so
// a new Store (a reload, a `sluice learn`) costs no other process its
// in-memory copy; an empty file is set up.
func TestOpenWritesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bayes.db")
	if _, err := Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	v0, err := readVersion(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	if v, _ := readVersion(path); v != v0 {
		t.Errorf("second Open committed: txid %d → %d", v0.txid, v.txid)
	}
	empty := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty, Options{}); err != nil {
		t.Errorf("Open of an empty file: %v", err)
	}
}

// TestConcurrentDeliveriesAndLearner: deliveries score, touch and
// auto-learn through one Store while a learner learns through another;
// run with -race. Every learn is counted, and both handles agree.
func TestConcurrentDeliveriesAndLearner(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bayes.db")
	deliv, err := Open(path, Options{LockTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	learner, err := Open(path, Options{LockTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const workers, n = 4, 15
	errs := make(chan error, workers+1)
	for w := range workers {
		go func() {
			for i := range n {
				toks := []bayes.Token{storetest.Tok(i), storetest.Tok(i + 1), storetest.Tok(100)}
				if _, err := deliv.Lookup(ctx, toks); err != nil {
					errs <- err
					return
				}
				if err := deliv.Touch(ctx, toks, int64(2000+i)); err != nil {
					errs <- err
					return
				}
				if i%3 == 0 {
					if _, err := deliv.Apply(ctx, storetest.Change(fmt.Sprintf("d%d-%d", w, i), bayes.Ham, 95, 105)); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	go func() {
		for i := range n {
			chs := []bayes.Change{storetest.Change(fmt.Sprintf("l%d", i), bayes.Spam, 95, 105)}
			if _, err := learner.ApplyAll(ctx, chs); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	for range workers + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := deliv.Close(); err != nil {
		t.Fatal(err)
	}
	wantHam := uint64(workers * ((n + 2) / 3))
	for name, s := range map[string]*Store{"delivery": deliv, "learner": learner} {
		snap, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(100)})
		if err != nil {
			t.Fatal(err)
		}
		if snap.NSpam != n || snap.NHam != wantHam || snap.Counts[0].Spam != n || uint64(snap.Counts[0].Ham) != wantHam {
			t.Errorf("%s handle: %+v, want %d spam %d ham", name, snap, n, wantHam)
		}
	}
}

// TestLockedLookupsFailTogether: lookups that need the file while another
// process holds it wait for one read and fail with it, within about one
// LockTimeout, not one timeout after the other.
func TestLockedLookupsFailTogether(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bayes.db")
	const timeout = 200 * time.Millisecond
	s, err := Open(path, Options{LockTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 6
	start := time.Now()
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := s.Lookup(context.Background(), []bayes.Token{storetest.Tok(1)})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; !errors.Is(err, ErrLocked) {
			t.Errorf("Lookup with the file locked: error %v, want ErrLocked", err)
		}
	}
	if d := time.Since(start); d > 3*timeout {
		t.Errorf("%d lookups with the file locked took %v, want about one LockTimeout (%v)", n, d, timeout)
	}
}
