package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/pipeline"
	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/scoring"
	"github.com/sluice-mail/sluice/sieve"
)

// loadRules loads the rule set cfg.Rules selects; dirs, when not empty,
// override it (the -rules flag of check and lint). A nil Ruleset means
// scoring is off.
func loadRules(cfg config.Config, dirs []string, log *slog.Logger) (*rules.Ruleset, string, error) {
	opt := rules.Options{Budget: cfg.Rules.Budget, Logger: log}
	mode := cfg.Rules.Mode
	if len(dirs) > 0 {
		mode = "dirs"
	} else {
		dirs = cfg.Rules.Dirs
	}
	if mode == "auto" {
		if dirs = config.AutoRuleDirs(); len(dirs) > 0 {
			mode = "dirs"
		} else {
			mode = "builtin"
		}
	}
	switch mode {
	case "off":
		return nil, "off", nil
	case "builtin":
		name, text := config.BuiltinRules()
		rs, err := rules.LoadString(name, text, opt)
		return rs, "builtin", err
	}
	rs, err := rules.Load(dirs, opt)
	if err != nil {
		return nil, "", fmt.Errorf("rules: %w", err)
	}
	return rs, fmt.Sprint(dirs), nil
}

// newSpamStage loads the rules and scoring options; nil when rules are
// off. With strict, a rule that does not compile fails the whole load.
func newSpamStage(cfg config.Config, log *slog.Logger, strict bool) (*pipeline.SpamStage, error) {
	rs, source, err := loadRules(cfg, nil, log)
	if err != nil || rs == nil {
		return nil, err
	}
	l := rs.Lint()
	for _, d := range l.Errors {
		log.Error("rule error", "where", d.String())
	}
	if strict && len(l.Errors) > 0 {
		return nil, fmt.Errorf("rules: %d errors, first %s", len(l.Errors), l.Errors[0])
	}
	log.Info("rules loaded", "source", source, "rules", l.Total, "active", l.Active,
		"errors", len(l.Errors), "warnings", len(l.Warnings), "load_time", l.LoadTime.Round(time.Millisecond))
	return &pipeline.SpamStage{
		Rules:   rs,
		Scoring: scoring.Options{Hostname: hostnameOf(cfg), Version: version, Product: "sluice"},
	}, nil
}

// newSieveStage compiles the built-in script and sets up the script cache;
// nil when Sieve is off.
func newSieveStage(cfg config.Config, log *slog.Logger) (*pipeline.SieveStage, error) {
	c := cfg.Sieve
	if !c.Enabled {
		return nil, nil
	}
	opts := sieve.Options{
		Limits:             sieve.Limits{MaxRedirects: c.MaxRedirects, MaxActions: c.MaxActions},
		RecipientDelimiter: cfg.Delivery.RecipientDelimiter,
		Logger:             log,
	}
	st := &pipeline.SieveStage{
		Cache:      sieve.NewCache(opts),
		Before:     c.Before,
		After:      c.After,
		Default:    c.Default,
		UserScript: c.UserScript,
	}
	if c.SpamFolder != "" {
		name, text := config.BuiltinSpamSieve(c.SpamFolder)
		sc, err := sieve.Compile(name, []byte(text), opts)
		if err != nil {
			return nil, fmt.Errorf("sieve: %w", err)
		}
		st.Builtin = append(st.Builtin, sc)
	}
	// Admin scripts are checked now, so that a broken one stops a start or
	// a reload instead of being found per message.
	for _, path := range append(append(append([]string{}, c.Before...), c.After...), c.Default) {
		if path == "" {
			continue
		}
		if _, err := st.Cache.Load(context.Background(), path); err != nil && !errors.Is(err, sieve.ErrNoScript) {
			return nil, fmt.Errorf("sieve: %w", err)
		}
	}
	return st, nil
}
