package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/lmtp"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/metrics"
	"github.com/sluice-mail/sluice/milter"
	"github.com/sluice-mail/sluice/outbound"
	"github.com/sluice-mail/sluice/pipeline"
)

// scanKey returns the key of the X-Sluice-Scanned marks: milter.scan_key_file's
// contents or, with no file, a random key for this process. Nil when no
// milter runs and no file is set: nothing is marked or trusted.
func scanKey(cfg config.Config) ([]byte, error) {
	if f := cfg.Milter.ScanKeyFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("milter.scan_key_file: %w", err)
		}
		if len(strings.TrimSpace(string(b))) < 16 {
			return nil, fmt.Errorf("milter.scan_key_file %s: want at least 16 bytes of secret", f)
		}
		return b, nil
	}
	if len(cfg.Milter.Listen) == 0 {
		return nil, nil
	}
	k := make([]byte, 32)
	rand.Read(k)
	return k, nil
}

// milterChecker runs the pipeline in force on inbound milter mail.
type milterChecker struct {
	pipeline func() *pipeline.Pipeline // nil: the checks are not loaded
}

func (c milterChecker) Check(ctx context.Context, env *mail.Envelope, raw []byte) (milter.Verdict, error) {
	p := c.pipeline()
	if p == nil {
		return milter.Verdict{}, fmt.Errorf("%w: rules not loaded", milter.ErrUnavailable)
	}
	m, err := p.Scan(ctx, env, raw)
	if err != nil {
		return milter.Verdict{}, err
	}
	v := milter.Verdict{Header: m.Header, Body: m.Body, DMARCReject: p.DMARCRejects(m), TempError: p.DMARCTempError(m)}
	if m.Verdict != nil {
		v.Scored, v.Score = true, m.Verdict.Score
		names := make([]string, len(m.Verdict.Hits))
		for i, h := range m.Verdict.Hits {
			names[i] = h.Rule
		}
		v.Tests = strings.Join(names, ",")
	}
	return v, nil
}

// milterSigner signs with the DKIM tables in force; a reload swaps them.
type milterSigner struct{ d atomic.Pointer[outbound.DKIM] }

func (s *milterSigner) Sign(raw []byte, addr string) ([]byte, bool, error) {
	d := s.d.Load()
	if d == nil {
		return raw, false, nil
	}
	return d.Sign(raw, addr)
}

// load reads the [outbound] DKIM tables; without them nothing is signed.
func (s *milterSigner) load(cfg config.Config, log *slog.Logger) error {
	c := cfg.Outbound
	if c.DKIMKeyTable == "" || c.DKIMSigningTable == "" {
		log.Warn("milter: no outbound.dkim_key_table and dkim_signing_table; outbound mail passes unsigned")
		s.d.Store(nil)
		return nil
	}
	d, err := outbound.LoadDKIM(outbound.DKIMConfig{KeyTable: c.DKIMKeyTable, SigningTable: c.DKIMSigningTable})
	if err != nil {
		return fmt.Errorf("milter: %w", err)
	}
	s.d.Store(d)
	return nil
}

// milters are the running milter servers and what they share.
type milters struct {
	servers []*milter.Server
	signer  *milterSigner
	log     *slog.Logger
}

