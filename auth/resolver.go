package auth

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Resolver is the DNS access SPF, DKIM, DMARC and DNSBL checks need. Its
// method set is that of *net.Resolver, so net.DefaultResolver satisfies it;
// the package's own implementation is *DNSResolver.
//
// Errors are *net.DNSError: IsNotFound for NXDOMAIN and for a name without
// records of the type asked (NODATA), IsTimeout for a timeout, IsTemporary
// for SERVFAIL and other failures worth retrying. Any other error is taken
// as temporary.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// LookupIP looks up host's addresses; network is "ip", "ip4" or "ip6".
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	// LookupAddr returns the PTR names of addr, fully qualified.
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Sentinel errors a *DNSResolver wraps into its *net.DNSError answers
// (net.DNSError.Unwrap), so callers can tell failures apart with errors.Is.
var (
	ErrNXDomain = errors.New("auth: no such domain (NXDOMAIN)")
	ErrNoData   = errors.New("auth: no records of that type (NODATA)")
	ErrServFail = errors.New("auth: server failure (SERVFAIL)")
	ErrTimeout  = errors.New("auth: DNS timeout")
	ErrRefused  = errors.New("auth: query refused or malformed")
)

// DNSConfig configures a DNSResolver.
type DNSConfig struct {
	// Servers are the recursive resolvers to ask, as host:port, tried in
	// order. If empty, the nameservers of ResolvConf are used.
	Servers []string
	// ResolvConf is read when Servers is empty. Default /etc/resolv.conf.
	ResolvConf string
	// Timeout bounds one query to one server. Default 2s.
	Timeout time.Duration
	// Attempts is how many times each server is tried. Default 2.
	Attempts int
	// CacheSize is the number of answers kept (least recently used are
	// dropped). Default 10000; negative disables the cache.
	CacheSize int
	// MaxTTL caps how long an answer is cached. Default 1h.
	MaxTTL time.Duration
	// NegativeTTL is how long NXDOMAIN and NODATA answers are cached when
	// the answer carries no SOA (RFC 2308 §5). Default 5m.
	NegativeTTL time.Duration
	// Now is the clock for cache expiry. Default time.Now.
	Now func() time.Time
}

// DNSResolver is a stub resolver over github.com/miekg/dns with a bounded
// TTL cache. It is safe for concurrent use; share one per process.
// Deadlines come from each call's ctx (the per-message deadline) as well as
// from DNSConfig.Timeout.
type DNSResolver struct {
	cfg     DNSConfig
	servers []string

	mu       sync.Mutex
	cache    map[cacheKey]*list.Element
	lru      *list.List
	inflight map[cacheKey]*call
}

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	key     cacheKey
	rcode   int
	answer  []dns.RR
	expires time.Time
}

// NewDNSResolver returns a resolver for cfg, reading ResolvConf when no
// Servers are configured.
func NewDNSResolver(cfg DNSConfig) (*DNSResolver, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 2
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10000
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = time.Hour
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	servers := cfg.Servers
	if len(servers) == 0 {
		path := cfg.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
		}
		cc, err := dns.ClientConfigFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("auth: reading %s: %w", path, err)
		}
		for _, s := range cc.Servers {
			servers = append(servers, net.JoinHostPort(s, cc.Port))
		}
		if len(servers) == 0 {
			return nil, fmt.Errorf("auth: no nameservers in %s", path)
		}
	}
	return &DNSResolver{
		cfg:      cfg,
		servers:  servers,
		cache:    map[cacheKey]*list.Element{},
		lru:      list.New(),
		inflight: map[cacheKey]*call{},
	}, nil
}

// LookupTXT returns name's TXT records, the strings of each concatenated,
// as the bytes on the wire (like net.Resolver).
func (r *DNSResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TXT); ok {
			var b strings.Builder
			for _, s := range t.Txt {
				txtUnescape(&b, s)
			}
			out = append(out, b.String())
		}
	}
	return out, nil
}

// txtUnescape writes s, a TXT character-string in miekg/dns's
// presentation form ("\DDD" for bytes outside printable ASCII, "\X" for
// quote and backslash), to b as the raw bytes: an SPF record with a byte
// over 0x7E must reach the SPF syntax check as that byte (RFC 7208 §3.1).
func txtUnescape(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if n <= 255 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
}

