package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/lmtp"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/maildir"
	"github.com/sluice-mail/sluice/metrics"
	"github.com/sluice-mail/sluice/pipeline"
)

func cmdServe(args []string, stderr io.Writer) int {
	fs := newFlagSet("serve", stderr)
	cfgPath := fs.String("config", "", "configuration `file` (TOML); default: embedded defaults")
	lmtpAddr := fs.String("lmtp", "", "listen `address` (host:port or unix:/path), replacing lmtp.listen")
	mailRoot := fs.String("mail-root", "", "mail root `directory`, replacing delivery.mail_root")
	metricsAddr := fs.String("metrics", "", "metrics listen `address` (host:port, or \"off\"), replacing metrics.listen")
	policyAddr := fs.String("policy", "", "policy service `address` (host:port or unix:/path), replacing policy.listen")
	milterAddr := fs.String("milter", "", "milter listen `address` (host:port or unix:/path), replacing milter.listen")
	spamdAddr := fs.String("spamd", "", "spamd protocol listen `address` (host:port or unix:/path), replacing spamd.listen")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// load reads the configuration the same way at start and on SIGHUP.
	load := func() (config.Config, error) {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return cfg, err
		}
		if *lmtpAddr != "" {
			cfg.LMTP.Listen = []string{*lmtpAddr}
		}
		if *mailRoot != "" {
			cfg.Delivery.MailRoot = *mailRoot
		}
		if *policyAddr != "" {
			cfg.Policy.Listen = []string{*policyAddr}
		}
		if *milterAddr != "" {
			cfg.Milter.Listen = []string{*milterAddr}
		}
		if *spamdAddr != "" {
			cfg.Spamd.Listen = []string{*spamdAddr}
		}
		switch *metricsAddr {
		case "":
		case "off":
			cfg.Metrics.Listen = ""
		default:
			cfg.Metrics.Listen = *metricsAddr
		}
		return cfg, cfg.Validate()
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	log := newLogger(cfg.Log, stderr)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := serve(ctx, cfg, log, hup, load); err != nil {
		log.Error("serve failed", "err", err)
		return 1
	}
	return 0
}

