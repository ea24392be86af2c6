package config

import (
	_ "embed"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed builtin/sluice.cf
var builtinRules string

//go:embed builtin/spam.sieve
var builtinSpamSieve string

// BuiltinSpamSieve returns the built-in sieve_before script that files
// mail flagged X-Spam-Flag: YES into folder.
func BuiltinSpamSieve(folder string) (name, text string) {
	q := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(folder)
	return "builtin/spam.sieve", strings.ReplaceAll(builtinSpamSieve, "${spam_folder}", q)
}

// BuiltinRules returns sluice's own small rule set (GTUBE, header sanity
// checks, SPF results) and the name it is reported under.
func BuiltinRules() (name, text string) { return "builtin/sluice.cf", builtinRules }

// AutoRuleDirs returns the SpamAssassin rule directories installed on this
// machine, in the order SpamAssassin reads them: the newest sa-update
// directory (/var/lib/spamassassin/<version>/updates_spamassassin_org) or
// else the packaged rules (/usr/share/spamassassin), then the site
// configuration (/etc/spamassassin). Nil when no rules are installed.
func AutoRuleDirs() []string {
	return autoRuleDirs("/var/lib/spamassassin", "/usr/share/spamassassin", "/etc/spamassassin")
}

func autoRuleDirs(updates, packaged, site string) []string {
	var dirs []string
	matches, _ := filepath.Glob(filepath.Join(updates, "*", "updates_spamassassin_org"))
	sort.Strings(matches) // version directories such as 4.000001 sort numerically
	switch {
	case len(matches) > 0 && hasCF(matches[len(matches)-1]):
		dirs = append(dirs, matches[len(matches)-1])
	case hasCF(packaged):
		dirs = append(dirs, packaged)
	default:
		return nil
	}
	if hasCF(site) {
		dirs = append(dirs, site)
	}
	return dirs
}

func hasCF(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.cf"))
	return len(m) > 0
}
