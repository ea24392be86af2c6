package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/sluice-mail/sluice/config"
)

// cmdLint loads the rules as serve would and prints every error and
// warning as file:line: message, then statistics. Exit 1 on errors.
func cmdLint(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("lint", stderr)
	cfgPath := fs.String("config", "", "configuration `file` (TOML); default: embedded defaults")
	var ruleDirs stringList
	fs.Var(&ruleDirs, "rules", "rules `dir`ectory or file (repeatable; replaces [rules])")
	asJSON := fs.Bool("json", false, "print one JSON object")
	var scripts stringList
	fs.Var(&scripts, "sieve", "Sieve `script` to check instead of the rules (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(scripts) > 0 {
		if !lintSieve(scripts, stdout) {
			return 1
		}
		return 0
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	log := newLogger(config.Log{Level: "error", Format: "text"}, stderr)
	rs, source, err := loadRules(cfg, ruleDirs, log)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	if rs == nil {
		fmt.Fprintln(stdout, "rules are off ([rules] mode = \"off\")")
		return 0
	}
	if _, err := sqlPrefsSource(rs.Config().UserScores); err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	l := rs.Lint()
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(l); err != nil {
			return 1
		}
	} else {
		for _, d := range l.Errors {
			fmt.Fprintf(stdout, "%s\n", d)
		}
		for _, d := range l.Warnings {
			fmt.Fprintf(stdout, "%s (warning)\n", d)
		}
		fmt.Fprintf(stdout, "source: %s\n%s", source, l)
	}
	if len(l.Errors) > 0 {
		return 1
	}
	return 0
}
