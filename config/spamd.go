package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Spamd configures the SPAMC/SPAMD protocol server (spamc, Exim's spam
// condition, amavis): `sluice serve` answers it on Listen.
type Spamd struct {
	// Listen lists host:port or unix:/path addresses, such as
	// "127.0.0.1:783" (spamd's port). Default empty: off.
	Listen []string `toml:"listen"`
	// SocketMode is the permission of unix sockets, octal. Default
	// "0666", as spamd's --socketmode.
	SocketMode string `toml:"socket_mode"`
	// AllowedIPs lists the networks (CIDRs or addresses) TCP clients may
	// connect from, as spamd's -A. Default empty: loopback only.
	AllowedIPs []string `toml:"allowed_ips"`
	// MaxConnections bounds the connections served at once; further
	// clients wait, as with spamd's --max-children. Default 50.
	MaxConnections int `toml:"max_connections"`
	// MaxMessageSize bounds a message (after zlib inflation); a larger one
	// is refused with EX_DATAERR and spamc passes it on unscanned.
	// Default 50 MiB.
	MaxMessageSize int64 `toml:"max_message_size"`
	// MaxBytesInFlight bounds the message bytes all requests together
	// hold in memory (by Content-length; MaxMessageSize for a request
	// without one or compressed); past it a request is answered
	// EX_TEMPFAIL. Default 200 MiB.
	MaxBytesInFlight int64 `toml:"max_bytes_in_flight"`
	// ReadTimeout bounds reading a request, WriteTimeout writing the
	// reply. Default 30s each (spamd's --timeout-tcp).
	ReadTimeout  time.Duration `toml:"read_timeout"`
	WriteTimeout time.Duration `toml:"write_timeout"`
	// ScanTimeout bounds scoring or learning one message. Default 5m
	// (spamd's --timeout-child).
	ScanTimeout time.Duration `toml:"scan_timeout"`
	// AllowTell lets clients learn and forget through TELL (spamc -L,
	// -C), as spamd's --allow-tell. Default false.
	AllowTell bool `toml:"allow_tell"`
}

// defaultSpamd is the [spamd] section's defaults.
func defaultSpamd() Spamd {
	return Spamd{
		SocketMode:     "0666",
		MaxConnections: 50,
		MaxMessageSize: 50 << 20,
		// Room for four messages of the largest size at once, as LMTP.
		MaxBytesInFlight: 200 << 20,
		ReadTimeout:      30 * time.Second,
		WriteTimeout:     30 * time.Second,
		ScanTimeout:      5 * time.Minute,
	}
}

// AllowedNets returns AllowedIPs parsed; a bare address is a network of
// one.
func (s Spamd) AllowedNets() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, a := range s.AllowedIPs {
		if ip, err := netip.ParseAddr(a); err == nil {
			out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return nil, fmt.Errorf("%w: network %q: want a CIDR such as 10.0.0.0/24 or an address", ErrInvalid, a)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// SocketModeBits returns SocketMode parsed.
func (s Spamd) SocketModeBits() (uint32, error) {
	m, err := strconv.ParseUint(s.SocketMode, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("%w: socket mode %q", ErrInvalid, s.SocketMode)
	}
	return uint32(m), nil
}

// validate adds the [spamd] section's errors through bad.
func (s Spamd) validate(bad func(format string, args ...any)) {
	for _, a := range s.Listen {
		if path, ok := strings.CutPrefix(a, "unix:"); ok {
			if path == "" {
				bad("spamd.listen %q: empty socket path", a)
			}
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("spamd.listen %q: want host:port or unix:/path", a)
		}
	}
	if _, err := s.SocketModeBits(); err != nil {
		bad("spamd.socket_mode %q: want an octal mode such as 0666", s.SocketMode)
	}
	if _, err := s.AllowedNets(); err != nil {
		bad("spamd.allowed_ips: %v", err)
	}
	if s.MaxConnections <= 0 {
		bad("spamd.max_connections must be positive")
	}
	if s.MaxMessageSize <= 0 {
		bad("spamd.max_message_size must be positive")
	}
	if s.MaxBytesInFlight < s.MaxMessageSize {
		bad("spamd.max_bytes_in_flight (%d) must be at least spamd.max_message_size (%d)", s.MaxBytesInFlight, s.MaxMessageSize)
	}
	for _, t := range []struct {
		key string
		d   time.Duration
	}{
		{"spamd.read_timeout", s.ReadTimeout},
		{"spamd.write_timeout", s.WriteTimeout},
		{"spamd.scan_timeout", s.ScanTimeout},
	} {
		if t.d <= 0 {
			bad("%s must be positive", t.key)
		}
	}
}