// loadConfig reads the configuration file at path, or returns the
// embedded defaults when path is empty.
func loadConfig(path string) (config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

// current holds the pipeline in force. A reload swaps it; a delivery keeps
// the pipeline it started with until it ends.
type current struct {
	relay    atomic.Pointer[pipeline.Relay] // its Pipeline is the one in force
	mailRoot atomic.Pointer[mailRoot]       // where deliveries go now
	scanKey  []byte                         // keys the milter's marks (scanKey)
	// ping, when not nil, checks the shared state (Redis) for /readyz.
	ping func(context.Context) error
	// redis is the process's Redis clients and stores, kept across reloads.
	redis *redisPool
}

// mailRoot is what watchReady probes: the mail root in force and the free
// space a delivery may need there.
type mailRoot struct {
	path    string
	minFree int64
}

func (c *current) set(p *pipeline.Pipeline, cfg config.Config) {
	c.mailRoot.Store(&mailRoot{cfg.Delivery.MailRoot, cfg.LMTP.MaxMessageSize})
	c.relay.Store(&pipeline.Relay{Pipeline: p, NextHop: cfg.Filter.NextHop, Hostname: hostnameOf(cfg), Timeout: cfg.Filter.NextHopTimeout})
}

func (c *current) Recipient(ctx context.Context, addr string) error {
	return c.relay.Load().Pipeline.Recipient(ctx, addr)
}

func (c *current) Deliver(ctx context.Context, env *mail.Envelope, data []byte) []error {
	return c.relay.Load().Pipeline.Deliver(ctx, env, data)
}

func (c *current) Relay(ctx context.Context, env *mail.Envelope, data []byte) error {
	return c.relay.Load().Relay(ctx, env, data)
}

// reload builds a new pipeline from a fresh configuration and puts it in
// force; on any error the old one stays. Listener addresses, the metrics
// address and logging need a restart.
func reload(cur *current, load func() (config.Config, error), old config.Config, state pipeline.State, log *slog.Logger, mt *metrics.Metrics) {
	cfg, err := load()
	if err == nil {
		err = checkMailRoot(cfg.Delivery.MailRoot)
	}
	if err == nil {
		var p *pipeline.Pipeline
		if p, err = newPipeline(cfg, log, mt, buildOpts{delivers: true, strict: true, state: state, precompile: true, scanKey: cur.scanKey, redis: cur.redis}); err == nil {
			if !slices.Equal(cfg.LMTP.Listen, old.LMTP.Listen) || !slices.Equal(cfg.Filter.Listen, old.Filter.Listen) || cfg.Metrics.Listen != old.Metrics.Listen ||
				fmt.Sprint(cfg.Spamd) != fmt.Sprint(old.Spamd) {
				log.Warn("reload: listen addresses or [spamd] settings changed; they take effect at the next restart")
			}
			warnPolicyReload(cfg, old, log)
			cur.set(p, cfg)
			mt.Reloads.WithLabelValues("ok").Inc()
			log.Info("reloaded")
			return
		}
	}
	mt.Reloads.WithLabelValues("error").Inc()
	log.Error("reload failed; the previous configuration stays in force", "err", err)
}

// serve runs until ctx is cancelled, then shuts down gracefully.
// Each value received on hup reloads the configuration with load.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, hup <-chan os.Signal, load func() (config.Config, error)) error {
	if len(cfg.LMTP.Listen) == 0 && len(cfg.Filter.Listen) == 0 && len(cfg.Milter.Listen) > 0 {
		return serveMilterOnly(ctx, cfg, log, hup, load)
	}
	mt := metrics.New(version)
	if err := checkMailRoot(cfg.Delivery.MailRoot); err != nil {
		return err
	}
	if err := checkSpool(cfg.LMTP.SpoolPath(cfg.Delivery.MailRoot)); err != nil {
		return err
	}
	pool := &redisPool{}
	opened, err := openState(cfg, pool, log, mt) // state.go: bbolt, or Redis with [redis]
	if err != nil {
		return err
	}
	defer opened.close()
	if opened.expire != nil {
		go expireState(ctx, opened.expire, log)
	}
	state := opened.st
	key, err := scanKey(cfg)
	if err != nil {
		return err
	}
	p, err := newPipeline(cfg, log, mt, buildOpts{delivers: true, state: state, precompile: true, scanKey: key, redis: pool})
	if err != nil {
		return err
	}
	hostname := hostnameOf(cfg)
	cur := &current{scanKey: key, ping: opened.ping, redis: pool}
	cur.set(p, cfg)
	lcfg, err := lmtpConfig(cfg, hostname)
	if err != nil {
		return err
	}
	srv := lmtp.New(lcfg, log, cur)

	var smtpSrv *lmtp.Server
	if len(cfg.Filter.Listen) > 0 {
		smtpSrv = lmtp.NewSMTP(lcfg, log, cur)
	}

	listeners, closeAll, err := bindListeners(cfg, srv, smtpSrv)
	if err != nil {
		return err
	}
	mt.RegisterSessions("lmtp", func() float64 { return float64(srv.Sessions()) })
	if smtpSrv != nil {
		mt.RegisterSessions("smtp", func() float64 { return float64(smtpSrv.Sessions()) })
	}
	errc := make(chan error, len(listeners)+len(cfg.Milter.Listen)+len(cfg.Spamd.Listen)+len(cfg.Policy.Listen)+1)
	ms, err := startMilters(cfg, log, mt, func() *pipeline.Pipeline { return cur.relay.Load().Pipeline }, errc)
	if err != nil {
		closeAll()
		return err
	}
	spamdSrv, err := listenSpamd(cfg, cur, log, mt)
	if err != nil {
		closeAll()
		ms.shutdown(context.Background(), cfg)
		return err
	}
	if cfg.Metrics.Listen != "" {
		ml, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			closeAll()
			spamdSrv.shutdown(context.Background(), log)
			return fmt.Errorf("metrics listen %s: %w", cfg.Metrics.Listen, err)
		}
		mctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { errc <- mt.Serve(mctx, ml, log, cfg.Metrics.Pprof) }()
	}
	spamdSrv.start(log, errc)
	for _, b := range listeners {
		log.Info("listening", "proto", b.proto, "addr", b.l.Addr().String())
		go func() { errc <- b.srv.Serve(b.l) }()
	}
	pol, err := startPolicy(cfg, log, mt, errc)
	if err != nil {
		closeAll()
		spamdSrv.shutdown(context.Background(), log)
		return err
	}
	defer pol.shutdown(cfg.LMTP.ShutdownTimeout)
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	defer stopWatch()
	go func() { watchReady(wctx, cur, mt, log, readyInterval); close(watched) }()
	for done := false; !done; {
		select {
		case err := <-errc:
			if err != nil {
				srv.Shutdown(context.Background())
				if smtpSrv != nil {
					smtpSrv.Shutdown(context.Background())
				}
				spamdSrv.shutdown(context.Background(), log)
				return err
			}
		case <-hup:
			reload(cur, load, cfg, state, log, mt)
			if c, err := load(); err == nil {
				ms.reload(c)
			}
		case <-ctx.Done():
			done = true
		}
	}
	stopWatch()
	<-watched
	mt.SetReady(false)
	log.Info("shutting down", "timeout", cfg.LMTP.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.LMTP.ShutdownTimeout)
	defer cancel()
	for _, s := range []*lmtp.Server{srv, smtpSrv} {
		if s == nil {
			continue
		}
		if err := s.Shutdown(sctx); err != nil {
			log.Warn("shutdown", "err", err)
		}
	}
	ms.shutdown(sctx, cfg)
	spamdSrv.shutdown(sctx, log)
	for _, a := range cfg.LMTP.Listen {
		if path, ok := strings.CutPrefix(a, "unix:"); ok {
			os.Remove(path)
		}
	}
	log.Info("stopped")
	return nil
}

