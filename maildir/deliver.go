package maildir

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
//
// With a Quota, a message the quota has no room for is refused with an
// error wrapping ErrOverQuota, after it was written (its stored size is
// what counts) and before the move; a delivered message is added to
// maildirsize.
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
	rd, err := s.openRoot(false)
	if err != nil {
		return Delivered{}, err
	}
	defer rd.Close()
	d := rd
	if rel != "" {
		if d, err = s.ensureFolder(ctx, rd, canon, rel, create); err != nil {
			return Delivered{}, err
		}
		defer d.Close()
	}
	info, err := s.info(ctx, d, flags)
	if err != nil {
		return Delivered{}, err
	}

	tmp, tmpName, f, err := s.createTmp(d)
	if err != nil {
		return Delivered{}, err
	}
	defer tmp.Close()
	size, vsize, err := s.writeTmp(f, tmp.join(tmpName), msg)
	if err == nil {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w: deliver: %w", ErrTemporary, cerr)
		}
	}
	if err == nil && !s.quota.IsZero() {
		err = s.checkQuota(rd, size)
	}
	if err != nil {
		s.removeTmp(tmp, tmpName)
		return Delivered{}, err
	}
	path, err := s.moveIntoPlace(d, tmp, tmpName, size, vsize, info)
	if err != nil {
		s.removeTmp(tmp, tmpName)
		return Delivered{}, err
	}
	s.addQuota(rd, size)
	return Delivered{Folder: canon, Path: path, Size: size}, nil
}

// ensureFolder opens the Maildir++ folder directory rel in the root rd, for
// the mailbox name, creating it if allowed. A folder whose "maildirfolder"
// marker is missing (a creation cut short) is completed. A symlink or
// special file in the folder's place is an error wrapping ErrUnsafe.
func (s *Store) ensureFolder(ctx context.Context, rd *dir, name, rel string, create bool) (*dir, error) {
	fi, err := s.fs.Lstat(rd, rel)
	switch {
	case err == nil && !fi.IsDir():
		return nil, fmt.Errorf("%w: %s is a %v, not a directory", ErrUnsafe, rd.join(rel), fi.Mode().Type())
	case err == nil:
		d, err := s.fs.OpenDir(rd, rel)
		if err != nil {
			return nil, tempErr("open", rd.join(rel), err)
		}
		if mfi, err := s.fs.Lstat(d, markerFile); err == nil && mfi.Mode().IsRegular() {
			return d, nil
		} else if err == nil {
			d.Close()
			return nil, fmt.Errorf("%w: %s is a %v, not a file", ErrUnsafe, d.join(markerFile), mfi.Mode().Type())
		} else if !errors.Is(err, os.ErrNotExist) {
			d.Close()
			return nil, tempErr("stat", d.join(markerFile), err)
		}
		d.Close()
	case !errors.Is(err, os.ErrNotExist):
		return nil, tempErr("stat", rd.join(rel), err)
	case !create:
		return nil, fmt.Errorf("%w: %q", ErrNoFolder, name)
	}
	d, _, err := s.ensureDir(rd, rel)
	if err != nil {
		return nil, err
	}
	if err := s.completeFolder(ctx, rd, d, rel, create); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// completeFolder creates what the folder directory d (rel in the root rd)
// lacks: cur, new and tmp, its subscription (when it is being created) and
// the marker.
func (s *Store) completeFolder(ctx context.Context, rd, d *dir, rel string, create bool) error {
	if _, err := s.ensureMaildir(d); err != nil {
		return err
	}
	if create {
		// The subscriptions file holds Dovecot's storage name: the
		// directory name without its leading ".".
		if err := s.subscribe(ctx, rd, rel[1:]); err != nil {
			return err
		}
	}
	// The marker goes last: its presence means the folder is complete.
	marker := d.join(markerFile)
	mf, err := s.fs.OpenFile(d, markerFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, s.fileMode)
	switch {
	case err == nil:
		err = s.setOwnerMode(mf, marker)
		if cerr := mf.Close(); err == nil && cerr != nil {
			err = tempErr("close", marker, cerr)
		}
		if err != nil {
			s.fs.Remove(d, markerFile)
			return err
		}
	case !errors.Is(err, os.ErrExist):
		return tempErr("create", marker, err)
	}
	if err := s.fs.SyncDir(d); err != nil {
		return tempErr("fsync", d.path, err)
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

// createTmp creates a new file in the tmp directory of d with O_EXCL,
// giving it the Store's mode and owner, and returns the open tmp directory
// (which the caller closes), the file's name and the file. A tmp/ removed
// behind our back is recreated.
func (s *Store) createTmp(d *dir) (*dir, string, file, error) {
	tmp, err := s.fs.OpenDir(d, "tmp")
	if errors.Is(err, os.ErrNotExist) {
		tmp, _, err = s.ensureDir(d, "tmp")
	} else if err != nil {
		err = tempErr("open", d.join("tmp"), err)
	}
	if err != nil {
		return nil, "", nil, err
	}
	for try := 0; ; try++ {
		name := s.uniqueBase()
		p := tmp.join(name)
		f, err := s.fs.OpenFile(tmp, name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, s.fileMode)
		switch {
		case err == nil:
			if err := s.setOwnerMode(f, p); err != nil {
				f.Close()
				s.removeTmp(tmp, name)
				tmp.Close()
				return nil, "", nil, err
			}
			return tmp, name, f, nil
		case errors.Is(err, os.ErrExist) && try < maxNameTries:
			continue
		}
		tmp.Close()
		return nil, "", nil, tempErr("create", p, err)
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

// moveIntoPlace moves the finished file tmpName in tmp into new/ (info ==
// "") or cur/ of d under its final name and fsyncs that directory. The move
// never replaces a file: on a collision it picks a new name. If the
// directory cannot be fsynced the moved file is removed again, so a failed
// delivery leaves nothing behind.
func (s *Store) moveIntoPlace(d, tmp *dir, tmpName string, size, vsize int64, info string) (string, error) {
	sub := "new"
	if info != "" {
		sub = "cur"
	}
	dest, err := s.fs.OpenDir(d, sub)
	if errors.Is(err, os.ErrNotExist) {
		dest, _, err = s.ensureDir(d, sub)
	} else if err != nil {
		err = tempErr("open", d.join(sub), err)
	}
	if err != nil {
		return "", err
	}
	defer dest.Close()
	base := tmpName
	for try := 0; ; try++ {
		name := base + ",S=" + strconv.FormatInt(size, 10) + ",W=" + strconv.FormatInt(vsize, 10)
		if info != "" {
			name += ":" + info
		}
		err := s.fs.RenameNoReplace(tmp, tmpName, dest, name)
		switch {
		case err == nil:
			if err := s.fs.SyncDir(dest); err != nil {
				// Not durable, so not delivered: take it back and
				// let the sender retry.
				if rerr := s.fs.Remove(dest, name); rerr == nil {
					s.fs.SyncDir(dest)
				} else {
					s.log.Error("maildir: cannot withdraw message after fsync failure", "path", dest.join(name), "err", rerr)
				}
				return "", tempErr("fsync", dest.path, err)
			}
			return dest.join(name), nil
		case errors.Is(err, os.ErrExist) && try < maxNameTries:
			base = s.uniqueBase()
			continue
		}
		return "", tempErr("rename", tmp.join(tmpName), err)
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
func (s *Store) removeTmp(tmp *dir, name string) {
	if err := s.fs.Remove(tmp, name); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("maildir: removing tmp file of failed delivery", "path", tmp.join(name), "err", err)
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
