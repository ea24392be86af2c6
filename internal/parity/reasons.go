package parity

import (
	_ "embed"
	"strings"
)

//go:embed reasons.tsv
var reasonsTSV string

// Reasons returns the known causes of disagreement by rule name, from
// reasons.tsv (rule, tab, reason; # comments), found by reading the
// example messages, the rule definitions and SpamAssassin's Perl source.
func Reasons() map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(reasonsTSV, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rule, why, ok := strings.Cut(line, "\t"); ok {
			m[rule] = strings.TrimSpace(why)
		}
	}
	return m
}
