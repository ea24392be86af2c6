package main

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/boltstore"
	"github.com/sluice-mail/sluice/bayes/redisstore"
	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/pipeline"
	"github.com/sluice-mail/sluice/rules"
)

// newBayes opens the classifiers for a pipeline: the global database's,
// and with [bayes] per_user the per-user databases; nil when [bayes] is
// off or the rule files say use_bayes 0. Only serve (create) makes a
// missing database; `check` and `pipe` use one if it exists and otherwise
// run without Bayes, which would score nothing yet anyway. Serving per
// user, deliveries do not use the global database, and it is not made.
func newBayes(cfg config.Config, pool *redisPool, rs *rules.Ruleset, create bool, log *slog.Logger) (*bayes.Classifier, pipeline.BayesUsers, error) {
	if !cfg.Bayes.Enabled || rs == nil {
		return nil, nil, nil
	}
	bc := bayesConfigFrom(rs.Config().Bayes)
	if !bc.UseBayes {
		return nil, nil, nil
	}
	meta := bayesMetadata(rs)
	var global *bayes.Classifier
	if !cfg.Bayes.PerUser || !create {
		st, err := pipelineBayesStore(cfg, pool, create, &bc.Expiry)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, nil, err
		default:
			global = &bayes.Classifier{Store: st, Config: bc, Metadata: meta}
		}
	}
	if !cfg.Bayes.PerUser {
		return global, nil, nil
	}
	users := &userBayes{cfg: cfg, conf: bc, meta: meta, create: create, log: log, byKey: map[string]*list.Element{}, lru: list.New()}
	if cfg.Redis.URL != "" {
		st, err := pipelineBayesStore(cfg, pool, create, &bc.Expiry)
		if err != nil {
			return nil, nil, err
		}
		users.redis = st.(*redisstore.Store)
	}
	return global, users, nil
}

// pipelineBayesStore is openBayesStore for a pipeline: a bbolt store holds
// no handle between operations, so a fresh one per pipeline costs nothing;
// a Redis store is the pool's, shared across reloads.
func pipelineBayesStore(cfg config.Config, pool *redisPool, create bool, exp *bayes.Expiry) (bayes.Store, error) {
	if cfg.Redis.URL == "" {
		st, _, err := openBayesStore(cfg, pool, "", create, exp)
		return st, err
	}
	return pool.bayesStore(cfg, exp)
}

// userKey is the name of addr's per-user database: the mailbox addr is
// delivered to (pipeline.MailboxUser: lower-cased, without its +detail),
// which userBayesPath and userRedisPrefix turn into a file or key prefix.
// A mailbox that is not plain local@domain text is refused rather than
// rewritten, so two users can never share a database and a name can
// never leave the directory.
func userKey(cfg config.Config, addr string) (string, error) {
	bad := fmt.Errorf("-user %q: want a plain address (letters, digits and @.-_+= only)", addr)
	a, err := pipeline.MailboxUser(strings.TrimSpace(addr), cfg.Delivery.RecipientDelimiter)
	if err != nil {
		return "", bad
	}
	at := strings.LastIndexByte(a, '@')
	ok := len(a) <= 254 && at > 0 && at < len(a)-1 && a[0] != '.'
	for i := 0; ok && i < len(a); i++ {
		switch b := a[i]; {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9':
		case strings.IndexByte("@.-_+=", b) >= 0:
		default:
			ok = false
		}
	}
	if !ok || strings.Count(a, "@") != 1 {
		return "", bad
	}
	return a, nil
}

// userBayesPath is the bbolt file of the per-user database key (userKey):
// beside the global file, path.KEY.
func userBayesPath(cfg config.Config, key string) string {
	return cfg.BayesPath() + "." + key
}

// userRedisPrefix is the key prefix of the per-user database key
// (userKey) in Redis: key_prefix + "u:" + KEY + ":".
func userRedisPrefix(cfg config.Config, key string) string {
	return cfg.Redis.KeyPrefix + "u:" + key + ":"
}

// openBayesStore opens the Bayes database in force: in Redis when [redis]
// url is set, else the bbolt file cfg.BayesPath(). A non-empty user
// selects that user's database instead of the global one (userKey). Without
// create, a bbolt file that does not exist is an error wrapping
// fs.ErrNotExist; Redis has nothing to create. Redis is not contacted
// here: a server that is down fails the store's operations, which a
// delivery survives without Bayes.
func openBayesStore(cfg config.Config, pool *redisPool, user string, create bool, exp *bayes.Expiry) (bayes.Store, io.Closer, error) {
	key := ""
	if user != "" {
		var err error
		if key, err = userKey(cfg, user); err != nil {
			return nil, nil, err
		}
	}
	if cfg.Redis.URL != "" {
		prefix := cfg.Redis.KeyPrefix
		if key != "" {
			prefix = userRedisPrefix(cfg, key)
		}
		st, err := pool.redisStore(cfg, prefix, exp)
		if err != nil {
			return nil, nil, err
		}
		return st, st, nil
	}
	path := cfg.BayesPath()
	if key != "" {
		path = userBayesPath(cfg, key)
	}
	st, err := openBoltStore(cfg, path, create, exp, 0)
	if err != nil {
		return nil, nil, err
	}
	return st, st, nil
}

