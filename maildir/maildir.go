// Package maildir delivers mail into a Maildir++ store laid out exactly as
// Dovecot 2.3 reads it (mail_location = maildir:~/Maildir, the default
// Maildir++ layout), and never loses a message it has reported delivered.
//
// It implements:
//   - Maildir delivery (D. J. Bernstein, "Using maildir format"): write to
//     tmp/, fsync, move to new/ (or cur/ with an info suffix), fsync the
//     directory. The move never replaces an existing file (renameat2
//     RENAME_NOREPLACE, else link+unlink).
//   - Maildir++ folders (Courier, as used by Dovecot): a mailbox "A.B" is the
//     directory ".A.B" with cur/, new/, tmp/ and an empty "maildirfolder"
//     marker, its name in modified UTF-7 (RFC 3501 §5.1.3).
//   - Dovecot's file names: "<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize>"
//     with ":2,<flags>" in cur/, flags in ASCII order and keywords as the
//     letters a..z of the folder's dovecot-keywords file.
//   - Dovecot's "subscriptions" file: a new file in the "V\t2" format
//     Dovecot 2.3.19 creates (levels separated by tabs), an existing file in
//     the format it has (V2, or plain one name per line); names in modified
//     UTF-7. It and dovecot-keywords are changed with Dovecot's dotlock
//     protocol: create <file>.lock with O_EXCL, write, fsync, rename over
//     the file.
//
// Messages are stored with LF line endings, as Dovecot stores them by default
// (mail_save_crlf = no): CRLF is converted to LF while writing; W= counts each
// LF as CRLF, so it equals the RFC 822 size IMAP reports.
//
// Divergences from Dovecot:
//   - Dovecot names files "<sec>.M<usec>P<pid>.<host>" and keeps <usec>
//     unique per process; this package adds the "Q<n>" counter of the
//     maildir(5) spec instead. The counter is per Store (this package keeps
//     no global state); uniqueness across Stores, processes and hosts rests
//     on the microsecond time, the pid, the host name, O_EXCL in tmp/ and the
//     no-replace move, which retries under a new name on collision.
//   - Dovecot deletes stale tmp/ files by ctime alone; Open deletes a file
//     only when both its mtime and its ctime are older than Options.StaleTmp.
//   - A new keyword is added to dovecot-keywords while holding Dovecot's
//     dovecot-uidlist.lock, since Dovecot only ever changes that file with
//     the uidlist locked; keywords beyond the 26 letters are dropped with a
//     warning (Dovecot keeps them only in its index, which we do not write).
//   - Folders are subscribed when Deliver creates them, as Dovecot does with
//     lda_mailbox_autosubscribe = yes.
//   - Maildir++ quota (Courier's README.maildirquota) as Dovecot's
//     "maildir" backend keeps it: only the default rule ("*" or "?") of a
//     quota_rule is applied, with Dovecot's LMTP grace of 10%; sizes are
//     the stored sizes (S=), as with quota_vsizes = no.
//   - Symbolic links are never followed below Options.Base (the mail root,
//     or the user's home), where Dovecot, running as the mail user, follows
//     them: this package runs as root, and a user who turns a folder, tmp/,
//     new/ or their own directory into a symlink must not make it write
//     elsewhere. Each path component is opened with openat(O_NOFOLLOW |
//     O_DIRECTORY), files with O_NOFOLLOW | O_NONBLOCK and must be regular
//     (so a FIFO never blocks delivery), created directories and files are
//     chowned with fchown on the open descriptor, and moves are renameat2
//     or linkat between open directories. A symlinked folder is an error
//     wrapping ErrUnsafe, not an empty folder; a symlinked Maildir inside
//     the user's own Maildir tree is not supported.
package maildir

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them; test with errors.Is.
var (
	// ErrTemporary marks a failure that may pass on retry: any I/O error
	// (ENOSPC and EDQUOT included), a cancelled context, a lock timeout.
	// The LMTP answer for it is 4xx; the message is not in the store.
	ErrTemporary = errors.New("maildir: temporary failure")
	// ErrBadFolder marks an IMAP mailbox name that cannot be a folder.
	ErrBadFolder = errors.New("maildir: invalid folder name")
	// ErrNoFolder marks a folder that does not exist when Deliver was told
	// not to create it.
	ErrNoFolder = errors.New("maildir: folder does not exist")
	// ErrUnsafe marks a symbolic link, FIFO, socket or device found where
	// the store expects a directory or a regular file, or a root outside
	// its base. Nothing is followed, opened or written through it.
	ErrUnsafe = errors.New("maildir: symlink or special file in the mail store")
	// ErrOverQuota marks a message refused because the store's Quota has
	// no room for it: a permanent refusal unless the caller decides
	// otherwise (Dovecot's quota_full_tempfail).
	ErrOverQuota = errors.New("maildir: mailbox is full")
)

