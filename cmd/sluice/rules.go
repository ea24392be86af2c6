package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/outbound"
	"github.com/sluice-mail/sluice/pipeline"
	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/scoring"
	"github.com/sluice-mail/sluice/sieve"
	"golang.org/x/sys/unix"
)

// loadRules loads the rule set cfg.Rules selects; dirs, when not empty,
// override it (the -rules flag of check and lint). A nil Ruleset means
// scoring is off.
func loadRules(cfg config.Config, dirs []string, log *slog.Logger) (*rules.Ruleset, string, error) {
	return loadRulesFor(cfg, dirs, log, false)
}

// loadRulesFor is loadRules, with oneShot for a command that scores a
// message or two (rules.Options.OneShot).
func loadRulesFor(cfg config.Config, dirs []string, log *slog.Logger, oneShot bool) (*rules.Ruleset, string, error) {
	// Network rules (SPF, DKIM, DMARC, DNSBL evals) and SpamAssassin's
	// network score set apply when sluice runs the checks that feed them.
	opt := rules.Options{Budget: cfg.Rules.Budget, Logger: log, Net: cfg.Auth.Enabled, Plugins: rules.DefaultPlugins(),
		Cache: rules.CacheOptions{Dir: rulesCacheDir(cfg.Rules.CacheDir), Build: version}, OneShot: oneShot, Lang: cfg.Rules.Lang}
	// SpamAssassin 4.0.1's packaged 25_dmarc.cf wraps its rules in
	// "ifplugin ...::Dmarc", the plugin's pre-4.0 name, which its own
	// v400.pre no longer loads; sluice checks DMARC, so it answers to both.
	opt.Plugins["Mail::SpamAssassin::Plugin::Dmarc"] = true
	// SpamAssassin's v320.pre loads the Bayes plugin whether or not
	// use_bayes is on, and the stock BAYES_* rules live inside "ifplugin
	// ...::Bayes": without it they do not exist and check_bayes never
	// fires. With no Bayes probability they stay silent (score set 0).
	opt.Plugins["Mail::SpamAssassin::Plugin::Bayes"] = true
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
		return nil, "", err
	}
	return rs, fmt.Sprint(dirs), nil
}

// rulesCacheDir resolves [rules] cache_dir: "" picks /var/cache/sluice
// when it can be written, else the user's cache directory; "off" is no
// cache ("" returned).
func rulesCacheDir(dir string) string {
	switch dir {
	case "off":
		return ""
	case "":
		const sys = "/var/cache/sluice"
		if os.MkdirAll(sys, 0o755) == nil && unix.Access(sys, unix.W_OK) == nil {
			return sys
		}
		if d, err := os.UserCacheDir(); err == nil {
			return filepath.Join(d, "sluice")
		}
		return ""
	}
	return dir
}

// newSpamStage loads the rules and scoring options; nil when rules are
// off. With strict, a rule that does not compile fails the whole load;
// createBayes makes the Bayes database when it does not exist yet; oneShot
// tunes the rules for a command that scores a message or two.
func newSpamStage(cfg config.Config, pool *redisPool, log *slog.Logger, strict, createBayes, oneShot bool) (*pipeline.SpamStage, error) {
	rs, source, err := loadRulesFor(cfg, nil, log, oneShot)
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
		"errors", len(l.Errors), "warnings", len(l.Warnings), "load_time", l.LoadTime.Round(time.Millisecond),
		"cache_hits", l.CacheHits)
	bc, users, err := newBayes(cfg, pool, rs, createBayes, log)
	if err != nil {
		return nil, err
	}
	sqlPrefs, err := sqlPrefsSource(rs.Config().UserScores)
	if err != nil {
		return nil, err
	}
	return &pipeline.SpamStage{
		SQLPrefs:           sqlPrefs,
		Rules:              rs,
		Parse:              scanSizes(rs.Config()),
		Scoring:            scoring.Options{Hostname: hostnameOf(cfg), Version: version, SubVersion: subVersion(), Product: "sluice", ImitateSpamAssassin: cfg.Rules.ImitateSpamAssassin},
		Bayes:              bc,
		Users:              users,
		RecipientDelimiter: cfg.Delivery.RecipientDelimiter,
		UserPrefs:          cfg.Rules.UserPrefs,
		UserPrefsMaxSize:   cfg.Rules.UserPrefsMaxSize,
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
		Limits:             sieve.Limits{MaxRedirects: c.MaxRedirects, MaxActions: c.MaxActions, MaxScriptSize: c.MaxScriptSize},
		GlobalDir:          c.GlobalDir,
		RecipientDelimiter: cfg.Delivery.RecipientDelimiter,
		Logger:             log,
	}
	st := &pipeline.SieveStage{
		Cache:      sieve.NewCache(opts),
		Before:     c.Before,
		After:      c.After,
		Default:    c.Default,
		UserScript: c.UserScript,
		UserDir:    c.UserDir,
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
		// A script the administrator named must exist: a missing before
		// or after script would otherwise be skipped for every message.
		if _, err := st.Cache.Load(context.Background(), path); err != nil {
			return nil, fmt.Errorf("sieve: %s: %w", path, err)
		}
	}
	return st, nil
}

