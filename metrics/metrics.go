// Package metrics defines sluice's Prometheus collectors and serves them,
// with /healthz and /readyz, over HTTP. The collectors are fields of a
// Metrics value registered on a registry the caller owns: no globals.
// docs/metrics.md documents every metric.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every collector sluice exports.
type Metrics struct {
	Registry *prometheus.Registry

	Messages       *prometheus.CounterVec   // result: ham, spam, rejected, tempfail
	Recipients     *prometheus.CounterVec   // action: inbox, folder, redirect, discard, reject, tempfail
	Score          prometheus.Histogram     // spam score of every scored message
	RuleHits       *prometheus.CounterVec   // rule
	RuleTimeouts   prometheus.Counter       // rule evaluations that ran out of budget
	StageDuration  *prometheus.HistogramVec // stage: parse, auth, bayes, rules, autolearn, sieve, delivery
	DNSLookups     *prometheus.CounterVec   // result: ok, nxdomain, servfail, timeout, error
	DeliveryErrors *prometheus.CounterVec   // reason: nospace, io, panic, outbound, other
	RulesLoaded    prometheus.Gauge
	Reloads        *prometheus.CounterVec // result: ok, error
	BuildInfo      *prometheus.GaugeVec   // version, goversion
	BayesErrors    *prometheus.CounterVec // op: score, learn
	AutoLearn      *prometheus.CounterVec // result: ham, spam, no, unavailable, failed, disabled
	StateErrors    *prometheus.CounterVec // state: delivery_log, vacation, duplicate
	// --- rule-file DNS blocklists (docs/dnsbl.md) ---
	RuleDNSQueries   prometheus.Histogram   // questions asked per message
	RuleDNSExhausted *prometheus.CounterVec // budget: count, time
	// --- per-user preferences from SQL (docs/userprefs.md) ---
	UserPrefsSQL *prometheus.CounterVec // result: hit, query, error

	ready atomic.Bool
}

// New creates the collectors and registers them, with the Go and process
// collectors, on a fresh registry.
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_messages_total", Help: "Messages handled, by result (ham, spam, rejected, tempfail).",
		}, []string{"result"}),
		Recipients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_recipients_total", Help: "Recipients handled, by final action (inbox, folder, redirect, discard, reject, tempfail).",
		}, []string{"action"}),
		Score: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sluice_score", Help: "Spam score of scored messages.",
			Buckets: []float64{-5, -2, 0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50, 100},
		}),
		RuleHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_rule_hits_total", Help: "Rule hits, by rule name.",
		}, []string{"rule"}),
		RuleTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_rules_timeouts_total", Help: "Messages whose rule evaluation ran out of its time budget.",
		}),
		StageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_stage_duration_seconds", Help: "Time spent per message in each stage (parse, auth, bayes, rules, autolearn, sieve, delivery).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"stage"}),
		DNSLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_dns_lookups_total", Help: "DNS lookups, by result.",
		}, []string{"result"}),
		DeliveryErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_delivery_errors_total", Help: "Failed deliveries (answered 4xx), by reason.",
		}, []string{"reason"}),
		RulesLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_rules_loaded", Help: "Active rules in the rule set in force.",
		}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_reloads_total", Help: "Configuration reloads, by result (ok, error).",
		}, []string{"result"}),
		BayesErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_bayes_errors_total", Help: "Bayes database operations that failed (the message went on without Bayes), by op (score, learn).",
		}, []string{"op"}),
		AutoLearn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_autolearn_total", Help: "Auto-learn outcomes, as X-Spam-Status autolearn= says (ham, spam, no, unavailable, failed, disabled).",
		}, []string{"result"}),
		StateErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_state_errors_total", Help: "Operations on the outbound state (Redis or the state file) that failed, by state (delivery_log, vacation, duplicate).",
		}, []string{"state"}),
		RuleDNSQueries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sluice_rule_dns_queries", Help: "DNS questions the rule files' DNSBL and URI blocklist rules asked per message.",
			Buckets: []float64{0, 5, 10, 20, 40, 80, 120, 160, 200, 400},
		}),
		RuleDNSExhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_rule_dns_budget_exhausted_total", Help: "Messages whose DNSBL/URIBL lookups ran out of their query budget (count) or time (time).",
		}, []string{"budget"}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_build_info", Help: "Always 1; labels name the build.",
		}, []string{"version", "goversion"}),
		UserPrefsSQL: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_user_prefs_sql_total", Help: "Per-user preference look-ups in user_scores_dsn, by result (hit: from the cache, query: read from the database, error: the query failed and the site's settings were used).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.UserPrefsSQL)
	for _, r := range []string{"hit", "query", "error"} {
		m.UserPrefsSQL.WithLabelValues(r)
	}
	reg.MustRegister(m.Messages, m.Recipients, m.Score, m.RuleHits, m.RuleTimeouts, m.StageDuration,
		m.DNSLookups, m.DeliveryErrors, m.RulesLoaded, m.Reloads, m.BuildInfo, m.BayesErrors, m.AutoLearn, m.StateErrors,
		m.RuleDNSQueries, m.RuleDNSExhausted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.BuildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	// Make the labelled series visible at zero before the first event.
	for _, r := range []string{"ham", "spam", "rejected", "tempfail"} {
		m.Messages.WithLabelValues(r)
	}
	for _, a := range []string{"inbox", "folder", "redirect", "discard", "reject", "tempfail"} {
		m.Recipients.WithLabelValues(a)
	}
	for _, op := range []string{"score", "learn"} {
		m.BayesErrors.WithLabelValues(op)
	}
	for _, r := range []string{"ham", "spam", "no", "unavailable", "failed", "disabled"} {
		m.AutoLearn.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.Reloads.WithLabelValues(r)
	}
	for _, st := range []string{"delivery_log", "vacation", "duplicate"} {
		m.StateErrors.WithLabelValues(st)
	}
	return m
}

// RegisterSessions exports f, the number of open sessions of a front end
// (proto lmtp, smtp or spamd), as sluice_sessions_open.
func (m *Metrics) RegisterSessions(proto string, f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sluice_sessions_open", Help: "Open LMTP/SMTP sessions.",
		ConstLabels: prometheus.Labels{"proto": proto},
	}, f))
}

// SetReady marks the process ready (or not) for /readyz.
func (m *Metrics) SetReady(ok bool) { m.ready.Store(ok) }

// ObserveStage records d for stage.
func (m *Metrics) ObserveStage(stage string, d time.Duration) {
	m.StageDuration.WithLabelValues(stage).Observe(d.Seconds())
}

// Handler serves /metrics, /healthz and /readyz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !m.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}

// Serve serves Handler on l until ctx is done; with withPprof, Go's
// profiler under /debug/pprof/ too.
func (m *Metrics) Serve(ctx context.Context, l net.Listener, log *slog.Logger, withPprof bool) error {
	h := m.Handler()
	paths := "/metrics /healthz /readyz"
	if withPprof {
		mux := http.NewServeMux()
		mux.Handle("/", h)
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		h, paths = mux, paths+" /debug/pprof/"
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("listening", "proto", "http", "addr", l.Addr().String(), "paths", paths)
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
