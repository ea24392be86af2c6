package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/lmtp"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/metrics"
	"github.com/sluice-mail/sluice/pipeline"
	"github.com/sluice-mail/sluice/spamd"
)

// spamdScanner answers the spamd front end with the pipeline in force:
// the same per-message steps as delivery (parse, auth, Bayes, rules,
// scoring, auto-learn), run by CheckUser, and Bayes learning by Learn,
// both for the user users names.
type spamdScanner struct {
	cur   *current
	users spamdUsers
}

// spamdUsers turns a request's User header (spamc -u; "" when absent)
// into the user the pipeline scores for: the mailbox whose Bayes database
// ([bayes] per_user) and, once they exist, per-user preferences apply. A
// name that maps to "" is scored as the site.
type spamdUsers interface {
	PipelineUser(header string) string
}

// headerUsers takes the User header as it is: a mailbox address
// (alice@example.org) has its own Bayes database with per_user; any other
// name has none, and without per_user every name shares the global one.
type headerUsers struct{}

func (headerUsers) PipelineUser(header string) string { return header }

// Scan implements spamd.Scanner.
func (s spamdScanner) Scan(ctx context.Context, req *spamd.Request) (*spamd.Result, error) {
	p := s.cur.relay.Load().Pipeline
	// spamd sees no envelope: the client is taken from the Received
	// fields, as SpamAssassin does.
	user := s.users.PipelineUser(req.User)
	m, err := p.CheckPrefs(ctx, &mail.Envelope{}, unmarked(req.Message), user, p.UserPrefs(ctx, user, spamdSQLUser(req.User)))
	if err != nil {
		return nil, err
	}
	res := &spamd.Result{}
	if v := m.Verdict; v != nil {
		res.Spam, res.Score, res.Required = v.Spam, v.Score, v.Required
		for _, h := range v.Hits {
			res.Symbols = append(res.Symbols, h.Rule)
		}
		sort.Strings(res.Symbols) // get_names_of_tests_hit: Perl's sort
	}
	if req.WantsReport() {
		res.Report = p.Report(m)
	}
	if req.WantsMessage() {
		res.Message = m.Out()
	}
	return res, nil
}

// unmarked returns raw without the X-Sluice-Scanned fields of our milter:
// a spamd client asks for a verdict, which a valid mark would skip (the
// pipeline trusts the marked verdict and scores nothing).
func unmarked(raw []byte) []byte {
	k := mail.HeaderLen(raw)
	fields := mail.ParseHeader(raw[:k])
	var drop []int
	for i := range fields {
		if strings.EqualFold(fields[i].Name, pipeline.ScannedField) {
			drop = append(drop, i)
		}
	}
	if len(drop) == 0 {
		return raw
	}
	h := mail.NewHeader(raw[:k], fields)
	h.Edit(mail.HeaderEdits{Remove: drop})
	return append(h.Bytes(), raw[k:]...)
}

// Learn implements spamd.Scanner. With Bayes off the TELL does nothing
// and says so (no DidSet), as spamd without a Bayes scanner.
// Filter answers FILTER (`sluice pipe` handing its message over): the
// per-message pipeline with the request's envelope, one copy per mailbox
// as pipe's own in-process run would give.
func (s spamdScanner) Filter(ctx context.Context, req *spamd.Request) ([]spamd.Copy, error) {
	p := s.cur.relay.Load().Pipeline
	e := req.Envelope
	env := &mail.Envelope{MailFrom: e.From, Recipients: e.To, ClientIP: net.ParseIP(e.ClientAddress), ClientHelo: e.ClientHelo, QueueID: e.QueueID}
	copies, err := p.Filter(ctx, env, req.Message)
	if err != nil {
		return nil, err
	}
	out := make([]spamd.Copy, len(copies))
	for i, c := range copies {
		out[i] = spamd.Copy{Recipients: c.Recipients, Message: c.Bytes()}
	}
	return out, nil
}

func (s spamdScanner) Learn(ctx context.Context, req *spamd.Request) (spamd.Learned, error) {
	p := s.cur.relay.Load().Pipeline
	class := bayes.Class(0)
	switch {
	case req.SetLocal && req.Class == "spam":
		class = bayes.Spam
	case req.SetLocal:
		class = bayes.Ham
	}
	out, err := p.Learn(ctx, req.Message, s.users.PipelineUser(req.User), class)
	if errors.Is(err, pipeline.ErrNoBayes) || errors.Is(err, bayes.ErrDisabled) {
		return spamd.Learned{}, nil
	}
	if err != nil {
		return spamd.Learned{}, err
	}
	return spamd.Learned{
		DidSetLocal:    class != 0 && (out == bayes.Learned || out == bayes.Moved),
		DidRemoveLocal: class == 0 && out == bayes.Forgotten,
	}, nil
}

// spamdFront is the spamd server and its listeners.
type spamdFront struct {
	srv       *spamd.Server
	listeners []net.Listener
}

// listenSpamd opens [spamd] listen; nil when it is empty.
func listenSpamd(cfg config.Config, cur *current, log *slog.Logger, mt *metrics.Metrics) (*spamdFront, error) {
	c := cfg.Spamd
	if len(c.Listen) == 0 {
		return nil, nil
	}
	nets, err := c.AllowedNets()
	if err != nil {
		return nil, fmt.Errorf("spamd.allowed_ips: %w", err)
	}
	mode, err := c.SocketModeBits()
	if err != nil {
		return nil, fmt.Errorf("spamd.socket_mode: %w", err)
	}
	f := &spamdFront{}
	for _, a := range c.Listen {
		l, err := lmtp.Listen(a, os.FileMode(mode), "")
		if err != nil {
			f.close()
			return nil, fmt.Errorf("spamd listen %s: %w", a, err)
		}
		f.listeners = append(f.listeners, l)
	}
	f.srv = spamd.New(spamd.Config{
		AllowedIPs:       nets,
		MaxConnections:   c.MaxConnections,
		MaxMessageSize:   c.MaxMessageSize,
		MaxBytesInFlight: c.MaxBytesInFlight,
		ReadTimeout:      c.ReadTimeout,
		WriteTimeout:     c.WriteTimeout,
		ScanTimeout:      c.ScanTimeout,
		AllowTell:        c.AllowTell,
	}, log, spamdScanner{cur: cur, users: headerUsers{}})
	mt.RegisterSessions("spamd", func() float64 { return float64(f.srv.Connections()) })
	return f, nil
}

// start serves every listener; each Serve's end is sent to errc.
func (f *spamdFront) start(log *slog.Logger, errc chan<- error) {
	if f == nil {
		return
	}
	for _, l := range f.listeners {
		log.Info("listening", "proto", "spamd", "addr", l.Addr().String())
		go func() { errc <- f.srv.Serve(l) }()
	}
}

// shutdown stops the server, waiting for requests in progress until ctx
// ends; closing a unix listener removes its socket.
func (f *spamdFront) shutdown(ctx context.Context, log *slog.Logger) {
	if f == nil {
		return
	}
	if err := f.srv.Shutdown(ctx); err != nil {
		log.Warn("spamd shutdown", "err", err)
	}
	f.close()
}

func (f *spamdFront) close() {
	for _, l := range f.listeners {
		l.Close()
	}
}
