package rules

import "time"

// ParseDate parses a date header value as SpamAssassin's
// Util::parse_rfc822_date does: lenient about field order and year width,
// zone abbreviations from its table, any other zone (or none) taken as
// UTC, years clamped to 1970..2037. ok is false when no day, month and
// year can be found.
func ParseDate(s string) (t time.Time, ok bool) { return saParseDate(s) }
