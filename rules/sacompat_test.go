package rules

import (
	"context"
	"strings"
	"testing"
)

// TestSACompatEvals covers evals rewritten to follow SpamAssassin 4.0.1's
// Perl: check_for_uppercase (MIMEEval.pm) and similar_recipients
// (HeaderEval.pm _check_recipients), and freemail_domains wildcards
// (FreeMail.pm).
func TestSACompatEvals(t *testing.T) {
	caps := strings.Repeat("BUY NOW CHEAP PILLS ", 15)
	lower := strings.Repeat("buy now cheap pills ", 15)
	tests := []struct {
		name string
		msg  string
		fn   string
		args []string
		want bool
	}{
		{"uppercase all caps", "Subject: x\n\n" + caps + "\n", "check_for_uppercase", []string{"75", "100"}, true},
		{"uppercase lower", "Subject: x\n\n" + lower + "\n", "check_for_uppercase", []string{"25", "100"}, false},
		{"uppercase digits count as lower", "Subject: x\n\n" + strings.Repeat("AB 12 ", 40) + "\n", "check_for_uppercase", []string{"50", "75"}, false},
		{"uppercase digits 50 exclusive", "Subject: x\n\n" + strings.Repeat("AB 12 ", 40) + "\n", "check_for_uppercase", []string{"25", "50"}, true},
		{"uppercase needs an inner space", "Subject: x\n\n" + strings.Repeat("ABCDEFGHIJ", 30) + "\n", "check_for_uppercase", []string{"75", "100"}, false},
		{"uppercase short", "Subject: x\n\nBUY NOW\n", "check_for_uppercase", []string{"75", "100"}, false},
		{"uppercase fp charset", "Subject: x\nContent-Type: text/plain; charset=koi8-r\n\n" + caps + "\n", "check_for_uppercase", []string{"75", "100"}, false},
		{"similar recipients", "To: ab1@xy.example, ab2@xy.example, ab3@xy.example, ab4@xy.example, ab5@xy.example\n\nhi\n", "similar_recipients", []string{"0.65", "undef"}, true},
		{"similar hosts of different names", "To: a1@xya.example, b2@xyb.example, c3@xyc.example, d4@xyd.example, e5@xye.example\n\nhi\n", "similar_recipients", []string{"0.65", "undef"}, true},
		{"dissimilar recipients", "To: alice@one.example, bob@two.example, carol@three.example, dave@four.example, erin@five.example\n\nhi\n", "similar_recipients", []string{"0.65", "undef"}, false},
		{"freemail glob one label", "From: a@gmx.net\n\nhi\n", "check_freemail_from", nil, true},
		{"freemail glob not across dots", "From: a@gmx.co.uk\n\nhi\n", "check_freemail_from", nil, false},
		{"freemail glob last label", "From: a@yahoo.co.jp\n\nhi\n", "check_freemail_from", nil, true},
		{"similar recipients too few", "To: ab1@xy.example, ab2@xy.example, ab1@xy.example, ab2@xy.example\n\nhi\n", "similar_recipients", []string{"0.65", "undef"}, false},
	}
	conf := Config{FreemailDomains: []string{"gmx.*", "yahoo.co.*"}}
	conf.freemail = newFreemailIndex(conf.FreemailDomains)
	reg := NewEvalRegistry()
	for _, tt := range tests {
		fn, ok := reg.Lookup(tt.fn)
		if !ok {
			t.Fatalf("Lookup(%q) = false", tt.fn)
		}
		ec := &EvalContext{Msg: newTestMessage([]byte(tt.msg)), Input: &Input{}, Config: &conf, ctx: context.Background(), cache: map[string]any{}}
		got, err := fn(ec, tt.args)
		if err != nil || got != tt.want {
			t.Errorf("%s: %s(%q) = %v, %v, want %v", tt.name, tt.fn, tt.args, got, err, tt.want)
		}
	}
}
