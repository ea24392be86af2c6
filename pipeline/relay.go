package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/outbound"
)

// Relay is the SMTP after-queue filter: it runs the per-message steps and
// hands the result to the MTA's re-injection listener (NextHop) with
// outbound's SMTP client, replaying the original client with XFORWARD.
// Postfix gets 250 only after the next hop said 250 to the message; the
// next hop's 4xx/5xx is passed back as it is; anything else is a
// temporary failure. A QUIT that fails after the message was accepted is
// a delivered message: answering 4xx would make Postfix send it twice.
type Relay struct {
	Pipeline *Pipeline
	// NextHop is host:port of the re-injection smtpd, e.g. 127.0.0.1:10026.
	NextHop string
	// Hostname is sent in EHLO.
	Hostname string
	// Timeout bounds the whole exchange with the next hop; 0 means 5m.
	Timeout time.Duration
}

// Relay implements lmtp.Relayer. Copies scored for different mailboxes
// (per-user Bayes) go to the next hop in transactions of their own; one
// that fails after another went through fails the whole message, and the
// MTA's retry sends that other copy again, which a recipient limit of 1 on
// the filter transport avoids.
func (r *Relay) Relay(ctx context.Context, env *mail.Envelope, data []byte) error {
	copies, err := r.Pipeline.Filter(ctx, env, data)
	if err != nil {
		return StatusTempFail
	}
	for _, c := range copies {
		e := *env
		e.Recipients = c.Recipients
		if err := r.send(ctx, &e, c); err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				return se
			}
			r.Pipeline.log.ErrorContext(ctx, "relay to next hop failed", "next_hop", r.NextHop, "err", err)
			return StatusTempFail
		}
	}
	return nil
}

func (r *Relay) send(ctx context.Context, env *mail.Envelope, msg Filtered) error {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := outbound.NewRelay(outbound.RelayConfig{Addr: r.NextHop, HeloName: r.Hostname, CommandTimeout: timeout, SubmissionTimeout: timeout})
	fwd := outbound.Forwarded{Name: env.ClientName, Helo: env.ClientHelo, Ident: env.QueueID}
	if env.ClientIP != nil {
		fwd.Addr = env.ClientIP.String()
	}
	return c.SubmitForwarded(ctx, env.MailFrom, env.Recipients, fwd, msg.Header, msg.Body)
}
