package rules

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

func evalCtx(raw string, conf *Config) *EvalContext {
	return &EvalContext{Msg: FromMail(mail.Parse([]byte(raw), mail.Options{})), Config: conf, ctx: context.Background(), cache: map[string]any{}}
}

func TestHTTPSIPMismatch(t *testing.T) {
	fn, _ := NewEvalRegistry().Lookup("check_https_ip_mismatch")
	for _, tt := range []struct {
		name, html string
		want       bool
	}{
		{"ip link, https text", `<a href="http://192.0.2.1/login">https://www.bank.com/login</a>`, true},
		{"https ip link, https text", `<a href="https://192.0.2.1/">see https://bank.com</a>`, true},
		{"userinfo ip link", `<a href="http://user@192.0.2.1/">https://bank.com</a>`, true},
		{"https ip text", `<a href="http://192.0.2.1/">https://192.0.2.1/</a>`, false},
		{"name link", `<a href="http://evil.example/">https://bank.com</a>`, false},
		{"http text", `<a href="http://192.0.2.1/">http://bank.com</a>`, false},
	} {
		ec := evalCtx("Content-Type: text/html\n\n<html><body>"+tt.html+"</body></html>\n", &Config{})
		if got, err := fn(ec, nil); err != nil || got != tt.want {
			t.Errorf("%s: check_https_ip_mismatch = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

func TestURITruncated(t *testing.T) {
	fn, _ := NewEvalRegistry().Lookup("check_uri_truncated")
	long := "http://example.com/" + strings.Repeat("a", 9000)
	for _, tt := range []struct {
		name, raw string
		want      bool
	}{
		{"short", "Subject: x\n\nsee http://example.com/a\n", false},
		// SpamAssassin cuts body lines at 2048 bytes before it looks for
		// URIs there, so a text URI is never that long.
		{"long text uri", "Subject: x\n\nsee " + long + "\n", false},
		{"long href", "Content-Type: text/html\n\n<a href=\"" + long + "\">x</a>\n", true},
		{"just under", "Subject: x\n\nsee http://example.com/" + strings.Repeat("a", 8000) + "\n", false},
	} {
		if got, err := fn(evalCtx(tt.raw, &Config{}), nil); err != nil || got != tt.want {
			t.Errorf("%s: check_uri_truncated = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

func TestWelcomelistBounceRelays(t *testing.T) {
	reg := NewEvalRegistry()
	check, _ := reg.Lookup("check_welcomelist_bounce_relays")
	have, _ := reg.Lookup("have_any_bounce_relays")
	conf := &Config{WelcomelistBounceRelays: []string{"relay*.mysite.example"}}
	const hdr = "From: MAILER-DAEMON@remote.example\nSubject: Undeliverable: hi\n\n"
	for _, tt := range []struct {
		name, body string
		want       bool
	}{
		{"quoted in text", "The message follows.\n\n> Received: from relay1.mysite.example (relay1.mysite.example [192.0.2.5]) by mx\n", true},
		{"other relay", "Received: from mail.other.example (mail.other.example [192.0.2.6]) by mx\n", false},
		{"no Received", "relay1.mysite.example said no\n", false},
		// In the attached header, a folded line: the name ends the first
		// line and is followed by the continuation's whitespace.
		{"attached, folded", "--b\nContent-Type: message/rfc822\n\nReceived: by relay2.mysite.example\n\t(Postfix) id 1; Mon, 1 Jan 2026\nFrom: me@mysite.example\n\nhi\n--b--\n", true},
	} {
		raw := hdr + tt.body
		if strings.HasPrefix(tt.body, "--b") {
			raw = "From: MAILER-DAEMON@remote.example\nSubject: Undeliverable: hi\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n" + tt.body
		}
		if got, err := check(evalCtx(raw, conf), nil); err != nil || got != tt.want {
			t.Errorf("%s: check_welcomelist_bounce_relays = %v, %v; want %v", tt.name, got, err, tt.want)
		}
		if got, _ := check(evalCtx(raw, &Config{}), nil); got {
			t.Errorf("%s: check_welcomelist_bounce_relays without relays = true", tt.name)
		}
	}
	if got, _ := have(evalCtx(hdr, conf), nil); !got {
		t.Error("have_any_bounce_relays = false with a relay listed")
	}
	if got, _ := have(evalCtx(hdr, &Config{}), nil); got {
		t.Error("have_any_bounce_relays = true with none")
	}
	// The directive and its old name are read, in rule files and user_prefs.
	rs, err := LoadString("vb.cf", "welcomelist_bounce_relays Relay1.MySite.example\nwhitelist_bounce_relays relay2.mysite.example\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.conf.WelcomelistBounceRelays; len(got) != 2 || got[0] != "relay1.mysite.example" {
		t.Errorf("WelcomelistBounceRelays = %q", got)
	}
	if w := rs.Lint().Warnings; len(w) > 0 {
		t.Errorf("warnings: %v", w)
	}
}