// newSender builds the outbound side: relay or sendmail submission, the
// state database, DKIM signing and SRS. The database is opened once per
// process and shared across reloads (bbolt allows one opener).
func newSender(cfg config.Config, st pipeline.State, log *slog.Logger) (*pipeline.Sender, error) {
	c := cfg.Outbound
	var sub outbound.Submitter
	if c.Sendmail != "" {
		sub = outbound.Sendmail{Path: c.Sendmail}
	} else {
		rc := outbound.RelayConfig{
			Addr: c.Relay, HeloName: hostnameOf(cfg), StartTLS: c.StartTLS, Username: c.Username,
			DialTimeout: c.ConnectTimeout, CommandTimeout: c.CommandTimeout, SubmissionTimeout: c.DataTimeout,
		}
		if c.PasswordFile != "" {
			b, err := os.ReadFile(c.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("outbound: %w", err)
			}
			rc.Password = strings.TrimSpace(string(b))
		}
		sub = outbound.NewRelay(rc)
	}
	sc := outbound.SenderConfig{Submitter: sub, Store: st, Hostname: hostnameOf(cfg), Logger: log}
	if c.DKIMKeyTable != "" && c.DKIMSigningTable != "" {
		d, err := outbound.LoadDKIM(outbound.DKIMConfig{KeyTable: c.DKIMKeyTable, SigningTable: c.DKIMSigningTable})
		if err != nil {
			return nil, fmt.Errorf("outbound: %w", err)
		}
		sc.DKIM = d
	}
	if c.SRSSecretsFile != "" {
		f, err := os.Open(c.SRSSecretsFile)
		if err != nil {
			return nil, fmt.Errorf("outbound: %w", err)
		}
		secrets, err := outbound.ParseSRSSecrets(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("outbound: %w", err)
		}
		srs, err := outbound.NewSRS(outbound.SRSConfig{Secrets: secrets, LocalDomains: cfg.Delivery.Domains})
		if err != nil {
			return nil, fmt.Errorf("outbound: %w", err)
		}
		sc.SRS = srs
	}
	s, err := outbound.NewSender(sc)
	if err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	return &pipeline.Sender{Out: s, Store: st, SRS: sc.SRS}, nil
}

// statePath is where the outbound state database lives.
func statePath(cfg config.Config) string {
	if cfg.Outbound.State != "" {
		return cfg.Outbound.State
	}
	return filepath.Join(cfg.Delivery.MailRoot, ".sluice-state.db")
}

// scanSizes carries the rule files' body_part_scan_size and
// rawbody_part_scan_size (0: no limit) into the message parser.
func scanSizes(c rules.Config) mail.Options {
	size := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	return mail.Options{MaxBodyScan: size(c.BodyPartScanSize), MaxRawBodyScan: size(c.RawBodyPartScanSize)}
}
