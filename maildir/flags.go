package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Flags are the IMAP flags a message is delivered with (RFC 3501 §2.3.2):
// the system flags, and keywords.
type Flags struct {
	Seen, Answered, Flagged, Deleted, Draft bool
	// Keywords are IMAP keywords such as "$Label1" or "Junk". Matching is
	// case-insensitive, as in Dovecot; invalid ones (not an IMAP atom, or
	// starting with "\") are dropped.
	Keywords []string
}

// maxKeywords is the number of keyword letters, a..z (Dovecot's
// MAILDIR_MAX_KEYWORDS).
const maxKeywords = 26

// keywordsFile is the per-folder map from keyword letters to names.
const keywordsFile = "dovecot-keywords"

// ParseFlags turns IMAP flag strings into Flags: system flags ("\Seen",
// "\flagged": case-insensitive) set the booleans, other words become
// keywords. An entry may hold several space-separated flags, as Sieve's
// imap4flags variables do (RFC 5232 §3). "\Recent", unknown system flags and
// words that are not valid keywords are ignored; duplicate keywords
// (case-insensitively) are kept once.
func ParseFlags(list []string) Flags {
	var f Flags
	for _, entry := range list {
		for _, w := range strings.Fields(entry) {
			switch strings.ToLower(w) {
			case `\seen`:
				f.Seen = true
			case `\answered`:
				f.Answered = true
			case `\flagged`:
				f.Flagged = true
			case `\deleted`:
				f.Deleted = true
			case `\draft`:
				f.Draft = true
			default:
				if validKeyword(w) && !containsFold(f.Keywords, w) {
					f.Keywords = append(f.Keywords, w)
				}
			}
		}
	}
	return f
}

// IsZero reports whether no flag is set.
func (f Flags) IsZero() bool {
	return !f.Seen && !f.Answered && !f.Flagged && !f.Deleted && !f.Draft && len(f.Keywords) == 0
}

// String returns the flags in IMAP syntax, e.g. `\Flagged \Seen $Label1`.
func (f Flags) String() string {
	var w []string
	for _, sf := range []struct {
		on   bool
		name string
	}{{f.Answered, `\Answered`}, {f.Flagged, `\Flagged`}, {f.Deleted, `\Deleted`}, {f.Seen, `\Seen`}, {f.Draft, `\Draft`}} {
		if sf.on {
			w = append(w, sf.name)
		}
	}
	return strings.Join(append(w, f.Keywords...), " ")
}

