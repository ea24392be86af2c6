package maildir

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// markerFile marks a directory as a Maildir++ folder (not a root).
const markerFile = "maildirfolder"

// maxNameTries bounds the retries after a file name collision, which the
// time, pid, host and counter in names make all but impossible.
const maxNameTries = 16

// Delivered describes a delivered message.
type Delivered struct {
	// Folder is the canonical IMAP mailbox name: "INBOX", or "."-separated
	// UTF-8 such as "Lists.Go" or "Entwürfe".
	Folder string
	// Path is the absolute path of the message file in new/ or cur/.
	Path string
	// Size is the size of the file as stored (LF line endings), the S= of
	// its name.
	Size int64
}

// Deliver writes msg into folder with flags and makes it durable.
//
// folder is "" or "INBOX" for the root, else an IMAP mailbox name as
// FolderDir takes it. A missing folder is created (".Name/{cur,new,tmp}",
// the "maildirfolder" marker, and a line in the root's "subscriptions")
// when create is true; otherwise Deliver returns an error wrapping
// ErrNoFolder. An invalid name gives an error wrapping ErrBadFolder.
//
// The message is written to tmp/ (CRLF converted to LF), fsynced, moved
// without replacing anything to new/<name>, or to cur/<name>:2,<flags> when
// flags are set, and the destination directory is fsynced: when Deliver
// returns nil the message survives a crash. On any failure the tmp file is
// removed, nothing is left in new/ or cur/, and the error wraps ErrTemporary
// (and the underlying error, such as syscall.ENOSPC or syscall.EDQUOT).
// ctx is checked before starting and before the move.
func (s *Store) Deliver(ctx context.Context, folder string, flags Flags, create bool, msg io.Reader) (Delivered, error) {
	if err := ctx.Err(); err != nil {
		return Delivered{}, fmt.Errorf("%w: deliver: %w", ErrTemporary, err)
	}
	canon, err := canonicalName(folder)
	if err != nil {
		return Delivered{}, err
	}
	rel, err := FolderDir(canon)
	if err != nil {
		return Delivered{}, err
	}
	dir := s.root
	if rel != "" {
		dir = filepath.Join(s.root, rel)
		if err := s.ensureFolder(ctx, canon, dir, rel, create); err != nil {
			return Delivered{}, err
		}
	}
	info, err := s.info(ctx, dir, flags)
	if err != nil {
		return Delivered{}, err
	}

	tmpPath, f, err := s.createTmp(dir)
	if err != nil {
		return Delivered{}, err
	}
	size, vsize, err := s.writeTmp(f, tmpPath, msg)
	if err == nil {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w: deliver: %w", ErrTemporary, cerr)
		}
	}
	if err != nil {
		s.removeTmp(tmpPath)
		return Delivered{}, err
	}
	path, err := s.moveIntoPlace(dir, tmpPath, size, vsize, info)
	if err != nil {
		s.removeTmp(tmpPath)
		return Delivered{}, err
	}
	return Delivered{Folder: canon, Path: path, Size: size}, nil
}

// ensureFolder makes sure the Maildir++ folder directory dir (rel relative
// to the root) of the mailbox name exists, creating it if allowed. A folder whose
// "maildirfolder" marker is missing (a creation cut short) is completed.
func (s *Store) ensureFolder(ctx context.Context, name, dir, rel string, create bool) error {
	fi, err := s.fs.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory", ErrTemporary, dir)
	case err == nil:
		if _, err := s.fs.Stat(filepath.Join(dir, markerFile)); err == nil {
			return nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return tempErr("stat", filepath.Join(dir, markerFile), err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return tempErr("stat", dir, err)
	case !create:
		return fmt.Errorf("%w: %q", ErrNoFolder, name)
	}
	if _, err := s.mkdir(dir); err != nil {
		return err
	}
	if _, err := s.ensureMaildir(dir); err != nil {
		return err
	}
	if create {
		// The subscriptions file holds Dovecot's storage name: the
		// directory name without its leading ".".
		if err := s.subscribe(ctx, rel[1:]); err != nil {
			return err
		}
	}
	// The marker goes last: its presence means the folder is complete.
	marker := filepath.Join(dir, markerFile)
	mf, err := s.fs.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_EXCL, s.fileMode)
	switch {
	case err == nil:
		err = s.setOwnerMode(mf, marker)
		if cerr := mf.Close(); err == nil && cerr != nil {
			err = tempErr("close", marker, cerr)
		}
		if err != nil {
			s.fs.Remove(marker)
			return err
		}
	case !errors.Is(err, os.ErrExist):
		return tempErr("create", marker, err)
	}
	if err := s.fs.SyncDir(dir); err != nil {
		return tempErr("fsync", dir, err)
	}
	return nil
}

// uniqueBase returns a new base file name,
// "<sec>.M<usec>P<pid>Q<n>.<host>" (maildir(5), Dovecot's form plus Q<n>).
func (s *Store) uniqueBase() string {
	now := s.now()
	n := s.seq.Add(1)
	return strconv.FormatInt(now.Unix(), 10) + ".M" + strconv.Itoa(now.Nanosecond()/1000) +
		"P" + s.pid + "Q" + strconv.FormatUint(n, 10) + "." + s.host
}

