package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/lmtp"
	"github.com/sluice-mail/sluice/metrics"
	"github.com/sluice-mail/sluice/pipeline"
	"github.com/sluice-mail/sluice/policy"
)

// policyService is the [policy] front end of serve: the Postfix policy
// server and its listeners.
type policyService struct {
	srv   *policy.Server
	socks []string // unix socket paths, removed at shutdown
	log   *slog.Logger
}

// policyConfig is the [policy] section as the policy server takes it.
func policyConfig(cfg config.Config) (policy.ServerConfig, error) {
	p := cfg.Policy
	nets, err := p.SkipNets()
	if err != nil {
		return policy.ServerConfig{}, fmt.Errorf("policy.skip_networks: %w", err)
	}
	var bls []auth.DNSBL
	for _, z := range p.DNSBL {
		bls = append(bls, auth.DNSBL{Set: z, Zone: z})
	}
	return policy.ServerConfig{
		Config: policy.Config{
			Hostname:         hostnameOf(cfg),
			HELOReject:       policy.SPFReject(p.HELOReject),
			MailFromReject:   policy.SPFReject(p.MailFromReject),
			PermErrorReject:  p.PermErrorReject,
			TempErrorDefer:   p.TempErrorDefer,
			ExemptRecipients: p.ExemptRecipients,
			SkipNetworks:     nets,
			FCrDNS:           policy.Action(p.FCrDNS),
			DNSBLs:           bls,
			DNSBLAction:      policy.Action(p.DNSBLAction),
			Timeout:          p.Timeout,
		},
		IdleTimeout:    p.IdleTimeout,
		MaxConnections: p.MaxConnections,
	}, nil
}

// startPolicy starts the policy service on cfg.Policy.Listen; nil when
// none is configured. A listener that fails later is reported on errc.
func startPolicy(cfg config.Config, log *slog.Logger, mt *metrics.Metrics, errc chan<- error) (*policyService, error) {
	if len(cfg.Policy.Listen) == 0 {
		return nil, nil
	}
	pc, err := policyConfig(cfg)
	if err != nil {
		return nil, err
	}
	res, err := auth.NewDNSResolver(auth.DNSConfig{Servers: cfg.Auth.DNS, Timeout: cfg.Auth.DNSTimeout})
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	mode, _ := cfg.LMTP.SocketModeBits()
	var ls []net.Listener
	ps := &policyService{srv: policy.New(pc, log.With("proto", "policy"), pipeline.CountLookups(res, mt)), log: log}
	for _, a := range cfg.Policy.Listen {
		l, err := lmtp.Listen(a, mode, cfg.LMTP.SocketGroup)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("policy listen %s: %w", a, err)
		}
		ls = append(ls, l)
		if path, ok := strings.CutPrefix(a, "unix:"); ok {
			ps.socks = append(ps.socks, path)
		}
	}
	mt.RegisterSessions("policy", func() float64 { return float64(ps.srv.Sessions()) })
	for _, l := range ls {
		log.Info("listening", "proto", "policy", "addr", l.Addr().String())
		go func() {
			if err := ps.srv.Serve(l); !errors.Is(err, policy.ErrServerClosed) {
				select {
				case errc <- err:
				default:
					log.Error("policy listener failed", "err", err)
				}
			}
		}()
	}
	return ps, nil
}

// shutdown stops the policy service, waiting up to timeout for the
// requests being checked.
func (ps *policyService) shutdown(timeout time.Duration) {
	if ps == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := ps.srv.Shutdown(ctx); err != nil {
		ps.log.Warn("policy shutdown", "err", err)
	}
	for _, p := range ps.socks {
		os.Remove(p)
	}
}

// warnPolicyReload warns when a reload changed [policy]: the policy
// service keeps the settings it started with until a restart.
func warnPolicyReload(cfg, old config.Config, log *slog.Logger) {
	if !reflect.DeepEqual(cfg.Policy, old.Policy) {
		log.Warn("reload: [policy] changed; it takes effect at the next restart")
	}
}
