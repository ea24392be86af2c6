package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Policy is the Postfix policy service (check_policy_service), the
// replacement for policyd-spf: SPF at RCPT time, optional FCrDNS and DNSBL
// checks of the client. It uses the [auth] resolvers (dns, dns_timeout).
type Policy struct {
	// Listen are the addresses, host:port or unix:/path; unix sockets get
	// lmtp.socket_mode and lmtp.socket_group. Default none: no policy
	// service.
	Listen []string `toml:"listen"`
	// HELOReject is which HELO results are refused (policyd-spf
	// HELO_reject): "fail", "softfail", "not_pass", "null" (a fail, for
	// the null sender only), "off" (header only) or "no_check". Default
	// "fail".
	HELOReject string `toml:"helo_reject"`
	// MailFromReject is which MAIL FROM results are refused (policyd-spf
	// Mail_From_reject): "fail", "softfail", "not_pass", "off" or
	// "no_check". Default "fail".
	MailFromReject string `toml:"mail_from_reject"`
	// PermErrorReject refuses a permerror (policyd-spf PermError_reject).
	// Default false.
	PermErrorReject bool `toml:"permerror_reject"`
	// TempErrorDefer defers a temperror (policyd-spf TempError_Defer).
	// Default true.
	TempErrorDefer bool `toml:"temperror_defer"`
	// ExemptRecipients are never refused: "local@" in any domain,
	// "@domain", or a whole address. Default postmaster@ and abuse@.
	ExemptRecipients []string `toml:"exempt_recipients"`
	// SkipNetworks are clients not checked (policyd-spf skip_addresses).
	// Default the loopback networks.
	SkipNetworks []string `toml:"skip_networks"`
	// FCrDNS is what a client without forward-confirmed reverse DNS
	// gets: "off", "warn", "defer" or "reject". Default "off".
	FCrDNS string `toml:"fcrdns"`
	// DNSBL are blocklist zones the client address is looked up in;
	// DNSBLAction is what a listing gets: "warn", "defer" or "reject".
	// Default none, "reject".
	DNSBL       []string `toml:"dnsbl"`
	DNSBLAction string   `toml:"dnsbl_action"`
	// Timeout bounds the checks of one request. Default 20s.
	Timeout time.Duration `toml:"timeout"`
	// IdleTimeout closes a connection without requests. Default 330s,
	// longer than Postfix's smtpd_policy_service_max_idle (300s).
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// MaxConnections served at once; the next waits. Default 100.
	MaxConnections int `toml:"max_connections"`
}

// defaultPolicy is the [policy] section's defaults.
func defaultPolicy() Policy {
	return Policy{
		HELOReject:       "fail",
		MailFromReject:   "fail",
		TempErrorDefer:   true,
		ExemptRecipients: []string{"postmaster@", "abuse@"},
		SkipNetworks:     []string{"127.0.0.0/8", "::1/128"},
		FCrDNS:           "off",
		DNSBLAction:      "reject",
		Timeout:          20 * time.Second,
		IdleTimeout:      330 * time.Second, // 5m30s
		MaxConnections:   100,
	}
}

// SkipNets returns SkipNetworks parsed; a bare address is a network of one.
func (p Policy) SkipNets() ([]*net.IPNet, error) {
	return LMTP{XForwardNetworks: p.SkipNetworks}.XForwardNets()
}

// validate returns the problems of the [policy] section.
func (p Policy) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	for _, a := range p.Listen {
		if path, ok := strings.CutPrefix(a, "unix:"); ok {
			if path == "" {
				bad("policy.listen %q: empty socket path", a)
			}
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("policy.listen %q: want host:port or unix:/path", a)
		}
	}
	oneOf := func(key, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad("policy.%s %q: want one of %s", key, v, strings.Join(allowed, ", "))
	}
	oneOf("helo_reject", p.HELOReject, "fail", "softfail", "not_pass", "null", "off", "no_check")
	oneOf("mail_from_reject", p.MailFromReject, "fail", "softfail", "not_pass", "off", "no_check")
	oneOf("fcrdns", p.FCrDNS, "off", "warn", "defer", "reject")
	oneOf("dnsbl_action", p.DNSBLAction, "warn", "defer", "reject")
	for _, z := range p.DNSBL {
		if z == "" || strings.ContainsAny(z, " /:") {
			bad("policy.dnsbl %q: want a DNS zone", z)
		}
	}
	for _, e := range p.ExemptRecipients {
		if !strings.Contains(e, "@") {
			bad("policy.exempt_recipients %q: want local@, @domain or an address", e)
		}
	}
	if _, err := p.SkipNets(); err != nil {
		bad("policy.skip_networks: %v", err)
	}
	if p.Timeout <= 0 || p.IdleTimeout <= 0 {
		bad("policy.timeout and policy.idle_timeout must be positive")
	}
	if p.MaxConnections <= 0 {
		bad("policy.max_connections must be positive")
	}
	return errs
}
