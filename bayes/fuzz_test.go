package bayes

import (
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

func FuzzTokenize(f *testing.F) {
	for _, s := range []string{
		"Subject: Hello World\n\nBuy FREE!!! pills at www.example.com now...\n",
		"Received: from a (a [10.0.0.1]) by b with ESMTP id 1234567890AB; Tue, 6 Aug 2002 06:48:09 -0400 (EDT)\nMessage-Id: <3c1a$2b3c$deadbeef@host>\nContent-Type: multipart/alternative; boundary=\"--=_x\"\n\n----=_x\nContent-Type: text/html\n\n<p>Caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87\xe4\xb8\xad\xe6\x96\x87\xe4\xb8\xad\xe6\x96\x87</p>\n----=_x--\n",
		"From: \"A B\" <a@b.example>, c@d\nTo: \x80\xff\n\n\xa1\xa2 abcdefghijklmnopqrstuvwxyz a--b\n",
	} {
		f.Add([]byte(s))
	}
	cfg := DefaultConfig()
	f.Fuzz(func(t *testing.T, raw []byte) {
		toks := Tokenize(mail.Parse(raw, mail.Options{}), []string{"X-Spam-Relays-Untrusted: [ ip=1.2.3.4 ]\n"}, cfg)
		for k, v := range toks {
			if v == "" || HashToken(v) != k {
				t.Fatalf("token %q stored under %v", v, k)
			}
		}
	})
}
