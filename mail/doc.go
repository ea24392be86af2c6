// Package mail is sluice's parsed message: a tolerant MIME walk over the
// raw bytes of one delivery, with the views SpamAssassin's rule types see
// (Mail::SpamAssassin::Message, ::Message::Node, ::HTML and PerMsgStatus in
// SpamAssassin 4.0 are the reference for their meaning):
//
//   - Header: decoded (RFC 2047, charsets to UTF-8) or raw field values,
//     and the pseudo-headers ALL, ToCc, MESSAGEID and EnvelopeFrom;
//   - Body: the Subject, then every text part, HTML rendered to visible
//     text, white space normalised, split into paragraphs;
//   - RawBody: text parts with only the transfer encoding undone;
//   - Full: the message as received;
//   - URIs: links found in the rendered text and in HTML attributes, with
//     SpamAssassin's canonicalised variants;
//   - MIMEHeader: a field's values across all MIME parts.
//
// It implements RFC 5322 (message syntax, §2.2.3 unfolding), RFC 2045 and
// RFC 2046 (MIME structure, base64, quoted-printable, multipart),
// RFC 2047 (encoded-words) and RFC 2231 (parameter continuations, via
// mime.ParseMediaType when the parameters are well formed).
//
// Parse never fails. Notable divergences from the RFCs, all deliberate and
// all taken from SpamAssassin so rules see what they were written for:
//
//   - a multipart body whose boundary never appears is read as one text
//     part; a missing closing boundary ends the part at the end of input;
//   - a part without Content-Type inside multipart/digest is message/rfc822,
//     elsewhere text/plain; a multipart type without a boundary is text/plain;
//     any text/* other than text/html, text/calendar and text/x-vcard is
//     treated as text/plain;
//   - 8-bit bytes are read as UTF-8 when they are valid UTF-8, whatever the
//     declared charset, and as Windows-1252 when the charset is unknown
//     (e.g. "default") or the bytes do not fit it;
//   - base64 and quoted-printable decoding skip garbage instead of failing;
//   - after three lines that are not header fields the header section is
//     taken to have ended (a missing blank line), as is a line starting "--".
//
// Where SpamAssassin's output depends on Perl itself, the Perl result is
// kept: numeric character references in an all-ASCII HTML part give
// Latin-1 bytes (Perl's byte string), not UTF-8; white space is Unicode
// white space only where Perl had a character string. HTML is tokenized
// with golang.org/x/net/html, adjusted to HTML::Parser's behaviour
// (iframe, xmp and plaintext content is text, noscript content is
// markup, an unterminated "<!--" ends at the next ">", references decode
// to their code point). Charsets are decoded with golang.org/x/text.
// github.com/emersion/go-message is not used: its reader rejects the
// broken MIME this package must accept, and its charset package installs
// a global hook.
//
// Limits bound work on hostile input: header fields kept per section
// (Options.MaxHeaders), header value length, MIME parts, nesting depth,
// and the bytes of each part scanned for body and rawbody; only the
// prefix of a text part those views can reach is decoded, and an HTML
// part is rendered up to Options.MaxHTMLScan bytes (SpamAssassin renders
// it all, at a cost of seconds for multi-megabyte parts). Of the body only
// the first Options.MaxMessageScan bytes (4 MiB) are read at all, Full
// included: SpamAssassin reads everything, but spamc skips messages over
// 500 KB entirely. HeaderLen splits a message where Parse does, so that
// callers can keep the body where it lies.
//
// Each header Field keeps its bytes as received and its offset in the
// header section, so that a header can be edited without splitting it
// again: HeaderEdits (fields to add, to remove, to rewrite) are data that
// Header.Edit applies and Header.Bytes renders, every byte not edited
// kept as it came.
//
// Addresses have two readings: ParseAddresses is SpamAssassin's relaxed
// one (what rules see), ParseAddressList the RFC 5322 §3.4 one that
// Sieve's address test needs (groups anywhere, source routes, no cut at
// a second "@").
//
// Spool holds a message while it is received: in memory up to a
// threshold, past it in an unlinked file mapped read-only, so that a
// large message costs no heap.
//
// SpamAssassin's header modifiers compose from the pieces here the way
// PerMsgStatus::_get applies them:
//
//   - values: Header(name, raw) with raw for ":raw", ":addr" and ":name"
//     (for the pseudo-headers ToCc and MESSAGEID only ":raw" selects raw
//     values: SpamAssassin feeds ":addr" and ":name" their decoded values);
//   - ":first" / ":last" keep the first or last value;
//   - ":addr" maps each value through HeaderAddr, ":name" through
//     HeaderName(v, raw);
//   - ":host" takes AddrHost of each address after ":addr", else
//     HeaderHost of each value; ":domain" is Domain of that host
//     (SpamAssassin's trim_domain uses its util_rb_tld/2tld/3tld lists
//     where Domain uses the public suffix list: a rule engine holding
//     those lists should apply them first);
//   - ":ip" is HeaderIP of each value, ":revip" ReverseIP of that.
//
// A Message computes its views lazily and caches them; it is not safe for
// concurrent use. One goroutine at a time may use a Message (the pipeline
// handles one message per goroutine); the raw bytes given to Parse must not
// be modified afterwards.
package mail
