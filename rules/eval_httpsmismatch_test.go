package rules

import (
	"context"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

func TestHTTPSHTTPMismatch(t *testing.T) {
	conf := Config{TLDs: map[string]bool{"com": true, "net": true}}
	fn, _ := NewEvalRegistry().Lookup("check_https_http_mismatch")
	tests := []struct {
		name, html string
		want       bool
	}{
		{"mismatch", `<a href="http://evil.net/login">https://www.bank.com/login</a>`, true},
		{"same domain", `<a href="http://secure.bank.com/login">https://www.bank.com/login</a>`, false},
		{"ip link skipped", `<a href="http://192.0.2.1/login">https://www.bank.com/login</a>`, false},
		{"text not https", `<a href="http://evil.net/login">www.bank.com</a>`, false},
		{"too many links", `<a href="http://evil.net/">https://www.bank.com/</a>` +
			`<a href="http://a1.com/">a</a><a href="http://a2.com/">a</a><a href="http://a3.com/">a</a><a href="http://a4.com/">a</a>` +
			`<a href="http://a5.com/">a</a><a href="http://a6.com/">a</a><a href="http://a7.com/">a</a><a href="http://a8.com/">a</a><a href="http://a9.com/">a</a>`, false},
	}
	for _, tt := range tests {
		raw := "Content-Type: text/html\n\n<html><body>" + tt.html + "</body></html>\n"
		ec := &EvalContext{Msg: FromMail(mail.Parse([]byte(raw), mail.Options{})), Config: &conf, ctx: context.Background(), cache: map[string]any{}}
		if got, err := fn(ec, []string{"1", "10"}); err != nil || got != tt.want {
			t.Errorf("%s: check_https_http_mismatch = %v, %v, want %v", tt.name, got, err, tt.want)
		}
	}
}
