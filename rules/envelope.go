package rules

import (
	"strings"

	"github.com/sluice-mail/sluice/rules/relays"
)

// EnvelopeMessage is an optional capability of a Message: the SMTP
// envelope sender when the caller knows it (a milter, LMTP or pipe
// delivery), which then answers the EnvelopeFrom pseudo-header as
// SpamAssassin's envelope_sender_header does. ok is false for a message
// read without its envelope (spamd, sluice check), whose EnvelopeFrom is
// derived from the relays and the header instead.
type EnvelopeMessage interface {
	SMTPSender() (addr string, ok bool)
}

// envelopeFrom answers the EnvelopeFrom pseudo-header as
// PerMsgStatus::get_envelope_from does: the known SMTP sender, else the
// envfrom of the relays (Received "envelope-from"), else the
// X-Envelope-From, Envelope-Sender or Return-Path field the last MTA
// added. The null sender is one empty value; nil when unknown.
func envelopeFrom(msg Message, rl *Relays) []string {
	if em, ok := msg.(EnvelopeMessage); ok {
		if a, ok := em.SMTPSender(); ok {
			return []string{a}
		}
	}
	if a, ok := relays.EnvelopeSender(msg, rl); ok {
		return []string{a}
	}
	return nil
}

// hdr is Message.Header with the pseudo-headers that need the relays:
// EnvelopeFrom and ALL-TRUSTED, ALL-INTERNAL, ALL-UNTRUSTED,
// ALL-EXTERNAL.
func (ec *EvalContext) hdr(name string, raw bool) []string {
	switch {
	case strings.EqualFold(name, "EnvelopeFrom"):
		return envelopeFrom(ec.Msg, relaysFor(ec))
	case relays.IsTrustPseudo(name):
		v, _ := relaysFor(ec).TrustFields(name, ec.Msg.Header("ALL", raw))
		return v
	}
	return ec.Msg.Header(name, raw)
}

// AnchorMailtoMessage is an optional capability of a Message: the mailto:
// links of <a> elements that the rendered text does not show (the
// uri_detail_list entries of type "a" and not "parsed"), which
// SpamAssassin's FreeMail plugin counts among the body's addresses.
type AnchorMailtoMessage interface {
	AnchorMailtos() []string
}

// AltText is one text part under a multipart/alternative as BodyEval's
// _multipart_alternative_difference reads it: its rendered text (HTML
// rendered as SpamAssassin's HTML.pm does) and, for HTML, whether it
// holds an <img>.
type AltText struct {
	HTML  bool
	Text  []byte
	Image bool
}

// AlternativesMessage is an optional capability of a Message: for every
// multipart/alternative part, in message order, the rendered text/plain
// and text/html parts found under it at any depth (find_parts(qr/^text\b/)),
// and SpamAssassin's content_summary (the top-level type, then each
// top-level child's type, a nested multipart's as "type,child,child").
type AlternativesMessage interface {
	Alternatives() [][]AltText
	ContentSummary() []string
}

// MIMEPartsMessage is an optional capability of a Message: the values of
// a header field in every MIME part separately (all parts, containers
// included, in order; "ALL" gives each part's whole header as one
// value), for mimeheader rules, which SpamAssassin matches part by part.
type MIMEPartsMessage interface {
	MIMEPartHeader(name string, raw bool) [][]string
}
