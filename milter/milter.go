// Package milter is sluice's front end for Postfix's smtpd_milters and
// non_smtpd_milters: the Sendmail milter protocol v6, spoken through
// github.com/d--j/go-milter. At the end of DATA it either
//
//   - DKIM-signs the message (RFC 6376), for a client in SignNetworks or
//     one that authenticated with SASL (the {auth_authen} macro), as
//     OpenDKIM's signing mode does with InternalHosts; no spam headers are
//     added to outbound mail; or
//   - checks it (SPF, DKIM, DMARC, the rules and the score, all through
//     the Checker, which runs the pipeline's per-message steps), turns the
//     header edits into milter header actions (insert, change, delete),
//     and answers accept, 550 5.7.1 (score at or above RejectScore, or an
//     enforced DMARC p=reject) or a temporary failure as OnError says.
//
// The package declares what it needs, a Signer and a Checker; it knows
// nothing of tables, rules or scores beyond the Verdict it is given.
//
// Notable divergences from OpenDKIM and spamass-milter:
//   - A message larger than Config.MaxMessageSize is not kept in memory:
//     it is accepted as it is, unsigned and unscanned, and logged.
//   - Only the From header address chooses the signing key (OpenDKIM's
//     default; its SenderHeaders option has no counterpart).
//   - A temporary failure is the whole message's: the milter protocol
//     answers end-of-data once for all recipients.
package milter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/sluice-mail/sluice/mail"
)

// Errors.
var (
	// ErrConfig reports an unusable configuration (a listen address).
	ErrConfig = errors.New("milter: bad configuration")
	// ErrUnavailable is what a Checker returns when it cannot check at all
	// (the rules are not loaded); the message gets Config.OnError.
	ErrUnavailable = errors.New("milter: checks unavailable")
)

// Signer DKIM-signs a message; outbound.DKIM is one.
type Signer interface {
	// Sign returns raw with one DKIM-Signature field prepended per key
	// chosen for addr (the From header address), and whether any was. An
	// error is temporary.
	Sign(raw []byte, addr string) (out []byte, signed bool, err error)
}

// Checker runs the per-message checks on one inbound message.
type Checker interface {
	// Check authenticates and scores raw (CRLF line ends) and returns the
	// message as the checks leave it. An error (ErrUnavailable, a panic
	// recovered) gets Config.OnError.
	Check(ctx context.Context, env *mail.Envelope, raw []byte) (Verdict, error)
}

// Verdict is the outcome of Check.
type Verdict struct {
	// Header is the header section as the checks leave it
	// (Authentication-Results, X-Spam-* added, forged ones removed, the
	// Subject rewritten), the blank line that ends it included.
	Header []byte
	// Body is the body as the checks leave it: raw's own body unless
	// report_safe replaced it.
	Body []byte
	// Scored is set when the rules ran; Score is then the message's score
	// and Tests the rules that hit, comma-separated, for the log.
	Scored bool
	Score  float64
	Tests  string
	// DMARCReject is set when the sender domain's DMARC policy, enforced,
	// refuses the message.
	DMARCReject bool
	// TempError is set when a check needed for the decision failed
	// temporarily (DNS down while DMARC is enforced).
	TempError bool
}

// Config configures a Server. The zero value signs nothing, never
// rejects on score, and answers internal failures with a temporary
// failure.
type Config struct {
	// SignNetworks are the client networks whose mail is signed
	// (OpenDKIM's InternalHosts); SASL-authenticated clients are signed
	// wherever they connect from.
	SignNetworks []*net.IPNet
	// RejectScore, when above 0, refuses inbound mail scoring at or above
	// it with 550 5.7.1.
	RejectScore float64
	// OnErrorAccept accepts a message the checks or the signer failed on,
	// unchanged; false (the default) answers 451 4.7.1 so the client
	// retries.
	OnErrorAccept bool
	// MaxMessageSize bounds the bytes kept per message. Default 50 MiB.
	MaxMessageSize int64
	// Timeout bounds the end-of-data work of one message, below Postfix's
	// milter_content_timeout (300s). Default 60s.
	Timeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 50 << 20
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	return c
}

// Server is a milter server. It is safe for concurrent use; every MTA
// connection gets its own session.
type Server struct {
	cfg      Config
	log      *slog.Logger
	signer   Signer
	checker  Checker
	srv      *gomilter.Server
	sessions atomic.Int64
	// ctx is cancelled by Close and Shutdown, ending the checks under way.
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns a Server. signer may be nil (nothing is signed: outbound
// mail is accepted as it is); checker may be nil (inbound mail gets
// OnError). A nil log discards nothing: slog.Default is used.
func New(cfg Config, log *slog.Logger, signer Signer, checker Checker) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg.withDefaults(), log: log, signer: signer, checker: checker}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = gomilter.NewServer(
		gomilter.WithDynamicMilter(func(_ uint32, _ gomilter.OptAction, proto gomilter.OptProtocol, _ gomilter.DataSize) gomilter.Milter {
			return &session{s: s, leadingSpace: proto&gomilter.OptHeaderLeadingSpace != 0}
		}),
		gomilter.WithActions(gomilter.OptAddHeader|gomilter.OptChangeHeader|gomilter.OptChangeBody),
		// Every event but the end of the message needs no reply, and
		// unknown commands are not sent at all.
		gomilter.WithProtocols(gomilter.OptNoUnknown|gomilter.OptHeaderLeadingSpace|
			gomilter.OptNoConnReply|gomilter.OptNoHeloReply|gomilter.OptNoMailReply|gomilter.OptNoRcptReply|
			gomilter.OptNoDataReply|gomilter.OptNoHeaderReply|gomilter.OptNoEOHReply|gomilter.OptNoBodyReply),
		gomilter.WithMacroRequest(gomilter.StageMail, []gomilter.MacroName{gomilter.MacroAuthAuthen}),
		gomilter.WithMacroRequest(gomilter.StageEOM, []gomilter.MacroName{gomilter.MacroQueueId}),
		// Postfix keeps a milter connection for its SMTP session, idle
		// between commands for at most smtpd_timeout (300s) each.
		gomilter.WithReadTimeout(15*time.Minute),
		gomilter.WithWriteTimeout(30*time.Second),
	)
	return s
}

// Listen opens a milter listener: "unix:/path" (a stale socket file is
// replaced; one with a live listener is an error) or host:port.
func Listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return nil, fmt.Errorf("%w: empty socket path", ErrConfig)
		}
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
				c.Close()
				return nil, fmt.Errorf("%w: %s: another server is listening", ErrConfig, path)
			}
			os.Remove(path)
		}
		return net.Listen("unix", path)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("%w: listen %q: %v", ErrConfig, addr, err)
	}
	return net.Listen("tcp", addr)
}

// Serve accepts MTA connections on l until the server is closed; it
// returns nil then.
func (s *Server) Serve(l net.Listener) error {
	err := s.srv.Serve(guardedListener{l})
	if errors.Is(err, gomilter.ErrServerClosed) {
		return nil
	}
	return err
}

// Sessions returns the number of open MTA connections.
func (s *Server) Sessions() int { return int(s.sessions.Load()) }

// Shutdown stops accepting connections and waits for the open ones to
// end, or for ctx; the checks under way are then cancelled.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.cancel()
	return err
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.cancel()
	return s.srv.Close()
}