// bound is a listener and the server (LMTP or the SMTP filter) that
// serves it.
type bound struct {
	l     net.Listener
	srv   *lmtp.Server
	proto string
}

// bindListeners opens [lmtp] listen for srv and [filter] listen for
// smtpSrv; closeAll closes what it opened. On an error nothing stays open.
func bindListeners(cfg config.Config, srv, smtpSrv *lmtp.Server) (listeners []bound, closeAll func(), err error) {
	closeAll = func() {
		for _, b := range listeners {
			b.l.Close()
		}
	}
	mode, _ := cfg.LMTP.SocketModeBits()
	for _, a := range cfg.LMTP.Listen {
		l, err := lmtp.Listen(a, mode, cfg.LMTP.SocketGroup)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("listen %s: %w", a, err)
		}
		listeners = append(listeners, bound{l, srv, "lmtp"})
	}
	for _, a := range cfg.Filter.Listen {
		l, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("filter listen %s: %w", a, err)
		}
		listeners = append(listeners, bound{l, smtpSrv, "smtp"})
	}
	return listeners, closeAll, nil
}

// lmtpConfig is the [lmtp] section as the LMTP server and the SMTP filter
// front end take it; both share its limits and XFORWARD networks.
func lmtpConfig(cfg config.Config, hostname string) (lmtp.Config, error) {
	nets, err := cfg.LMTP.XForwardNets()
	if err != nil {
		return lmtp.Config{}, fmt.Errorf("lmtp.xforward_networks: %w", err)
	}
	return lmtp.Config{
		Hostname:         hostname,
		MaxMessageSize:   cfg.LMTP.MaxMessageSize,
		MaxRecipients:    cfg.LMTP.MaxRecipients,
		ReadTimeout:      cfg.LMTP.ReadTimeout,
		WriteTimeout:     cfg.LMTP.WriteTimeout,
		XForwardNets:     nets,
		MaxConnections:   cfg.LMTP.MaxConnections,
		MaxSessionTime:   cfg.LMTP.MaxSessionTime,
		MaxBytesInFlight: cfg.LMTP.MaxBytesInFlight,
		MessageTimeout:   cfg.LMTP.MessageTimeout,
		Spool:            mail.SpoolConfig{Dir: cfg.LMTP.SpoolPath(cfg.Delivery.MailRoot), Threshold: cfg.LMTP.SpoolThreshold},
	}, nil
}

// checkSpool prepares the spool directory (created 0700, leftovers
// removed) and spools a probe through it, so that a directory large
// messages could not be written to stops the start.
func checkSpool(dir string) error {
	if err := mail.CleanSpool(dir); err != nil {
		return fmt.Errorf("lmtp.spool_dir %s: %w", dir, err)
	}
	sp := mail.NewSpool(mail.SpoolConfig{Dir: dir, Threshold: 1})
	_, err := sp.Write([]byte("\r\n"))
	if err = errors.Join(err, sp.Close()); err != nil {
		return fmt.Errorf("lmtp.spool_dir %s is not writable: %w", dir, err)
	}
	return nil
}

