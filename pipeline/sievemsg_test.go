package pipeline

import (
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

// TestSieveMessage: Sieve sees the header the per-message steps left
// (fields added and rewritten) over the spam stage's parse, and the new
// MIME structure where report_safe replaced the body.
func TestSieveMessage(t *testing.T) {
	raw := []byte("Subject: hi\r\nAuthentication-Results: mx.example.net; forged\r\n\r\nplain body\r\n")
	newMsg := func() *Message {
		m := newMessage(&mail.Envelope{}, raw)
		m.Parsed = mail.Parse(m.Raw, mail.Options{})
		m.Header = []byte("Authentication-Results: mx.example.net; spf=pass\r\nX-Spam-Flag: YES\r\nSubject: [SPAM] hi\r\n\r\n")
		return m
	}
	m := newMsg()
	sm := sieveMessage(m)
	h := sm.HeaderFields()
	want := []string{"Authentication-Results: mx.example.net; spf=pass", "X-Spam-Flag: YES", "Subject: [SPAM] hi"}
	if len(h) != len(want) {
		t.Fatalf("HeaderFields() = %q, want %q", h, want)
	}
	for i, f := range h {
		if got := f.Name + ": " + f.Value; got != want[i] {
			t.Errorf("HeaderFields()[%d] = %q, want %q", i, got, want[i])
		}
	}
	if parts := sm.Parts(); len(parts) != 1 || string(parts[0].Body) != "plain body\r\n" {
		t.Errorf("Parts() = %+v, want the one text part of the parsed body", parts)
	}
	if sm.Size() != int64(len(m.Header)+len(m.Body)) {
		t.Errorf("Size() = %d, want %d", sm.Size(), len(m.Header)+len(m.Body))
	}

	m = newMsg()
	m.Header = []byte("Subject: [SPAM] hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	m.Body = []byte("--b\r\nContent-Type: text/plain\r\n\r\nreport\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: hi\r\n\r\nplain body\r\n--b--\r\n")
	parts := sieveMessage(m).Parts()
	if len(parts) != 4 || parts[1].ContentType != "text/plain" || string(parts[1].Body) != "report" || parts[2].ContentType != "message/rfc822" {
		t.Errorf("report_safe Parts() = %+v, want multipart, text/plain report, message/rfc822 holding the original", parts)
	}
}
