package rules

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Lint holds the statistics and diagnostics of a load, for `sluice lint`.
type Lint struct {
	// Errors are broken rules and directives (each disables only itself).
	Errors []Diagnostic
	// Warnings are unknown directives and other oddities.
	Warnings []Diagnostic
	// ByKind counts rules by directive (header, body, …, meta).
	ByKind map[string]int
	// Total counts every rule; Active the ones that can fire.
	Total, Active int
	// RE2 counts regex rules matched by RE2 alone; Backtrack those whose
	// RE2 matches are confirmed by regexp2, by reason in BacktrackReasons.
	RE2, Backtrack   int
	BacktrackReasons map[string]int
	// CacheHits counts the regex rules whose translation came from the
	// compiled-rules cache.
	CacheHits int
	// Captures counts capture rules (named groups that set tags);
	// Templates the rules whose regex uses %{NAME} tags (capture.go).
	Captures, Templates int
	// WithLiteral counts regex rules gated by the literal prefilter.
	WithLiteral int
	// Net counts rules inactive because they need the network (tflags net).
	Net int
	// DNS counts the rule files' DNSBL and URI blocklist rules.
	DNS DNSLint
	// Unsupported counts inactive rules by reason ("eval NAME", "parse
	// error", a regex construct, "meta dependency cycle").
	Unsupported map[string]int
	// UndefinedRefs counts meta references to undefined rules (they count as 0).
	UndefinedRefs int
	// Undefined names each such reference: the meta rule, where it is
	// defined, and the rule it lacks.
	Undefined []Diagnostic
	// UnsupportedEvals counts rules per eval function sluice lacks.
	UnsupportedEvals map[string]int
	// EvalsUsed counts the distinct eval: functions the loaded rules call,
	// EvalsImplemented those sluice provides.
	EvalsUsed, EvalsImplemented int
	// LoadTime is how long parsing and compiling took.
	LoadTime time.Duration

	evalsSeen map[string]bool
}

// noteEval records that a rule calls the eval function name.
func (l *Lint) noteEval(name string, implemented bool) {
	if l.evalsSeen == nil {
		l.evalsSeen = map[string]bool{}
	}
	if _, ok := l.evalsSeen[name]; ok {
		return
	}
	l.evalsSeen[name] = implemented
	l.EvalsUsed++
	if implemented {
		l.EvalsImplemented++
	}
}

// String renders the summary `sluice lint` prints after the diagnostics.
func (l Lint) String() string {
	var b strings.Builder
	kinds := make([]string, 0, len(l.ByKind))
	for k := range l.ByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(&b, "rules: %d, active: %d (%.1f%%)\n", l.Total, l.Active, 100*float64(l.Active)/float64(max(l.Total, 1)))
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-10s %d\n", k, l.ByKind[k])
	}
	fmt.Fprintf(&b, "regex: RE2 %d, backtracking %d, with literal prefilter %d\n", l.RE2, l.Backtrack, l.WithLiteral)
	for _, k := range sortedKeys(l.BacktrackReasons) {
		fmt.Fprintf(&b, "  backtracking: %s: %d\n", k, l.BacktrackReasons[k])
	}
	if l.Captures > 0 || l.Templates > 0 {
		fmt.Fprintf(&b, "capture rules: %d set tags, %d use %%{TAG} templates (compiled per message)\n", l.Captures, l.Templates)
	}
	fmt.Fprintf(&b, "eval functions: %d called by the loaded rules, %d implemented (%.1f%%)\n",
		l.EvalsUsed, l.EvalsImplemented, 100*float64(l.EvalsImplemented)/float64(max(l.EvalsUsed, 1)))
	fmt.Fprintf(&b, "net rules (inactive without network tests): %d\n", l.Net)
	fmt.Fprintf(&b, "DNS blocklist rules from the rule files (queried when network tests run): %d DNSBL (check_rbl*), %d URI (URIBL), %d zones\n",
		l.DNS.RBLRules, l.DNS.URIBLRules, l.DNS.Zones)
	for _, k := range sortedKeys(l.Unsupported) {
		fmt.Fprintf(&b, "  unsupported: %s: %d\n", k, l.Unsupported[k])
	}
	fmt.Fprintf(&b, "meta references to undefined rules: %d\n", l.UndefinedRefs)
	for _, d := range l.Undefined {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	fmt.Fprintf(&b, "errors: %d, warnings: %d, load time: %v\n", len(l.Errors), len(l.Warnings), l.LoadTime.Round(time.Millisecond))
	return b.String()
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
