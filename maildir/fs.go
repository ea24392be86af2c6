package maildir

import (
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// dir is an open directory and the path it was reached by. Every operation
// below a Store's base goes through a dir and one path component, never a
// path: a symbolic link put anywhere in the user's tree cannot redirect a
// write, because each component is opened with O_NOFOLLOW.
type dir struct {
	fd   int
	path string // for errors, logs and the fault tests' predicates
}

// join is the path of name in d.
func (d *dir) join(name string) string { return d.path + "/" + name }

// Close closes the directory.
func (d *dir) Close() error { return unix.Close(d.fd) }

// chmod and chown act on the open directory itself (fchmod, fchown), so
// they cannot be redirected either.
func (d *dir) chmod(mode os.FileMode) error { return unix.Fchmod(d.fd, uint32(mode.Perm())) }
func (d *dir) chown(uid, gid int) error     { return unix.Fchown(d.fd, uid, gid) }

// fileSystem is every file-system operation a Store performs, relative to
// open directories. The Store uses osFS; tests substitute a wrapper that
// injects failures (short writes, ENOSPC, failing fsync or rename) to prove
// no partial mail is left behind.
//
// No method follows a symbolic link in its last component except OpenBase,
// and none opens anything but a directory or a regular file: anything else
// fails with an error wrapping ErrUnsafe.
type fileSystem interface {
	// OpenBase opens the trusted directory path, following symlinks: it
	// is the administrator's, not the user's.
	OpenBase(path string) (*dir, error)
	// OpenDir opens the directory name in d.
	OpenDir(d *dir, name string) (*dir, error)
	// OpenFile opens the regular file name in d.
	OpenFile(d *dir, name string, flag int, perm os.FileMode) (file, error)
	Mkdir(d *dir, name string, perm os.FileMode) error
	Chtimes(d *dir, name string, atime, mtime time.Time) error
	// RenameNoReplace moves oname in od to nname in nd and fails with an
	// error satisfying errors.Is(err, os.ErrExist) if the target exists.
	RenameNoReplace(od *dir, oname string, nd *dir, nname string) error
	// Rename replaces nname atomically.
	Rename(od *dir, oname string, nd *dir, nname string) error
	Remove(d *dir, name string) error
	// Lstat describes name in d without following a symlink.
	Lstat(d *dir, name string) (os.FileInfo, error)
	ReadDir(d *dir) ([]os.DirEntry, error)
	// SyncDir fsyncs d, making entries created in or renamed into it
	// durable.
	SyncDir(d *dir) error
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

// unsafeErr classifies the error of opening name in d: O_NOFOLLOW on a
// symlink fails with ELOOP (or, with O_DIRECTORY, ENOTDIR on some kernels),
// and ENOTDIR is also a FIFO, socket or device where a directory should be.
// Those wrap ErrUnsafe; a plain regular file where a directory belongs is
// an ordinary ENOTDIR.
func unsafeErr(op string, d *dir, name string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		var st unix.Stat_t
		if serr := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); serr != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			err = &unsafeError{err}
		}
	}
	return &os.PathError{Op: op, Path: d.join(name), Err: err}
}

// unsafeError is an errno that means a symlink or special file was met. It
// unwraps to both the errno and ErrUnsafe.
type unsafeError struct{ errno error }

func (e *unsafeError) Error() string   { return e.errno.Error() + " (symlink or special file)" }
func (e *unsafeError) Unwrap() []error { return []error{e.errno, ErrUnsafe} }

func (osFS) OpenBase(path string) (*dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &dir{fd: fd, path: path}, nil
}

func (osFS) OpenDir(d *dir, name string) (*dir, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, unsafeErr("open", d, name, err)
	}
	return &dir{fd: fd, path: d.join(name)}, nil
}

// OpenFile opens with O_NOFOLLOW and O_NONBLOCK, so that neither a symlink
// nor a FIFO (whose open would block until a writer comes) is followed or
// waited for, then insists on a regular file, and for writing an existing
// file, on one with a single link. An existing name is checked with lstat
// first, so that no device is ever opened.
func (osFS) OpenFile(d *dir, name string, flag int, perm os.FileMode) (file, error) {
	p := d.join(name)
	if flag&os.O_EXCL == 0 {
		var st unix.Stat_t
		err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, &os.PathError{Op: "open", Path: p, Err: &unsafeError{errNotRegular}}
		}
	}
	fd, err := unix.Openat(d.fd, name, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, unsafeErr("open", d, name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: p, Err: &unsafeError{errNotRegular}}
	}
	// An existing file opened for writing must have no other name: a hard
	// link the user made to a file elsewhere would be written through.
	if flag&os.O_EXCL == 0 && flag&(os.O_WRONLY|os.O_RDWR) != 0 && st.Nlink > 1 {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: p, Err: &unsafeError{errLinked}}
	}
	// Regular files ignore O_NONBLOCK; clear it anyway, so os.File treats
	// the descriptor as an ordinary blocking file.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

