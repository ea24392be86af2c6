package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/sieve"
)

// DefaultUserPrefsMaxSize bounds a user_prefs file when
// SpamStage.UserPrefsMaxSize is zero.
const DefaultUserPrefsMaxSize = 256 << 10

// scoreTarget is what one copy of a message is scored for: the Bayes
// database of user ("" the global one) and a user's preferences (nil:
// the site's).
type scoreTarget struct {
	user  string
	prefs *rules.Prefs
}

// key groups recipients whose copies score alike.
func (t scoreTarget) key() string { return t.user + "\x00" + t.prefs.Key() }

// prefsCache holds parsed user_prefs files by path, each until its file
// or the rule set changes, at most sieve.CacheEntries of them (the least
// recently used go first). The zero value is ready to use.
type prefsCache struct{ lazyLRU[prefsEntry] }

// lazyLRU is an LRU cache of sieve.CacheEntries values by key, made on
// first use. The zero value is ready to use.
type lazyLRU[V any] struct {
	once    sync.Once
	entries *lru.Cache[string, V]
}

func (c *lazyLRU[V]) cache() *lru.Cache[string, V] {
	c.once.Do(func() {
		var err error
		if c.entries, err = lru.New[string, V](sieve.CacheEntries); err != nil {
			panic(err) // only for a size under 1
		}
	})
	return c.entries
}

type prefsEntry struct {
	rs    *rules.Ruleset
	ver   sieve.FileVersion
	prefs *rules.Prefs
	data  []byte // the file, for preferences from SQL read over it
}

// userPrefs returns the preferences of rcpt, read from SpamStage.UserPrefs
// expanded for it: nil when the setting is off or the file does not
// exist. A file that cannot be read safely (a symlink, a FIFO, too large,
// unreadable by its owner) or parsed is logged and left out: the
// recipient is scored with the site's settings, and no mail is lost.
func (p *Pipeline) userPrefs(ctx context.Context, rcpt Recipient) (*rules.Prefs, []byte) {
	s := p.cfg.Spam
	if s == nil || s.UserPrefs == "" || s.Rules == nil {
		return nil, nil
	}
	path := expandUser(s.UserPrefs, rcpt)
	u := sieve.UserFiles{Home: homeOf(rcpt)}
	if o := rcpt.Owner; o != nil {
		u.Owner = &sieve.FileOwner{UID: o.UID, GID: o.GID}
	}
	pr, data, fresh, err := p.prefs.load(s, u, path)
	if err != nil {
		p.log.ErrorContext(ctx, "user_prefs not applied; site settings used", "rcpt", rcpt.Address, "user", rcpt.User, "path", path, "err", err)
		return nil, nil
	}
	if fresh {
		l := pr.Lint()
		for _, d := range append(l.Errors, l.Warnings...) {
			p.log.WarnContext(ctx, "user_prefs line not applied", "user", rcpt.User, "diag", d.String())
		}
	}
	return pr, data
}

// load returns the parsed file at path and its text, reading it when it
// is new or changed (fresh).
func (c *prefsCache) load(s *SpamStage, u sieve.UserFiles, path string) (pr *rules.Prefs, data []byte, fresh bool, err error) {
	ver, err := sieve.StatUserFile(u, path)
	if errors.Is(err, sieve.ErrNoScript) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	e, ok := c.cache().Get(path)
	if ok && e.rs == s.Rules && e.ver.Same(ver) {
		return e.prefs, e.data, false, nil
	}
	max := s.UserPrefsMaxSize
	if max <= 0 {
		max = DefaultUserPrefsMaxSize
	}
	data, ver, err = sieve.ReadUserFile(u, path, max)
	if errors.Is(err, sieve.ErrNoScript) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	if pr, err = s.Rules.ParsePrefs(path, data); err != nil {
		return nil, nil, false, err
	}
	c.cache().Add(path, prefsEntry{rs: s.Rules, ver: ver, prefs: pr, data: data})
	return pr, data, true, nil
}

// recipientTargets groups rcpts by what their copies are scored for: the
// Bayes database of their mailbox ([bayes] per_user) and their
// user_prefs. targets are the distinct ones in order of first
// appearance, and rcpts[i] gets the copy of targets[of[i]]. Without
// either feature, targets is nil and every recipient shares one copy. A
// recipient with no mailbox (malformed, or an SRS bounce address) goes
// with the global database and the site's settings.
func (p *Pipeline) recipientTargets(ctx context.Context, rcpts []string) (targets []scoreTarget, of []int) {
	of = make([]int, len(rcpts))
	s := p.cfg.Spam
	if s == nil {
		return nil, of
	}
	bayesUsers := s.Users != nil && s.bayesOn()
	prefsOn := (s.UserPrefs != "" && p.cfg.Directory != nil) || s.SQLPrefs != nil
	if !bayesUsers && !prefsOn {
		return nil, of
	}
	index := make(map[string]int)
	for i, r := range rcpts {
		var t scoreTarget
		if b := p.cfg.Bouncer; b == nil || !b.IsSRS(r) {
			if bayesUsers {
				t.user, _ = MailboxUser(r, s.RecipientDelimiter)
			}
			if prefsOn {
				t.prefs = p.recipientPrefs(ctx, r)
			}
		}
		k := t.key()
		n, ok := index[k]
		if !ok {
			n = len(targets)
			index[k] = n
			targets = append(targets, t)
		}
		of[i] = n
	}
	return targets, of
}

// recipientPrefs returns the preferences of the recipient addr, if any:
// its user_prefs file, with the rows user_scores_dsn has for its mailbox
// (MailboxUser: alice@example.org for Alice+news@Example.ORG) over it.
func (p *Pipeline) recipientPrefs(ctx context.Context, addr string) *rules.Prefs {
	sqlUser := ""
	if s := p.cfg.Spam; s != nil && s.SQLPrefs != nil {
		sqlUser, _ = MailboxUser(addr, s.RecipientDelimiter)
	}
	return p.UserPrefs(ctx, addr, sqlUser)
}

// UserPrefs returns the preferences scoring applies for addr, a
// recipient address whose user_prefs file (SpamStage.UserPrefs) is read,
// and for sqlUser, the user name whose rows SpamStage.SQLPrefs gives
// (spamd passes its User header as it is); either may be "". nil is the
// site's settings.
func (p *Pipeline) UserPrefs(ctx context.Context, addr, sqlUser string) *rules.Prefs {
	var file *rules.Prefs
	var data []byte
	if p.cfg.Directory != nil && strings.Contains(addr, "@") {
		if rcpt, err := p.cfg.Directory.Resolve(addr); err == nil {
			file, data = p.userPrefs(ctx, rcpt)
		}
	}
	if sqlUser == "" {
		return file
	}
	return p.sqlPrefs(ctx, sqlUser, file, data)
}

// ParsePrefs parses a user_prefs file over the rule set in force, for
// CheckPrefs; nil without scoring.
func (p *Pipeline) ParsePrefs(name string, data []byte) (*rules.Prefs, error) {
	if s := p.cfg.Spam; s != nil && s.Rules != nil {
		return s.Rules.ParsePrefs(name, data)
	}
	return nil, nil
}