// validKeyword reports whether k is an IMAP flag-keyword: an atom
// (RFC 3501 §9: no atom-specials, CTL or SP, and not "]") not starting with
// "\", short enough for Dovecot's keywords file.
func validKeyword(k string) bool {
	if k == "" || len(k) > 200 || k[0] == '\\' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// keywordTable is a parsed dovecot-keywords file: names by letter index.
type keywordTable [maxKeywords]string

// parseKeywords reads the dovecot-keywords format: lines "<index> <name>",
// index 0 being the letter 'a'. Malformed lines are skipped, as Dovecot does.
func parseKeywords(b []byte) keywordTable {
	var t keywordTable
	for _, line := range bytes.Split(b, []byte("\n")) {
		idx, name, ok := strings.Cut(string(line), " ")
		if !ok || name == "" {
			continue
		}
		n, err := strconv.Atoi(idx)
		if err != nil || n < 0 || n >= maxKeywords {
			continue
		}
		t[n] = name
	}
	return t
}

func (t *keywordTable) lookup(name string) int {
	for i, k := range t {
		if k != "" && strings.EqualFold(k, name) {
			return i
		}
	}
	return -1
}

func (t *keywordTable) bytes() []byte {
	var b bytes.Buffer
	for i, k := range t {
		if k != "" {
			fmt.Fprintf(&b, "%d %s\n", i, k)
		}
	}
	return b.Bytes()
}

// info returns the Maildir info of a message delivered into the folder
// directory dir with flags: "" for none (the file goes to new/), else
// "2,<letters>" with the letters in ASCII order (Dovecot requires sorted
// flags): D draft, F flagged, R answered, S seen, T deleted, then keyword
// letters from dir's dovecot-keywords, which is extended as needed.
func (s *Store) info(ctx context.Context, d *dir, f Flags) (string, error) {
	var letters []byte
	for _, sf := range []struct {
		on bool
		c  byte
	}{{f.Draft, 'D'}, {f.Flagged, 'F'}, {f.Answered, 'R'}, {f.Seen, 'S'}, {f.Deleted, 'T'}} {
		if sf.on {
			letters = append(letters, sf.c)
		}
	}
	var kws []string
	for _, k := range f.Keywords {
		if !validKeyword(k) {
			s.log.Warn("maildir: dropping invalid keyword", "keyword", k)
			continue
		}
		if !containsFold(kws, k) {
			kws = append(kws, k)
		}
	}
	if len(kws) > 0 {
		idx, err := s.keywordIndexes(ctx, d, kws)
		if err != nil {
			return "", err
		}
		kl := make([]byte, 0, len(idx))
		for _, i := range idx {
			kl = append(kl, byte('a'+i))
		}
		slices.Sort(kl)
		letters = append(letters, kl...)
	}
	if len(letters) == 0 {
		return "", nil
	}
	return "2," + string(letters), nil
}

// keywordIndexes maps keywords to letter indexes through dir's
// dovecot-keywords, adding the missing ones. Dovecot changes that file only
// while it holds dovecot-uidlist.lock (and rewrites it from memory), so an
// addition takes that lock first, then the file's own dotlock, and re-reads
// the file under them. Keywords that do not fit in the 26 letters are
// dropped with a warning.
func (s *Store) keywordIndexes(ctx context.Context, d *dir, kws []string) ([]int, error) {
	path := d.join(keywordsFile)
	b, _, err := s.readFile(d, keywordsFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, tempErr("read", path, err)
	}
	t := parseKeywords(b)
	if idx, ok := lookupKeywords(&t, kws); ok {
		return idx, nil
	}

	ulf, ulock, err := s.dotlock(ctx, d, "dovecot-uidlist", uidlistStale)
	if err != nil {
		return nil, err
	}
	defer s.releaseLock(d, ulf, ulock)
	if _, err := ulf.Write([]byte(s.holderID())); err != nil {
		return nil, tempErr("write", ulock, err)
	}
	kf, klock, err := s.dotlock(ctx, d, keywordsFile, keywordsStale)
	if err != nil {
		return nil, err
	}
	b, fi, err := s.readFile(d, keywordsFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.releaseLock(d, kf, klock)
		return nil, tempErr("read", path, err)
	}
	var prev time.Time
	if fi != nil {
		prev = fi.ModTime()
	}
	t = parseKeywords(b)
	before := t
	idx, missing := resolveKeywords(&t, kws)
	if t == before {
		s.releaseLock(d, kf, klock)
	} else if err := s.replaceFile(d, kf, klock, keywordsFile, t.bytes(), prev); err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		s.log.Warn("maildir: no keyword letter left, dropping keywords", "dir", d.path, "keywords", missing)
	}
	return idx, nil
}

// lookupKeywords returns the letter indexes of kws in t, and whether all of
// them have one.
func lookupKeywords(t *keywordTable, kws []string) ([]int, bool) {
	idx := make([]int, 0, len(kws))
	for _, k := range kws {
		i := t.lookup(k)
		if i < 0 {
			return nil, false
		}
		idx = append(idx, i)
	}
	return idx, true
}

// resolveKeywords returns the letter indexes of kws in t, assigning free
// letters (lowest first, as Dovecot does) to new keywords, and the keywords
// that found no free letter.
func resolveKeywords(t *keywordTable, kws []string) (idx []int, missing []string) {
	for _, k := range kws {
		i := t.lookup(k)
		if i < 0 {
			i = slices.Index(t[:], "")
			if i < 0 {
				missing = append(missing, k)
				continue
			}
			t[i] = k
		}
		idx = append(idx, i)
	}
	return idx, missing
}