func (osFS) Mkdir(d *dir, name string, perm os.FileMode) error {
	if err := unix.Mkdirat(d.fd, name, uint32(perm.Perm())); err != nil {
		return &os.PathError{Op: "mkdir", Path: d.join(name), Err: err}
	}
	return nil
}

func (osFS) Chtimes(d *dir, name string, atime, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(d.fd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: d.join(name), Err: err}
	}
	return nil
}

func (osFS) Rename(od *dir, oname string, nd *dir, nname string) error {
	if err := unix.Renameat(od.fd, oname, nd.fd, nname); err != nil {
		return &os.LinkError{Op: "rename", Old: od.join(oname), New: nd.join(nname), Err: err}
	}
	return nil
}

func (osFS) Remove(d *dir, name string) error {
	if err := unix.Unlinkat(d.fd, name, 0); err != nil {
		return &os.PathError{Op: "unlink", Path: d.join(name), Err: err}
	}
	return nil
}

func (osFS) Lstat(d *dir, name string) (os.FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: d.join(name), Err: err}
	}
	return &fileStat{name: name, st: st}, nil
}

func (osFS) ReadDir(d *dir) ([]os.DirEntry, error) {
	// A new open file description of ".", so that reading does not move
	// the offset of d.
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	es, err := f.ReadDir(-1)
	slices.SortFunc(es, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return es, err
}

func (osFS) SyncDir(d *dir) error {
	if err := unix.Fsync(d.fd); err != nil {
		return &os.PathError{Op: "fsync", Path: d.path, Err: err}
	}
	return nil
}

// RenameNoReplace uses renameat2(RENAME_NOREPLACE) so that a name collision
// can never overwrite delivered mail. Where the kernel or file system lacks
// it, linkat(2) + unlinkat(2) gives the same guarantee (the way qmail
// delivers); where hard links are unsupported too, it falls back to checking
// for the target and renaming, which leaves only a tiny race.
func (osFS) RenameNoReplace(od *dir, oname string, nd *dir, nname string) error {
	return renameNoReplace(od, oname, nd, nname, func(ofd int, o string, nfd int, n string) error {
		return unix.Renameat2(ofd, o, nfd, n, unix.RENAME_NOREPLACE)
	})
}

// renameNoReplace is RenameNoReplace with the renameat2 call as a
// parameter, so that tests can exercise the fallbacks.
func renameNoReplace(od *dir, oname string, nd *dir, nname string, renameat2 func(ofd int, o string, nfd int, n string) error) error {
	oldpath, newpath := od.join(oname), nd.join(nname)
	err := renameat2(od.fd, oname, nd.fd, nname)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.ENOTSUP) {
		return &os.LinkError{Op: "renameat2", Old: oldpath, New: newpath, Err: err}
	}
	// linkat without AT_SYMLINK_FOLLOW links the name itself, never what
	// a symlink points to.
	err = unix.Linkat(od.fd, oname, nd.fd, nname, 0)
	if err == nil {
		// The mail is in place; a tmp link left by a failing unlink is
		// removed as stale later, so it is no reason to fail delivery.
		_ = unix.Unlinkat(od.fd, oname, 0)
		return nil
	}
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EXDEV) {
		return &os.LinkError{Op: "link", Old: oldpath, New: newpath, Err: err}
	}
	var st unix.Stat_t
	if serr := unix.Fstatat(nd.fd, nname, &st, unix.AT_SYMLINK_NOFOLLOW); serr == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrExist}
	}
	if err := unix.Renameat(od.fd, oname, nd.fd, nname); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// fileStat is an os.FileInfo from fstatat.
type fileStat struct {
	name string
	st   unix.Stat_t
}

func (f *fileStat) Name() string       { return f.name }
func (f *fileStat) Size() int64        { return f.st.Size }
func (f *fileStat) ModTime() time.Time { return time.Unix(f.st.Mtim.Unix()) }
func (f *fileStat) Sys() any           { return &f.st }
func (f *fileStat) IsDir() bool        { return f.Mode().IsDir() }

func (f *fileStat) Mode() os.FileMode {
	m := os.FileMode(f.st.Mode & 0o777)
	switch f.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= os.ModeDir
	case unix.S_IFLNK:
		m |= os.ModeSymlink
	case unix.S_IFIFO:
		m |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= os.ModeSocket
	case unix.S_IFCHR:
		m |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		m |= os.ModeDevice
	}
	return m
}

// errNotRegular is what a FIFO, socket or device where a regular file
// belongs gives.
var errNotRegular = errors.New("not a regular file")

// errLinked is a file to be written that has more than one hard link.
var errLinked = errors.New("file has other hard links")
