package mail

import "net"

// Envelope is what the MTA told sluice about one message besides its bytes:
// the SMTP envelope (RFC 5321 §2.3.1) and, when known, the client that
// handed the message to the MTA.
type Envelope struct {
	// MailFrom is the reverse-path without angle brackets; empty for the
	// null sender (bounces).
	MailFrom string
	// Recipients are the forward-paths accepted for this transaction, in
	// the order the MTA gave them.
	Recipients []string

	// ClientIP, ClientHelo and ClientName describe the SMTP client that
	// submitted the message to the MTA (from XFORWARD, pipe arguments or
	// the MTA's Received header); zero when unknown.
	ClientIP   net.IP
	ClientHelo string
	ClientName string
	// QueueID is the MTA's queue ID for the message, when known.
	QueueID string

	// LHLO is the name the MTA gave in LHLO/EHLO, and PeerAddr the address
	// it connected from; they name the hop in the Received header sluice adds.
	LHLO     string
	PeerAddr string
}
