package maildir

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultFS wraps the real file system and fails the operations a test asks
// for. fail is called with the operation name ("open", "write", "sync",
// "close", "rename", "syncdir", "mkdir", ...) and the path; a non-nil
// result is returned instead of performing the operation.
type faultFS struct {
	osFS
	mu   sync.Mutex
	fail func(op, path string) error
}

func (f *faultFS) check(op, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		return nil
	}
	return f.fail(op, path)
}

func (f *faultFS) OpenFile(d *dir, name string, flag int, perm os.FileMode) (file, error) {
	p := d.join(name)
	if err := f.check("open", p); err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	fl, err := f.osFS.OpenFile(d, name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{file: fl, fs: f, path: p}, nil
}

func (f *faultFS) Mkdir(d *dir, name string, perm os.FileMode) error {
	if err := f.check("mkdir", d.join(name)); err != nil {
		return &os.PathError{Op: "mkdir", Path: d.join(name), Err: err}
	}
	return f.osFS.Mkdir(d, name, perm)
}

func (f *faultFS) RenameNoReplace(od *dir, oname string, nd *dir, nname string) error {
	if err := f.check("rename", nd.join(nname)); err != nil {
		return &os.LinkError{Op: "rename", Old: od.join(oname), New: nd.join(nname), Err: err}
	}
	return f.osFS.RenameNoReplace(od, oname, nd, nname)
}

func (f *faultFS) Rename(od *dir, oname string, nd *dir, nname string) error {
	if err := f.check("replace", nd.join(nname)); err != nil {
		return &os.LinkError{Op: "rename", Old: od.join(oname), New: nd.join(nname), Err: err}
	}
	return f.osFS.Rename(od, oname, nd, nname)
}

func (f *faultFS) SyncDir(d *dir) error {
	if err := f.check("syncdir", d.path); err != nil {
		return &os.PathError{Op: "fsync", Path: d.path, Err: err}
	}
	return f.osFS.SyncDir(d)
}

type faultFile struct {
	file
	fs      *faultFS
	path    string
	written int
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.check("write", f.path); err != nil {
		// Write part of the buffer first, as a disk filling up does.
		n, _ := f.file.Write(p[:len(p)/2])
		f.written += n
		return n, &os.PathError{Op: "write", Path: f.path, Err: err}
	}
	n, err := f.file.Write(p)
	f.written += n
	return n, err
}

func (f *faultFile) Sync() error {
	if err := f.fs.check("sync", f.path); err != nil {
		return &os.PathError{Op: "sync", Path: f.path, Err: err}
	}
	return f.file.Sync()
}

func (f *faultFile) Close() error {
	err := f.file.Close()
	if ferr := f.fs.check("close", f.path); ferr != nil {
		return &os.PathError{Op: "close", Path: f.path, Err: ferr}
	}
	return err
}

// testStore opens a Store in a temporary directory for tests.
func testStore(t testing.TB, fsys fileSystem, opts Options) *Store {
	t.Helper()
	if opts.Hostname == "" {
		opts.Hostname = "mx.example"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if fsys == nil {
		fsys = osFS{}
	}
	s, err := open(filepath.Join(t.TempDir(), "Maildir"), opts, fsys)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// listDir returns the names in dir, failing the test on error.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%s): %v", dir, err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// assertNothingDelivered checks that no message file is in new/, cur/ or
// tmp/ of the folder directory dir.
func assertNothingDelivered(t *testing.T, dir string) {
	t.Helper()
	for _, sub := range []string{"new", "cur", "tmp"} {
		if names := listDir(t, filepath.Join(dir, sub)); len(names) != 0 {
			t.Errorf("%s/%s holds %q after a failed delivery, want nothing", dir, sub, names)
		}
	}
}

func TestDeliverFaults(t *testing.T) {
	msg := strings.Repeat("Subject: x\r\n\r\nbody line\r\n", 5000) // > bufio size: several writes
	isTmp := func(p string) bool { return strings.Contains(p, "/tmp/") }
	isMsgDir := func(p string) bool { return strings.HasSuffix(p, "/new") || strings.HasSuffix(p, "/cur") }
	tests := []struct {
		name  string
		flags Flags
		fail  func(op, path string) error
		errno error
	}{
		{"ENOSPC on write", Flags{}, func(op, p string) error {
			if op == "write" && isTmp(p) {
				return syscall.ENOSPC
			}
			return nil
		}, syscall.ENOSPC},
		{"EDQUOT on write", Flags{Seen: true}, func(op, p string) error {
			if op == "write" && isTmp(p) {
				return syscall.EDQUOT
			}
			return nil
		}, syscall.EDQUOT},
		{"EIO on fsync", Flags{}, func(op, p string) error {
			if op == "sync" && isTmp(p) {
				return syscall.EIO
			}
			return nil
		}, syscall.EIO},
		{"ENOSPC on close", Flags{}, func(op, p string) error {
			if op == "close" && isTmp(p) {
				return syscall.ENOSPC
			}
			return nil
		}, syscall.ENOSPC},
		{"EIO on rename to new", Flags{}, func(op, p string) error {
			if op == "rename" {
				return syscall.EIO
			}
			return nil
		}, syscall.EIO},
		{"EXDEV on rename to cur", Flags{Flagged: true}, func(op, p string) error {
			if op == "rename" {
				return syscall.EXDEV
			}
			return nil
		}, syscall.EXDEV},
		{"EIO on fsync of new", Flags{}, func(op, p string) error {
			if op == "syncdir" && isMsgDir(p) {
				return syscall.EIO
			}
			return nil
		}, syscall.EIO},
		{"EIO on fsync of cur", Flags{Seen: true}, func(op, p string) error {
			if op == "syncdir" && isMsgDir(p) {
				return syscall.EIO
			}
			return nil
		}, syscall.EIO},
		{"EMFILE on create", Flags{}, func(op, p string) error {
			if op == "open" && isTmp(p) {
				return syscall.EMFILE
			}
			return nil
		}, syscall.EMFILE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := &faultFS{}
			s := testStore(t, fsys, Options{})
			fsys.fail = tt.fail
			d, err := s.Deliver(context.Background(), "", tt.flags, true, strings.NewReader(msg))
			if !errors.Is(err, ErrTemporary) || !errors.Is(err, tt.errno) {
				t.Fatalf("Deliver() = %+v, %v, want ErrTemporary wrapping %v", d, err, tt.errno)
			}
			assertNothingDelivered(t, s.Root())

			// The same Store delivers once the fault is gone.
			fsys.fail = nil
			if _, err := s.Deliver(context.Background(), "", tt.flags, true, strings.NewReader(msg)); err != nil {
				t.Fatalf("Deliver() after fault = %v, want nil", err)
			}
		})
	}
}

func TestDeliverFaultsInFolder(t *testing.T) {
	// Faults while creating a folder leave no message and are temporary.
	for _, op := range []string{"mkdir", "syncdir", "replace"} {
		t.Run(op, func(t *testing.T) {
			fsys := &faultFS{}
			s := testStore(t, fsys, Options{})
			fsys.fail = func(o, p string) error {
				if o == op && strings.Contains(p, ".Spam") || o == op && op == "replace" {
					return syscall.ENOSPC
				}
				return nil
			}
			_, err := s.Deliver(context.Background(), "Spam", Flags{}, true, strings.NewReader("x\r\n"))
			if !errors.Is(err, ErrTemporary) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Deliver(Spam) = %v, want ErrTemporary wrapping ENOSPC", err)
			}
			if _, err := os.Stat(filepath.Join(s.Root(), ".Spam", "new")); err == nil {
				assertNothingDelivered(t, filepath.Join(s.Root(), ".Spam"))
			}
			if _, err := os.Stat(filepath.Join(s.Root(), "subscriptions.lock")); err == nil {
				t.Errorf("subscriptions.lock left behind")
			}
			// A retry completes the folder: marker and subscription.
			fsys.fail = nil
			if _, err := s.Deliver(context.Background(), "Spam", Flags{}, true, strings.NewReader("x\r\n")); err != nil {
				t.Fatalf("Deliver(Spam) retry = %v", err)
			}
			if _, err := os.Stat(filepath.Join(s.Root(), ".Spam", markerFile)); err != nil {
				t.Errorf("marker after retry: %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(s.Root(), subscriptionsFile)); string(b) != "V\t2\n\nSpam\n" {
				t.Errorf("subscriptions after retry = %q, want %q", b, "V\t2\n\nSpam\n")
			}
		})
	}
}

func TestDeliverKeywordFault(t *testing.T) {
	fsys := &faultFS{}
	s := testStore(t, fsys, Options{})
	fsys.fail = func(op, p string) error {
		if op == "replace" && strings.HasSuffix(p, keywordsFile) {
			return syscall.ENOSPC
		}
		return nil
	}
	_, err := s.Deliver(context.Background(), "", Flags{Keywords: []string{"Junk"}}, true, strings.NewReader("x\r\n"))
	if !errors.Is(err, ErrTemporary) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Deliver() = %v, want ErrTemporary wrapping ENOSPC", err)
	}
	assertNothingDelivered(t, s.Root())
	for _, n := range listDir(t, s.Root()) {
		if strings.HasSuffix(n, ".lock") {
			t.Errorf("lock %s left behind", n)
		}
	}
}

// errReader fails after returning some data, as a dropped client does.
type errReader struct{ n int }

func (r *errReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), r.n)
	copy(p, bytes.Repeat([]byte("a"), n))
	r.n -= n
	return n, nil
}

