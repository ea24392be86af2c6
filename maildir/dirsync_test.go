package maildir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startedAt is the result of a test fsync: the tick at which it started.
type startedAt int64

func (startedAt) Error() string { return "fsync" }

// TestDirSyncerCoversEveryCaller checks the group commit's promise: each
// caller's result comes from an fsync that started after the caller
// arrived, and concurrent callers share fsyncs.
func TestDirSyncerCoversEveryCaller(t *testing.T) {
	var g dirSyncer
	g.cond.L = &g.mu
	var clock atomic.Int64 // ticks at every arrival and every fsync start
	var fsyncs atomic.Int64
	const callers = 64
	var wg sync.WaitGroup
	bad := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arrived := clock.Add(1)
			err := g.sync(func() error {
				fsyncs.Add(1)
				at := startedAt(clock.Add(1))
				time.Sleep(2 * time.Millisecond)
				return at
			})
			var at startedAt
			if !errors.As(err, &at) || int64(at) <= arrived {
				bad <- fmt.Errorf("caller arriving at %d answered by %v (fsync started at %d)", arrived, err, at)
			}
		}()
	}
	wg.Wait()
	close(bad)
	for err := range bad {
		t.Fatal(err)
	}
	if n := fsyncs.Load(); n >= callers || n < 1 {
		t.Fatalf("%d fsyncs for %d concurrent callers, want fewer and at least one", n, callers)
	}
}

// TestDirSyncerWaitsForALaterFsync checks that a caller arriving while an
// fsync is in flight is not answered by it: the fsync may have started
// before the caller's rename.
func TestDirSyncerWaitsForALaterFsync(t *testing.T) {
	var g dirSyncer
	g.cond.L = &g.mu
	release := make(chan struct{})
	inFirst := make(chan struct{})
	first := errors.New("first fsync")
	go g.sync(func() error {
		close(inFirst)
		<-release
		return first
	})
	<-inFirst
	got := make(chan error)
	var second atomic.Bool
	go func() {
		got <- g.sync(func() error { second.Store(true); return nil })
	}()
	time.Sleep(10 * time.Millisecond)
	close(release)
	if err := <-got; err != nil || !second.Load() {
		t.Fatalf("caller arriving during an fsync got %v (own fsync run: %v), want nil from its own", err, second.Load())
	}
}

// TestDeliverConcurrentDurable delivers concurrently into one Maildir
// through the group commit and checks that every message is in new/.
func TestDeliverConcurrentDurable(t *testing.T) {
	root := t.TempDir() + "/Maildir"
	s, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Deliver(context.Background(), "", Flags{}, false, strings.NewReader("Subject: "+strings.Repeat("m", i+1)+"\r\n\r\nbody\r\n"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := os.ReadDir(root + "/new")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Fatalf("%d messages in the Maildir, want %d", len(msgs), n)
	}
}
