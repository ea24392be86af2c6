package sieve

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Errors of script files. Each is wrapped with the path; none carries the
// file's content, so that a script the user may not read is never echoed.
var (
	// ErrNotRegular is returned for a script path naming a FIFO, a device,
	// a directory or anything else that is not a regular file.
	ErrNotRegular = errors.New("sieve: script is not a regular file")
	// ErrScriptTooLarge is returned for a script over Limits.MaxScriptSize.
	ErrScriptTooLarge = errors.New("sieve: script is too large")
	// ErrUnsafePath is returned for a user's script that is reached through
	// a symlink leading out of the user's directory, through a symlinked
	// directory, or through a chain of symlinks.
	ErrUnsafePath = errors.New("sieve: unsafe script path")
)

// fileID identifies one version of a file for the compile cache.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

// readScript reads the script file at path, bounded by max bytes. When
// root is empty the path is the administrator's and is opened as given,
// symlinks followed. Otherwise path must lie inside root (the user's
// directory) and is opened component by component from root without
// following any symlink, except that the last component may be one symlink
// to a regular file that is itself inside root and reached the same way
// (Dovecot's ~/.dovecot.sieve -> sieve/NAME.sieve). Either way the file is
// opened without blocking (a FIFO cannot hang the delivery) and must be a
// regular file. A missing file is ErrNoScript.
func readScript(root, path string, owner *FileOwner, max int) ([]byte, fileID, error) {
	f, id, err := openScript(root, path, owner)
	if err != nil {
		return nil, fileID{}, err
	}
	defer f.Close()
	src, err := readOpen(f, id, path, max)
	return src, id, err
}

// readOpen reads the script file f opened by openScript, bounded by max bytes.
func readOpen(f *os.File, id fileID, path string, max int) ([]byte, error) {
	if id.size > int64(max) {
		return nil, fmt.Errorf("%w: %s has %d bytes, the limit (max_script_size) is %d", ErrScriptTooLarge, path, id.size, max)
	}
	// The file may grow between fstat and read: read one byte past the limit.
	src, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("sieve: %s: %w", path, err)
	}
	if len(src) > max {
		return nil, fmt.Errorf("%w: %s has more than %d bytes, the limit (max_script_size)", ErrScriptTooLarge, path, max)
	}
	return src, nil
}

// same reports whether two identities name the same version of a file.
func (a fileID) same(b fileID) bool {
	return a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime.Equal(b.mtime)
}

// statScript returns the identity of the file readScript would read, for
// checking a cache entry.
func statScript(root, path string, owner *FileOwner) (fileID, error) {
	f, id, err := openScript(root, path, owner)
	if err != nil {
		return fileID{}, err
	}
	f.Close()
	return id, nil
}

// openScript opens a script file as readScript describes and returns it
// with the identity of the open file, which must be a regular file
// readable by owner when owner is set.
func openScript(root, path string, owner *FileOwner) (*os.File, fileID, error) {
	return openLinks(root, path, owner, 1)
}