func TestDeliverReaderError(t *testing.T) {
	s := testStore(t, nil, Options{})
	_, err := s.Deliver(context.Background(), "", Flags{}, true, &errReader{n: 100000})
	if !errors.Is(err, ErrTemporary) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Deliver() = %v, want ErrTemporary wrapping io.ErrUnexpectedEOF", err)
	}
	assertNothingDelivered(t, s.Root())
}

// cancelReader cancels its context once it has been read to the end.
type cancelReader struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.cancel()
	}
	return n, err
}

func TestDeliverContext(t *testing.T) {
	s := testStore(t, nil, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Deliver(ctx, "", Flags{}, true, strings.NewReader("x")); !errors.Is(err, ErrTemporary) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver(cancelled) = %v, want ErrTemporary wrapping context.Canceled", err)
	}
	// Cancelled while the message is written: checked again before the move.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	r := &cancelReader{r: strings.NewReader("Subject: x\r\n\r\nx\r\n"), cancel: cancel}
	if _, err := s.Deliver(ctx, "", Flags{}, true, r); !errors.Is(err, ErrTemporary) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver(cancelled while writing) = %v, want ErrTemporary wrapping context.Canceled", err)
	}
	assertNothingDelivered(t, s.Root())
}

func TestDotlockWaitsAndBreaksStale(t *testing.T) {
	now := time.Now()
	s := testStore(t, nil, Options{Now: func() time.Time { return now }})
	lock := filepath.Join(s.Root(), subscriptionsFile+".lock")
	if err := os.WriteFile(lock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A fresh lock held by someone else: Deliver waits until ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.Deliver(ctx, "Spam", Flags{}, true, strings.NewReader("x"))
	if !errors.Is(err, ErrTemporary) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deliver with held lock = %v, want ErrTemporary wrapping DeadlineExceeded", err)
	}
	// A stale lock is broken.
	now = now.Add(subscriptionsStale + time.Second)
	if _, err := s.Deliver(context.Background(), "Spam", Flags{}, true, strings.NewReader("x")); err != nil {
		t.Fatalf("Deliver with stale lock = %v, want nil", err)
	}
	if b, _ := os.ReadFile(filepath.Join(s.Root(), subscriptionsFile)); string(b) != "V\t2\n\nSpam\n" {
		t.Errorf("subscriptions = %q, want %q", b, "V\t2\n\nSpam\n")
	}
}
