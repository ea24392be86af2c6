package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Quota is a Maildir++ quota: limits on the total size and the number of
// messages in all of a user's folders, kept in the root's "maildirsize"
// file (Courier's README.maildirquota, as Dovecot's "maildir" quota
// backend keeps it). A zero field is no limit.
type Quota struct {
	Bytes    int64
	Messages int64
}

// IsZero reports whether q sets no limit.
func (q Quota) IsZero() bool { return q.Bytes <= 0 && q.Messages <= 0 }

// String returns q as the first line of maildirsize: "<bytes>S,<count>C",
// each part present only when set.
func (q Quota) String() string {
	var parts []string
	if q.Bytes > 0 {
		parts = append(parts, strconv.FormatInt(q.Bytes, 10)+"S")
	}
	if q.Messages > 0 {
		parts = append(parts, strconv.FormatInt(q.Messages, 10)+"C")
	}
	return strings.Join(parts, ",")
}

// ErrBadQuotaRule marks a quota rule ParseQuotaRule cannot read.
var ErrBadQuotaRule = errors.New("maildir: invalid quota rule")

// ParseQuotaRule parses a Dovecot quota_rule value, "<mailbox>:<limit>[:
// <limit>...]" with limits storage=<size> (kilobytes unless a unit
// follows), bytes=<size> and messages=<count>, and units b, k, M, G, T
// (powers of 1024, as Dovecot's quota_limit_parse), such as "*:storage=1G",
// "*:messages=10000" or "*:bytes=1048576:messages=100". It returns the
// limits and the mailbox name: "*" and "?" name the user's default rule,
// the only one this package applies (per-mailbox rules such as
// "Trash:storage=+100M" are Dovecot's to apply). "<mailbox>:ignore" gives
// no limits. Errors wrap ErrBadQuotaRule.
func ParseQuotaRule(rule string) (Quota, string, error) {
	mailbox, limits, ok := strings.Cut(rule, ":")
	if !ok || mailbox == "" {
		return Quota{}, "", fmt.Errorf("%w: %q: want <mailbox>:<limits>", ErrBadQuotaRule, rule)
	}
	var q Quota
	if limits == "ignore" {
		return q, mailbox, nil
	}
	for _, l := range strings.Split(limits, ":") {
		key, value, _ := strings.Cut(l, "=")
		// A relative limit (+100M) only means something for a mailbox
		// rule, which this package does not apply.
		relative := strings.HasPrefix(value, "+") || strings.HasPrefix(value, "-")
		if relative && (mailbox == "*" || mailbox == "?") {
			return Quota{}, "", fmt.Errorf("%w: %q: the default rule cannot be relative", ErrBadQuotaRule, rule)
		}
		value = strings.TrimLeft(value, "+-")
		var dst *int64
		unit := int64(1)
		switch key {
		case "storage":
			dst, unit = &q.Bytes, 1024
		case "bytes":
			dst = &q.Bytes
		case "messages":
			dst = &q.Messages
		default:
			return Quota{}, "", fmt.Errorf("%w: %q: unknown limit %q", ErrBadQuotaRule, rule, key)
		}
		n, err := parseSize(value, unit)
		if err != nil {
			return Quota{}, "", fmt.Errorf("%w: %q: %v", ErrBadQuotaRule, rule, err)
		}
		*dst = n
	}
	return q, mailbox, nil
}

// parseSize reads a number with an optional unit (b, k, M, G, T, any case,
// optionally followed by "B"); without a unit it is multiplied by def.
func parseSize(s string, def int64) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q: not a number", s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %v", s, err)
	}
	mult := def
	unit := strings.ToUpper(s[i:])
	if unit != "" {
		shift, ok := map[string]uint{"B": 0, "K": 10, "KB": 10, "M": 20, "MB": 20, "G": 30, "GB": 30, "T": 40, "TB": 40}[unit]
		if !ok {
			return 0, fmt.Errorf("%q: unknown unit %q", s, s[i:])
		}
		mult = 1 << shift
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q: too large", s)
	}
	return n * mult, nil
}

