package mail

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Source is one message read by WalkSources: a message file, a file found
// in a directory tree (a Maildir's cur and new among them), or one message
// of an mbox.
type Source struct {
	// File is the path the message was read from.
	File string
	// Index is the message's position in its mbox (0-based) when Mbox.
	Index int
	// Mbox reports that File is an mbox holding more than one message.
	Mbox bool
	// Raw is the message, with any mbox separator line removed and
	// ">From " quoting undone (mboxrd).
	Raw []byte
}

// ErrTooLarge is passed to WalkSources' callback, with the Source's File
// set and Raw nil, for a file over the size limit.
var ErrTooLarge = errors.New("mail: file is over the size limit")

// WalkSources calls fn for every message under paths, in order: a path
// that is a file is a message or an mbox (it starts with a "From " line);
// a directory is read recursively in lexical order, skipping what is not
// mail (dot files, Dovecot's index and metadata files, Maildir tmp/). "-"
// reads one message from stdin. Symlinks are not followed and special
// files are skipped. A file over maxSize bytes (when maxSize > 0) is
// reported to fn with ErrTooLarge instead of being read. fn returning an
// error stops the walk with that error; fn's err argument reports a file
// that could not be read.
func WalkSources(paths []string, stdin io.Reader, maxSize int64, fn func(src Source, err error) error) error {
	for _, p := range paths {
		if p == "-" {
			raw, err := readBounded(stdin, maxSize)
			if err := emit("-", raw, err, fn); err != nil {
				return err
			}
			continue
		}
		fi, err := os.Lstat(p)
		if err != nil {
			if err := fn(Source{File: p}, err); err != nil {
				return err
			}
			continue
		}
		if !fi.IsDir() {
			if err := walkFile(p, fi, maxSize, fn); err != nil {
				return err
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fn(Source{File: path}, err)
			}
			name := d.Name()
			if d.IsDir() {
				if path != p && (name == "tmp" && isMaildir(filepath.Dir(path))) {
					return fs.SkipDir
				}
				return nil
			}
			if skipName(name) {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return fn(Source{File: path}, err)
			}
			return walkFile(path, fi, maxSize, fn)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// skipName reports files of a mail tree that are not messages.
func skipName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return true
	}
	switch name {
	case "maildirfolder", "maildirsize", "subscriptions", "courierimapsubscribed":
		return true
	}
	return strings.HasPrefix(name, "dovecot")
}

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Lstat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

func walkFile(path string, fi fs.FileInfo, maxSize int64, fn func(Source, error) error) error {
	if !fi.Mode().IsRegular() {
		return nil // symlinks, FIFOs, devices: never read
	}
	if maxSize > 0 && fi.Size() > maxSize {
		return fn(Source{File: path}, ErrTooLarge)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return fn(Source{File: path}, err)
	}
	raw, err := readBounded(f, maxSize)
	f.Close()
	return emit(path, raw, err, fn)
}

func readBounded(r io.Reader, maxSize int64) ([]byte, error) {
	if maxSize <= 0 {
		return io.ReadAll(r)
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err == nil && int64(len(raw)) > maxSize {
		return nil, ErrTooLarge
	}
	return raw, err
}

// emit hands one file's messages to fn.
func emit(path string, raw []byte, err error, fn func(Source, error) error) error {
	if err != nil {
		return fn(Source{File: path}, err)
	}
	msgs := SplitMbox(raw)
	for i, m := range msgs {
		if err := fn(Source{File: path, Index: i, Mbox: len(msgs) > 1, Raw: m}, nil); err != nil {
			return err
		}
	}
	return nil
}

// SplitMbox splits raw into its messages when it is an mbox (its first
// line starts with "From "): a new message starts at each "From " line at
// the start of the data or after an empty line; the separator lines are
// dropped and mboxrd quoting (">From ", ">>From " …) loses one ">". Data
// that is not an mbox is returned as the one message it is.
func SplitMbox(raw []byte) [][]byte {
	if !bytes.HasPrefix(raw, []byte("From ")) {
		return [][]byte{raw}
	}
	var msgs [][]byte
	var cur bytes.Buffer
	started := false
	prevBlank := true
	sc := bufio.NewReader(bytes.NewReader(raw))
	for {
		line, err := sc.ReadBytes('\n')
		if len(line) > 0 {
			switch {
			case prevBlank && isFromLine(line):
				if started {
					msgs = append(msgs, trimSeparatorBlank(cur.Bytes()))
					cur = bytes.Buffer{}
				}
				started = true
			default:
				if q := bytes.TrimLeft(line, ">"); len(q) < len(line) && bytes.HasPrefix(q, []byte("From ")) {
					line = line[1:]
				}
				cur.Write(line)
			}
			prevBlank = len(bytes.TrimRight(line, "\r\n")) == 0
		}
		if err != nil {
			break
		}
	}
	msgs = append(msgs, cur.Bytes())
	return msgs
}

// isFromLine reports an mbox separator: "From " and a sender, then a date
// with a time of day (asctime's "Mon Jan  1 00:00:00 2024"), so that an
// unquoted "From the start of a paragraph" in a body is not one.
func isFromLine(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("From "))
	if !ok {
		return false
	}
	for i := 0; i+5 <= len(rest); i++ {
		c := rest[i:]
		if isDigit(c[0]) && isDigit(c[1]) && c[2] == ':' && isDigit(c[3]) && isDigit(c[4]) {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// trimSeparatorBlank drops the empty line that precedes the next "From "
// separator, which belongs to the mbox, not to the message.
func trimSeparatorBlank(b []byte) []byte {
	b = bytes.Clone(b)
	switch {
	case bytes.HasSuffix(b, []byte("\r\n\r\n")):
		return b[:len(b)-2]
	case bytes.HasSuffix(b, []byte("\n\n")):
		return b[:len(b)-1]
	}
	return b
}

// SortSources orders srcs by Date header, oldest first, falling back to
// file name and mbox index for messages without a parseable date, which
// go after dated ones. masscheck's chronological split uses it.
func SortSources(srcs []Source, date func(Source) (int64, bool)) {
	type key struct {
		t  int64
		ok bool
	}
	keys := make([]key, len(srcs))
	for i, s := range srcs {
		keys[i].t, keys[i].ok = date(s)
	}
	idx := make([]int, len(srcs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ka, kb := keys[idx[a]], keys[idx[b]]
		if ka.ok != kb.ok {
			return ka.ok
		}
		if ka.ok && ka.t != kb.t {
			return ka.t < kb.t
		}
		sa, sb := srcs[idx[a]], srcs[idx[b]]
		if sa.File != sb.File {
			return sa.File < sb.File
		}
		return sa.Index < sb.Index
	})
	out := make([]Source, len(srcs))
	for i, j := range idx {
		out[i] = srcs[j]
	}
	copy(srcs, out)
}