// Default option values.
const (
	DefaultDirMode  os.FileMode = 0o700
	DefaultFileMode os.FileMode = 0o600
	DefaultStaleTmp             = 36 * time.Hour // Dovecot's MAILDIR_TMP_DELETE_SECS
)

// Owner is the uid/gid that owns mail files and directories. A nil *Owner
// means: do not chown.
type Owner struct{ UID, GID int }

// Options configure a Store. Zero values get the documented defaults.
type Options struct {
	// Base is the trusted directory the root lies in, such as the mail
	// root /var/mail or the user's home: Base itself is opened by path,
	// following symlinks (it is the administrator's), but every component
	// from Base down to the root, and everything below the root, is opened
	// without following symlinks, so that a user who replaces a directory
	// by a symlink cannot make the Store write outside Base. A root not
	// under Base is an error wrapping ErrUnsafe. A missing Base is
	// created, from its nearest existing ancestor, like the root's other
	// missing parents. "" means the root's parent directory: only the root
	// and what is below it are protected.
	Base string
	// Owner, when set and the process runs as root (euid 0), is given
	// every directory and file the Store creates. Ignored otherwise.
	Owner *Owner
	// DirMode is the mode of created directories; 0 means 0700 (Dovecot's).
	// It is set with chmod, so the umask does not alter it.
	DirMode os.FileMode
	// FileMode is the mode of created files; 0 means 0600.
	FileMode os.FileMode
	// Hostname goes into file names; "" means os.Hostname(). It is always
	// sanitised as maildir(5) asks: "/" becomes `\057` and ":" `\072`.
	Hostname string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// StaleTmp is the age after which Open removes files in tmp/; 0 means
	// 36h, Dovecot's value. A negative value disables the cleanup.
	StaleTmp time.Duration
	// Quota, when not zero, limits the store as a Maildir++ quota: Deliver
	// refuses a message it has no room for, and maintains the root's
	// maildirsize file as Dovecot's "maildir" quota backend does. With a
	// zero Quota an existing maildirsize is still kept up to date.
	Quota Quota
	// Logger receives debug lines about cleanup and warnings about dropped
	// keywords; nil means slog.Default().
	Logger *slog.Logger
}

// Store is one user's Maildir++: the INBOX root directory, such as
// /var/mail/example.com/bob/Maildir. A Store is safe for concurrent use, and
// several Stores (in one process or many) may share a root.
type Store struct {
	root     string
	base     string   // trusted, opened by path
	below    []string // the components from base to root
	owner    *Owner
	dirMode  os.FileMode
	fileMode os.FileMode
	host     string
	pid      string
	now      func() time.Time
	staleTmp time.Duration
	quota    Quota
	log      *slog.Logger
	fs       fileSystem
	seq      atomic.Uint64 // the Q<n> of file names
	bufs     sync.Pool     // of *copyBufs
}

// Open returns the Store rooted at root. It creates root/{cur,new,tmp} (and
// missing parents of root) if missing, with Options.DirMode and
// Options.Owner, and removes files in root/tmp older than Options.StaleTmp.
// Errors wrap ErrTemporary or ErrUnsafe.
func Open(root string, opts Options) (*Store, error) {
	return open(root, opts, osFS{})
}

