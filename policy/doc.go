// Package policy is a Postfix policy service (SMTPD_POLICY_README) for
// check_policy_service: it reads the attribute=value requests smtpd sends,
// one per recipient, and answers each with an action, as policyd-spf does.
//
// The checks, made once per message (the instance attribute) and kept for
// its other recipients on the same connection:
//   - the client's address in DNS blocklists (RFC 5782) and its
//     forward-confirmed reverse DNS name, each off unless configured, with
//     a configurable action (warn, defer, reject);
//   - SPF (RFC 7208) of the HELO identity, then of MAIL FROM: a refused
//     result answers 550 5.7.23 (§8.4, RFC 7372), a temperror
//     DEFER_IF_PERMIT 4.7.24 when configured, anything else
//     "PREPEND Received-SPF: ..." (§9.1).
//
// Exempt recipients (postmaster@, abuse@) are never refused or deferred.
// SPF, DNSBL and FCrDNS come from package auth and its Resolver; this
// package evaluates no SPF record itself.
//
// Notable divergences from policyd-spf:
//   - Received-SPF is in RFC 7208 §9.1's form ("pass (receiver: comment)
//     key=value; ..."), not policyd-spf's "Pass (mailfrom) identity=...".
//   - No explanation (exp=) is fetched; the rejection gives RFC 7208
//     §6.2-style default text with policyd-spf's explanation link.
//   - A request that cannot be read (a line without "=", over the line or
//     attribute limit) is answered DEFER_IF_PERMIT and the connection is
//     closed, instead of the process failing.
package policy
