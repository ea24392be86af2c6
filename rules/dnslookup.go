package rules

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DNS configures the network tests of one evaluation. With it set (and
// Options.Net), Eval starts a lookup phase before any rule runs: every
// DNSBL query the rule files' check_rbl* rules ask for the message's
// relays and every URI blocklist query their urirhssub / urirhsbl /
// uridnsbl / uridnssub lines ask for its URIs, all at once and
// concurrently, and the eval functions read the answers once the regex
// rules are done. Answers are cached across messages by the resolver
// (auth.DNSResolver keeps them for their TTL).
type DNS struct {
	// Resolver answers the queries; the one the auth checks use.
	Resolver Resolver
	// MaxQueries bounds the DNS questions of one message; the rest are
	// not asked (their rules do not fire). Default 200.
	MaxQueries int
	// Timeout bounds the lookup phase of one message. Default (and upper
	// bound): the rule files' rbl_timeout.
	Timeout time.Duration
	// DisabledZones are blocklist zones never queried, so the rules that
	// use them never fire.
	DisabledZones []string
}

// DNSStats is what the lookup phase of one evaluation did.
type DNSStats struct {
	// Queries counts the questions asked (resolver cache hits included);
	// OverBudget those not asked because MaxQueries was reached.
	Queries, OverBudget int
	// Failed counts questions that timed out or failed (NXDOMAIN and
	// NODATA are answers, not failures).
	Failed int
	// TimedOut reports that the phase ran out of time.
	TimedOut bool
	// Elapsed is how long the phase took, from launch to the last answer.
	Elapsed time.Duration
}

// Resolver is the DNS access the lookup phase needs; *net.Resolver and
// the auth package's resolver have it. Errors are *net.DNSError, with
// IsNotFound for NXDOMAIN and NODATA.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// LookupIP looks up host's addresses; network is "ip", "ip4" or "ip6".
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
}

// nsResolver is the optional capability of a Resolver the uridnsbl rules
// need: name server lookups (*net.Resolver and *auth.DNSResolver have it).
type nsResolver interface {
	LookupNS(ctx context.Context, name string) ([]*net.NS, error)
}

// dnsQuery is one DNS question.
type dnsQuery struct {
	name, qtype string // qtype "A", "TXT" or "NS"
	zone        string // the blocklist zone, "" for NS and A chains
}

// dnsAnswer is the answer to one question: addresses (A), texts (TXT) or
// host names (NS); none for NXDOMAIN, NODATA, a failure or a timeout.
type dnsAnswer struct {
	done chan struct{}
	vals []string
}

// dnsLookups is the lookup phase of one evaluation.
type dnsLookups struct {
	cfg   *DNSConfig
	conf  *Config // util_rb_tld and friends, for registrable domains
	plan  *dnsRules
	r     Resolver
	ctx   context.Context
	stop  context.CancelFunc
	max   int
	off   map[string]bool
	start time.Time
	wg    sync.WaitGroup

	mu      sync.Mutex
	answers map[dnsQuery]*dnsAnswer
	byRule  map[string][]dnsQuery // check_rbl* and URIBL rule → its queries
	bySet   map[string][]dnsQuery // check_rbl set → its queries
	stats   DNSStats
}

// dnsKey keeps the lookup phase in an EvalContext.
const dnsKey = "dns"

// startDNS plans the message's DNS queries and launches them; nil when
// there is nothing to ask.
func (rs *Ruleset) startDNS(ctx context.Context, msg Message, st *evalState, in *Input) *dnsLookups {
	d := in.DNS
	cfg := &rs.conf.DNS
	if d == nil || d.Resolver == nil || !rs.opt.Net || !cfg.Available {
		return nil
	}
	plan := rs.dnsRules()
	if len(plan.rbl) == 0 && len(plan.uribl) == 0 {
		return nil
	}
	timeout := cfg.RBLTimeout
	if d.Timeout > 0 && (timeout <= 0 || d.Timeout < timeout) {
		timeout = d.Timeout
	}
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	l := &dnsLookups{cfg: cfg, conf: &rs.conf, plan: plan, r: d.Resolver, max: d.MaxQueries, off: map[string]bool{}, start: time.Now(),
		answers: map[dnsQuery]*dnsAnswer{}, byRule: map[string][]dnsQuery{}, bySet: map[string][]dnsQuery{}}
	if l.max <= 0 {
		l.max = 200
	}
	for _, z := range d.DisabledZones {
		l.off[normZone(z)] = true
	}
	// The phase's deadline is its own: the lookups go on while the regex
	// rules run, and end no later than the evaluation's context.
	l.ctx, l.stop = context.WithTimeout(ctx, timeout)
	if !cfg.SkipRBL {
		rs.planRBL(l, plan, msg, st.relaysOf(msg))
	}
	if !cfg.SkipURIBL && len(plan.uribl) > 0 {
		rs.planURIBL(l, plan, msg)
	}
	return l
}

