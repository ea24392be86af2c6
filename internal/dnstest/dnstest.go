// Package dnstest runs a small authoritative DNS server on 127.0.0.1 for
// tests: UDP and TCP on the same random port, zones given as master-file
// text (RFC 1035 §5) or as records, and names that can be made to time out
// (no answer at all) or to answer SERVFAIL.
//
// It answers every query itself (no recursion, no delegation): a name with
// records of another type answers NOERROR with no data, a name that is
// absent and has no names below it answers NXDOMAIN, CNAMEs are followed
// inside the zone (RFC 1034 §4.3.2), and UDP answers larger than the
// client's buffer (512 octets, or its EDNS0 size) are truncated with TC set
// so the client retries over TCP (RFC 7766).
package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is a running loopback DNS server. Its methods may be called while
// it serves queries.
type Server struct {
	// Addr is the host:port the server listens on, for UDP and TCP alike.
	Addr string

	mu       sync.Mutex
	rrs      map[string][]dns.RR        // key(name) → records
	timeout  map[string]map[uint16]bool // name → qtypes (0: all)
	servfail map[string]bool
	delay    time.Duration
	queries  atomic.Int64
}

// Start starts a server on 127.0.0.1 serving the records of zone, in
// master-file format with "." as the default origin (so names are written
// fully qualified, trailing dot optional) and a default TTL of 300. The
// server is shut down when the test ends.
func Start(t testing.TB, zone string) *Server {
	t.Helper()
	s := &Server{
		rrs:      map[string][]dns.RR{},
		timeout:  map[string]map[uint16]bool{},
		servfail: map[string]bool{},
	}
	if err := s.AddZone(zone); err != nil {
		t.Fatalf("dnstest.Start: %v", err)
	}
	udp, tcp, err := listen()
	if err != nil {
		t.Fatalf("dnstest.Start: %v", err)
	}
	s.Addr = udp.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	us := &dns.Server{PacketConn: udp, Handler: h}
	ts := &dns.Server{Listener: tcp, Handler: h}
	var wg sync.WaitGroup
	for _, srv := range []*dns.Server{us, ts} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.ActivateAndServe()
		}()
		<-started
	}
	t.Cleanup(func() {
		us.Shutdown()
		ts.Shutdown()
		wg.Wait()
	})
	return s
}

// listen opens a UDP socket on a random loopback port and a TCP listener on
// the same port, retrying when the TCP port happens to be taken.
func listen() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("dnstest: no free port for UDP and TCP: %w", lastErr)
}

// AddZone adds the records of a master-file text (origin ".", TTL 300).
func (s *Server) AddZone(zone string) error {
	zp := dns.NewZoneParser(strings.NewReader(zone), ".", "")
	zp.SetDefaultTTL(300)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		s.Add(rr)
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("dnstest: zone: %w", err)
	}
	return nil
}

// AddRR parses one record in master-file format and adds it; it fails the
// test on a syntax error.
func (s *Server) AddRR(t testing.TB, rr string) {
	t.Helper()
	r, err := dns.NewRR(rr)
	if err != nil {
		t.Fatalf("dnstest: AddRR(%q): %v", rr, err)
	}
	s.Add(r)
}

// Add adds records as they are.
func (s *Server) Add(rrs ...dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		name := key(rr.Header().Name)
		rr.Header().Name = dns.Fqdn(rr.Header().Name)
		s.rrs[name] = append(s.rrs[name], rr)
	}
}

// AddTXT adds a TXT record for name holding value, split into strings of at
// most 255 octets as RFC 7208 §3.3 describes.
func (s *Server) AddTXT(name, value string, ttl uint32) {
	var parts []string
	for len(value) > 255 {
		parts = append(parts, value[:255])
		value = value[255:]
	}
	parts = append(parts, value)
	s.Add(&dns.TXT{
		Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
		Txt: parts,
	})
}

// Timeout makes queries for name go unanswered, so clients time out: all
// queries, or only those of the given types (dns.TypeA, …).
func (s *Server) Timeout(name string, qtypes ...uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(name)
	if s.timeout[k] == nil {
		s.timeout[k] = map[uint16]bool{}
	}
	if len(qtypes) == 0 {
		qtypes = []uint16{0}
	}
	for _, t := range qtypes {
		s.timeout[k][t] = true
	}
}

// ServFail makes every query for name answer SERVFAIL.
func (s *Server) ServFail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servfail[key(name)] = true
}

// Delay makes the server wait d before every answer.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Queries reports how many queries the server has received.
func (s *Server) Queries() int64 { return s.queries.Load() }

// key is the lookup key of name: its wire form, ASCII lower-cased, so that
// the escaped presentation forms of one name ("a\ b", "a\032b") agree.
func key(name string) string {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return strings.ToLower(dns.Fqdn(name))
	}
	for i, c := range buf[:n] {
		if 'A' <= c && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	return string(buf[:n])
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	m := new(dns.Msg)
	if len(req.Question) != 1 {
		m.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := key(q.Name)

	s.mu.Lock()
	if d := s.delay; d > 0 {
		s.mu.Unlock()
		time.Sleep(d)
		s.mu.Lock()
	}
	if t := s.timeout[name]; t[0] || t[q.Qtype] {
		s.mu.Unlock()
		return
	}
	if s.servfail[name] {
		s.mu.Unlock()
		m.SetRcode(req, dns.RcodeServerFailure)
		w.WriteMsg(m)
		return
	}
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	m.Rcode = s.answer(m, name, q.Qtype, 0)
	s.mu.Unlock()

	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		m.SetEdns0(opt.UDPSize(), false)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

// answer appends the records for name and qtype to m, following CNAMEs, and
// returns the response code. The caller holds s.mu.
func (s *Server) answer(m *dns.Msg, name string, qtype uint16, depth int) int {
	if depth > 8 {
		// A CNAME loop: resolvers report it as SERVFAIL.
		m.Answer = nil
		return dns.RcodeServerFailure
	}
	rrs, ok := s.rrs[name]
	if !ok {
		if s.hasBelow(name) {
			return dns.RcodeSuccess // an empty non-terminal (RFC 8020)
		}
		return dns.RcodeNameError
	}
	matched := false
	for _, rr := range rrs {
		if rr.Header().Rrtype == qtype || qtype == dns.TypeANY {
			m.Answer = append(m.Answer, dns.Copy(rr))
			matched = true
		}
	}
	if matched || qtype == dns.TypeCNAME {
		return dns.RcodeSuccess
	}
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CNAME); ok {
			m.Answer = append(m.Answer, dns.Copy(rr))
			return s.answer(m, key(c.Target), qtype, depth+1)
		}
	}
	return dns.RcodeSuccess
}

// hasBelow reports whether a name below the one whose key is k has
// records: in wire form, a descendant ends with k after a label boundary.
func (s *Server) hasBelow(k string) bool {
	for n := range s.rrs {
		if len(n) > len(k) && strings.HasSuffix(n, k) && isLabelStart(n, len(n)-len(k)) {
			return true
		}
	}
	return false
}

// isLabelStart reports whether offset off of wire name w starts a label.
func isLabelStart(w string, off int) bool {
	for i := 0; i < len(w); i += int(w[i]) + 1 {
		if i == off {
			return true
		}
		if w[i] == 0 {
			break
		}
	}
	return false
}