func open(root string, opts Options, fsys fileSystem) (*Store, error) {
	if root == "" {
		return nil, fmt.Errorf("%w: empty root path", ErrTemporary)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	base := filepath.Dir(abs)
	if opts.Base != "" {
		if base, err = filepath.Abs(opts.Base); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTemporary, err)
		}
	}
	rel, err := filepath.Rel(base, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("%w: root %s is not under base %s", ErrUnsafe, abs, base)
	}
	var below []string
	if rel != "." {
		below = strings.Split(rel, "/")
	}
	// The nearest existing ancestor of a missing base is the trusted
	// directory; the directories created under it get the Store's owner.
	for base != "/" {
		if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
			break
		}
		below = append([]string{filepath.Base(base)}, below...)
		base = filepath.Dir(base)
	}
	s := &Store{
		root:     abs,
		base:     base,
		below:    below,
		dirMode:  opts.DirMode,
		fileMode: opts.FileMode,
		host:     opts.Hostname,
		pid:      strconv.Itoa(os.Getpid()),
		now:      opts.Now,
		staleTmp: opts.StaleTmp,
		quota:    opts.Quota,
		log:      opts.Logger,
		fs:       fsys,
	}
	if opts.Owner != nil && os.Geteuid() == 0 {
		o := *opts.Owner
		s.owner = &o
	}
	if s.dirMode == 0 {
		s.dirMode = DefaultDirMode
	}
	if s.fileMode == 0 {
		s.fileMode = DefaultFileMode
	}
	if s.host == "" {
		if s.host, err = os.Hostname(); err != nil || s.host == "" {
			s.host = "localhost"
		}
	}
	s.host = sanitizeHost(s.host)
	if s.now == nil {
		s.now = time.Now
	}
	if s.staleTmp == 0 {
		s.staleTmp = DefaultStaleTmp
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	rd, err := s.openRoot(true)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	if _, err := s.ensureMaildir(rd); err != nil {
		return nil, err
	}
	if s.staleTmp > 0 {
		s.cleanTmp(rd)
	}
	return s, nil
}

// Root returns the absolute path of the Store's root directory.
func (s *Store) Root() string { return s.root }

// sanitizeHost escapes the characters maildir(5) reserves in file names.
func sanitizeHost(h string) string {
	return strings.NewReplacer("/", `\057`, ":", `\072`).Replace(h)
}