// launch asks q in the background and records it for rule (and set).
func (l *dnsLookups) launch(rule, set string, q dnsQuery) {
	if !l.allowed(q) {
		return
	}
	l.mu.Lock()
	l.byRule[rule] = append(l.byRule[rule], q)
	if set != "" {
		l.bySet[set] = append(l.bySet[set], q)
	}
	_, asked := l.answers[q]
	l.mu.Unlock()
	if asked {
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.ask(q)
	}()
}

// allowed applies the disabled zones and dns_query_restriction: the most
// specific domain listed for the name decides.
func (l *dnsLookups) allowed(q dnsQuery) bool {
	if q.zone != "" && l.off[q.zone] {
		return false
	}
	name := strings.ToLower(q.name)
	for {
		if ok, listed := l.cfg.Restrictions[name]; listed {
			return ok
		}
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return true
		}
		name = name[i+1:]
	}
}

// ask answers q once per message, within the query budget; concurrent
// askers of one question share one lookup. Nil means not asked.
func (l *dnsLookups) ask(q dnsQuery) *dnsAnswer {
	l.mu.Lock()
	if a, ok := l.answers[q]; ok {
		l.mu.Unlock()
		<-a.done
		return a
	}
	if l.stats.Queries >= l.max {
		l.stats.OverBudget++
		l.mu.Unlock()
		return nil
	}
	l.stats.Queries++
	a := &dnsAnswer{done: make(chan struct{})}
	l.answers[q] = a
	l.mu.Unlock()
	vals, err := l.resolve(q)
	a.vals = vals
	close(a.done)
	if err != nil {
		l.mu.Lock()
		l.stats.Failed++
		l.mu.Unlock()
	}
	return a
}

// resolve asks the resolver; NXDOMAIN and NODATA are empty answers.
func (l *dnsLookups) resolve(q dnsQuery) ([]string, error) {
	ctx := l.ctx
	if t, ok := l.cfg.ZoneTimeouts[q.zone]; ok && t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	var out []string
	var err error
	switch q.qtype {
	case "TXT":
		out, err = l.r.LookupTXT(ctx, q.name)
	case "NS":
		nr, ok := l.r.(nsResolver)
		if !ok {
			return nil, errors.New("rules: the resolver has no NS lookups")
		}
		var ns []*net.NS
		ns, err = nr.LookupNS(ctx, q.name)
		for _, n := range ns {
			out = append(out, strings.ToLower(strings.TrimSuffix(n.Host, ".")))
		}
	default:
		var ips []net.IP
		ips, err = l.r.LookupIP(ctx, "ip4", q.name)
		for _, ip := range ips {
			if v4 := ip.To4(); v4 != nil {
				out = append(out, v4.String())
			}
		}
	}
	var de *net.DNSError
	if err != nil && errors.As(err, &de) && de.IsNotFound {
		return nil, nil
	}
	return out, err
}

// wait ends the phase: every answer is in, or the time ran out.
func (l *dnsLookups) wait() {
	l.wg.Wait()
	// A query's own timeout fires a moment before the phase's deadline.
	dl, _ := l.ctx.Deadline()
	l.stats.TimedOut = l.ctx.Err() != nil || (l.stats.Failed > 0 && time.Until(dl) < 50*time.Millisecond)
	l.stats.Elapsed = time.Since(l.start)
	l.stop()
}

// answersOf returns the values answered for qs.
func (l *dnsLookups) answersOf(qs []dnsQuery) []dnsResult {
	var out []dnsResult
	for _, q := range qs {
		a := l.answers[q]
		if a == nil {
			continue
		}
		for _, v := range a.vals {
			out = append(out, dnsResult{val: v, txt: q.qtype == "TXT"})
		}
	}
	return out
}

// dnsResult is one answer value and whether it came from a TXT record.
type dnsResult struct {
	val string
	txt bool
}

// in127 reports an address in 127.0.0.0/8.
func in127(s string) bool {
	n, ok := ipv4Num(s)
	return ok && n>>24 == 127
}

// reverseName is the DNSBL query name of ip in zone: the IPv4 octets
// reversed, or the 32 nibbles of an IPv6 address (RFC 5782 §2.1, §2.4).
func reverseName(ip, zone string) (string, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", false
	}
	a = a.Unmap()
	var b strings.Builder
	if a.Is4() {
		v := a.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(v[i])))
			b.WriteByte('.')
		}
	} else {
		const hex = "0123456789abcdef"
		v := a.As16()
		for i := 15; i >= 0; i-- {
			b.WriteByte(hex[v[i]&0xf])
			b.WriteByte('.')
			b.WriteByte(hex[v[i]>>4])
			b.WriteByte('.')
		}
	}
	b.WriteString(zone)
	return b.String(), true
}

// trim returns the registrable domain of host (RegistryBoundaries
// trim_domain).
func (l *dnsLookups) trim(host string) string {
	return RegistrableDomain(host, l.conf.TLDs, l.conf.TwoLevelTLDs)
}

// Stats returns what the phase did; the zero value for no phase.
func (l *dnsLookups) Stats() DNSStats {
	if l == nil {
		return DNSStats{}
	}
	return l.stats
}
