package sieve

import (
	"os"
	"path/filepath"
)

// FileVersion identifies one version of a file ReadUserFile read: an
// unchanged file gives an equal version (device, inode, size and mtime).
type FileVersion struct{ id fileID }

// Same reports whether v and w are the same version of a file.
func (v FileVersion) Same(w FileVersion) bool { return v.id.same(w.id) }

// ReadUserFile reads a file of the user's other than a Sieve script (such
// as SpamAssassin's user_prefs) more strictly than LoadUser reads the
// active script: from u.Home (or the file's directory when it lies
// outside) one component at a time with O_NOFOLLOW, the file itself no
// symlink either, opened without blocking (a FIFO cannot hang delivery),
// a regular file readable by u.Owner, at most max bytes. Errors wrap
// ErrNoScript (no such file), ErrNotRegular, ErrScriptTooLarge or
// ErrUnsafePath, and never quote the file.
func ReadUserFile(u UserFiles, path string, max int) ([]byte, FileVersion, error) {
	f, id, err := openUserFile(u, path)
	if err != nil {
		return nil, FileVersion{}, err
	}
	defer f.Close()
	src, err := readOpen(f, id, path, max)
	return src, FileVersion{id}, err
}

// StatUserFile returns the version of the file ReadUserFile would read,
// opening it the same way, so that a cache can tell whether it changed.
func StatUserFile(u UserFiles, path string) (FileVersion, error) {
	f, id, err := openUserFile(u, path)
	if err != nil {
		return FileVersion{}, err
	}
	f.Close()
	return FileVersion{id}, nil
}

func openUserFile(u UserFiles, path string) (*os.File, fileID, error) {
	root := u.Home
	if _, ok := within(root, path); root == "" || !ok {
		root = filepath.Dir(path)
	}
	return openLinks(root, path, u.Owner, 0)
}
