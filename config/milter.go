package config

import (
	"net"
	"strings"
	"time"
)

// Milter configures the Postfix milter front end (smtpd_milters): DKIM
// signing of outbound mail with the [outbound] dkim_key_table and
// dkim_signing_table, and checks of inbound mail at the end of DATA.
type Milter struct {
	// Listen are the milter addresses, host:port or unix:/path; empty
	// (the default) runs no milter. `-milter ADDR` replaces it.
	Listen []string `toml:"listen"`
	// SignNetworks are the client networks (CIDRs or addresses) whose
	// mail is signed and not checked, as OpenDKIM's InternalHosts;
	// SASL-authenticated clients are signed wherever they come from.
	// Default ["127.0.0.0/8", "::1/128"].
	SignNetworks []string `toml:"sign_networks"`
	// RejectScore, above 0, refuses inbound mail scoring at or above it
	// with 550 5.7.1 at the end of DATA. Default 0: off.
	RejectScore float64 `toml:"reject_score"`
	// OnError is what a message the checks or the signer fail on gets:
	// "tempfail" (451 4.7.1, the default) or "accept" (unchanged).
	OnError string `toml:"on_error"`
	// MaxMessageSize bounds the bytes kept per message; a larger one is
	// accepted unsigned and unchecked. Default 52428800 (50 MiB).
	MaxMessageSize int64 `toml:"max_message_size"`
	// Timeout bounds the end-of-DATA work of one message; keep it below
	// Postfix's milter_content_timeout (300s). Default 60s.
	Timeout time.Duration `toml:"timeout"`
	// ScanKeyFile holds the secret that keys the X-Sluice-Scanned mark on
	// mail the milter checked, so that sluice's LMTP does not check it
	// again. Empty (the default): a random key per process, trusted only
	// by the same `sluice serve`.
	ScanKeyFile string `toml:"scan_key_file"`
}

func defaultMilter() Milter {
	return Milter{
		SignNetworks:   []string{"127.0.0.0/8", "::1/128"},
		OnError:        "tempfail",
		MaxMessageSize: 50 << 20,
		Timeout:        60 * time.Second,
	}
}

// Networks parses SignNetworks; a bare address is a /32 or /128.
func (m Milter) Networks() ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, s := range m.SignNetworks {
		if !strings.Contains(s, "/") {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, &net.ParseError{Type: "IP address", Text: s}
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// validateMilter reports the [milter] section's errors through bad.
func (c *Config) validateMilter(bad func(format string, args ...any)) {
	m := c.Milter
	for _, a := range m.Listen {
		if path, ok := strings.CutPrefix(a, "unix:"); ok {
			if path == "" {
				bad("milter.listen %q: empty socket path", a)
			}
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("milter.listen %q: want host:port or unix:/path", a)
		}
	}
	if _, err := m.Networks(); err != nil {
		bad("milter.sign_networks: %v", err)
	}
	switch m.OnError {
	case "tempfail", "accept":
	default:
		bad("milter.on_error %q: want tempfail or accept", m.OnError)
	}
	if m.MaxMessageSize <= 0 {
		bad("milter.max_message_size must be positive")
	}
	if m.Timeout <= 0 {
		bad("milter.timeout must be positive")
	}
	if m.RejectScore < 0 {
		bad("milter.reject_score must not be negative (0 is off)")
	}
}