// LookupIP returns host's A ("ip4"), AAAA ("ip6") or both ("ip") records.
// For "ip", an answer for one family is returned even if the other failed;
// NXDOMAIN on either means NXDOMAIN.
func (r *DNSResolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	var qtypes []uint16
	switch network {
	case "ip4":
		qtypes = []uint16{dns.TypeA}
	case "ip6":
		qtypes = []uint16{dns.TypeAAAA}
	case "ip":
		qtypes = []uint16{dns.TypeA, dns.TypeAAAA}
	default:
		return nil, &net.DNSError{Err: "unknown network " + network, Name: host}
	}
	// Both families are asked at once: SPF's a and mx mechanisms wait on
	// the slower of the two.
	type answer struct {
		rrs []dns.RR
		err error
	}
	answers := make([]answer, len(qtypes))
	var wg sync.WaitGroup
	for i, qt := range qtypes {
		wg.Go(func() {
			rrs, err := r.query(ctx, host, qt)
			answers[i] = answer{rrs, err}
		})
	}
	wg.Wait()
	var ips []net.IP
	var firstErr error
	for _, a := range answers {
		if a.err != nil {
			if errors.Is(a.err, ErrNXDomain) {
				return nil, a.err
			}
			if firstErr == nil || errors.Is(firstErr, ErrNoData) {
				firstErr = a.err
			}
			continue
		}
		for _, rr := range a.rrs {
			switch a := rr.(type) {
			case *dns.A:
				ips = append(ips, a.A)
			case *dns.AAAA:
				ips = append(ips, a.AAAA)
			}
		}
	}
	if len(ips) > 0 {
		return ips, nil
	}
	if firstErr == nil {
		firstErr = dnsError(host, ErrNoData)
	}
	return nil, firstErr
}

// LookupMX returns name's MX records, hosts fully qualified.
func (r *DNSResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	rrs, err := r.query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	var out []*net.MX
	for _, rr := range rrs {
		if mx, ok := rr.(*dns.MX); ok {
			out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
		}
	}
	return out, nil
}

// LookupNS returns name's NS records, hosts fully qualified (the URI
// blocklists of the uridnsbl rules ask for a domain's name servers).
func (r *DNSResolver) LookupNS(ctx context.Context, name string) ([]*net.NS, error) {
	rrs, err := r.query(ctx, name, dns.TypeNS)
	if err != nil {
		return nil, err
	}
	var out []*net.NS
	for _, rr := range rrs {
		if ns, ok := rr.(*dns.NS); ok {
			out = append(out, &net.NS{Host: ns.Ns})
		}
	}
	return out, nil
}

// LookupAddr returns the PTR names for addr, fully qualified.
func (r *DNSResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	arpa, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: addr}
	}
	rrs, err := r.query(ctx, arpa, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		if p, ok := rr.(*dns.PTR); ok {
			out = append(out, p.Ptr)
		}
	}
	return out, nil
}

// dnsError builds the *net.DNSError for one of the sentinels.
func dnsError(name string, sentinel error) *net.DNSError {
	e := &net.DNSError{Err: sentinel.Error(), Name: name, UnwrapErr: sentinel}
	switch sentinel {
	case ErrNXDomain, ErrNoData:
		e.IsNotFound = true
	case ErrTimeout:
		e.IsTimeout = true
		e.IsTemporary = true
	default:
		e.IsTemporary = true
	}
	return e
}

// query returns the answer records of type qtype for name (following the
// CNAMEs the server returned), from the cache when it can.
func (r *DNSResolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	fqdn := dns.Fqdn(strings.ToLower(name))
	if _, ok := dns.IsDomainName(fqdn); !ok || len(fqdn) > 254 {
		return nil, dnsError(name, ErrNXDomain)
	}
	k := cacheKey{fqdn, qtype}
	if e, ok := r.cached(k); ok {
		return answerOf(name, e)
	}
	if err := ctx.Err(); err != nil {
		return nil, dnsError(name, ErrTimeout)
	}
	// Concurrent askers of one question share one query.
	r.mu.Lock()
	c, waiting := r.inflight[k]
	if !waiting {
		c = &call{done: make(chan struct{})}
		r.inflight[k] = c
	}
	r.mu.Unlock()
	if waiting {
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, dnsError(name, ErrTimeout)
		}
		if c.err != nil {
			return nil, dnsError(name, c.err)
		}
		return answerOf(name, c.entry)
	}
	defer func() {
		r.mu.Lock()
		delete(r.inflight, k)
		r.mu.Unlock()
		close(c.done)
	}()

	msg, err := r.exchange(ctx, fqdn, qtype)
	if err != nil {
		// RFC 2308 §7.1 allows caching SERVFAIL briefly; we don't, so a
		// retry by Postfix asks again.
		c.err = err
		return nil, dnsError(name, err)
	}
	e := &cacheEntry{key: k, rcode: msg.Rcode}
	for _, rr := range msg.Answer {
		if rr.Header().Rrtype == qtype {
			e.answer = append(e.answer, rr)
		}
	}
	c.entry = e
	r.store(e, msg)
	return answerOf(name, e)
}