// createTmp creates a new file in dir/tmp with O_EXCL, giving it the
// Store's mode and owner. A tmp/ removed behind our back is recreated.
func (s *Store) createTmp(dir string) (string, file, error) {
	tmpDir := filepath.Join(dir, "tmp")
	recreated := false
	for try := 0; ; try++ {
		p := filepath.Join(tmpDir, s.uniqueBase())
		f, err := s.fs.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, s.fileMode)
		switch {
		case err == nil:
			if err := s.setOwnerMode(f, p); err != nil {
				f.Close()
				s.removeTmp(p)
				return "", nil, err
			}
			return p, f, nil
		case errors.Is(err, os.ErrExist) && try < maxNameTries:
			continue
		case errors.Is(err, os.ErrNotExist) && !recreated:
			recreated = true
			if _, err := s.ensureMaildir(dir); err != nil {
				return "", nil, err
			}
			continue
		}
		return "", nil, tempErr("create", p, err)
	}
}

// writeTmp copies msg into f converting CRLF to LF, fsyncs and closes f, and
// returns the stored size and the virtual (CRLF) size.
func (s *Store) writeTmp(f file, path string, msg io.Reader) (size, vsize int64, err error) {
	bufs, _ := s.bufs.Get().(*copyBufs)
	if bufs == nil {
		bufs = &copyBufs{w: bufio.NewWriterSize(nil, 32<<10), r: make([]byte, 32<<10)}
	}
	defer s.bufs.Put(bufs)
	bw := bufs.w
	bw.Reset(f)
	defer bw.Reset(nil)
	lw := &lfWriter{w: bw}
	_, err = io.CopyBuffer(lw, onlyReader{msg}, bufs.r)
	if err == nil {
		err = lw.finish()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		f.Close()
		return 0, 0, tempErr("write", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, 0, tempErr("fsync", path, err)
	}
	if err := f.Close(); err != nil {
		return 0, 0, tempErr("close", path, err)
	}
	return lw.size, lw.size + lw.bareLF, nil
}

// moveIntoPlace moves the finished tmp file into new/ (info == "") or cur/
// under its final name and fsyncs that directory. The move never replaces a
// file: on a collision it picks a new name. If the directory cannot be
// fsynced the moved file is removed again, so a failed delivery leaves
// nothing behind.
func (s *Store) moveIntoPlace(dir, tmpPath string, size, vsize int64, info string) (string, error) {
	sub := "new"
	if info != "" {
		sub = "cur"
	}
	destDir := filepath.Join(dir, sub)
	base := filepath.Base(tmpPath)
	recreated := false
	for try := 0; ; try++ {
		name := base + ",S=" + strconv.FormatInt(size, 10) + ",W=" + strconv.FormatInt(vsize, 10)
		if info != "" {
			name += ":" + info
		}
		dest := filepath.Join(destDir, name)
		err := s.fs.RenameNoReplace(tmpPath, dest)
		switch {
		case err == nil:
			if err := s.fs.SyncDir(destDir); err != nil {
				// Not durable, so not delivered: take it back and
				// let the sender retry.
				if rerr := s.fs.Remove(dest); rerr == nil {
					s.fs.SyncDir(destDir)
				} else {
					s.log.Error("maildir: cannot withdraw message after fsync failure", "path", dest, "err", rerr)
				}
				return "", tempErr("fsync", destDir, err)
			}
			return dest, nil
		case errors.Is(err, os.ErrExist) && try < maxNameTries:
			base = s.uniqueBase()
			continue
		case errors.Is(err, os.ErrNotExist) && !recreated:
			recreated = true
			if _, err := s.mkdir(destDir); err != nil {
				return "", err
			}
			continue
		}
		return "", tempErr("rename", tmpPath, err)
	}
}

// copyBufs are the buffers of one writeTmp, pooled per Store.
type copyBufs struct {
	w *bufio.Writer
	r []byte
}

// onlyReader hides any WriterTo of the message so that io.CopyBuffer uses
// the pooled buffer.
type onlyReader struct{ io.Reader }

// removeTmp removes a tmp file of a failed delivery.
func (s *Store) removeTmp(path string) {
	if err := s.fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("maildir: removing tmp file of failed delivery", "path", path, "err", err)
	}
}

// lfWriter converts CRLF to LF on the way to w, as Dovecot stores mail
// (mail_save_crlf = no), and counts the stored size and the LFs not preceded
// by CR, each of which is one byte more in the virtual (CRLF) size.
type lfWriter struct {
	w      *bufio.Writer
	cr     bool // a CR is held back: it is dropped if LF follows
	last   byte // the last byte written
	size   int64
	bareLF int64
}

func (l *lfWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if l.cr {
			l.cr = false
			if p[0] == '\n' {
				if err := l.emit(p[:1]); err != nil {
					return 0, err
				}
				p = p[1:]
				continue
			}
			if err := l.emit([]byte{'\r'}); err != nil {
				return 0, err
			}
		}
		i := bytes.IndexByte(p, '\r')
		if i < 0 {
			if err := l.emit(p); err != nil {
				return 0, err
			}
			break
		}
		if err := l.emit(p[:i]); err != nil {
			return 0, err
		}
		l.cr = true
		p = p[i+1:]
	}
	return n, nil
}

// emit writes b, which holds no CR except as a lone byte.
func (l *lfWriter) emit(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	lf := int64(bytes.Count(b, []byte{'\n'}))
	if b[0] == '\n' && l.last == '\r' {
		lf--
	}
	if _, err := l.w.Write(b); err != nil {
		return err
	}
	l.size += int64(len(b))
	l.bareLF += lf
	l.last = b[len(b)-1]
	return nil
}

// finish writes a CR held back at the end of the input.
func (l *lfWriter) finish() error {
	if l.cr {
		l.cr = false
		return l.emit([]byte{'\r'})
	}
	return nil
}
