package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Submitter hands a finished message to the mail system. Submit returns nil
// only once the message is accepted for every recipient; errors wrap
// [ErrTemporary] or [ErrPermanent]. The go-smtp *smtp.SMTPError of a relay
// reply stays in the chain for errors.As.
type Submitter interface {
	Submit(ctx context.Context, from string, to []string, raw []byte) error
}

// RelayConfig configures a [Relay].
type RelayConfig struct {
	// Addr is the relay's host:port. Default "127.0.0.1:25", the local
	// Postfix.
	Addr string
	// HeloName is the name sent in EHLO. Default "localhost".
	HeloName string
	// StartTLS requires STARTTLS (RFC 3207) before anything else is sent;
	// without it, the session is plain text.
	StartTLS bool
	// TLS is the TLS configuration for STARTTLS. Default: verify the relay's
	// certificate against the host part of Addr.
	TLS *tls.Config
	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN (RFC 4954, RFC 4616). Credentials are only sent over TLS or to a
	// loopback address.
	Username, Password string
	// DialTimeout bounds the TCP connect. Default 30 seconds.
	DialTimeout time.Duration
	// CommandTimeout bounds each command's reply. Default 5 minutes
	// (RFC 5321 §4.5.3.2 asks for at least that for MAIL, RCPT, DATA).
	CommandTimeout time.Duration
	// SubmissionTimeout bounds the reply to the final dot. Default 10
	// minutes (RFC 5321 §4.5.3.2.6).
	SubmissionTimeout time.Duration
}

// Relay submits messages over SMTP, one connection per message.
type Relay struct {
	cfg RelayConfig
}

// NewRelay returns a Relay for cfg with defaults filled in.
func NewRelay(cfg RelayConfig) *Relay {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:25"
	}
	if cfg.HeloName == "" {
		cfg.HeloName = "localhost"
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 5 * time.Minute
	}
	if cfg.SubmissionTimeout <= 0 {
		cfg.SubmissionTimeout = 10 * time.Minute
	}
	return &Relay{cfg: cfg}
}

// Forwarded are the attributes of the client a message came from, which
// an after-queue content filter replays to the MTA's re-injection
// listener with XFORWARD (Postfix's XFORWARD_README) so that its logs and
// checks see that client rather than the filter. Empty fields are not sent.
type Forwarded struct {
	Addr  string // client IP address
	Name  string // client host name, as the MTA verified it
	Helo  string // client's HELO/EHLO argument
	Ident string // the MTA's queue ID
}

// Submit sends raw from the envelope sender from ("" for the null sender)
// to every address in to. Once the relay accepted the final dot the
// message is delivered: a QUIT that fails after it is not an error, or
// the caller would send the message again.
func (r *Relay) Submit(ctx context.Context, from string, to []string, raw []byte) error {
	return r.submit(ctx, from, to, nil, raw)
}

// SubmitForwarded is Submit that first replays fwd with XFORWARD when the
// relay offers it (the attributes it does not list are left out). Over
// STARTTLS nothing is replayed: XFORWARD is for the MTA's own loopback
// re-injection listener. The message is the concatenation of parts (a
// header section and a body, say), sent without joining them.
func (r *Relay) SubmitForwarded(ctx context.Context, from string, to []string, fwd Forwarded, parts ...[]byte) error {
	return r.submit(ctx, from, to, &fwd, parts...)
}

func (r *Relay) submit(ctx context.Context, from string, to []string, fwd *Forwarded, parts ...[]byte) (err error) {
	if len(to) == 0 {
		return fmt.Errorf("%w: relay: no recipients", ErrPermanent)
	}
	d := net.Dialer{Timeout: r.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", r.cfg.Addr)
	if err != nil {
		return classifySMTP(r.cfg.Addr, "connect", err)
	}
	// The context bounds the whole session: closing the connection makes
	// any pending read or write fail.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var c *smtp.Client
	step := "EHLO"
	defer func() {
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w: relay %s: %s: %w", ErrTemporary, r.cfg.Addr, step, ctx.Err())
				return
			}
			err = classifySMTP(r.cfg.Addr, step, err)
		}
	}()
	if r.cfg.StartTLS {
		// go-smtp greets with "localhost" before STARTTLS; our name follows
		// in the EHLO after it.
		step = "STARTTLS"
		tc := r.cfg.TLS
		if tc == nil {
			host, _, _ := net.SplitHostPort(r.cfg.Addr)
			tc = &tls.Config{ServerName: host}
		}
		if c, err = smtp.NewClientStartTLS(conn, tc); err != nil {
			conn.Close()
			return err
		}
	} else {
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout = r.cfg.CommandTimeout
	c.SubmissionTimeout = r.cfg.SubmissionTimeout
	step = "EHLO"
	if err := c.Hello(r.cfg.HeloName); err != nil {
		return err
	}
	if r.cfg.Username != "" {
		step = "AUTH"
		_, isTLS := c.TLSConnectionState()
		if !isTLS && !isLoopback(conn.RemoteAddr()) {
			return fmt.Errorf("%w: %w: refusing AUTH without TLS to %s", ErrTemporary, ErrConfig, r.cfg.Addr)
		}
		if err := c.Auth(sasl.NewPlainClient("", r.cfg.Username, r.cfg.Password)); err != nil {
			return err
		}
	}
	if ok, params := c.Extension("XFORWARD"); ok && fwd != nil && !r.cfg.StartTLS {
		step = "XFORWARD"
		conn.SetDeadline(time.Now().Add(r.cfg.CommandTimeout))
		if err := xforward(conn, params, *fwd); err != nil {
			return err
		}
	}
	step = "MAIL FROM"
	// go-smtp adds BODY=8BITMIME itself when offered; RFC 6531 SMTPUTF8 is
	// asked for only when an address needs it.
	var size int64
	for _, p := range parts {
		size += int64(len(p))
	}
	opts := &smtp.MailOptions{Size: size}
	for _, a := range append([]string{from}, to...) {
		opts.UTF8 = opts.UTF8 || !isASCII(a)
	}
	if err := c.Mail(from, opts); err != nil {
		return err
	}
	for _, rcpt := range to {
		step = "RCPT TO:<" + rcpt + ">"
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
	}
	step = "DATA"
	w, err := c.Data()
	if err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			w.Close()
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	step = "QUIT"
	// The message is accepted once the final dot is; a failed QUIT is not a
	// failed delivery.
	c.Quit()
	return nil
}