// openBoltStore opens the bbolt database at path; without create, a file
// that does not exist is an error wrapping fs.ErrNotExist. exp and
// memTokens are boltstore.Options' Expiry and MemTokens.
func openBoltStore(cfg config.Config, path string, create bool, exp *bayes.Expiry, memTokens int) (*boltstore.Store, error) {
	if !create {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no Bayes database: %w", err)
		}
	}
	st, err := boltstore.Open(path, boltstore.Options{LockTimeout: cfg.Bayes.LockTimeout, Expiry: exp, MemTokens: memTokens})
	if err != nil {
		return nil, fmt.Errorf("bayes.path %s: %w", path, err)
	}
	return st, nil
}

// maxUserStores bounds the per-user bbolt stores a pipeline keeps.
const maxUserStores = 256

// userBayes opens the per-user databases of [bayes] per_user for a
// pipeline (pipeline.BayesUsers). In Redis each is a view on the
// process's one pool; in bbolt each is a store opened on first use and
// kept, at most maxUserStores of them, the least recently used closed
// first. Scoring never creates a database.
type userBayes struct {
	cfg    config.Config
	conf   bayes.Config
	meta   func(*mail.Message) []string
	create bool              // auto-learn may make a missing database (serve)
	redis  *redisstore.Store // the shared pool with [redis]; nil: bbolt
	log    *slog.Logger

	mu    sync.Mutex
	lru   *list.List // of *userStore, most recently used first
	byKey map[string]*list.Element
}

// userStore is one cached per-user bbolt store.
type userStore struct {
	key string
	mu  sync.Mutex // held while opening, so one Store per file
	st  *boltstore.Store
}

// Classifier implements pipeline.BayesUsers.
func (u *userBayes) Classifier(ctx context.Context, user string, create bool) (*bayes.Classifier, error) {
	key, err := userKey(u.cfg, user)
	if err != nil {
		// Deliverable, but not a name a database can have (nor one
		// `sluice learn -user` accepts): no Bayes for this mailbox.
		u.log.DebugContext(ctx, "no per-user Bayes for this mailbox", "user", user, "err", err)
		return nil, nil
	}
	if u.redis != nil {
		return u.classifier(u.redis.WithPrefix(userRedisPrefix(u.cfg, key))), nil
	}
	e := u.entry(key)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st == nil {
		// Per-user stores keep no in-memory copy: maxUserStores copies of
		// up to bayes_expiry_max_db_size tokens each would be gigabytes.
		st, err := openBoltStore(u.cfg, userBayesPath(u.cfg, key), create && u.create, &u.conf.Expiry, -1)
		if err != nil {
			u.drop(e)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			return nil, err
		}
		e.st = st
	}
	return u.classifier(e.st), nil
}

func (u *userBayes) classifier(st bayes.Store) *bayes.Classifier {
	return &bayes.Classifier{Store: st, Config: u.conf, Metadata: u.meta}
}

// entry returns key's cache entry, made the most recent, evicting (and
// closing) the least recent past maxUserStores.
func (u *userBayes) entry(key string) *userStore {
	u.mu.Lock()
	if el, ok := u.byKey[key]; ok {
		u.lru.MoveToFront(el)
		u.mu.Unlock()
		return el.Value.(*userStore)
	}
	e := &userStore{key: key}
	u.byKey[key] = u.lru.PushFront(e)
	var evicted []*userStore
	for u.lru.Len() > maxUserStores {
		old := u.lru.Remove(u.lru.Back()).(*userStore)
		delete(u.byKey, old.key)
		evicted = append(evicted, old)
	}
	u.mu.Unlock()
	// Closed outside u.mu: closing writes pending atimes. A delivery still
	// using an evicted store may: a closed boltstore.Store keeps working.
	for _, old := range evicted {
		old.mu.Lock()
		if old.st != nil {
			if err := old.st.Close(); err != nil {
				u.log.Warn("closing a per-user Bayes database", "user", old.key, "err", err)
			}
		}
		old.mu.Unlock()
	}
	return e
}

// drop forgets e when it holds no store: a database that does not exist
// takes no place in the cache.
func (u *userBayes) drop(e *userStore) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if el, ok := u.byKey[e.key]; ok && el.Value == e {
		u.lru.Remove(el)
		delete(u.byKey, e.key)
	}
}

// len is the number of cached stores.
func (u *userBayes) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lru.Len()
}

// bayesMetadata returns the metadata pseudo-headers SpamAssassin adds to a
// message before Bayes tokenizes it: the four X-Spam-Relays-* fields of
// its Received analysis, with rs's trusted and internal networks.
func bayesMetadata(rs *rules.Ruleset) func(*mail.Message) []string {
	conf := rs.Config()
	return func(msg *mail.Message) []string {
		relays := rules.ComputeRelays(rules.FromMail(msg), &conf)
		var out []string
		for _, name := range []string{"X-Spam-Relays-Trusted", "X-Spam-Relays-Untrusted", "X-Spam-Relays-Internal", "X-Spam-Relays-External"} {
			if v, ok := relays.Pseudo(name); ok {
				out = append(out, name+": "+v+"\n")
			}
		}
		return out
	}
}
