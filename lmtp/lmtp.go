// Package lmtp is sluice's LMTP front end (RFC 2033) over
// github.com/emersion/go-smtp: LHLO, MAIL, RCPT and DATA with one status per
// recipient, size and recipient limits, timeouts, unix and TCP listeners,
// and a graceful shutdown that lets deliveries in flight finish.
//
// It knows nothing about delivery: it hands each transaction to a Backend.
// Any error from the Backend that is not an *smtp.SMTPError is answered
// 451 4.3.0 (temporary): the MTA keeps the message and retries.
package lmtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mail"
)

// Backend receives what the LMTP client sends.
type Backend interface {
	// Recipient checks one RCPT TO address; a non-nil error refuses that
	// recipient alone and is the reply.
	Recipient(ctx context.Context, addr string) error
	// Deliver handles a message for env.Recipients and returns one status
	// per recipient, in order: nil for accepted.
	Deliver(ctx context.Context, env *mail.Envelope, data []byte) []error
}

// Relayer is the backend of the SMTP after-queue filter front end: it
// filters a message and hands it to the next hop. The returned error is the
// reply (nil: 250): the next hop's own reply when it refused, so that
// Postfix sees the real outcome.
type Relayer interface {
	Relay(ctx context.Context, env *mail.Envelope, data []byte) error
}

// Config configures a Server. Zero values get the defaults noted.
type Config struct {
	Hostname       string        // greeting name; default os.Hostname()
	MaxMessageSize int64         // bytes, advertised with SIZE; default 50 MiB
	MaxRecipients  int           // per transaction; default 1000
	ReadTimeout    time.Duration // default 5m
	WriteTimeout   time.Duration // default 5m
	// XForwardNets may use Postfix's XFORWARD command; unix socket peers
	// always may. Default 127.0.0.0/8 and ::1.
	XForwardNets []*net.IPNet
}

func (cfg Config) withDefaults() Config {
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 50 << 20
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = 1000
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 5 * time.Minute
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Minute
	}
	if cfg.XForwardNets == nil {
		for _, c := range []string{"127.0.0.0/8", "::1/128"} {
			_, n, _ := net.ParseCIDR(c)
			cfg.XForwardNets = append(cfg.XForwardNets, n)
		}
	}
	return cfg
}

// Statuses the server itself sends.
var (
	statusTempFail     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary internal error, try again later"}
	statusShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down, try again later"}
)

// Server is an LMTP server.
type Server struct {
	srv     *smtp.Server
	backend Backend // LMTP mode
	relayer Relayer // SMTP filter mode
	log     *slog.Logger

	trusted  func(net.Addr) bool
	closing  atomic.Bool
	inflight atomic.Int64 // deliveries running
	sessions atomic.Int64
}

// New returns a Server handing transactions to b.
func New(cfg Config, log *slog.Logger, b Backend) *Server {
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.withDefaults()
	s := &Server{backend: b, log: log, trusted: trustedPeer(cfg.XForwardNets)}
	s.srv = newSMTPServer(s, cfg, log)
	s.srv.LMTP = true
	return s
}

// NewSMTP returns the SMTP after-queue filter front end (Postfix's
// content_filter = smtp:[127.0.0.1]:10025): every recipient is accepted,
// and each message goes to r whose reply is the transaction's reply.
func NewSMTP(cfg Config, log *slog.Logger, r Relayer) *Server {
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.withDefaults()
	s := &Server{relayer: r, log: log, trusted: trustedPeer(cfg.XForwardNets)}
	s.srv = newSMTPServer(s, cfg, log)
	return s
}

func newSMTPServer(s *Server, cfg Config, log *slog.Logger) *smtp.Server {
	srv := smtp.NewServer(s)
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageSize
	srv.MaxRecipients = cfg.MaxRecipients
	// RFC 5322 lines stop at 998 octets, but real mail breaks that rule and
	// Dovecot accepts it; refuse only lines no MTA would pass on.
	srv.MaxLineLength = 64 << 10
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.ErrorLog = slogAdapter{log}
	return srv
}

// Serve accepts connections on l until Shutdown or Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.srv.Serve(xfListener{Listener: l, trusted: s.trusted})
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Sessions returns the number of open LMTP sessions.
func (s *Server) Sessions() int64 { return s.sessions.Load() }

