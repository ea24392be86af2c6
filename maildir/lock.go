package maildir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Dovecot's stale timeouts for the dotlocks this package takes.
const (
	subscriptionsStale = 30 * time.Second  // SUBSCRIPTION_FILE_CHANGE_TIMEOUT
	keywordsStale      = 120 * time.Second // KEYWORDS_LOCK_STALE_TIMEOUT
	uidlistStale       = 120 * time.Second // MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT
)

// maxReadSize bounds the files this package reads whole (dovecot-keywords,
// subscriptions, maildirsize): a user's file of any size must not cost us
// unbounded memory.
const maxReadSize = 1 << 20

// errTooLarge is a file over maxReadSize.
var errTooLarge = errors.New("file too large")

// dotlock takes Dovecot's dotlock for the file target in d: it creates
// target+".lock" with O_EXCL (Dovecot's dotlock_use_excl = yes), waiting
// while another process holds it and breaking it once its mtime is older
// than stale. The returned file is open for writing; the caller either
// renames the lock over target (to replace target, as Dovecot's
// file_dotlock_replace does) or removes it (to release a plain lock).
func (s *Store) dotlock(ctx context.Context, d *dir, target string, stale time.Duration) (file, string, error) {
	lock := target + ".lock"
	deadline := s.now().Add(stale + 5*time.Second)
	wait := 5 * time.Millisecond
	for {
		f, err := s.fs.OpenFile(d, lock, os.O_RDWR|os.O_CREATE|os.O_EXCL, s.fileMode)
		if err == nil {
			if err := s.setOwnerMode(f, d.join(lock)); err != nil {
				f.Close()
				s.fs.Remove(d, lock)
				return nil, "", err
			}
			return f, lock, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, "", tempErr("create lock", d.join(lock), err)
		}
		if fi, serr := s.fs.Lstat(d, lock); serr == nil && s.now().Sub(fi.ModTime()) > stale {
			s.log.Warn("maildir: breaking stale lock", "path", d.join(lock), "mtime", fi.ModTime())
			if rerr := s.fs.Remove(d, lock); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				return nil, "", tempErr("remove stale lock", d.join(lock), rerr)
			}
			continue
		}
		if s.now().After(deadline) {
			return nil, "", tempErr("lock", d.join(lock), errors.New("timeout waiting for lock"))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, "", tempErr("lock", d.join(lock), ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, 100*time.Millisecond)
	}
}

// readFile reads the whole regular file name in d, at most maxReadSize
// bytes (more is an error wrapping errTooLarge).
func (s *Store) readFile(d *dir, name string) ([]byte, os.FileInfo, error) {
	f, err := s.fs.OpenFile(d, name, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxReadSize+1))
	if err == nil && len(b) > maxReadSize {
		err = fmt.Errorf("%s: %w (over %d bytes)", d.join(name), errTooLarge, maxReadSize)
	}
	return b, fi, err
}

// replaceFile atomically replaces the file target in d with content under
// its dotlock, already held as the open file lockf named lockName: write,
// fsync, rename over target, fsync the directory. prevMtime is the mtime of
// the file being replaced (zero if none): Dovecot notices changes by mtime
// in whole seconds, so the new file's mtime is pushed past it if needed. On
// failure the lock file is removed and target is untouched.
func (s *Store) replaceFile(d *dir, lockf file, lockName, target string, content []byte, prevMtime time.Time) (err error) {
	lockPath := d.join(lockName)
	defer func() {
		if err != nil {
			s.fs.Remove(d, lockName)
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
	if !prevMtime.IsZero() {
		if fi, err := lockf.Stat(); err == nil && fi.ModTime().Unix() <= prevMtime.Unix() {
			m := time.Unix(prevMtime.Unix()+1, 0)
			if err := s.fs.Chtimes(d, lockName, m, m); err != nil {
				lockf.Close()
				return tempErr("utime", lockPath, err)
			}
		}
	}
	if err := lockf.Close(); err != nil {
		return tempErr("close", lockPath, err)
	}
	if err := s.fs.Rename(d, lockName, d, target); err != nil {
		return tempErr("rename", lockPath, err)
	}
	if err := s.fs.SyncDir(d); err != nil {
		return tempErr("fsync", d.path, err)
	}
	return nil
}

// releaseLock removes a plain dotlock taken with dotlock.
func (s *Store) releaseLock(d *dir, lockf file, lockName string) {
	lockf.Close()
	if err := s.fs.Remove(d, lockName); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("maildir: releasing lock", "path", d.join(lockName), "err", err)
	}
}

// holderID is what Dovecot writes into a dotlock it holds: "<pid>:<host>",
// which lets it see that a live process on this host holds the lock.
func (s *Store) holderID() string {
	return fmt.Sprintf("%s:%s", s.pid, s.host)
}