// openLinks is openScript with links symlinks allowed for the last
// component of a path under root.
func openLinks(root, path string, owner *FileOwner, links int) (*os.File, fileID, error) {
	var f *os.File
	var err error
	if root == "" {
		f, err = openFile(unix.AT_FDCWD, path, path)
	} else {
		f, err = openUnder(root, path, owner, links)
	}
	if err != nil {
		return nil, fileID{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fileID{}, fmt.Errorf("sieve: %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fileID{}, fmt.Errorf("%w: %s", ErrNotRegular, path)
	}
	if !owner.may(&st, 4) {
		f.Close()
		return nil, fileID{}, fmt.Errorf("%w: %s is not readable by uid %d", ErrUnsafePath, path, owner.UID)
	}
	id := fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size, mtime: time.Unix(st.Mtim.Unix())}
	return f, id, nil
}

// openFile opens name relative to dirfd for reading, without blocking.
func openFile(dirfd int, name, path string) (*os.File, error) {
	fd, err := openat(dirfd, name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY)
	if err != nil {
		return nil, pathErr(path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

func openat(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func pathErr(path string, err error) error {
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%w: %s", ErrNoScript, path)
	}
	return fmt.Errorf("sieve: %s: %w", path, err)
}

// within returns path relative to root when path lies inside root.
func within(root, path string) (string, bool) {
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false
	}
	return rel, true
}

// openUnder opens path, which must be inside root, walking from root with
// O_NOFOLLOW at every component; links is how many symlinks the last
// component may still resolve through.
func openUnder(root, path string, owner *FileOwner, links int) (*os.File, error) {
	root = filepath.Clean(root)
	path = filepath.Clean(path)
	rel, ok := within(root, path)
	if !ok {
		return nil, fmt.Errorf("%w: %s is outside %s", ErrUnsafePath, path, root)
	}
	dirfd, err := openat(unix.AT_FDCWD, root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, pathErr(path, err)
	}
	if err := searchable(dirfd, owner, path, root); err != nil {
		unix.Close(dirfd)
		return nil, err
	}
	parts := strings.Split(rel, string(filepath.Separator))
	for _, dir := range parts[:len(parts)-1] {
		fd, err := openat(dirfd, dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		unix.Close(dirfd)
		if err != nil {
			if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
				return nil, fmt.Errorf("%w: %s: %s is not a directory of its own", ErrUnsafePath, path, dir)
			}
			return nil, pathErr(path, err)
		}
		dirfd = fd
		if err := searchable(dirfd, owner, path, dir); err != nil {
			unix.Close(dirfd)
			return nil, err
		}
	}
	defer unix.Close(dirfd)
	last := parts[len(parts)-1]
	fd, err := openat(dirfd, last, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY)
	if err == nil {
		return os.NewFile(uintptr(fd), path), nil
	}
	if !errors.Is(err, unix.ELOOP) {
		return nil, pathErr(path, err)
	}
	if links <= 0 {
		return nil, fmt.Errorf("%w: %s is a symlink to a symlink", ErrUnsafePath, path)
	}
	target, err := readlinkat(dirfd, last)
	if err != nil {
		return nil, pathErr(path, err)
	}
	// The target is resolved lexically, then opened by the same walk, so
	// neither ".." nor a symlinked directory can lead out of root.
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(path), target)
	}
	if _, ok := within(root, filepath.Clean(target)); !ok {
		return nil, fmt.Errorf("%w: %s is a symlink out of %s", ErrUnsafePath, path, root)
	}
	return openUnder(root, target, owner, links-1)
}

// FileOwner is the user whose permissions a user's script file is read
// with: sluice runs as root, where Dovecot's delivery runs as the user, so
// a file the user could not read (a root-only file hard-linked into the
// home, say) is refused rather than read with root's rights. Only the
// mode bits and the primary group are consulted.
type FileOwner struct{ UID, GID int }

// may reports whether o may access a file with stat st for the permission
// bit perm (4 read, 1 search); a nil or root owner may do anything.
func (o *FileOwner) may(st *unix.Stat_t, perm uint32) bool {
	if o == nil || o.UID == 0 {
		return true
	}
	switch {
	case int(st.Uid) == o.UID:
		return st.Mode&(perm<<6) != 0
	case int(st.Gid) == o.GID:
		return st.Mode&(perm<<3) != 0
	}
	return st.Mode&perm != 0
}

func searchable(dirfd int, owner *FileOwner, path, dir string) error {
	if owner == nil {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(dirfd, &st); err != nil {
		return fmt.Errorf("sieve: %s: %w", path, err)
	}
	if !owner.may(&st, 1) {
		return fmt.Errorf("%w: %s: %s is not searchable by uid %d", ErrUnsafePath, path, dir, owner.UID)
	}
	return nil
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; size <= 1<<16; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", unix.ENAMETOOLONG
}
