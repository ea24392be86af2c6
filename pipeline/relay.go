package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mail"
)

// Relay is the SMTP after-queue filter: it runs the per-message steps and
// hands the result to the MTA's re-injection listener (NextHop). Postfix
// gets 250 only after the next hop said 250; the next hop's 4xx/5xx is
// passed back as it is; anything else is a temporary failure.
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
		if err := r.send(ctx, &e, c.Raw); err != nil {
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

func (r *Relay) send(ctx context.Context, env *mail.Envelope, msg []byte) error {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", r.NextHop)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello(r.Hostname); err != nil {
		return err
	}
	if ok, _ := c.Extension("XFORWARD"); ok {
		if err := xforward(conn, env); err != nil {
			return err
		}
	}
	if err := c.Mail(env.MailFrom, nil); err != nil {
		return err
	}
	for _, rc := range env.Recipients {
		if err := c.Rcpt(rc, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// xforward replays the original client's attributes to the next hop
// (Postfix's XFORWARD_README), so that its logs and checks see the real
// client. go-smtp's client has no such command: the lines go straight to
// the connection, whose read buffer is empty between EHLO and MAIL.
func xforward(conn net.Conn, env *mail.Envelope) error {
	var attrs []string
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, k+"="+xtext(v))
		}
	}
	if env.ClientIP != nil {
		add("ADDR", env.ClientIP.String())
	}
	add("NAME", env.ClientName)
	add("HELO", env.ClientHelo)
	add("IDENT", env.QueueID)
	if len(attrs) == 0 {
		return nil
	}
	if _, err := fmt.Fprintf(conn, "XFORWARD %s\r\n", strings.Join(attrs, " ")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "250") {
		return fmt.Errorf("pipeline: next hop refused XFORWARD: %s", strings.TrimSpace(line))
	}
	return nil
}

// xtext encodes v per RFC 3461 §4: '+', '=' and bytes outside ! .. ~ as +XX.
func xtext(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '!' || c > '~' || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
