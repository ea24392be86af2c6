// Package rules reads SpamAssassin rule files and evaluates them against a
// message.
//
// It implements the rule language of Mail::SpamAssassin::Conf (version
// 4.0.1): header, body, rawbody, full, uri, mimeheader and meta rules,
// score (one value or the four score sets), describe, tflags (multiple,
// maxhits=N, nice, net, nosubject), priority, the ReplaceTags directives,
// if/ifplugin/else/endif with plugin(), can() and version comparisons,
// include, and the settings the scoring package needs (required_score,
// rewrite_header, add_header, remove_header, clear_headers, report_safe,
// welcomelist/blocklist lists, trusted_networks, util_rb_tld, …).
//
// Perl regular expressions are translated to RE2 syntax by package perlre
// and matched on bytes, as Perl matches SpamAssassin's byte strings, with
// go-re2 in Latin-1 mode. Patterns that need backtracking (lookaround,
// backreferences, atomic and possessive groups, counts beyond RE2's
// limits) are matched by a relaxed RE2 superset first and confirmed by
// regexp2, over the bytes widened one to one to runes, with a time limit.
// An Aho–Corasick scan for each rule's required literal and small RE2 sets
// (over the paragraphs joined, with line-anchored supersets) decide which
// rules run on which body paragraph. A per-message budget bounds
// evaluation; what it cuts is reported in Result. The confirmations run in
// regexp2's RE2 mode, with \b and $ spelled out (perlre's RE2Classes), so
// that \w, \s, \d and \b keep to ASCII as in RE2 and Perl's byte strings.
//
// Start-up (cache.go, lazy.go): Options.Cache keeps each pattern's
// translations, literals and screen on disk, keyed by the build and every
// rule file read; a Ruleset loaded from it compiles RE2 programs and sets
// on first use (Ruleset.Precompile compiles them all, for a server). Until
// its sets are compiled, Eval matches their rules with regexp2 "screens"
// or alone with RE2, whichever Load measured cheaper, so that one message
// never pays for compiling every set.
//
// eval: functions are Go functions in an EvalRegistry, in one file per
// SpamAssassin plugin they mirror (eval_header.go for HeaderEval,
// eval_mime.go for MIMEEval, …), registered from one table in
// builtins.go. The DNSEval and URIDNSBL evals (check_rbl*, check_uridnsbl)
// read the answers of a lookup phase that Eval starts before the rules run
// when Input.DNS is set (eval_dns.go, dnslookup.go; docs/dnsbl.md); other
// network, Bayes and reputation evals take their answers from
// Input.Rules, SPF/DKIM/DMARC evals from Input.Auth. MIME, image and
// HTML evals need the optional Message capabilities PartsMessage,
// HTMLMessage and ParseFlagsMessage and stay false without them.
//
// Divergences from SpamAssassin: eval functions not implemented never fire
// (Lint lists them; testdata/eval-ranking.txt ranks them); lang-prefixed
// lines, Bayes and auto-learning are ignored
// (Shortcircuit is honoured: shortcircuit.go; user_prefs over a loaded set:
// prefs.go); Perl's \s also matches \x0b while RE2's does not; under /m a ^
// may match after a final newline; a rule's score is added once per hit
// for tflags multiple, as SpamAssassin does, but __ rules and zero scores
// are never reported.
//
// Capture rules (SpamAssassin 4's named groups that set tags, and %{TAG}
// templates in other rules' regexes) are run as Plugin/Check.pm runs them,
// in capture.go: template rules run after every other regex rule, with
// the captured values quoted in, and only captured tags (not built-in
// ones) answer templates.
//
// Received fields (RFC 5321 §4.4) are parsed into relays and split by
// trust by package relays (trusted_networks, internal_networks, or
// SpamAssassin's inference when neither is set) as
// Message::Metadata::Received does; the engine answers the pseudo-headers
// X-Spam-Relays-Trusted, -Untrusted, -Internal and -External from them.
// msa_networks and originating_ip_headers settings are not read
// (SpamAssassin's default originating_ip_headers are used).
package rules
