// Package lmtp is sluice's LMTP front end (RFC 2033) over
// github.com/emersion/go-smtp: LHLO, MAIL, RCPT and DATA with one status per
// recipient, Postfix's XFORWARD from trusted peers, size, recipient,
// connection, session-time and memory limits, a deadline per message,
// unix and TCP listeners, and a graceful shutdown that lets deliveries in
// flight finish.
//
// It knows nothing about delivery: it hands each transaction to a Backend.
// Any error from the Backend that is not an *smtp.SMTPError is answered
// 451 4.3.0 (temporary): the MTA keeps the message and retries.
//
// Where it diverges: a recipient given twice in one transaction is
// delivered once, and each of its RCPT commands gets the same reply after
// DATA (RFC 2033 §4.2 wants one reply per accepted RCPT; Dovecot's LMTP
// answers each as well). A message line over 64 KiB is refused for every
// recipient with 554 5.6.0 rather than split.
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
	"syscall"
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
	// per recipient, in order: nil for accepted. data is valid only until
	// Deliver returns (a large message is a mapped spool file): keep no
	// slice of it.
	Deliver(ctx context.Context, env *mail.Envelope, data []byte) []error
}

// Relayer is the backend of the SMTP after-queue filter front end: it
// filters a message and hands it to the next hop. The returned error is the
// reply (nil: 250): the next hop's own reply when it refused, so that
// Postfix sees the real outcome. As with Backend, data is valid only until
// Relay returns.
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
	// XForwardNets are the TCP peers that may use Postfix's XFORWARD
	// command; unix socket peers always may. Default none: whoever may
	// set the client address decides what SPF and DNSBL checks see.
	XForwardNets []*net.IPNet
	// MaxConnections open at once; more are answered 421 4.3.2 and
	// closed. Default 100.
	MaxConnections int
	// MaxSessionTime caps one connection; it is closed with 421 4.4.2 at
	// the first command after that. Default 30m.
	MaxSessionTime time.Duration
	// MaxBytesInFlight caps the message bytes held by all transactions
	// together; past it MAIL (by its SIZE) or the message is answered
	// 452 4.3.1. Default 4 × MaxMessageSize.
	MaxBytesInFlight int64
	// MessageTimeout bounds the processing of one message by the Backend;
	// its context is cancelled then, and also when the client hangs up.
	// Recipients not delivered by then get 451 4.4.7. Default 5m.
	MessageTimeout time.Duration
	// Spool says where messages larger than its Threshold are written
	// while they are read, instead of growing in memory (mail.Spool; its
	// defaults: 1 MiB, os.TempDir()). The Backend sees the file mapped
	// read-only; it is gone once the transaction is answered.
	Spool mail.SpoolConfig
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
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 100
	}
	if cfg.MaxSessionTime <= 0 {
		cfg.MaxSessionTime = 30 * time.Minute
	}
	if cfg.MaxBytesInFlight <= 0 {
		cfg.MaxBytesInFlight = 4 * cfg.MaxMessageSize
	}
	if cfg.MessageTimeout <= 0 {
		cfg.MessageTimeout = 5 * time.Minute
	}
	return cfg
}

// grace is how long after MessageTimeout the server still waits for a
// Backend that does not heed its context before it answers for it.
func (cfg Config) grace() time.Duration {
	return min(cfg.MessageTimeout/10, 30*time.Second)
}

// Statuses the server itself sends.
var (
	statusTempFail     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary internal error, try again later"}
	statusShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down, try again later"}
	statusNoStorage    = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, try again later"}
	statusTimeout      = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 7}, Message: "Delivery time limit exceeded, try again later"}
	// RFC 5321 §4.3.2 allows 554 after DATA, not 500; RFC 3463 X.6.0 is a
	// problem with the content itself. Retrying cannot help.
	statusLineTooLong = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: fmt.Sprintf("Message refused: a line is longer than %d octets", maxDataLine)}
)

