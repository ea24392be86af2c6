package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/boltstore"
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
	if _, err := os.Stat(cfg.BayesPath()); !create && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	st, err := boltstore.Open(cfg.BayesPath(), boltstore.Options{LockTimeout: cfg.Bayes.LockTimeout})
	if err != nil {
		return nil, fmt.Errorf("bayes.path %s: %w", cfg.BayesPath(), err)
	}
	return &bayes.Classifier{Store: st, Config: bc, Metadata: bayesMetadata(rs)}, nil
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
