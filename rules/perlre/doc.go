// Package perlre translates the Perl regular expressions of SpamAssassin
// rule files for the RE2 family and finds the literals that prefilter them.
//
// Split takes a match operator apart (/re/flags, m{re}flags, …); Translate
// renders the pattern twice: in RE2 syntax for go-re2's Latin-1 mode, and,
// when the pattern needs backtracking (lookaround, backreferences, atomic
// and possessive groups, counts beyond RE2's limits), as a relaxed RE2
// superset plus an exact regexp2 pattern that confirms its matches.
// RequiredLiterals lists strings one of which every match contains, and AC
// is the Aho–Corasick automaton that scans text for them. LitSet matches,
// in Go, the patterns that are only a small set of literal strings.
//
// Perl matches byte strings: every non-ASCII byte of a pattern becomes a
// \xHH byte escape. Divergences from Perl: \s does not match \x0b in RE2;
// code blocks, recursion, branch reset, \G, \K and the case-changing
// escapes are refused with ErrUnsupported.
package perlre