// Maildir++ and Dovecot constants for maildirsize.
const (
	maildirsizeFile = "maildirsize"
	// maildirsizeMax is the size past which the file is recalculated
	// (README.maildirquota: "larger than 5120 bytes").
	maildirsizeMax = 5120
	// maildirsizeStale is how old an over-quota file must be before it is
	// recalculated anyway: mail may have been removed without updating it
	// (Dovecot's MAILDIRSIZE_STALE_SECS).
	maildirsizeStale = 15 * time.Minute
	// maildirsizeLockStale is the stale timeout of maildirsize.lock.
	maildirsizeLockStale = 30 * time.Second
)

// usage is what maildirsize says: its limits line, and the sums of its
// size and count columns.
type usage struct {
	limits       Quota
	bytes, count int64
}

// parseMaildirsize reads a maildirsize file: the limits line, then one
// "<bytes> <count>" line (either may be negative) per change. It reports
// false for a file that is not in that form.
func parseMaildirsize(b []byte) (usage, bool) {
	var u usage
	first, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return u, false
	}
	for _, part := range strings.Split(string(first), ",") {
		if part == "" {
			continue
		}
		n, err := strconv.ParseInt(part[:len(part)-1], 10, 64)
		if err != nil || n < 0 {
			return u, false
		}
		switch part[len(part)-1] {
		case 'S':
			u.limits.Bytes = n
		case 'C':
			u.limits.Messages = n
		default:
			return u, false
		}
	}
	for _, line := range strings.Split(string(rest), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return u, false
		}
		sz, err1 := strconv.ParseInt(f[0], 10, 64)
		n, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return u, false
		}
		u.bytes += sz
		u.count += n
	}
	// A file never ends inside a line: a partial last line is a write cut
	// short, and the sums cannot be trusted.
	return u, len(rest) == 0 || rest[len(rest)-1] == '\n'
}

// usage returns the store's current usage: from maildirsize when it is
// usable, else recalculated by scanning every folder and written back, as
// README.maildirquota says: when the file is missing, malformed, larger
// than 5120 bytes, or holds limits other than the Store's, and when it
// says the user is over quota but is older than 15 minutes.
func (s *Store) usage(rd *dir) (usage, error) {
	b, fi, err := s.readFile(rd, maildirsizeFile)
	if err == nil && len(b) <= maildirsizeMax {
		u, ok := parseMaildirsize(b)
		fresh := s.now().Sub(fi.ModTime()) < maildirsizeStale
		// A file with other hard links cannot be appended to safely
		// (OpenFile refuses it): replace it.
		single := true
		if st, isStat := fi.Sys().(*syscall.Stat_t); isStat {
			single = st.Nlink == 1
		}
		if ok && single && u.limits == s.quota && (!s.overQuota(u, 0) || fresh) {
			return u, nil
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, errTooLarge) && !errors.Is(err, ErrUnsafe) {
		// A symlink or FIFO in its place is replaced by the
		// recalculated file (the rename replaces the name, never
		// writes through it).
		return usage{}, tempErr("read", rd.join(maildirsizeFile), err)
	}
	return s.recalcQuota(rd)
}

// overQuota reports whether a message of size bytes would take u over the
// Store's quota. As Dovecot's LMTP does (quota_grace = 10%), the message
// that crosses the storage limit is still accepted if it stays within 10%
// above it; once usage is at the limit, nothing more is.
func (s *Store) overQuota(u usage, size int64) bool {
	if q := s.quota.Bytes; q > 0 {
		if u.bytes >= q || size > q-u.bytes+q/10 {
			return true
		}
	}
	if q := s.quota.Messages; q > 0 && u.count+1 > q {
		return true
	}
	return false
}

// recalcQuota sums the sizes (the S= of file names, else the file's size)
// and the number of the messages in new/ and cur/ of the root and of every
// folder, and writes them as a new maildirsize under Dovecot's dotlock. If
// another process holds the lock, it is recalculating too: the sums are
// used without writing them.
func (s *Store) recalcQuota(rd *dir) (usage, error) {
	u := usage{limits: s.quota}
	add := func(d *dir) error {
		for _, sub := range []string{"new", "cur"} {
			sd, err := s.fs.OpenDir(d, sub)
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrUnsafe) {
				continue
			}
			if err != nil {
				return tempErr("open", d.join(sub), err)
			}
			entries, err := s.fs.ReadDir(sd)
			if err != nil {
				sd.Close()
				return tempErr("readdir", sd.path, err)
			}
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
					continue
				}
				size, ok := sizeFromName(e.Name())
				if !ok {
					fi, err := s.fs.Lstat(sd, e.Name())
					if err != nil {
						continue // expunged meanwhile
					}
					size = fi.Size()
				}
				u.bytes += size
				u.count++
			}
			sd.Close()
		}
		return nil
	}
	if err := add(rd); err != nil {
		return usage{}, err
	}
	entries, err := s.fs.ReadDir(rd)
	if err != nil {
		return usage{}, tempErr("readdir", rd.path, err)
	}
	for _, e := range entries {
		if !e.IsDir() || len(e.Name()) < 2 || e.Name()[0] != '.' || e.Name() == ".." {
			continue
		}
		fd, err := s.fs.OpenDir(rd, e.Name())
		if err != nil {
			continue // replaced by a symlink or removed meanwhile
		}
		err = add(fd)
		fd.Close()
		if err != nil {
			return usage{}, err
		}
	}
	content := fmt.Sprintf("%s\n%d %d\n", s.quota, u.bytes, u.count)
	lockf, lock, err := s.tryLock(rd, maildirsizeFile, maildirsizeLockStale)
	if err != nil || lockf == nil {
		if err != nil {
			s.log.Warn("maildir: cannot lock maildirsize", "dir", rd.path, "err", err)
		}
		return u, nil
	}
	if err := s.replaceFile(rd, lockf, lock, maildirsizeFile, []byte(content), time.Time{}); err != nil {
		s.log.Warn("maildir: cannot write maildirsize", "dir", rd.path, "err", err)
	}
	return u, nil
}