// call is a query in flight, shared by everyone asking the same question.
type call struct {
	done  chan struct{}
	entry *cacheEntry
	err   error // a sentinel
}

func answerOf(name string, e *cacheEntry) ([]dns.RR, error) {
	if e.rcode == dns.RcodeNameError {
		return nil, dnsError(name, ErrNXDomain)
	}
	if len(e.answer) == 0 {
		return nil, dnsError(name, ErrNoData)
	}
	return e.answer, nil
}

// exchange asks the servers in turn, over UDP and then TCP when the answer
// is truncated. It returns one of the sentinels on failure.
func (r *DNSResolver) exchange(ctx context.Context, fqdn string, qtype uint16) (*dns.Msg, error) {
	req := new(dns.Msg)
	req.SetQuestion(fqdn, qtype)
	req.RecursionDesired = true
	req.SetEdns0(1232, false) // the DNS flag day 2020 buffer size
	last := ErrTimeout
	for range r.cfg.Attempts {
		for _, srv := range r.servers {
			msg, err := r.exchangeOne(ctx, req, srv)
			switch {
			case ctx.Err() != nil:
				return nil, ErrTimeout
			case err != nil:
				last = ErrTimeout
			case msg.Rcode == dns.RcodeSuccess || msg.Rcode == dns.RcodeNameError:
				return msg, nil
			case msg.Rcode == dns.RcodeServerFailure:
				last = ErrServFail
			default:
				last = ErrRefused
			}
		}
	}
	return nil, last
}

func (r *DNSResolver) exchangeOne(ctx context.Context, req *dns.Msg, srv string) (*dns.Msg, error) {
	qctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	c := &dns.Client{Net: "udp", Timeout: r.cfg.Timeout, UDPSize: 1232}
	msg, _, err := c.ExchangeContext(qctx, req, srv)
	if err == nil && msg.Truncated {
		c.Net = "tcp"
		msg, _, err = c.ExchangeContext(qctx, req, srv)
	}
	if err != nil {
		return nil, err
	}
	// An answer to another question is a spoofing attempt or a broken
	// server; either way it is not ours.
	if msg.Id != req.Id || len(msg.Question) != 1 || msg.Question[0].Qtype != req.Question[0].Qtype ||
		wireName(msg.Question[0].Name) != wireName(req.Question[0].Name) {
		return nil, fmt.Errorf("auth: DNS answer does not match the question")
	}
	return msg, nil
}

func (r *DNSResolver) cached(k cacheKey) (*cacheEntry, bool) {
	if r.cfg.CacheSize < 0 {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.cache[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !r.cfg.Now().Before(e.expires) {
		r.lru.Remove(el)
		delete(r.cache, k)
		return nil, false
	}
	r.lru.MoveToFront(el)
	return e, true
}

// store caches e for the smallest TTL of the answer, or for a negative
// answer the SOA minimum (RFC 2308 §5), capped by MaxTTL.
func (r *DNSResolver) store(e *cacheEntry, msg *dns.Msg) {
	if r.cfg.CacheSize < 0 {
		return
	}
	ttl := r.cfg.MaxTTL
	if len(e.answer) > 0 {
		for _, rr := range msg.Answer {
			ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
		}
	} else {
		ttl = min(ttl, r.cfg.NegativeTTL)
		for _, rr := range msg.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				ttl = min(ttl, time.Duration(min(soa.Minttl, soa.Hdr.Ttl))*time.Second)
			}
		}
	}
	if ttl <= 0 {
		return
	}
	e.expires = r.cfg.Now().Add(ttl)
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.cache[e.key]; ok {
		el.Value = e
		r.lru.MoveToFront(el)
		return
	}
	r.cache[e.key] = r.lru.PushFront(e)
	for r.lru.Len() > r.cfg.CacheSize {
		old := r.lru.Back()
		r.lru.Remove(old)
		delete(r.cache, old.Value.(*cacheEntry).key)
	}
}

// wireName is name in wire form, ASCII lower-cased, so that different
// escapings of one name ("a\\ b", "a\\032b", "a b") compare equal.
func wireName(name string) string {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return strings.ToLower(name)
	}
	for i, c := range buf[:n] {
		if 'A' <= c && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	return string(buf[:n])
}
