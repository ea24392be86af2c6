// Package outbound sends everything sluice emits: Sieve redirects, vacation
// auto-replies and bounces forwarded back to the original sender of a
// rewritten address. It knows nothing about LMTP, Sieve or Maildir; the
// pipeline calls [Sender.Send] once per recipient action.
//
// The pieces, each usable alone:
//
//   - Submission to a relay over SMTP (RFC 5321, RFC 3207 STARTTLS, RFC 4954
//     AUTH PLAIN) with [Relay], or through a sendmail binary with [Sendmail].
//     Errors are classified: a relay 4xx, a refused connection or a timeout
//     is temporary ([ErrTemporary]), a 5xx is permanent ([ErrPermanent]).
//   - A persistent delivery log and vacation windows ([DeliveryLog],
//     [VacationWindows]), so that a recipient retried by Postfix has only
//     its failed actions redone: [Store] keeps them in bbolt for one node,
//     outbound/redisstate in Redis for several.
//   - DKIM signing (RFC 6376, RFC 8463 ed25519-sha256) driven by OpenDKIM
//     KeyTable and SigningTable files ([LoadDKIM]).
//   - The Sender Rewriting Scheme in postsrsd's (libsrs2's) format, SRS0 and
//     SRS1 ([SRS]).
//   - Loop protection: our own trace header, a Received hop limit and the
//     Delivered-To chain ([CheckLoop]).
//   - Vacation replies following RFC 5230 §4.5 and §5 and RFC 3834
//     ([ShouldReply], [BuildVacation]).
//   - DKIM key generation and the DNS record in opendkim-genkey's layout
//     ([GenerateKey], [WritePrivateKey], [DNSRecord]).
//
// Notable divergences:
//
//   - SigningTable: every matching line yields a signature (OpenDKIM's
//     behaviour with MultipleSignatures yes), one per key name; see
//     [ParseSigningTable] for the patterns supported.
//   - SRS: like postsrsd, reversing an SRS1 address yields the SRS0 address
//     at the first forwarder; it is not unwrapped further.
//   - Vacation replies are sent with the null envelope sender (RFC 3834
//     §3.3) and carry no Precedence header, which is not standardized;
//     Auto-Submitted (RFC 3834 §5) marks them instead.
//   - Submission is all or nothing: if the relay refuses any recipient, the
//     message is not sent to the others.
package outbound
