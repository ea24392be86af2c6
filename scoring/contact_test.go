package scoring

import (
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/rules"
)

// TestReportContact: report_contact in the rule files is what
// _CONTACTADDRESS_ expands to, unless Options names another contact.
func TestReportContact(t *testing.T) {
	rs, err := rules.LoadString("local.cf", "report_contact abuse@example.test\n"+
		"clear_headers\nadd_header all Contact _CONTACTADDRESS_\n", rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	conf := rs.Config()
	v := Decide(rules.Result{}, conf)
	for _, tc := range []struct {
		opt  Options
		want string
	}{
		{Options{Hostname: "h"}, "abuse@example.test"},
		{Options{Hostname: "h", ReportContact: "postmaster@example.test"}, "postmaster@example.test"},
	} {
		var got string
		for _, f := range Headers(v, conf, tc.opt) {
			if f.Name == "X-Spam-Contact" {
				got = strings.TrimSpace(f.Value)
			}
		}
		if got != tc.want {
			t.Errorf("Headers(ReportContact %q): X-Spam-Contact = %q, want %q", tc.opt.ReportContact, got, tc.want)
		}
	}
	if got := string(Apply([]byte("Subject: x\n\nbody\n"), v, conf, Options{Hostname: "h"})); !strings.Contains(got, "X-Spam-Contact: abuse@example.test") {
		t.Errorf("Apply: no X-Spam-Contact: abuse@example.test in\n%s", got)
	}
}
