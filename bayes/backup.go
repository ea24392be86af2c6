package bayes

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Backup is a whole Bayes database in the form sa-learn --backup writes
// (BayesStore DBM backup_database).
type Backup struct {
	NSpam, NHam uint64
	Tokens      map[Token]Counts
	Seen        map[string]Class
}

// Restorer is an optional capability of a [Store]: replacing its whole
// content with a backup, atomically (sa-learn --restore).
type Restorer interface {
	Restore(ctx context.Context, b *Backup) error
}

// ReadSABackup reads the output of SpamAssassin's sa-learn --backup, as
// restore_database does: the db_version line first (2 or 3; version 2
// dumps hold token texts, which are hashed), then "v" (num_spam,
// num_nonspam), "t" (spam, ham, atime, token) and "s" (class, message id)
// lines. Tokens with no counts are skipped, negative counts read as zero
// and atimes after now as now.
func ReadSABackup(r io.Reader, now time.Time) (*Backup, error) {
	b := &Backup{Tokens: make(map[Token]Counts), Seen: make(map[string]Class)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	version := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			f := strings.Fields(line)
			if len(f) < 3 || f[0] != "v" || f[2] != "db_version" {
				return nil, fmt.Errorf("%w: sa-learn backup: line 1 is not the db_version line", ErrFormat)
			}
			version, _ = strconv.Atoi(f[1])
			if version != 2 && version != 3 {
				return nil, fmt.Errorf("%w: sa-learn backup: database version %s, want 2 or 3", ErrFormat, f[1])
			}
			continue
		}
		bad := func(why string) error {
			return fmt.Errorf("%w: sa-learn backup line %d: %s", ErrFormat, n, why)
		}
		switch {
		case strings.HasPrefix(line, "v\t") || strings.HasPrefix(line, "v "):
			f := strings.Fields(line)
			if len(f) < 3 {
				return nil, bad("short v line")
			}
			v, _ := strconv.ParseUint(f[1], 10, 64)
			switch f[2] {
			case "num_spam":
				b.NSpam = v
			case "num_nonspam":
				b.NHam = v
			}
		case strings.HasPrefix(line, "t\t") || strings.HasPrefix(line, "t "):
			f := strings.Fields(line)
			if len(f) != 5 {
				return nil, bad("t line without 5 fields")
			}
			s, err1 := strconv.ParseInt(f[1], 10, 64)
			h, err2 := strconv.ParseInt(f[2], 10, 64)
			a, err3 := strconv.ParseInt(f[3], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil {
				return nil, bad("t line counts")
			}
			c := Counts{}.Add(int(min(max(s, 0), 1<<32-1)), int(min(max(h, 0), 1<<32-1)), min(a, now.Unix()))
			if c.Spam == 0 && c.Ham == 0 {
				continue
			}
			var tok Token
			if version < 3 {
				tok = HashToken(f[4])
			} else {
				var err error
				if tok, err = ParseToken(f[4]); err != nil {
					return nil, bad(err.Error())
				}
			}
			b.Tokens[tok] = c
		case strings.HasPrefix(line, "s\t") || strings.HasPrefix(line, "s "):
			f := strings.SplitN(line, "\t", 3)
			if len(f) != 3 || (f[1] != "s" && f[1] != "h") {
				return nil, bad("s line")
			}
			b.Seen[f[2]] = Class(f[1][0])
		default:
			// restore_database skips unknown lines too.
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bayes: sa-learn backup: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: sa-learn backup: empty", ErrFormat)
	}
	return b, nil
}

// Restore implements [Restorer].
func (m *MemStore) Restore(ctx context.Context, b *Backup) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nspam, m.nham = b.NSpam, b.NHam
	m.toks = make(map[Token]Counts, len(b.Tokens))
	for t, c := range b.Tokens {
		m.toks[t] = c
	}
	m.seen = make(map[string]Class, len(b.Seen))
	for id, c := range b.Seen {
		m.seen[id] = c
	}
	return nil
}