// errInFlight is what reading a message returns when MaxBytesInFlight
// would be exceeded.
var errInFlight = errors.New("lmtp: too many message bytes in flight")

// Server is an LMTP server.
type Server struct {
	srv     *smtp.Server
	backend Backend // LMTP mode
	relayer Relayer // SMTP filter mode
	log     *slog.Logger
	cfg     Config

	trusted func(net.Addr) bool
	// ctx is the parent of every connection's context; Shutdown cancels
	// it when it closes the connections.
	ctx      context.Context
	stop     context.CancelFunc
	closing  atomic.Bool
	inflight atomic.Int64 // deliveries running
	sessions atomic.Int64
	conns    atomic.Int64 // open connections
	bytes    atomic.Int64 // message bytes held, against MaxBytesInFlight

	mu        sync.Mutex
	listeners []net.Listener // closed by Shutdown
}

// reserve takes n bytes of the in-flight budget, or reports false.
func (s *Server) reserve(n int64) bool {
	for {
		cur := s.bytes.Load()
		if cur+n > s.cfg.MaxBytesInFlight {
			return false
		}
		if s.bytes.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// New returns a Server handing transactions to b.
func New(cfg Config, log *slog.Logger, b Backend) *Server {
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.withDefaults()
	s := &Server{backend: b, log: log, cfg: cfg, trusted: trustedPeer(cfg.XForwardNets)}
	s.ctx, s.stop = context.WithCancel(context.Background())
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
	s := &Server{relayer: r, log: log, cfg: cfg, trusted: trustedPeer(cfg.XForwardNets)}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.srv = newSMTPServer(s, cfg, log)
	return s
}

func newSMTPServer(s *Server, cfg Config, log *slog.Logger) *smtp.Server {
	srv := smtp.NewServer(s)
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageSize
	srv.MaxRecipients = cfg.MaxRecipients
	// xfConn enforces line limits with honest replies (see maxDataLine);
	// go-smtp's own check answers "500 5.4.0" or fails the message 451.
	srv.MaxLineLength = 0
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.ErrorLog = slogAdapter{log}
	return srv
}

// Serve accepts connections on l until Shutdown or Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	err := s.srv.Serve(xfListener{Listener: l, s: s})
	if errors.Is(err, smtp.ErrServerClosed) || (s.closing.Load() && errors.Is(err, net.ErrClosed)) {
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
	// Stop accepting at once. go-smtp's own Shutdown would do it too, but
	// it and Close both close one channel unguarded: calling one after the
	// other panics, and Close after Shutdown would leave connections open.
	s.mu.Lock()
	for _, l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
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
	s.stop()
	return err
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	if s.closing.Load() {
		return nil, statusShuttingDown
	}
	s.sessions.Add(1)
	ss := &session{s: s, conn: c}
	ss.xc, _ = c.Conn().(*xfConn)
	// The session's context is the connection's: it ends when the
	// connection is closed, and with every connection at Shutdown.
	parent := s.ctx
	if ss.xc != nil && ss.xc.ctx != nil {
		parent = ss.xc.ctx
	}
	ss.ctx, ss.cancel = context.WithCancel(parent)
	return ss, nil
}

// session is one LMTP connection.
type session struct {
	s      *Server
	conn   *smtp.Conn
	xc     *xfConn // nil when not served through Serve
	ctx    context.Context
	cancel context.CancelFunc
	env    mail.Envelope
	// rcpts are the accepted RCPT commands in order, each with its index
	// in env.Recipients, which holds every address once.
	rcpts []rcptRef
	index map[string]int
	// held is the share of MaxBytesInFlight this transaction holds;
	// Logout may release it from another goroutine.
	held atomic.Int64
	once sync.Once
}

type rcptRef struct {
	addr string
	i    int
}

// rcptKey identifies a recipient address: the domain is case-insensitive
// (RFC 5321 §2.4), the local part is not.
func rcptKey(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[:i] + strings.ToLower(addr[i:])
	}
	return addr
}

func (ss *session) release() {
	ss.s.bytes.Add(-ss.held.Swap(0))
}

func (ss *session) Reset() {
	ss.env, ss.rcpts, ss.index = mail.Envelope{}, nil, nil
	ss.release()
	if ss.xc != nil {
		ss.xc.reset()
	}
}

func (ss *session) Logout() error {
	ss.once.Do(func() {
		ss.cancel()
		ss.release()
		ss.s.sessions.Add(-1)
	})
	return nil
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.s.closing.Load() {
		return statusShuttingDown
	}
	ss.release()
	ss.env, ss.rcpts, ss.index = mail.Envelope{MailFrom: from}, nil, nil
	if ss.xc != nil {
		f := ss.xc.take()
		ss.env.ClientIP = net.ParseIP(f.Addr)
		ss.env.ClientHelo = f.Helo
		ss.env.ClientName = f.Name
		ss.env.QueueID = f.Ident
	}
	if opts != nil && opts.Size > 0 {
		if !ss.s.reserve(opts.Size) {
			ss.s.log.Warn("lmtp: MAIL deferred: max_bytes_in_flight reached", "queue_id", ss.env.QueueID, "size", opts.Size, "max_bytes_in_flight", ss.s.cfg.MaxBytesInFlight)
			return statusNoStorage
		}
		ss.held.Add(opts.Size)
	}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	key := rcptKey(to)
	if i, ok := ss.index[key]; ok {
		// The same recipient again: one copy, and the same reply twice.
		ss.rcpts = append(ss.rcpts, rcptRef{to, i})
		return nil
	}
	if ss.s.backend != nil {
		if err := ss.s.backend.Recipient(ss.ctx, to); err != nil {
			return asStatus(err)
		}
	}
	if ss.index == nil {
		ss.index = make(map[string]int)
	}
	ss.index[key] = len(ss.env.Recipients)
	ss.rcpts = append(ss.rcpts, rcptRef{to, len(ss.env.Recipients)})
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

// LMTPData implements smtp.LMTPSession: one status per accepted RCPT.
func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	errs := ss.deliver(r)
	if len(errs) != len(ss.env.Recipients) {
		return statusTempFail
	}
	for _, rr := range ss.rcpts {
		status.SetStatus(rr.addr, errs[rr.i])
	}
	return nil
}

// read reads the message into a spool, holding its size against
// MaxBytesInFlight, and returns the spool and the message it holds (valid
// until the spool is closed). A failure comes back as the reply for the
// whole message, the spool closed.
func (ss *session) read(r io.Reader) (*mail.Spool, []byte, error) {
	sp := mail.NewSpool(ss.s.cfg.Spool)
	data, err := ss.readInto(sp, r)
	if err != nil {
		sp.Close()
		return nil, nil, err
	}
	return sp, data, nil
}

func (ss *session) readInto(sp *mail.Spool, r io.Reader) ([]byte, error) {
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Read(chunk)
		if need := sp.Size() + int64(n) - ss.held.Load(); need > 0 {
			if !ss.s.reserve(need) {
				ss.s.log.Warn("lmtp: message deferred: max_bytes_in_flight reached", "queue_id", ss.env.QueueID, "from", ss.env.MailFrom, "max_bytes_in_flight", ss.s.cfg.MaxBytesInFlight)
				return nil, statusNoStorage
			}
			ss.held.Add(need)
		}
		if _, werr := sp.Write(chunk[:n]); werr != nil {
			ss.s.log.Error("lmtp: message deferred: spool", "queue_id", ss.env.QueueID, "from", ss.env.MailFrom, "err", werr)
			if errors.Is(werr, syscall.ENOSPC) || errors.Is(werr, syscall.EDQUOT) {
				return nil, statusNoStorage
			}
			return nil, statusTempFail
		}
		switch {
		case err == io.EOF:
			data, merr := sp.Bytes()
			if merr != nil {
				ss.s.log.Error("lmtp: message deferred: spool", "queue_id", ss.env.QueueID, "from", ss.env.MailFrom, "err", merr)
				return nil, statusTempFail
			}
			return data, nil
		case errors.Is(err, errLineTooLong):
			ss.s.log.Warn("lmtp: message refused: line too long", "queue_id", ss.env.QueueID, "from", ss.env.MailFrom, "limit", maxDataLine)
			return nil, statusLineTooLong
		case err != nil:
			// Too large (552) or a broken connection.
			return nil, asStatus(err)
		}
	}
}

