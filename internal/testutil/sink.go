package testutil

import (
	"crypto/tls"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SinkMsg is one message a Sink received.
type SinkMsg struct {
	From string
	To   []string
	Data []byte
	TLS  bool   // the session ran STARTTLS
	User string // the AUTH PLAIN user, if any
}

// Sink is an SMTP (or LMTP) server on loopback that records what it
// receives: the relay, smart host or final hop of outbound tests.
type Sink struct {
	// Addr is where it listens: set before StartSink to reserve a port
	// (so a relay can be "down" first), else filled with 127.0.0.1:0's.
	Addr string
	// User and Pass, when User is set, are required through AUTH PLAIN.
	User, Pass string
	// RejectRcpt is refused with 550 5.1.1 at RCPT TO.
	RejectRcpt string
	// LMTP serves LMTP instead of SMTP.
	LMTP bool

	mu   sync.Mutex
	msgs []SinkMsg
	fail *smtp.SMTPError
}

// StartSink serves s on s.Addr (or a free loopback port), with STARTTLS
// when tc is set, until the test ends.
func StartSink(t testing.TB, s *Sink, tc *tls.Config) *Sink {
	t.Helper()
	srv := smtp.NewServer(s)
	srv.LMTP = s.LMTP
	srv.TLSConfig = tc
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	addr := s.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Received returns the messages received so far.
func (s *Sink) Received() []SinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// SetFail makes MAIL FROM fail with e (nil: accept again).
func (s *Sink) SetFail(e *smtp.SMTPError) {
	s.mu.Lock()
	s.fail = e
	s.mu.Unlock()
}

// NewSession implements smtp.Backend.
func (s *Sink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &sinkSession{s: s, conn: c}, nil
}

type sinkSession struct {
	s     *Sink
	conn  *smtp.Conn
	cur   SinkMsg
	authd string
}

func (ss *sinkSession) AuthMechanisms() []string {
	if ss.s.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.s.User || pass != ss.s.Pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		ss.authd = user
		return nil
	}), nil
}

func (ss *sinkSession) Reset()        { ss.cur = SinkMsg{} }
func (ss *sinkSession) Logout() error { return nil }

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.fail != nil {
		return ss.s.fail
	}
	if ss.s.User != "" && ss.authd == "" {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	_, ss.cur.TLS = ss.conn.TLSConnectionState()
	ss.cur.User = ss.authd
	ss.cur.From = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == ss.s.RejectRcpt {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	ss.cur.To = append(ss.cur.To, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cur.Data = b
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.cur)
	ss.s.mu.Unlock()
	return nil
}
