package main

import (
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/sluice-mail/sluice/scoring"
)

// buildInfo describes the binary: its Go version and, when it was built
// from a version-control checkout, the commit and its date.
type buildInfo struct {
	goVersion, commit, date string
	modified                bool
}

func readBuildInfo() buildInfo {
	var b buildInfo
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.goVersion = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.commit = s.Value[:min(len(s.Value), 12)]
		case "vcs.time":
			b.date, _, _ = strings.Cut(s.Value, "T")
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b
}

// subVersion is what _SUBVERSION_ expands to in X-Spam-Checker-Version:
// the date of the commit sluice was built from, empty when unknown.
func subVersion() string { return readBuildInfo().date }

// cmdVersion prints sluice's version and build, and the rules the
// configuration loads (from the compiled-rules cache when it is warm).
func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", stderr)
	cfgPath := fs.String("config", "", "configuration `file` (default: embedded defaults)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b := readBuildInfo()
	line := "sluice " + version
	var extra []string
	if b.commit != "" {
		c := b.commit
		if b.modified {
			c += "+modified"
		}
		extra = append(extra, "commit "+c)
	}
	if b.date != "" {
		extra = append(extra, b.date)
	}
	if b.goVersion != "" {
		extra = append(extra, b.goVersion)
	}
	if len(extra) > 0 {
		line += " (" + strings.Join(extra, ", ") + ")"
	}
	fmt.Fprintln(stdout, line)
	fmt.Fprintf(stdout, "rule language: SpamAssassin %s (%s)\n", scoring.SpamAssassinVersion, scoring.SpamAssassinSubVersion)
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "sluice version: %v\n", err)
		return 1
	}
	rs, source, err := loadRulesFor(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), true)
	switch {
	case err != nil:
		fmt.Fprintf(stdout, "rules: %s: not loaded: %v\n", source, err)
		return 1
	case rs == nil:
		fmt.Fprintln(stdout, "rules: off")
	default:
		l := rs.Lint()
		fmt.Fprintf(stdout, "rules: %s: %d rules, %d active, %d errors, %d warnings\n", source, l.Total, l.Active, len(l.Errors), len(l.Warnings))
	}
	return 0
}
