package main

import (
	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/pipeline"
	"github.com/sluice-mail/sluice/rules"
)

// setRuleDNS lets the rule files' DNSBL and URI blocklist rules query
// through the auth resolver, within [auth] dnsbl_max_queries and
// dnsbl_timeout, without the zones [[auth.dnsbl]] disables. Without the
// auth checks (enabled = false, check -dns off) there are no network
// tests, as with spamassassin -L.
func setRuleDNS(cfg config.Config, a *pipeline.AuthStage, spam *pipeline.SpamStage) {
	if a == nil || spam == nil || a.Resolver == nil {
		return
	}
	d := &rules.DNS{Resolver: a.Resolver, MaxQueries: cfg.Auth.DNSBLMaxQueries, Timeout: cfg.Auth.DNSBLTimeout}
	for _, b := range cfg.Auth.DNSBLs {
		if b.Disable {
			d.DisabledZones = append(d.DisabledZones, b.Zone)
		}
	}
	spam.DNS = d
}
