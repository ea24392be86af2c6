package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
	bolt "go.etcd.io/bbolt"
)

func newStore(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "bayes.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bayes.Store { return newStore(t, Options{}) })
}

// TestTwoHandles shares one file between two Stores, as a delivery
// process and a learner in another process do: each sees the other's
// writes, and the learns of both add up.
func TestTwoHandles(t *testing.T) {
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
	done := make(chan error, 2)
	for i, s := range []*Store{a, b} {
		go func() {
			for j := 0; j < 20; j++ {
				if _, err := s.Apply(ctx, storetest.Change(fmt.Sprintf("h%d-%d", i, j), bayes.Ham, 0, 5)); err != nil {
					done <- err
					return
				}
				if _, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(0)}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	snap, err := a.Lookup(ctx, []bayes.Token{storetest.Tok(4)})
	if err != nil {
		t.Fatal(err)
	}
	if snap.NHam != 40 || snap.Counts[0].Ham != 40 {
		t.Errorf("after 2×20 learns: nham %d, token ham %d; want 40, 40", snap.NHam, snap.Counts[0].Ham)
	}
}

// TestLockedTimesOut holds the file open read-write, as a foreign writer
// would, and expects Lookup to give up with ErrLocked.
func TestLockedTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bayes.db")
	s, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := s.Lookup(context.Background(), nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("Lookup with the file locked: error %v, want ErrLocked", err)
	}
}

const helperEnv = "BOLTSTORE_HELPER"

// TestHelperLearner is not a test: TestTwoProcesses runs the test binary
// again with BOLTSTORE_HELPER set, and this learns in that process.
func TestHelperLearner(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("helper process only")
	}
	var path, name string
	var n int
	if _, err := fmt.Sscanf(spec, "%s %s %d", &path, &name, &n); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{LockTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		for _, id := range []string{name + "-" + strconv.Itoa(i), "shared-" + strconv.Itoa(i)} {
			if _, err := s.Apply(ctx, storetest.Change(id, bayes.Spam, 0, 30)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(1)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTwoProcesses runs two learner processes and this one against one
// file at once; no update may be lost and shared messages count once.
func TestTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "bayes.db")
	s, err := Open(path, Options{LockTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	var cmds []*exec.Cmd
	for _, name := range []string{"p1", "p2"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLearner$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", helperEnv, path, name, n))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if _, err := s.Apply(ctx, storetest.Change("p0-"+strconv.Itoa(i), bayes.Spam, 0, 30)); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 20; j++ {
			if _, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Keep reading while the helpers finish, as deliveries would.
	done := make(chan error, len(cmds))
	for _, c := range cmds {
		go func() { done <- c.Wait() }()
	}
	for waiting := len(cmds); waiting > 0; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("helper: %v", err)
			}
			waiting--
		default:
			if _, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.Close()
	snap, err := s.Lookup(ctx, []bayes.Token{storetest.Tok(29)})
	if err != nil {
		t.Fatal(err)
	}
	const want = 4 * n // p0, p1, p2 and the shared ones once
	if snap.NSpam != want || snap.Counts[0].Spam != want {
		t.Errorf("nspam %d, token spam %d; want %d, %d", snap.NSpam, snap.Counts[0].Spam, want, want)
	}
}
