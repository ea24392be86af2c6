package maildir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Dovecot's stale timeouts for the dotlocks this package takes.
const (
	subscriptionsStale = 30 * time.Second  // SUBSCRIPTION_FILE_CHANGE_TIMEOUT
	keywordsStale      = 120 * time.Second // KEYWORDS_LOCK_STALE_TIMEOUT
	uidlistStale       = 120 * time.Second // MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT
)

// dotlock takes Dovecot's dotlock for target: it creates target+".lock"
// with O_EXCL (Dovecot's dotlock_use_excl = yes), waiting while another
// process holds it and breaking it once its mtime is older than stale.
// The returned file is open for writing; the caller either renames the lock
// over target (to replace target, as Dovecot's file_dotlock_replace does) or
// removes it (to release a plain lock).
func (s *Store) dotlock(ctx context.Context, target string, stale time.Duration) (file, string, error) {
	lock := target + ".lock"
	deadline := s.now().Add(stale + 5*time.Second)
	wait := 5 * time.Millisecond
	for {
		f, err := s.fs.OpenFile(lock, os.O_RDWR|os.O_CREATE|os.O_EXCL, s.fileMode)
		if err == nil {
			if err := s.setOwnerMode(f, lock); err != nil {
				f.Close()
				s.fs.Remove(lock)
				return nil, "", err
			}
			return f, lock, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, "", tempErr("create lock", lock, err)
		}
		if fi, serr := s.fs.Stat(lock); serr == nil && s.now().Sub(fi.ModTime()) > stale {
			s.log.Warn("maildir: breaking stale lock", "path", lock, "mtime", fi.ModTime())
			if rerr := s.fs.Remove(lock); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				return nil, "", tempErr("remove stale lock", lock, rerr)
			}
			continue
		}
		if s.now().After(deadline) {
			return nil, "", tempErr("lock", lock, errors.New("timeout waiting for lock"))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, "", tempErr("lock", lock, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, 100*time.Millisecond)
	}
}

// readFile reads a whole file through the Store's file system.
func (s *Store) readFile(path string) ([]byte, os.FileInfo, error) {
	f, err := s.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(f)
	return b, fi, err
}

// replaceFile atomically replaces target with content under its dotlock,
// already held as the open file lockf at lockPath: write, fsync, rename over
// target, fsync the directory. prevMtime is the mtime of the file being
// replaced (zero if none): Dovecot notices changes by mtime in whole
// seconds, so the new file's mtime is pushed past it if needed. On failure
// the lock file is removed and target is untouched.
func (s *Store) replaceFile(lockf file, lockPath, target string, content []byte, prevMtime time.Time) (err error) {
	defer func() {
		if err != nil {
			s.fs.Remove(lockPath)
		}
	}()
	if _, err := lockf.Write(content); err != nil {
		lockf.Close()
		return tempErr("write", lockPath, err)
	}
	if err := lockf.Sync(); err != nil {
		lockf.Close()
		return tempErr("fsync", lockPath, err)
	}
	if err := lockf.Close(); err != nil {
		return tempErr("close", lockPath, err)
	}
	if !prevMtime.IsZero() {
		if fi, err := s.fs.Stat(lockPath); err == nil && fi.ModTime().Unix() <= prevMtime.Unix() {
			m := time.Unix(prevMtime.Unix()+1, 0)
			if err := s.fs.Chtimes(lockPath, m, m); err != nil {
				return tempErr("utime", lockPath, err)
			}
		}
	}
	if err := s.fs.Rename(lockPath, target); err != nil {
		return tempErr("rename", lockPath, err)
	}
	dir := filepath.Dir(target)
	if err := s.fs.SyncDir(dir); err != nil {
		return tempErr("fsync", dir, err)
	}
	return nil
}

// releaseLock removes a plain dotlock taken with dotlock.
func (s *Store) releaseLock(lockf file, lockPath string) {
	lockf.Close()
	if err := s.fs.Remove(lockPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("maildir: releasing lock", "path", lockPath, "err", err)
	}
}

// holderID is what Dovecot writes into a dotlock it holds: "<pid>:<host>",
// which lets it see that a live process on this host holds the lock.
func (s *Store) holderID() string {
	return fmt.Sprintf("%s:%s", s.pid, s.host)
}
