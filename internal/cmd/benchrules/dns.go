package main

import (
	"fmt"
	"net"

	"github.com/miekg/dns"
)

// nxServer is a loopback DNS server that answers NXDOMAIN to every query,
// over UDP and TCP on the same port, so that a filter's DNS lookups (SPF,
// DKIM, DMARC, map URLs) fail at once instead of leaving the machine.
type nxServer struct {
	Addr     string
	udp, tcp *dns.Server
}

func startNX() (*nxServer, error) {
	// Same port for both: pick a UDP port, then bind TCP to it, retrying
	// when that TCP port is taken.
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("benchrules: dns: %w", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			continue
		}
		h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			m := new(dns.Msg)
			m.SetRcode(req, dns.RcodeNameError)
			m.Authoritative = true
			// Answer as a recursive resolver does: with bare NXDOMAIN answers
			// (no RA, no OPT to an EDNS0 query) rspamd 3.4 waited out its
			// timeout on some queries, and ran at a message a second.
			m.RecursionAvailable = true
			if opt := req.IsEdns0(); opt != nil {
				m.SetEdns0(opt.UDPSize(), false)
			}
			w.WriteMsg(m)
		})
		s := &nxServer{Addr: pc.LocalAddr().String(),
			udp: &dns.Server{PacketConn: pc, Handler: h}, tcp: &dns.Server{Listener: l, Handler: h}}
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			started := make(chan struct{})
			srv.NotifyStartedFunc = func() { close(started) }
			go srv.ActivateAndServe()
			<-started
		}
		return s, nil
	}
	return nil, fmt.Errorf("benchrules: dns: no free port for UDP and TCP")
}

func (s *nxServer) Close() {
	s.udp.Shutdown()
	s.tcp.Shutdown()
}
