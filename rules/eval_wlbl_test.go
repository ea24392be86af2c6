package rules

import (
	"context"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

// TestURIHostListed: WLBLEval looks up the host and its parent domains
// only (ham/00012's clickthru.online.com is not under the TLD "online"),
// the most specific listed name deciding, and skips hosts
// get_uri_detail_list drops ("http://top" has no valid domain).
func TestURIHostListed(t *testing.T) {
	conf := Config{TLDs: map[string]bool{"com": true, "online": true, "top": true},
		URIHostLists: map[string][]string{"NTLD": {"online", "top"}, "BAD": {"evil.com", "!ok.evil.com"}}}
	reg := NewEvalRegistry()
	fn, _ := reg.Lookup("check_uri_host_listed")
	tests := []struct {
		body, list string
		want       bool
	}{
		{"<a href=\"http://clickthru.online.com/x\">x</a> <a href=\"#top\">top</a> http://top", "NTLD", false},
		{"see http://shop.online/x", "NTLD", true},
		{"see http://www.evil.com/x", "BAD", true},
		{"see http://a.ok.evil.com/x", "BAD", false},
		{"mail me: mailto:x@evil.com", "BAD", false},
	}
	for _, tt := range tests {
		raw := "Content-Type: text/html\n\n<html><body>" + tt.body + "</body></html>\n"
		ec := &EvalContext{Msg: FromMail(mail.Parse([]byte(raw), mail.Options{})), Config: &conf, ctx: context.Background(), cache: map[string]any{}}
		if got, _ := fn(ec, []string{tt.list}); got != tt.want {
			t.Errorf("check_uri_host_listed(%s) on %q = %v, want %v (hosts %q)", tt.list, tt.body, got, tt.want, uriHosts(ec))
		}
	}
}
