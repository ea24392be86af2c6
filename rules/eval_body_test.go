package rules

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

func TestMultipartAlternativeDifference(t *testing.T) {
	rs, err := LoadString("madiff.cf", `
body MPART_ALT_DIFF       eval:multipart_alternative_difference('99', '100')
body MPART_ALT_DIFF_COUNT eval:multipart_alternative_difference_count('3', '1')
score MPART_ALT_DIFF 1
score MPART_ALT_DIFF_COUNT 1
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	corpus, err := os.ReadFile("testdata/parity/00215-spam")
	if err != nil {
		t.Fatal(err)
	}
	alt := func(parts string) string {
		return "Content-Type: multipart/alternative; boundary=b\n\n" + parts + "--b--\n"
	}
	const plain = "--b\nContent-Type: text/plain\n\nhello there friend\n"
	tests := []struct {
		name string
		msg  string
		want []string
	}{
		// SpamAssassin fires MPART_ALT_DIFF on spam/00215: its HTML sits
		// in multipart/related under the multipart/alternative.
		{"corpus spam/00215", string(corpus), []string{"MPART_ALT_DIFF"}},
		// The HTML's rendered words equal the text's: no difference,
		// though the source has tags, an entity and a comment.
		{"rendered equal", alt(plain + "--b\nContent-Type: text/html\n\n<p>hello <!-- x -->there&#32;<b>friend</b></p>\n"), nil},
		{"all different", alt(plain + "--b\nContent-Type: text/html\n\n<p>buy cheap pills</p>\n"), []string{"MPART_ALT_DIFF"}},
		// An HTML part with only an image counts as one word the text lacks.
		{"image only", alt(plain + "--b\nContent-Type: text/html\n\n<img src=\"cid:x\">\n"), []string{"MPART_ALT_DIFF"}},
		// A meeting request is skipped.
		{"meeting request", alt("--b\nContent-Type: text/html\n\n<p>meet</p>\n--b\nContent-Type: text/calendar\n\nBEGIN:VCALENDAR\n"), nil},
		// Many text words for few HTML words: the count rule.
		{"count", alt("--b\nContent-Type: text/plain\n\na b c d e f g h\n--b\nContent-Type: text/html\n\n<p>a b</p>\n"), []string{"MPART_ALT_DIFF_COUNT"}},
	}
	for _, tt := range tests {
		res := rs.Eval(context.Background(), FromMail(mail.Parse([]byte(tt.msg), mail.Options{})), Input{})
		var got []string
		for _, h := range res.Hits {
			got = append(got, h.Rule)
		}
		if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
			t.Errorf("%s: hits %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestStockInfo(t *testing.T) {
	fn, _ := NewEvalRegistry().Lookup("check_stock_info")
	tests := []struct {
		body string
		want bool
	}{
		{"Company: Acme Corp\nSymbol: ACME\nCurrent Price: $0.12\n", true},
		{"Company: Acme Corp\nDear friend: hello\n", false},
		{"  Target : 2.00\n 12-Month Target: 3.00\nTrading Date: today\n", true},
	}
	for _, tt := range tests {
		raw := "Content-Type: text/plain\n\n" + tt.body
		ec := &EvalContext{Msg: FromMail(mail.Parse([]byte(raw), mail.Options{})), Config: &Config{}, ctx: context.Background(), cache: map[string]any{}}
		if got, _ := fn(ec, []string{"2"}); got != tt.want {
			t.Errorf("check_stock_info(2) on %q = %v, want %v", tt.body, got, tt.want)
		}
	}
	long := strings.Repeat("word ", 2000)
	parts := shortParagraphs([]byte(long))
	if string(bytes.Join(parts, nil)) != long || len(parts) < 2 || len(parts[0]) > 4096 {
		t.Errorf("shortParagraphs split %d bytes into %d chunks", len(long), len(parts))
	}
}