// checkMailRoot makes sure deliveries can be written under root: a server
// that starts and reports ready while every delivery would get 451 is worse
// than one that refuses to start. It creates root when missing and writes,
// syncs and removes a probe file.
func checkMailRoot(root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("delivery.mail_root %s: %w", root, err)
	}
	f, err := os.CreateTemp(root, ".sluice-probe-*")
	if err != nil {
		return fmt.Errorf("delivery.mail_root %s is not writable: %w", root, err)
	}
	name := f.Name()
	// A byte of data, synced: a full disk still creates empty files.
	_, err = f.Write([]byte{'\n'})
	err = errors.Join(err, f.Sync(), f.Close(), os.Remove(name))
	if err != nil {
		return fmt.Errorf("delivery.mail_root %s: %w", root, err)
	}
	return nil
}

// expireState drops old delivery-log entries and vacation windows hourly.
func expireState(ctx context.Context, expire func() (int, error), log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := expire(); err != nil {
				log.Warn("outbound state expiry", "err", err)
			} else if n > 0 {
				log.Debug("outbound state expiry", "removed", n)
			}
		}
	}
}

// hostnameOf returns the name sluice gives itself.
func hostnameOf(cfg config.Config) string {
	if cfg.LMTP.Hostname != "" {
		return cfg.LMTP.Hostname
	}
	h, _ := os.Hostname()
	return h
}

// buildOpts say what newPipeline builds.
type buildOpts struct {
	// delivers adds recipient resolution and Sieve (serve); the filter
	// modes and check only run the per-message steps.
	delivers bool
	// strict refuses rules with errors (a reload keeps the old set then);
	// otherwise a broken rule is disabled alone and reported.
	strict bool
	// state is the outbound state database; nil: no outbound side.
	state pipeline.State
	// precompile compiles every rule in the background once the pipeline
	// is built, for a server; other commands compile rules as messages
	// use them.
	precompile bool
	// oneShot: the command scores one message (check of one file, pipe).
	oneShot bool
	// scanKey keys the milter's X-Sluice-Scanned marks (see scanKey);
	// nil: milter.scan_key_file's, if set.
	scanKey []byte
	// redis holds the Redis clients and stores the pipelines of one
	// process share; nil: a pool of this pipeline's own.
	redis *redisPool
}

// newPipeline builds the pipeline every mode runs: the per-message steps
// from the configuration and, when it delivers, the recipient directory
// and Sieve.
func newPipeline(cfg config.Config, log *slog.Logger, mt *metrics.Metrics, o buildOpts) (*pipeline.Pipeline, error) {
	pc := pipeline.Config{Hostname: hostnameOf(cfg), Metrics: mt, QuotaFullTempfail: cfg.Delivery.QuotaFullTempfail, ScanKey: o.scanKey}
	if pc.ScanKey == nil && cfg.Milter.ScanKeyFile != "" {
		k, err := scanKey(cfg)
		if err != nil {
			return nil, err
		}
		pc.ScanKey = k
	}
	if cfg.Auth.Enabled {
		a, err := newAuthStage(cfg, mt)
		if err != nil {
			return nil, err
		}
		pc.Auth = a
	}
	if o.oneShot && os.Getenv("GOGC") == "" {
		// A command that scores one message and exits: collecting less
		// often saves a tenth of its time for some 50 MB more.
		debug.SetGCPercent(400)
	}
	if o.redis == nil {
		o.redis = &redisPool{}
	}
	spam, err := newSpamStage(cfg, o.redis, log, o.strict, o.delivers, o.oneShot)
	if err != nil {
		return nil, err
	}
	pc.Spam = spam
	setRuleDNS(cfg, pc.Auth, spam)
	if o.precompile && spam != nil {
		// In the background: a start or reload from the rules cache is
		// ready in a few tens of milliseconds, and a message that comes
		// meanwhile compiles what it needs itself.
		go spam.Rules.Precompile()
	}
	if mt != nil && spam != nil {
		mt.RulesLoaded.Set(float64(spam.Rules.Lint().Active))
	}
	if o.delivers {
		dir, err := newDirectory(cfg.Delivery, log)
		if err != nil {
			return nil, err
		}
		pc.Directory = dir
		if pc.Sieve, err = newSieveStage(cfg, log); err != nil {
			return nil, err
		}
		if o.state != nil {
			snd, err := newSender(cfg, o.state, log)
			if err != nil {
				return nil, err
			}
			pc.Outbound, pc.Log = snd, snd
			if pc.Sieve != nil {
				pc.Sieve.Duplicates = snd.Duplicates
			}
			if snd.SRS != nil {
				pc.Bouncer = snd
			}
		}
	}
	return pipeline.New(pc, log), nil
}

