// Package rules reads SpamAssassin rule files and evaluates them against a
// message.
//
// It implements the rule language of Mail::SpamAssassin::Conf (version
// 4.0.1): header, body, rawbody, full, uri, mimeheader and meta rules,
// score (one value or the four score sets), describe, tflags, priority,
// the ReplaceTags directives, if/ifplugin/else/endif, include, and the
// settings the scoring package needs (required_score, rewrite_header,
// add_header, report_safe, welcomelist_from, trusted_networks, …).
//
// Perl regular expressions are translated to RE2 syntax and matched on
// bytes, as Perl matches SpamAssassin's byte strings, with go-re2 in
// Latin-1 mode. Patterns that need backtracking (lookaround,
// backreferences, atomic and possessive groups) are matched by a relaxed
// RE2 superset first and confirmed by regexp2 with a time limit. A literal
// prefilter (Aho–Corasick) and small RE2 sets decide which rules run on
// which body paragraph. A per-message budget bounds evaluation.
//
// Divergences from SpamAssassin: eval functions not implemented in Go never
// fire (Lint lists them); network rules take their results from Input;
// lang-prefixed lines, Bayes, auto-learning, plugins' own settings and
// capture rules (%{...}) are ignored; Perl's \s also matches \x0b here
// only where RE2 agrees (it does not), and /m ^ may match after a final
// newline.
package rules