// envelope is the transaction's envelope with what the connection adds.
func (ss *session) envelope() *mail.Envelope {
	env := ss.env
	env.LHLO = ss.conn.Hostname()
	if a := ss.conn.Conn().RemoteAddr(); a != nil {
		env.PeerAddr = a.String()
	}
	return &env
}

func (ss *session) deliver(r io.Reader) []error {
	// In flight from the first byte, so that Shutdown waits for a
	// message being received too.
	ss.s.inflight.Add(1)
	defer ss.s.inflight.Add(-1)
	sp, data, err := ss.read(r)
	if err != nil {
		errs := make([]error, len(ss.env.Recipients))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	env := ss.envelope()
	n := len(env.Recipients)
	return run(ss, sp, func(ctx context.Context) []error {
		errs := ss.s.backend.Deliver(ctx, env, data)
		for i, err := range errs {
			if err != nil {
				errs[i] = ss.s.status(ctx, err)
			}
		}
		return errs
	}, func() []error {
		errs := make([]error, n)
		for i := range errs {
			errs[i] = statusTimeout
		}
		return errs
	})
}

func (ss *session) relay(r io.Reader) error {
	ss.s.inflight.Add(1)
	defer ss.s.inflight.Add(-1)
	sp, data, err := ss.read(r)
	if err != nil {
		return err
	}
	env := ss.envelope()
	return run(ss, sp, func(ctx context.Context) error {
		if err := ss.s.relayer.Relay(ctx, env, data); err != nil {
			return ss.s.status(ctx, err)
		}
		return nil
	}, func() error { return statusTimeout })
}

// run calls fn with a context that ends after MessageTimeout or when the
// client hangs up, and closes sp once fn returns. A fn that outlives the
// deadline by grace is answered for with timedOut() and left to finish; it
// still counts as in flight, keeps its share of MaxBytesInFlight, and its
// message stays mapped, until it does.
func run[T any](ss *session, sp *mail.Spool, fn func(context.Context) T, timedOut func() T) T {
	s := ss.s
	ctx, cancel := context.WithTimeout(ss.ctx, s.cfg.MessageTimeout)
	defer cancel()
	if ss.xc != nil {
		stop := ss.xc.watch(cancel)
		defer stop()
	}
	held := ss.held.Swap(0)
	s.inflight.Add(1)
	res := make(chan T, 1)
	go func() {
		defer s.inflight.Add(-1)
		defer s.bytes.Add(-held)
		defer sp.Close()
		res <- fn(ctx)
	}()
	select {
	case v := <-res:
		return v
	case <-ctx.Done():
	}
	t := time.NewTimer(s.cfg.grace())
	defer t.Stop()
	select {
	case v := <-res:
		return v
	case <-t.C:
		s.log.Error("lmtp: delivery still running past message_timeout; answered 451", "queue_id", ss.env.QueueID, "message_timeout", s.cfg.MessageTimeout, "cause", context.Cause(ctx))
		return timedOut()
	}
}

// status is the reply for a Backend error: SMTP errors as they are, a
// failure after the deadline or hang-up as 451 4.4.7, the rest as 451 4.3.0.
func (s *Server) status(ctx context.Context, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	if ctx.Err() != nil {
		return statusTimeout
	}
	return statusTempFail
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