// xforward sends one XFORWARD command (Postfix's XFORWARD_README) with the
// attributes of fwd that the relay listed in offered. go-smtp's client
// has no such command: the line goes straight to conn, which is idle
// between EHLO and MAIL, and the reply is read a byte at a time so that
// nothing meant for go-smtp's reader is taken.
func xforward(conn net.Conn, offered string, fwd Forwarded) error {
	names := map[string]bool{}
	for _, n := range strings.Fields(strings.ToUpper(offered)) {
		names[n] = true
	}
	var attrs []string
	for _, a := range []struct{ name, value string }{
		{"ADDR", fwd.Addr},
		{"NAME", fwd.Name},
		{"HELO", fwd.Helo},
		{"IDENT", fwd.Ident},
	} {
		if a.value != "" && (len(names) == 0 || names[a.name]) {
			attrs = append(attrs, a.name+"="+xtext(a.value))
		}
	}
	if len(attrs) == 0 {
		return nil
	}
	if _, err := fmt.Fprintf(conn, "XFORWARD %s\r\n", strings.Join(attrs, " ")); err != nil {
		return err
	}
	for {
		line, err := readLine(conn)
		if err != nil {
			return err
		}
		if len(line) >= 4 && line[3] == '-' {
			continue
		}
		if !strings.HasPrefix(line, "250") {
			code, _ := strconv.Atoi(line[:min(3, len(line))])
			return &smtp.SMTPError{Code: code, Message: strings.TrimSpace(line)}
		}
		return nil
	}
}

// readLine reads one reply line from c without reading past it.
func readLine(c net.Conn) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < 4096 {
		if _, err := io.ReadFull(c, one); err != nil {
			return "", err
		}
		if one[0] == '\n' {
			return strings.TrimRight(string(b), "\r"), nil
		}
		b = append(b, one[0])
	}
	return "", errors.New("outbound: reply line too long")
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

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// classifySMTP wraps err with ErrPermanent for an SMTP 5xx reply to MAIL,
// RCPT or the message, and with ErrTemporary for anything else: 4xx,
// network errors, timeouts, and a 5xx to EHLO, STARTTLS, AUTH or XFORWARD, which
// means our configuration is wrong: never a bounce for our own fault.
func classifySMTP(addr, step string, err error) error {
	if errors.Is(err, ErrTemporary) || errors.Is(err, ErrPermanent) {
		return err
	}
	var se *smtp.SMTPError
	session := step == "EHLO" || step == "STARTTLS" || step == "AUTH" || step == "XFORWARD"
	if errors.As(err, &se) && se.Code >= 500 && se.Code < 600 && !session {
		return fmt.Errorf("%w: relay %s: %s: %w", ErrPermanent, addr, step, err)
	}
	return fmt.Errorf("%w: relay %s: %s: %w", ErrTemporary, addr, step, err)
}

// Sendmail submits messages by running a sendmail-compatible binary as
// `sendmail -G -i -f SENDER -- RCPT...` with the message on standard input.
type Sendmail struct {
	// Path of the binary. Default "/usr/sbin/sendmail".
	Path string
	// Timeout bounds one run. Default 5 minutes.
	Timeout time.Duration
}

// Submit runs the binary. Exit status 75 (EX_TEMPFAIL), other unknown
// statuses and failures to start are temporary; the sysexits statuses of
// bad input or unknown users (64, 65, 67, 68, 77) are permanent.
func (s Sendmail) Submit(ctx context.Context, from string, to []string, raw []byte) error {
	path := s.Path
	if path == "" {
		path = "/usr/sbin/sendmail"
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	if len(to) == 0 {
		return fmt.Errorf("%w: sendmail: no recipients", ErrPermanent)
	}
	for _, a := range append([]string{from}, to...) {
		if strings.HasPrefix(a, "-") || strings.ContainsAny(a, "\r\n\x00") {
			return fmt.Errorf("%w: sendmail: unsafe address %q", ErrPermanent, a)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append([]string{"-G", "-i", "-f", from, "--"}, to...)
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = bytes.NewReader(raw)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err == nil {
		return nil
	}
	detail := strings.TrimSpace(out.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		switch ee.ExitCode() {
		case 64, 65, 67, 68, 77:
			return fmt.Errorf("%w: sendmail exit %d: %s", ErrPermanent, ee.ExitCode(), detail)
		}
	}
	return fmt.Errorf("%w: sendmail: %w: %s", ErrTemporary, err, detail)
}
