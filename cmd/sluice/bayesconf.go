package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/boltstore"
	"github.com/sluice-mail/sluice/bayes/redisstore"
	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
)

// newBayes opens the classifier for a pipeline: nil when [bayes] is off or
// the rule files say use_bayes 0. Only serve (create) makes a missing
// database; `check` and `pipe` use one if it exists and otherwise run
// without Bayes, which would score nothing yet anyway.
func newBayes(cfg config.Config, rs *rules.Ruleset, create bool) (*bayes.Classifier, error) {
	if !cfg.Bayes.Enabled || rs == nil {
		return nil, nil
	}
	bc := bayesConfigFrom(rs.Config().Bayes)
	if !bc.UseBayes {
		return nil, nil
	}
	st, err := pipelineBayesStore(cfg, create)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &bayes.Classifier{Store: st, Config: bc, Metadata: bayesMetadata(rs)}, nil
}

// redisStores keeps one Redis store (and its connection pool) per
// address, prefix and timeout for the life of the process: every reload
// builds a new pipeline, and closing the old one's pool under deliveries
// still in flight would fail them over to no Bayes for nothing.
var redisStores struct {
	sync.Mutex
	m map[string]bayes.Store
}

// pipelineBayesStore is openBayesStore for a pipeline: a bbolt store holds
// no handle between operations, so a fresh one per pipeline costs nothing;
// a Redis store is shared across reloads.
func pipelineBayesStore(cfg config.Config, create bool) (bayes.Store, error) {
	if cfg.Redis.URL == "" {
		st, _, err := openBayesStore(cfg, "", create)
		return st, err
	}
	key := fmt.Sprintf("%s\x00%s\x00%s", cfg.Redis.URL, cfg.Redis.KeyPrefix, cfg.Redis.Timeout)
	redisStores.Lock()
	defer redisStores.Unlock()
	if st, ok := redisStores.m[key]; ok {
		return st, nil
	}
	st, _, err := openBayesStore(cfg, "", create)
	if err != nil {
		return nil, err
	}
	if redisStores.m == nil {
		redisStores.m = map[string]bayes.Store{}
	}
	redisStores.m[key] = st
	return st, nil
}

// openBayesStore opens the Bayes database in force: in Redis when [redis]
// url is set, else the bbolt file cfg.BayesPath(). A non-empty user
// selects that user's database instead of the global one: the file
// path.ADDR beside the global file, or the keys under
// key_prefix + "u:" + ADDR + ":". Without create, a bbolt file that does
// not exist is an error wrapping fs.ErrNotExist; Redis has nothing to
// create. Redis is not contacted here: a server that is down fails the
// store's operations, which a delivery survives without Bayes.
func openBayesStore(cfg config.Config, user string, create bool) (bayes.Store, io.Closer, error) {
	if cfg.Redis.URL != "" {
		prefix := cfg.Redis.KeyPrefix
		if user != "" {
			addr, err := userKey(user)
			if err != nil {
				return nil, nil, err
			}
			prefix += "u:" + addr + ":"
		}
		st, err := redisstore.Open(cfg.Redis.URL, redisstore.Options{Prefix: prefix, Timeout: cfg.Redis.Timeout})
		if err != nil {
			return nil, nil, fmt.Errorf("redis.url: %w", err)
		}
		return st, st, nil
	}
	path := cfg.BayesPath()
	if user != "" {
		addr, err := userKey(user)
		if err != nil {
			return nil, nil, err
		}
		path += "." + addr
	}
	if !create {
		if _, err := os.Stat(path); err != nil {
			return nil, nil, fmt.Errorf("no Bayes database: %w", err)
		}
	}
	st, err := boltstore.Open(path, boltstore.Options{LockTimeout: cfg.Bayes.LockTimeout})
	if err != nil {
		return nil, nil, fmt.Errorf("bayes.path %s: %w", path, err)
	}
	return st, st, nil
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
