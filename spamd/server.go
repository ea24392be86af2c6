package spamd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/sluice-mail/sluice/internal/netserve"
)

// Scanner scores and learns messages for the server. cmd/sluice implements
// it over the pipeline's scoring steps and Bayes store.
type Scanner interface {
	// Scan scores req.Message for req.User. What Result holds beyond the
	// verdict depends on req.Command (Request.WantsReport,
	// Request.WantsMessage).
	Scan(ctx context.Context, req *Request) (*Result, error)
	// Learn carries out a TELL: learns req.Message as req.Class
	// (SetLocal) or forgets it (RemoveLocal), in req.User's Bayes
	// database.
	Learn(ctx context.Context, req *Request) (Learned, error)
}

// Filterer is an optional capability of a Scanner: it answers FILTER,
// sluice's extension that runs the whole per-message pipeline with the
// request's Envelope and returns the message as it is to be re-injected,
// one copy per group of recipients.
type Filterer interface {
	Filter(ctx context.Context, req *Request) ([]Copy, error)
}

// Copy is one message FILTER returns and the recipients it is for.
type Copy struct {
	Recipients []string
	Message    []byte
}

// Result is a Scanner's answer to a scanning command.
type Result struct {
	Spam            bool
	Score, Required float64
	// Symbols are the names of the rules hit (non-zero score, no __
	// sub-rules), sorted as SpamAssassin sorts them.
	Symbols []string
	// Report is SpamAssassin's report text (get_report), for REPORT and
	// REPORT_IFSPAM.
	Report string
	// Message is the message as filtered, for PROCESS and HEADERS.
	Message []byte
}

// Learned is what a TELL did.
type Learned struct {
	// DidSetLocal: the message is now learned as the class asked (it was
	// new, or learned as the other class). DidRemoveLocal: it was
	// forgotten.
	DidSetLocal, DidRemoveLocal bool
}

// WantsReport reports whether the command's reply carries the report.
func (r *Request) WantsReport() bool { return r.Command == Report || r.Command == ReportIfSpam }

// WantsMessage reports whether the command's reply carries the filtered
// message (or its header).
func (r *Request) WantsMessage() bool { return r.Command == Process || r.Command == Headers }

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// AllowedIPs are the networks TCP clients may connect from, as
	// spamd's -A; empty: loopback only (127.0.0.0/8 and ::1). Unix
	// socket clients are always allowed (the socket's mode decides).
	AllowedIPs []netip.Prefix
	// MaxConnections bounds the connections served at once; more wait in
	// the listen backlog. Default 50.
	MaxConnections int
	// MaxMessageSize bounds a message, compressed or inflated. Default
	// 50 MiB.
	MaxMessageSize int64
	// MaxBytesInFlight bounds the message bytes all requests together
	// hold; a request that would pass it (by its Content-length, or
	// MaxMessageSize without one or compressed) is answered EX_TEMPFAIL
	// before its message is read. Default 4 × MaxMessageSize.
	MaxBytesInFlight int64
	// ReadTimeout bounds reading the whole request; WriteTimeout writing
	// the reply. Default 30s each (spamd's --timeout-tcp).
	ReadTimeout, WriteTimeout time.Duration
	// ScanTimeout bounds scoring or learning one message. Default 300s
	// (spamd's --timeout-child).
	ScanTimeout time.Duration
	// AllowTell lets clients TELL (learn and forget), as spamd's
	// --allow-tell. Default off.
	AllowTell bool
}

func (c *Config) defaults() {
	if c.MaxConnections <= 0 {
		c.MaxConnections = 50
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 50 << 20
	}
	if c.MaxBytesInFlight <= 0 {
		c.MaxBytesInFlight = 4 * c.MaxMessageSize
	}
	for _, d := range []*time.Duration{&c.ReadTimeout, &c.WriteTimeout} {
		if *d <= 0 {
			*d = 30 * time.Second
		}
	}
	if c.ScanTimeout <= 0 {
		c.ScanTimeout = 300 * time.Second
	}
}

// Server serves the protocol on any number of listeners.
type Server struct {
	cfg  Config
	log  *slog.Logger
	scan Scanner
	// loop's Context is cancelled when Shutdown gives up waiting: it
	// ends the scans still running.
	loop     *netserve.Loop
	inFlight atomic.Int64 // message bytes reserved by requests
}

// New returns a server answering with scan. A nil log discards.
func New(cfg Config, log *slog.Logger, scan Scanner) *Server {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, scan: scan}
	s.loop = netserve.New("spamd", cfg.MaxConnections, s.serveConn)
	return s
}

// Connections returns the number of connections being served.
func (s *Server) Connections() int { return s.loop.Active() }

