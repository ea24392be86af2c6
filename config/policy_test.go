package config

import (
	"strings"
	"testing"
	"time"
)

func TestPolicyConfig(t *testing.T) {
	d := Default().Policy
	if len(d.Listen) != 0 || d.HELOReject != "fail" || d.MailFromReject != "fail" || !d.TempErrorDefer || d.PermErrorReject ||
		strings.Join(d.ExemptRecipients, ",") != "postmaster@,abuse@" || d.FCrDNS != "off" || d.MaxConnections != 100 || d.IdleTimeout != 330*time.Second {
		t.Fatalf("Default().Policy = %+v, want the documented defaults", d)
	}
	c, err := Parse("sluice.toml", []byte("[policy]\nlisten = [\"127.0.0.1:10045\", \"unix:/run/sluice/policy.sock\"]\nmail_from_reject = \"softfail\"\nskip_networks = [\"10.0.0.0/8\", \"192.0.2.1\"]\nfcrdns = \"reject\"\ndnsbl = [\"zen.example\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	nets, err := c.Policy.SkipNets()
	if err != nil || len(nets) != 2 || c.Policy.MailFromReject != "softfail" || c.Policy.FCrDNS != "reject" || len(c.Policy.Listen) != 2 {
		t.Fatalf("Parse = %+v, nets %v, %v", c.Policy, nets, err)
	}
	for _, tc := range []struct{ src, want string }{
		{"[policy]\nlisten = [\"nope\"]\n", `policy.listen "nope"`},
		{"[policy]\nhelo_reject = \"Fail\"\n", `policy.helo_reject "Fail": want one of fail, softfail`},
		{"[policy]\nmail_from_reject = \"null\"\n", `policy.mail_from_reject "null"`},
		{"[policy]\nfcrdns = \"yes\"\n", `policy.fcrdns "yes"`},
		{"[policy]\ndnsbl_action = \"off\"\n", `policy.dnsbl_action "off"`},
		{"[policy]\nexempt_recipients = [\"postmaster\"]\n", `policy.exempt_recipients "postmaster"`},
		{"[policy]\nskip_networks = [\"10/8\"]\n", "policy.skip_networks"},
		{"[policy]\nmax_connections = 0\n", "policy.max_connections must be positive"},
		{"[policy]\ntimeout = \"0s\"\n", "policy.timeout and policy.idle_timeout must be positive"},
	} {
		if _, err := Parse("sluice.toml", []byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tc.src, err, tc.want)
		}
	}
}