// startMilters listens on cfg.Milter.Listen and serves there, checking
// with the pipeline current returns; Serve errors go to errc. Nothing runs
// when no address is configured.
func startMilters(cfg config.Config, log *slog.Logger, mt *metrics.Metrics, current func() *pipeline.Pipeline, errc chan<- error) (*milters, error) {
	ms := &milters{signer: &milterSigner{}, log: log}
	if len(cfg.Milter.Listen) == 0 {
		return ms, nil
	}
	if err := ms.signer.load(cfg, log); err != nil {
		return nil, err
	}
	nets, err := cfg.Milter.Networks()
	if err != nil {
		return nil, fmt.Errorf("milter.sign_networks: %w", err)
	}
	mc := milter.Config{
		SignNetworks:   nets,
		RejectScore:    cfg.Milter.RejectScore,
		OnErrorAccept:  cfg.Milter.OnError == "accept",
		MaxMessageSize: cfg.Milter.MaxMessageSize,
		Timeout:        cfg.Milter.Timeout,
	}
	srv := milter.New(mc, log, ms.signer, milterChecker{pipeline: current})
	var ls []net.Listener
	// A unix socket gets [lmtp]'s socket_mode and socket_group: Postfix's
	// smtpd must be able to write to it.
	mode, _ := cfg.LMTP.SocketModeBits()
	for _, a := range cfg.Milter.Listen {
		l, err := lmtp.Listen(a, mode, cfg.LMTP.SocketGroup)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("milter listen %s: %w", a, err)
		}
		ls = append(ls, l)
	}
	ms.servers = append(ms.servers, srv)
	if mt != nil {
		mt.RegisterSessions("milter", func() float64 { return float64(srv.Sessions()) })
	}
	for _, l := range ls {
		log.Info("listening", "proto", "milter", "addr", l.Addr().String())
		go func() { errc <- srv.Serve(l) }()
	}
	return ms, nil
}

// reload re-reads the DKIM tables; on error the old ones stay.
func (ms *milters) reload(cfg config.Config) {
	if len(ms.servers) == 0 {
		return
	}
	if err := ms.signer.load(cfg, ms.log); err != nil {
		ms.log.Error("reload: milter DKIM tables; the previous ones stay in force", "err", err)
	}
}

// shutdown stops the milters, waiting for the messages under way until
// ctx ends.
func (ms *milters) shutdown(ctx context.Context, cfg config.Config) {
	for _, s := range ms.servers {
		if err := s.Shutdown(ctx); err != nil {
			s.Close()
		}
	}
	for _, a := range cfg.Milter.Listen {
		if path, ok := strings.CutPrefix(a, "unix:"); ok {
			os.Remove(path)
		}
	}
}

// serveMilterOnly runs `sluice serve` with milters and neither LMTP nor
// the SMTP filter: no mail root, no delivery. Rules that cannot be loaded
// leave signing working; inbound mail then gets milter.on_error until a
// reload loads them.
func serveMilterOnly(ctx context.Context, cfg config.Config, log *slog.Logger, hup <-chan os.Signal, load func() (config.Config, error)) error {
	mt := metrics.New(version)
	key, err := scanKey(cfg)
	if err != nil {
		return err
	}
	var cur atomic.Pointer[pipeline.Pipeline]
	pool := &redisPool{}
	build := func(cfg config.Config) {
		p, err := newPipeline(cfg, log, mt, buildOpts{precompile: true, scanKey: key, redis: pool})
		if err != nil {
			log.Error("milter: checks not loaded; inbound mail gets milter.on_error", "on_error", cfg.Milter.OnError, "err", err)
			return
		}
		cur.Store(p)
	}
	build(cfg)
	errc := make(chan error, len(cfg.Milter.Listen)+1)
	ms, err := startMilters(cfg, log, mt, cur.Load, errc)
	if err != nil {
		return err
	}
	if cfg.Metrics.Listen != "" {
		ml, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			ms.shutdown(context.Background(), cfg)
			return fmt.Errorf("metrics listen %s: %w", cfg.Metrics.Listen, err)
		}
		mctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { errc <- mt.Serve(mctx, ml, log, cfg.Metrics.Pprof) }()
	}
	mt.SetReady(true)
	for {
		select {
		case err := <-errc:
			if err != nil {
				ms.shutdown(context.Background(), cfg)
				return err
			}
		case <-hup:
			if c, err := load(); err != nil {
				log.Error("reload failed; the previous configuration stays in force", "err", err)
			} else {
				build(c)
				ms.reload(c)
				log.Info("reloaded")
			}
		case <-ctx.Done():
			mt.SetReady(false)
			sctx, cancel := context.WithTimeout(context.Background(), cfg.LMTP.ShutdownTimeout)
			ms.shutdown(sctx, cfg)
			cancel()
			log.Info("stopped")
			return nil
		}
	}
}
