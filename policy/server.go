package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mail/sluice/auth"
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

	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{}

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closing   atomic.Bool
	wg        sync.WaitGroup
	sessions  atomic.Int64
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
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:       cfg,
		log:       log,
		checker:   NewChecker(cfg.Config, r),
		ctx:       ctx,
		cancel:    cancel,
		slots:     make(chan struct{}, cfg.MaxConnections),
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
	}
}

// Sessions reports how many connections are open.
func (s *Server) Sessions() int { return int(s.sessions.Load()) }

// Serve accepts connections on l until Shutdown, and returns
// ErrServerClosed then.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.ctx.Done():
			return ErrServerClosed
		}
		c, err := l.Accept()
		if err != nil {
			<-s.slots
			if s.closing.Load() {
				return ErrServerClosed
			}
			if retryable(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("policy: accept: %w", err)
		}
		backoff = 0
		if !s.track(c) {
			c.Close()
			<-s.slots
			return ErrServerClosed
		}
		go s.serveConn(c)
	}
}

// retryable reports whether an accept error is worth retrying: a timeout,
// or EMFILE and the like, which still report the deprecated Temporary.
func retryable(err error) bool {
	var t interface{ Temporary() bool }
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.As(err, &t) && t.Temporary()
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.sessions.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.sessions.Add(-1)
	<-s.slots
	s.wg.Done()
}

// Shutdown stops accepting, lets requests being checked be answered,
// closes idle connections, and waits for every connection to end; when
// ctx ends first, the rest are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		// A connection waiting for its next request wakes up and ends;
		// one being checked answers first (see serveConn).
		c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// serveConn answers the requests of one connection. Postfix keeps it open
// across SMTP sessions and sends one request per recipient; the verdict
// of the last message (its instance attribute) is kept, so the other
// recipients of that message cost no lookups.
func (s *Server) serveConn(c net.Conn) {
	defer s.untrack(c)
	br := NewReader(c, s.cfg.Limits)
	var (
		lastKey   clientKey
		lastVerd  *Decision
		prepended bool // Received-SPF was sent for lastKey's message
	)
	for {
		if s.closing.Load() {
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
	return s.checker.evaluate(s.ctx, req)
}
