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
// endings (LF or CRLF) are kept.
//
// Header fields follow RFC 5322 §2.2.3 (folding) and RFC 2047 (non-ASCII
// text in added fields is encoded as UTF-8 Q or B encoded words, as
// SpamAssassin's mime_encode_header does). The report_safe wrapper is a
// multipart/mixed message (RFC 2046 §5.1.3) holding a text/plain report and
// the original as message/rfc822 (RFC 2046 §5.2.1) or text/plain.
//
// Divergences from SpamAssassin:
//   - _VERSION_ expands to Options.Version (the sluice version), so the
//     stock template "SpamAssassin _VERSION_" reads "SpamAssassin 1.2.3";
//     the report_safe Received line names Options.Product.
//   - Incoming X-Spam-Prev-* fields are removed too: every X-Spam-* field
//     arriving from outside is untrusted. SpamAssassin keeps X-Spam-Prev-*.
//   - The report lists hits in the order the caller gives them (the rules
//     package sorts them by name); SpamAssassin lists them in the order its
//     rules happened to run. The X-Spam-Status test list is sorted by both.
//   - Plugin tags sluice does not compute (_RBL_, _AWL_, _DCCB_, _RELAYS*_,
//     _LANGUAGES_, …) expand to "" unless Verdict.Tags supplies them, as
//     SpamAssassin expands them when the plugin found nothing. _BAYES_ is
//     0.5, _AUTOLEARN_ is "disabled", _SUBTESTS_ is "none". subjprefix and
//     report_safe_copy_headers are not supported.
package scoring