// tempErr wraps err as a temporary failure with context, or, when err
// comes from a symlink or special file in the user's tree, as ErrUnsafe
// (which the underlying error already wraps).
func tempErr(op, path string, err error) error {
	if errors.Is(err, ErrUnsafe) {
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
	return fmt.Errorf("%w: %s %s: %w", ErrTemporary, op, path, err)
}

// openRoot opens the root directory: the base by path, then each component
// below it without following symlinks, creating missing ones when create
// is set. The caller closes the result.
func (s *Store) openRoot(create bool) (*dir, error) {
	d, err := s.fs.OpenBase(s.base)
	if err != nil {
		return nil, tempErr("open", s.base, err)
	}
	for _, c := range s.below {
		var next *dir
		if create {
			next, _, err = s.ensureDir(d, c)
		} else if next, err = s.fs.OpenDir(d, c); err != nil {
			err = tempErr("open", d.join(c), err)
		}
		d.Close()
		if err != nil {
			return nil, err
		}
		d = next
	}
	return d, nil
}

// ensureDir opens the directory name in d, creating it if it is missing,
// and reports whether it did. A created directory gets the Store's mode
// (fchmod, so the umask does not matter) and owner (fchown of the open
// directory, never of a path), and d is fsynced so the new entry is
// durable. A symlink or special file in its place is an error wrapping
// ErrUnsafe.
func (s *Store) ensureDir(d *dir, name string) (*dir, bool, error) {
	nd, err := s.fs.OpenDir(d, name)
	if err == nil {
		return nd, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, tempErr("open", d.join(name), err)
	}
	p := d.join(name)
	err = s.fs.Mkdir(d, name, s.dirMode)
	created := err == nil
	if err != nil && !errors.Is(err, os.ErrExist) {
		return nil, false, tempErr("mkdir", p, err)
	}
	if nd, err = s.fs.OpenDir(d, name); err != nil {
		return nil, false, tempErr("open", p, err)
	}
	if !created {
		return nd, false, nil
	}
	fail := func(op string, err error) (*dir, bool, error) {
		nd.Close()
		return nil, true, tempErr(op, p, err)
	}
	if err := nd.chmod(s.dirMode); err != nil {
		return fail("chmod", err)
	}
	if s.owner != nil {
		if err := nd.chown(s.owner.UID, s.owner.GID); err != nil {
			return fail("chown", err)
		}
	}
	if err := s.fs.SyncDir(d); err != nil {
		nd.Close()
		return nil, true, tempErr("fsync", d.path, err)
	}
	return nd, true, nil
}

// ensureMaildir creates cur, new and tmp in d where missing and reports
// whether it created any.
func (s *Store) ensureMaildir(d *dir) (bool, error) {
	created := false
	for _, sub := range [...]string{"cur", "new", "tmp"} {
		nd, c, err := s.ensureDir(d, sub)
		if err != nil {
			return created, err
		}
		nd.Close()
		created = created || c
	}
	return created, nil
}

// setOwnerMode gives an open file the Store's file mode and owner.
func (s *Store) setOwnerMode(f file, path string) error {
	if err := f.Chmod(s.fileMode); err != nil {
		return tempErr("chmod", path, err)
	}
	if s.owner != nil {
		if err := f.Chown(s.owner.UID, s.owner.GID); err != nil {
			return tempErr("chown", path, err)
		}
	}
	return nil
}

// cleanTmp removes the stale files of the tmp directory of d: left by a
// crash between creating and moving a message, they would otherwise stay
// forever. Failures are logged, never returned: cleanup must not block
// delivery. Only regular files are removed.
func (s *Store) cleanTmp(d *dir) {
	tmp, err := s.fs.OpenDir(d, "tmp")
	if err != nil {
		s.log.Warn("maildir: opening tmp for cleanup", "dir", d.join("tmp"), "err", err)
		return
	}
	defer tmp.Close()
	entries, err := s.fs.ReadDir(tmp)
	if err != nil {
		s.log.Warn("maildir: reading tmp for cleanup", "dir", tmp.path, "err", err)
		return
	}
	limit := s.now().Add(-s.staleTmp)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := s.fs.Lstat(tmp, e.Name())
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		// A tmp file Dovecot is saving may carry an old mtime (it sets the
		// IMAP INTERNALDATE before the move), so the ctime must be old too.
		if !fi.ModTime().Before(limit) || !changeTime(fi).Before(limit) {
			continue
		}
		p := tmp.join(e.Name())
		if err := s.fs.Remove(tmp, e.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("maildir: removing stale tmp file", "path", p, "err", err)
			continue
		}
		s.log.Debug("maildir: removed stale tmp file", "path", p, "mtime", fi.ModTime())
	}
}

// changeTime returns the inode change time of fi, or its mtime where the
// platform does not expose one.
func changeTime(fi os.FileInfo) time.Time {
	switch st := fi.Sys().(type) {
	case *unix.Stat_t:
		return time.Unix(st.Ctim.Unix())
	case *syscall.Stat_t:
		return time.Unix(st.Ctim.Unix())
	}
	return fi.ModTime()
}

// FolderExists reports whether the IMAP mailbox name exists in the store, as
// Sieve's mailboxexists test (RFC 5490 §3.1) asks. INBOX always exists; a
// symlink or special file in a folder's place is no folder. Errors wrap
// ErrBadFolder, ErrUnsafe or ErrTemporary.
func (s *Store) FolderExists(name string) (bool, error) {
	rel, err := FolderDir(name)
	if err != nil {
		return false, err
	}
	if rel == "" {
		return true, nil
	}
	rd, err := s.openRoot(false)
	if err != nil {
		return false, err
	}
	defer rd.Close()
	fi, err := s.fs.Lstat(rd, rel)
	switch {
	case err == nil:
		return fi.IsDir(), nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, tempErr("stat", rd.join(rel), err)
}

// Folders returns the canonical names of the store's mailboxes, INBOX first,
// then every Maildir++ folder in directory name order. Directories whose
// names FolderName rejects, and symlinks, are skipped. Errors wrap
// ErrUnsafe or ErrTemporary.
func (s *Store) Folders() ([]string, error) {
	rd, err := s.openRoot(false)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	entries, err := s.fs.ReadDir(rd)
	if err != nil {
		return nil, tempErr("readdir", s.root, err)
	}
	names := []string{Inbox}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if n, err := FolderName(e.Name()); err == nil && n != Inbox {
			names = append(names, n)
		}
	}
	return names, nil
}
