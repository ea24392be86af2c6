// Package scoring turns a rule-engine result into a spam decision and
// writes it into the message the way SpamAssassin 4.0.1 does.
//
// Decide sums the hits and compares the total with required_score. Headers
// expands the add_header templates (X-Spam-Checker-Version, X-Spam-Flag,
// X-Spam-Level, X-Spam-Status, X-Spam-Report, and any others configured)
// with SpamAssassin's template tags and folds them as SpamAssassin's
// Util::wrap does. Apply rewrites a whole message: incoming X-Spam-* fields
// removed, ours added at the top of the header (after a leading
// Return-Path), rewrite_header Subject/From/To applied to spam on the raw
// header lines (encoded words survive), and, with report_safe 1 or 2, spam
// wrapped as an attachment under SpamAssassin's report. The message's line
// endings (LF or CRLF) are kept. Edits returns the same header changes
// without report_safe as a mail.HeaderEdits, for a caller that holds the
// header as a mail.Header and renders it once; ApplyParts renders them
// itself.
//
// Header fields follow RFC 5322 §2.2.3 (folding) and RFC 2047 (non-ASCII
// text in added fields is encoded as UTF-8 Q or B encoded words, as
// SpamAssassin's mime_encode_header does). The report_safe wrapper is a
// multipart/mixed message (RFC 2046 §5.1.3) holding a text/plain report and
// the original as message/rfc822 (RFC 2046 §5.2.1) or text/plain.
//
// SpamAssassin's quirks are kept where they show in the output: a folded
// Subject's X-Spam-Prev-Subject copy holds only its first line, a ham gets
// an empty Subject when rewrite_header Subject is set and there is none,
// and X-Spam-Level is present but empty below one point.
//
// Divergences from SpamAssassin:
//   - X-Spam-Checker-Version reads "sluice VERSION (SUBVERSION) on HOST"
//     whatever the rule files' template, and _VERSION_ is the sluice
//     version, unless Options.ImitateSpamAssassin; the report_safe
//     Received line names Options.Product.
//   - Incoming X-Spam-Prev-* fields are removed too: every X-Spam-* field
//     arriving from outside is untrusted. SpamAssassin keeps X-Spam-Prev-*.
//     With report_safe the attached original keeps all its fields, as in
//     SpamAssassin.
//   - rules.Config keeps add_header and remove_header in two lists, so
//     their interleaving is lost: remove_header applies after every
//     add_header, and report_safe 0 adds its Report field after the last
//     add_header (SpamAssassin adds it where report_safe 0 appears).
//   - Report texts and report_wrap_width come from Options (rules.Config
//     does not read report, clear_report_template or report_wrap_width);
//     report_contact comes from rules.Config unless Options sets one;
//     fold_headers is always 1 and the report charset always UTF-8.
//   - The report lists hits in the order the caller gives them (the rules
//     package sorts them by name); SpamAssassin lists them in the order its
//     rules happened to run. The X-Spam-Status test list is sorted by both.
//   - Plugin tags sluice does not compute (_RBL_, _AWL_, _DCCB_, _RELAYS*_,
//     _LANGUAGES_, …) expand to "" unless Verdict.Tags supplies them, as
//     SpamAssassin expands them when the plugin found nothing. _BAYES_ is
//     0.5, _AUTOLEARN_ is "disabled", _SUBTESTS_ is "none". subjprefix and
//     report_safe_copy_headers are not supported.
package scoring
