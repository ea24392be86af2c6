package maildir

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"time"
)

// subscriptionsFile is Dovecot's subscription list in the Maildir root.
const subscriptionsFile = "subscriptions"

// subscriptionsV2 is the header of Dovecot's version 2 subscriptions format,
// whose lines hold the hierarchy levels separated by tabs. Dovecot 2.3.19
// reads both formats; it creates a new file in version 2 and keeps an
// existing file in the format it has (checked against doveadm 2.3.19.1), and
// so does this package.
const subscriptionsV2 = "V\t2\n\n"

// subscribe adds, in the root rd, the folder with storage name storageName (modified UTF-7,
// "." separated, as Dovecot's Maildir++ list stores it) to the root's
// subscriptions file, once. The file is rewritten under Dovecot's dotlock
// and renamed into place, like Dovecot's subsfile_set_subscribed.
func (s *Store) subscribe(ctx context.Context, rd *dir, storageName string) error {
	lockf, lock, err := s.dotlock(ctx, rd, subscriptionsFile, subscriptionsStale)
	if err != nil {
		return err
	}
	old, fi, err := s.readFile(rd, subscriptionsFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.releaseLock(rd, lockf, lock)
		return tempErr("read", rd.join(subscriptionsFile), err)
	}
	content, changed := addSubscription(old, fi != nil, storageName)
	if !changed {
		s.releaseLock(rd, lockf, lock)
		return nil
	}
	var prev time.Time
	if fi != nil {
		prev = fi.ModTime()
	}
	return s.replaceFile(rd, lockf, lock, subscriptionsFile, content, prev)
}

// addSubscription returns the subscriptions file old (exists false: there
// is none yet) with name added, and whether that changed it. Existing lines
// are kept as they are.
func addSubscription(old []byte, exists bool, name string) ([]byte, bool) {
	var out bytes.Buffer
	body := old
	line := name
	if !exists || bytes.HasPrefix(old, []byte(subscriptionsV2)) {
		out.WriteString(subscriptionsV2)
		body, _ = bytes.CutPrefix(old, []byte(subscriptionsV2))
		// Names never hold the characters tab-escaping protects
		// (FolderDir rejects control characters), so splitting on the
		// separator is the whole encoding.
		line = strings.ReplaceAll(name, ".", "\t")
	}
	for _, l := range strings.Split(string(body), "\n") {
		if l == "" {
			continue
		}
		if l == line {
			return old, false
		}
		out.WriteString(l)
		out.WriteByte('\n')
	}
	out.WriteString(line)
	out.WriteByte('\n')
	return out.Bytes(), true
}
