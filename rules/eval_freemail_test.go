package rules

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

func TestScanEmail(t *testing.T) {
	tlds := map[string]bool{"com": true, "net": true, "uk": true}
	tests := []struct {
		text, want string
	}{
		{"write to joe.bloggs@mail.example.com today", "joe.bloggs@mail.example.com"},
		{"..x@y.com", "x@y.com"},
		{"a..b@y.com", "b@y.com"},
		{"x@y.community", ""},   // the TLD must end the host
		{"x@y.com.evil", ""},    // nor be followed by a label
		{"x@a.b.c.d.e.com", ""}, // at most four labels before the TLD
		{"x@-a.com", ""},        // labels start with a letter or digit
		{"x@y.com.", "x@y.com"}, // a sentence's full stop
		{"mailto:a+b@gmail.com", "a+b@gmail.com"},
	}
	for _, tt := range tests {
		got, _, _ := scanEmail(tlds, tt.text, 0)
		if got != tt.want {
			t.Errorf("scanEmail(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
	long := "x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b@y.com"
	if got, _, _ := scanEmail(tlds, long, 0); got != "b@y.com" {
		t.Errorf("scanEmail(long local part) = %q, want the part after the last dot within 64 characters", got)
	}
}

func TestQuotedEmail(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"<joe@x.com> said", true},
		{"joe@x.com wrote: hi", true},
		{"joe@x.com fax: 123", false},
		{"joe@x.com email: 123", false},
		{"mailto:joe@x.com>", false},
		{"joe@x.com and more", false},
	}
	for _, tt := range tests {
		_, end, ok := scanEmail(map[string]bool{"com": true}, tt.text, 0)
		if !ok {
			t.Fatalf("no address in %q", tt.text)
		}
		start := end - len("joe@x.com")
		if got := quotedEmail(tt.text, start, end); got != tt.want {
			t.Errorf("quotedEmail(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

// TestFreemailReplyBodyMailto: spam/00049's only freemail body address is
// an <a href="mailto:myscrotumhurts@yahoo.com"> link whose text does not
// show it; SpamAssassin fires FREEMAIL_REPLY (From aol.com differs).
func TestFreemailReplyBodyMailto(t *testing.T) {
	rs, err := LoadString("fm.cf", `
freemail_domains aol.com yahoo.com
util_rb_tld com
header FM_REPLY   eval:check_freemail_replyto('reply')
header FM_REPLYTO eval:check_freemail_replyto('replyto')
score FM_REPLY 1
score FM_REPLYTO 1
`, Options{Plugins: map[string]bool{"Mail::SpamAssassin::Plugin::FreeMail": true}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/parity/00049-spam")
	if err != nil {
		t.Fatal(err)
	}
	res := rs.Eval(context.Background(), FromMail(mail.Parse(raw, mail.Options{})), Input{})
	if len(res.Hits) != 1 || res.Hits[0].Rule != "FM_REPLY" {
		t.Errorf("hits %v, want FM_REPLY only (no Reply-To)", res.Hits)
	}
	// Without the link's address (a plain-text view), no body freemail.
	res = rs.Eval(context.Background(), newTestMessage(raw), Input{})
	if len(res.Hits) != 0 {
		t.Errorf("hits without AnchorMailtos %v, want none", res.Hits)
	}
}

func FuzzScanEmail(f *testing.F) {
	for _, s := range []string{"joe@x.com wrote:", "a..b@y.com", "<x@y.com>", "@", "x@y.com.-"} {
		f.Add(s)
	}
	tlds := map[string]bool{"com": true}
	f.Fuzz(func(t *testing.T, s string) {
		for i := 0; i < len(s); {
			e, end, ok := scanEmail(tlds, s, i)
			if !ok {
				break
			}
			if end <= i || end > len(s) || !strings.HasSuffix(s[:end], e) || !strings.Contains(e, "@") {
				t.Fatalf("scanEmail(%q, %d) = %q, %d", s, i, e, end)
			}
			quotedEmail(s, end-len(e), end)
			i = end
		}
	})
}
