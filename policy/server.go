package policy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/internal/netserve"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("policy: server closed")

// ServerConfig configures a Server: the checks and the connection limits.
type ServerConfig struct {
	Config
	Limits
	// IdleTimeout closes a connection that sends no request for this
	// long. Postfix closes its idle policy connections after 300s
	// (smtpd_policy_service_max_idle), so the default, 330s, is longer.
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one reply. Default 10s.
	WriteTimeout time.Duration
	// MaxConnections is how many connections are served at once; the
	// next is accepted only when one closes. Default 100.
	MaxConnections int
}

// Server serves the Postfix policy delegation protocol.
type Server struct {
	cfg     ServerConfig
	log     *slog.Logger
	checker *Checker
	loop    *netserve.Loop
}

// New returns a server that checks with r. log gets one line per request
// at info level; nil discards it.
func New(cfg ServerConfig, log *slog.Logger, r auth.Resolver) *Server {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 330 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 100
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, checker: NewChecker(cfg.Config, r)}
	s.loop = netserve.New("policy", cfg.MaxConnections, s.serveConn)
	// A connection waiting for its next request wakes up and ends; one
	// being checked answers first (see serveConn).
	s.loop.Wake = func(c net.Conn) { c.SetReadDeadline(time.Now()) }
	return s
}

// Sessions reports how many connections are open.
func (s *Server) Sessions() int { return s.loop.Active() }

// Serve accepts connections on l until Shutdown, and returns
// ErrServerClosed then.
func (s *Server) Serve(l net.Listener) error {
	if err := s.loop.Serve(l); !errors.Is(err, netserve.ErrClosed) {
		return err
	}
	return ErrServerClosed
}

// Shutdown stops accepting, lets requests being checked be answered,
// closes idle connections, and waits for every connection to end; when
// ctx ends first, the rest are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error { return s.loop.Shutdown(ctx) }

// serveConn answers the requests of one connection. Postfix keeps it open
// across SMTP sessions and sends one request per recipient; the verdict
// of the last message (its instance attribute) is kept, so the other
// recipients of that message cost no lookups.
func (s *Server) serveConn(c net.Conn) {
	br := NewReader(c, s.cfg.Limits)
	var (
		lastKey   clientKey
		lastVerd  *Decision
		prepended bool // Received-SPF was sent for lastKey's message
	)
	for {
		if s.loop.Closing() {
			return
		}
		c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		req, err := ReadRequest(br, s.cfg.Limits)
		if err != nil {
			s.readFailed(c, err)
			return
		}
		k := keyOf(req)
		if lastVerd == nil || k != lastKey || k.instance == "" {
			v := s.evaluate(req)
			lastKey, lastVerd, prepended = k, &v, false
		}
		d := s.checker.forRecipient(req, *lastVerd, prepended)
		prepended = prepended || strings.HasPrefix(d.Action, "PREPEND ")
		s.log.Info("policy", "instance", req["instance"], "queue_id", req["queue_id"],
			"client", req["client_address"], "helo", req["helo_name"], "sender", req["sender"],
			"rcpt", req["recipient"], "reason", d.Reason, "spf", d.SPF.Result, "helo_spf", d.HELO.Result, "warning", d.Warning)
		s.log.Debug("policy reply", "action", d.Action)
		c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if err := WriteReply(c, d.Action); err != nil {
			s.log.Debug("policy: write", "err", err)
			return
		}
	}
}

// readFailed logs a failed read and, when the client sent something
// unusable, answers it once with a deferral (internal trouble is never a
// refusal) before the connection is closed.
func (s *Server) readFailed(c net.Conn, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return
	case errors.As(err, &ne) && ne.Timeout():
		s.log.Debug("policy: idle connection closed", "remote", c.RemoteAddr().String())
		return
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrLineTooLong), errors.Is(err, ErrTooManyAttributes):
		s.log.Warn("policy: bad request", "remote", c.RemoteAddr().String(), "err", err)
		c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if WriteReply(c, "DEFER_IF_PERMIT 4.3.5 Policy service: malformed request") == nil {
			// Closing with unread input would reset the connection and
			// could destroy the reply in flight: read a little first.
			c.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
			io.CopyN(io.Discard, c, 64<<10)
		}
	default:
		s.log.Debug("policy: read", "remote", c.RemoteAddr().String(), "err", err)
	}
}

// evaluate runs the checks of one request; a panic in them becomes a
// deferral, logged, so that one bad request never refuses mail or stops
// the server.
func (s *Server) evaluate(req Request) (d Decision) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("policy: panic in check", "panic", v, "instance", req["instance"])
			d = Decision{Action: "DEFER_IF_PERMIT 4.3.0 Policy service: internal error", Reason: "error"}
		}
	}()
	return s.checker.evaluate(s.loop.Context(), req)
}