// newAuthStage builds the resolver and the auth checks from cfg.Auth.
func newAuthStage(cfg config.Config, mt *metrics.Metrics) (*pipeline.AuthStage, error) {
	c := cfg.Auth
	res, err := auth.NewDNSResolver(auth.DNSConfig{Servers: c.DNS, Timeout: c.DNSTimeout})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	id := c.AuthServID
	if id == "" {
		id = hostnameOf(cfg)
	}
	var bls []auth.DNSBL
	for _, b := range c.DNSBLs {
		if b.Disable {
			continue
		}
		bl := auth.DNSBL{Set: b.Zone, Zone: b.Zone}
		tests := make([]string, 0, len(b.Rules))
		for test := range b.Rules {
			tests = append(tests, test)
		}
		sort.Strings(tests)
		for _, test := range tests {
			bl.Subtests = append(bl.Subtests, auth.DNSBLSubtest{Name: b.Rules[test], Test: test})
		}
		bls = append(bls, bl)
	}
	return &pipeline.AuthStage{
		Resolver:   pipeline.CountLookups(res, mt),
		AuthServID: id,
		Config: auth.Config{
			DKIMMaxSignatures: c.DKIMMaxSignatures,
			DKIMMinRSABits:    c.DKIMMinRSABits,
			Timeout:           c.Timeout,
			DNSBLs:            bls,
		},
		EnforceDMARC:     c.EnforceDMARC,
		QuarantineFolder: c.QuarantineFolder,
	}, nil
}

// newDirectory builds recipient resolution from the delivery config.
func newDirectory(c config.Delivery, log *slog.Logger) (*pipeline.Directory, error) {
	dc := pipeline.DirectoryConfig{
		MailRoot:           c.MailRoot,
		MailLocation:       c.MailLocation,
		RecipientDelimiter: c.RecipientDelimiter,
		Domains:            c.Domains,
	}
	if c.UsersFile != "" {
		users, err := pipeline.LoadUsers(c.UsersFile)
		if err != nil {
			return nil, err
		}
		dc.Users = users
	}
	owner, err := defaultOwner(c, log)
	if err != nil {
		return nil, err
	}
	dc.Owner = owner
	if dc.Quota, err = c.Quota(); err != nil {
		return nil, err
	}
	if len(c.DomainOwners) > 0 {
		dc.DomainOwners = make(map[string]maildir.Owner)
		for d, s := range c.DomainOwners {
			o, err := config.ParseOwner(s)
			if err != nil {
				return nil, err
			}
			dc.DomainOwners[strings.ToLower(d)] = maildir.Owner{UID: o.UID, GID: o.GID}
		}
	}
	return pipeline.NewDirectory(dc), nil
}

// defaultOwner decides who owns delivered mail. Mail must never belong to
// root: Dovecot refuses to serve it. When sluice runs unprivileged it
// cannot chown, and its own uid owns the mail.
func defaultOwner(c config.Delivery, log *slog.Logger) (*maildir.Owner, error) {
	if c.Owner != "" {
		o, err := config.ParseOwner(c.Owner)
		if err != nil {
			return nil, err
		}
		return &maildir.Owner{UID: o.UID, GID: o.GID}, nil
	}
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if fi, err := os.Stat(c.MailRoot); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			return &maildir.Owner{UID: int(st.Uid), GID: int(st.Gid)}, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("mail root: %w", err)
	}
	abs, _ := filepath.Abs(c.MailRoot)
	log.Warn("running as root with no delivery.owner: mail is owned by nobody (65534:65534); set delivery.owner", "mail_root", abs)
	return &maildir.Owner{UID: 65534, GID: 65534}, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