// sizeFromName returns the S=<size> of a Maildir file name.
func sizeFromName(name string) (int64, bool) {
	i := strings.Index(name, ",S=")
	if i < 0 {
		return 0, false
	}
	v := name[i+3:]
	if j := strings.IndexAny(v, ",:"); j >= 0 {
		v = v[:j]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}

// tryLock takes target's dotlock without waiting, as Dovecot takes the
// maildirsize lock: a nil file and nil error mean someone else holds it. A
// lock older than stale is broken.
func (s *Store) tryLock(d *dir, target string, stale time.Duration) (file, string, error) {
	lock := target + ".lock"
	for try := 0; try < 2; try++ {
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
		fi, serr := s.fs.Lstat(d, lock)
		if serr != nil || s.now().Sub(fi.ModTime()) <= stale {
			return nil, "", nil
		}
		s.log.Warn("maildir: breaking stale lock", "path", d.join(lock), "mtime", fi.ModTime())
		s.fs.Remove(d, lock)
	}
	return nil, "", nil
}

// checkQuota refuses a message of size bytes that the quota has no room
// for, with an error wrapping ErrOverQuota.
func (s *Store) checkQuota(rd *dir, size int64) error {
	u, err := s.usage(rd)
	if err != nil {
		return err
	}
	if s.overQuota(u, size) {
		return fmt.Errorf("%w: %d bytes in %d messages, limits %s, message %d bytes", ErrOverQuota, u.bytes, u.count, s.quota, size)
	}
	return nil
}

// addQuota appends the delivered message to maildirsize in one O_APPEND
// write, as README.maildirquota asks. Without a quota it does so only if
// the file exists (Dovecot may keep one). Failures are logged: the message
// is delivered, and a wrong file is recalculated later.
func (s *Store) addQuota(rd *dir, size int64) {
	f, err := s.fs.OpenFile(rd, maildirsizeFile, os.O_WRONLY|os.O_APPEND, s.fileMode)
	if errors.Is(err, os.ErrNotExist) {
		// Without a quota there is nothing to keep; with one, usage()
		// has just written the file unless another process held its
		// lock, and that process's sums will include this message.
		return
	}
	if err != nil {
		s.log.Warn("maildir: cannot update maildirsize", "dir", rd.path, "err", err)
		return
	}
	if _, err := fmt.Fprintf(f, "%d 1\n", size); err != nil {
		s.log.Warn("maildir: cannot update maildirsize", "dir", rd.path, "err", err)
	}
	if err := f.Close(); err != nil {
		s.log.Warn("maildir: cannot update maildirsize", "dir", rd.path, "err", err)
	}
}
