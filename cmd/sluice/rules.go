package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/pipeline"
	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/scoring"
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

// newSpamStage loads the rules and scoring options; nil when rules are off.
func newSpamStage(cfg config.Config, log *slog.Logger) (*pipeline.SpamStage, error) {
	rs, source, err := loadRules(cfg, nil, log)
	if err != nil || rs == nil {
		return nil, err
	}
	l := rs.Lint()
	log.Info("rules loaded", "source", source, "rules", l.Total, "active", l.Active,
		"errors", len(l.Errors), "warnings", len(l.Warnings), "load_time", l.LoadTime.Round(time.Millisecond))
	return &pipeline.SpamStage{
		Rules:   rs,
		Scoring: scoring.Options{Hostname: hostnameOf(cfg), Version: version, Product: "sluice"},
	}, nil
}