// Shutdown stops accepting connections and new transactions, waits until
// the deliveries in flight have finished or ctx is done, then closes every
// connection. Idle connections are simply closed: the MTA reconnects.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	go s.srv.Shutdown(context.Background()) // closes the listeners at once
	var err error
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.inflight.Load() > 0 && err == nil {
		select {
		case <-tick.C:
		case <-ctx.Done():
			err = fmt.Errorf("lmtp: %d deliveries still in flight: %w", s.inflight.Load(), ctx.Err())
		}
	}
	s.srv.Close()
	return err
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	if s.closing.Load() {
		return nil, statusShuttingDown
	}
	s.sessions.Add(1)
	return &session{s: s, conn: c}, nil
}

// session is one LMTP connection.
type session struct {
	s    *Server
	conn *smtp.Conn
	env  mail.Envelope
	once sync.Once
}

func (ss *session) Reset() { ss.env = mail.Envelope{} }

func (ss *session) Logout() error {
	ss.once.Do(func() { ss.s.sessions.Add(-1) })
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.closing.Load() {
		return statusShuttingDown
	}
	ss.env = mail.Envelope{MailFrom: from}
	if xc, ok := ss.conn.Conn().(*xfConn); ok {
		f := xc.take()
		ss.env.ClientIP = net.ParseIP(f.Addr)
		ss.env.ClientHelo = f.Helo
		ss.env.ClientName = f.Name
		ss.env.QueueID = f.Ident
	}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.backend != nil {
		if err := ss.s.backend.Recipient(context.Background(), to); err != nil {
			return asStatus(err)
		}
	}
	ss.env.Recipients = append(ss.env.Recipients, to)
	return nil
}

// Data serves the SMTP filter mode; LMTP uses LMTPData.
func (ss *session) Data(r io.Reader) error {
	if ss.s.relayer != nil {
		return ss.relay(r)
	}
	errs := ss.deliver(r)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// LMTPData implements smtp.LMTPSession: one status per recipient.
func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	errs := ss.deliver(r)
	if len(errs) != len(ss.env.Recipients) {
		return statusTempFail
	}
	for i, rcpt := range ss.env.Recipients {
		status.SetStatus(rcpt, errs[i])
	}
	return nil
}

func (ss *session) deliver(r io.Reader) []error {
	ss.s.inflight.Add(1)
	defer ss.s.inflight.Add(-1)
	data, err := io.ReadAll(r)
	if err != nil {
		// Too large (552) or a broken connection: the same answer for all.
		errs := make([]error, len(ss.env.Recipients))
		for i := range errs {
			errs[i] = asStatus(err)
		}
		return errs
	}
	env := ss.env
	env.LHLO = ss.conn.Hostname()
	if a := ss.conn.Conn().RemoteAddr(); a != nil {
		env.PeerAddr = a.String()
	}
	errs := ss.s.backend.Deliver(context.Background(), &env, data)
	for i, err := range errs {
		if err != nil {
			errs[i] = asStatus(err)
		}
	}
	return errs
}

func (ss *session) relay(r io.Reader) error {
	ss.s.inflight.Add(1)
	defer ss.s.inflight.Add(-1)
	data, err := io.ReadAll(r)
	if err != nil {
		return asStatus(err)
	}
	env := ss.env
	env.LHLO = ss.conn.Hostname()
	if a := ss.conn.Conn().RemoteAddr(); a != nil {
		env.PeerAddr = a.String()
	}
	if err := ss.s.relayer.Relay(context.Background(), &env, data); err != nil {
		return asStatus(err)
	}
	return nil
}

// asStatus turns err into the reply the peer sees: SMTP errors as they are,
// anything unclassified as a temporary failure.
func asStatus(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return statusTempFail
}

// Listen opens addr: "unix:/path" for a unix socket (a stale socket file is
// removed first; one with a live listener is an error), else a TCP
// "host:port". Unix sockets get mode and, when group is set, that group.
func Listen(addr string, mode os.FileMode, group string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("lmtp: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("lmtp: %s: another server is listening", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("lmtp: removing stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("lmtp: %w", err)
	}
	if group != "" {
		gid, err := lookupGroup(group)
		if err == nil {
			err = os.Chown(path, -1, gid)
		}
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("lmtp: socket group %q: %w", group, err)
		}
	}
	return l, nil
}

func lookupGroup(g string) (int, error) {
	if gid, err := strconv.Atoi(g); err == nil {
		return gid, nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(grp.Gid)
}

// slogAdapter lets go-smtp's internal error log reach slog.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	// A client hanging up without QUIT is routine (smtp-source, probes).
	if strings.Contains(msg, "connection reset by peer") || strings.HasSuffix(msg, "EOF") {
		a.log.Debug("lmtp: " + msg)
		return
	}
	a.log.Warn("lmtp: " + msg)
}

func (a slogAdapter) Println(v ...any) {
	a.log.Warn("lmtp: " + strings.TrimSpace(fmt.Sprintln(v...)))
}
