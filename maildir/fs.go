package maildir

import (
	"errors"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// fileSystem is every file-system operation a Store performs. The Store uses
// osFS; tests substitute a wrapper that injects failures (short writes,
// ENOSPC, failing fsync or rename) to prove no partial mail is left behind.
type fileSystem interface {
	OpenFile(name string, flag int, perm os.FileMode) (file, error)
	Mkdir(name string, perm os.FileMode) error
	Chmod(name string, mode os.FileMode) error
	Chown(name string, uid, gid int) error
	Chtimes(name string, atime, mtime time.Time) error
	// RenameNoReplace moves oldpath to newpath and fails with an error
	// satisfying errors.Is(err, os.ErrExist) if newpath exists.
	RenameNoReplace(oldpath, newpath string) error
	// Rename replaces newpath atomically.
	Rename(oldpath, newpath string) error
	Remove(name string) error
	Stat(name string) (os.FileInfo, error)
	ReadDir(name string) ([]os.DirEntry, error)
	// SyncDir fsyncs the directory name, making entries created in or
	// renamed into it durable.
	SyncDir(name string) error
}

// file is an open file as the Store uses it.
type file interface {
	io.ReadWriter
	Sync() error
	Close() error
	Chmod(mode os.FileMode) error
	Chown(uid, gid int) error
	Stat() (os.FileInfo, error)
}

// osFS is the real file system.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Mkdir(name string, perm os.FileMode) error         { return os.Mkdir(name, perm) }
func (osFS) Chmod(name string, mode os.FileMode) error         { return os.Chmod(name, mode) }
func (osFS) Chown(name string, uid, gid int) error             { return os.Lchown(name, uid, gid) }
func (osFS) Chtimes(name string, atime, mtime time.Time) error { return os.Chtimes(name, atime, mtime) }
func (osFS) Rename(oldpath, newpath string) error              { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                          { return os.Remove(name) }
func (osFS) Stat(name string) (os.FileInfo, error)             { return os.Stat(name) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)        { return os.ReadDir(name) }

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// RenameNoReplace uses renameat2(RENAME_NOREPLACE) so that a name collision
// can never overwrite delivered mail. Where the kernel or file system lacks
// it, link(2) + unlink(2) gives the same guarantee (the way qmail delivers);
// where hard links are unsupported too, it falls back to checking for the
// target and renaming, which leaves only a tiny race.
func (osFS) RenameNoReplace(oldpath, newpath string) error {
	return renameNoReplace(oldpath, newpath, func(o, n string) error {
		return unix.Renameat2(unix.AT_FDCWD, o, unix.AT_FDCWD, n, unix.RENAME_NOREPLACE)
	})
}

// renameNoReplace is RenameNoReplace with the renameat2 call as a
// parameter, so that tests can exercise the fallbacks.
func renameNoReplace(oldpath, newpath string, renameat2 func(oldpath, newpath string) error) error {
	err := renameat2(oldpath, newpath)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.ENOTSUP) {
		return &os.LinkError{Op: "renameat2", Old: oldpath, New: newpath, Err: err}
	}
	err = os.Link(oldpath, newpath)
	if err == nil {
		// The mail is in place; a tmp link left by a failing unlink is
		// removed as stale later, so it is no reason to fail delivery.
		_ = os.Remove(oldpath)
		return nil
	}
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EXDEV) {
		return err
	}
	if _, serr := os.Lstat(newpath); serr == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrExist}
	}
	return os.Rename(oldpath, newpath)
}
