package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/sluice-mail/sluice/rules"
)

// PrefsSource gives the preference lines one user has outside their
// user_prefs file: SpamAssassin's user_scores_dsn (prefsql.Source). Empty
// text is no preferences.
type PrefsSource interface {
	UserPrefs(ctx context.Context, user string) ([]byte, error)
}

// DefaultSQLPrefsTTL is how long a user's rows are reused when
// SpamStage.SQLPrefsTTL is zero: one message to ten recipients of one
// user asks once, and a change made in the table applies within a
// minute.
const DefaultSQLPrefsTTL = 60 * time.Second

// sqlPrefsCache holds each user's rows, parsed, for SpamStage.SQLPrefsTTL,
// at most sieve.CacheEntries users (the least recently used go first). A
// failed read is remembered for the same time, so that a database that
// is down costs one time-out per user a minute, not one per message. The
// zero value is ready to use.
type sqlPrefsCache struct{ lazyLRU[sqlEntry] }

type sqlEntry struct {
	at     time.Time
	rs     *rules.Ruleset
	failed bool
	text   []byte
	// file is the Key of the user_prefs file prefs was parsed over ("" for
	// none); prefs is nil when there are no rows.
	file  string
	prefs *rules.Prefs
}

// sqlPrefs returns user's preferences from SpamStage.SQLPrefs, read as
// lines after their user_prefs file (file, parsed from data; nil
// without), as spamd reads a user's file and then SQL. A failed read or
// rows that do not parse are logged and counted, and file is returned:
// the recipient is scored with their file or the site's settings
// (SpamAssassin's user_scores_fallback_to_global), never refused.
func (p *Pipeline) sqlPrefs(ctx context.Context, user string, file *rules.Prefs, data []byte) *rules.Prefs {
	s := p.cfg.Spam
	if s == nil || s.SQLPrefs == nil || s.Rules == nil {
		return file
	}
	ttl := s.SQLPrefsTTL
	if ttl <= 0 {
		ttl = DefaultSQLPrefsTTL
	}
	now := p.cfg.Now()
	e, ok := p.sql.cache().Get(user)
	if ok && e.rs == s.Rules && now.Sub(e.at) < ttl && now.Sub(e.at) >= 0 {
		p.countSQL("hit")
		if e.failed || e.text == nil || e.file == file.Key() {
			if e.prefs == nil {
				return file
			}
			return e.prefs
		}
	} else {
		e = p.readSQL(ctx, s, user, now)
	}
	if !e.failed && len(e.text) > 0 && (e.prefs == nil || e.file != file.Key()) {
		e.prefs, e.file = p.parseSQL(ctx, s, user, e.text, data), file.Key()
	}
	// A read cut short by the caller (the client went away, the message
	// deadline) says nothing about the database: it is not remembered.
	if !e.failed || ctx.Err() == nil {
		p.sql.cache().Add(user, e)
	}
	if e.failed || e.prefs == nil {
		return file
	}
	return e.prefs
}

// readSQL asks the database for user's rows.
func (p *Pipeline) readSQL(ctx context.Context, s *SpamStage, user string, now time.Time) sqlEntry {
	e := sqlEntry{at: now, rs: s.Rules}
	p.countSQL("query")
	text, err := s.SQLPrefs.UserPrefs(ctx, user)
	max := s.UserPrefsMaxSize
	if max <= 0 {
		max = DefaultUserPrefsMaxSize
	}
	if err == nil && len(text) > max {
		err = ErrSQLPrefsSize
	}
	if err != nil {
		p.countSQL("error")
		p.log.ErrorContext(ctx, "user_scores_dsn preferences not applied; user_prefs file or site settings used", "user", user, "err", err)
		e.failed = true
		return e
	}
	e.text = text
	if e.text == nil {
		e.text = []byte{}
	}
	return e
}

// ErrSQLPrefsSize is the error logged for a user whose rows are more
// text than SpamStage.UserPrefsMaxSize.
var ErrSQLPrefsSize = errors.New("pipeline: user_scores_dsn rows over user_prefs_max_size")

// parseSQL parses text, the rows, after data, the user's file; nil when
// they cannot be parsed (logged).
func (p *Pipeline) parseSQL(ctx context.Context, s *SpamStage, user string, text, data []byte) *rules.Prefs {
	all := text
	if len(data) > 0 {
		all = append(append(append([]byte{}, data...), '\n'), text...)
	}
	pr, err := s.Rules.ParsePrefs("(sql config) "+user, all)
	if err != nil {
		p.countSQL("error")
		p.log.ErrorContext(ctx, "user_scores_dsn preferences not applied; user_prefs file or site settings used", "user", user, "err", err)
		return nil
	}
	l := pr.Lint()
	for _, d := range append(l.Errors, l.Warnings...) {
		p.log.WarnContext(ctx, "user_prefs line not applied", "user", user, "diag", d.String())
	}
	return pr
}

// countSQL counts one look-up outcome in sluice_user_prefs_sql_total.
func (p *Pipeline) countSQL(result string) {
	if mt := p.cfg.Metrics; mt != nil {
		mt.UserPrefsSQL.WithLabelValues(result).Inc()
	}
}