// Serve accepts connections on l until Shutdown, serving each in its own
// goroutine. It returns nil after Shutdown, or the accept error.
func (s *Server) Serve(l net.Listener) error {
	if err := s.loop.Serve(l); !errors.Is(err, netserve.ErrClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting and waits for the connections being served,
// until ctx ends; then it cancels their scans and closes them.
func (s *Server) Shutdown(ctx context.Context) error { return s.loop.Shutdown(ctx) }

// allowed reports whether a client at addr may connect.
func (s *Server) allowed(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return true // a unix socket
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	if len(s.cfg.AllowedIPs) == 0 {
		return ip.IsLoopback()
	}
	for _, p := range s.cfg.AllowedIPs {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// serveConn answers the one request of a connection.
func (s *Server) serveConn(c net.Conn) {
	start := time.Now()
	remote := c.RemoteAddr().String()
	if !s.allowed(c.RemoteAddr()) {
		// As spamd: no reply, the connection closes.
		s.log.Warn("spamd: connection refused: client not in spamd.allowed_ips", "remote", remote)
		return
	}
	c.SetReadDeadline(start.Add(s.cfg.ReadTimeout))
	req, err := s.readRequest(bufio.NewReader(c))
	c.SetReadDeadline(time.Time{})
	if req != nil {
		defer s.inFlight.Add(-s.reservation(req))
	}
	var reply []byte
	var res *Result
	if err == nil {
		reply, res, err = s.answer(req)
	}
	if err != nil {
		reply = errorReply(err)
	}
	c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	_, werr := c.Write(reply)
	s.logRequest(req, res, err, werr, remote, time.Since(start))
}

// readRequest is ReadRequest with the message's bytes reserved against
// MaxBytesInFlight before they are read. A request returned holds its
// reservation, which the caller gives back.
func (s *Server) readRequest(br *bufio.Reader) (*Request, error) {
	req, err := readHead(br)
	if err != nil || !req.hasBody() {
		return req, err
	}
	n := s.reservation(req)
	if s.inFlight.Add(n) > s.cfg.MaxBytesInFlight {
		s.inFlight.Add(-n)
		return nil, &Error{Code: ExTempFail, Text: "EX_TEMPFAIL: too much mail in flight, try again later", Err: ErrTooBig}
	}
	if req.Message, err = readBody(br, req, s.cfg.MaxMessageSize); err != nil {
		s.inFlight.Add(-n)
		return nil, err
	}
	return req, nil
}

// reservation is what a request may hold: its Content-length, or the
// largest message when it has none or is compressed.
func (s *Server) reservation(req *Request) int64 {
	switch {
	case !req.hasBody():
		return 0
	case req.ContentLength < 0 || req.Zlib:
		return s.cfg.MaxMessageSize
	}
	return min(req.ContentLength, s.cfg.MaxMessageSize)
}

// answer runs one request; a panic in the scanner is an EX_SOFTWARE error.
func (s *Server) answer(req *Request) (reply []byte, res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("spamd: panic while answering", "cmd", req.Command, "panic", r, "stack", string(debug.Stack()))
			reply, res, err = nil, nil, &Error{Code: ExSoftware, Text: "EX_SOFTWARE: internal error", Err: fmt.Errorf("%w: panic: %v", ErrScan, r)}
		}
	}()
	switch req.Command {
	case Ping:
		return []byte("SPAMD/1.5 0 PONG\r\n"), nil, nil
	case Skip:
		return nil, nil, nil
	}
	ctx, cancel := context.WithTimeout(s.loop.Context(), s.cfg.ScanTimeout)
	defer cancel()
	if req.Command == Tell {
		reply, err := s.tell(ctx, req)
		return reply, nil, err
	}
	if req.Command == Filter {
		f, ok := s.scan.(Filterer)
		if !ok {
			return nil, nil, protoErr("(FILTER is not offered here)")
		}
		copies, err := f.Filter(ctx, req)
		if err != nil {
			return nil, nil, s.scanError(ctx, req, err)
		}
		return FilterReply(copies), &Result{}, nil
	}
	res, err = s.scan.Scan(ctx, req)
	if err != nil {
		return nil, nil, s.scanError(ctx, req, err)
	}
	return scanReply(req, res), res, nil
}

func (s *Server) tell(ctx context.Context, req *Request) ([]byte, error) {
	if !s.cfg.AllowTell {
		return nil, &Error{Code: ExUnavailable, Err: ErrTellDisabled,
			Text: "Service Unavailable: TELL commands are not enabled, set spamd.allow_tell."}
	}
	var did Learned
	if req.SetLocal || req.RemoveLocal {
		var err error
		if did, err = s.scan.Learn(ctx, req); err != nil {
			return nil, s.scanError(ctx, req, err)
		}
	}
	return tellReply(did), nil
}

// scanError classifies a Scanner failure: the scan's time ran out
// (EX_TIMEOUT) or anything else (EX_TEMPFAIL: the client may retry).
func (s *Server) scanError(ctx context.Context, req *Request, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &Error{Code: ExTimeout, Err: fmt.Errorf("%w: %w", ErrScan, err),
			Text: fmt.Sprintf("Timeout: (%d second timeout while trying to %s)", int(s.cfg.ScanTimeout/time.Second), req.Command)}
	}
	return &Error{Code: ExTempFail, Text: "EX_TEMPFAIL: temporary failure, try again later", Err: fmt.Errorf("%w: %w", ErrScan, err)}
}

func (s *Server) logRequest(req *Request, res *Result, err, werr error, remote string, took time.Duration) {
	attrs := []any{"remote", remote, "took", took.Round(time.Millisecond)}
	if req != nil {
		attrs = append(attrs, "cmd", req.Command, "proto", req.Version, "user", req.User, "size", len(req.Message))
	}
	if res != nil {
		attrs = append(attrs, "spam", res.Spam, "score", fmt.Sprintf("%.1f", res.Score))
	}
	switch {
	case err != nil:
		s.log.Warn("spamd: request failed", append(attrs, "err", err)...)
	case werr != nil:
		s.log.Warn("spamd: writing the reply failed", append(attrs, "err", werr)...)
	default:
		s.log.Info("spamd", attrs...)
	}
}
