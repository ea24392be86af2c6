package policy

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// postfixRequest is a request as Postfix 3.7 smtpd sends it at RCPT.
const postfixRequest = `request=smtpd_access_policy
protocol_state=RCPT
protocol_name=ESMTP
client_address=192.0.2.10
client_name=mail.client.test
client_port=42424
reverse_client_name=mail.client.test
server_address=127.0.0.1
server_port=25
helo_name=mail.client.test
sender=alice@client.test
recipient=bob@example.test
recipient_count=0
queue_id=
instance=1a2b.5f6e7d8c.9a0b1.0
size=0
etrn_domain=
stress=
sasl_method=
sasl_username=
sasl_sender=
ccert_subject=
ccert_issuer=
ccert_fingerprint=
ccert_pubkey_fingerprint=
encryption_protocol=
encryption_cipher=
encryption_keysize=0
policy_context=

`

func TestReadRequest(t *testing.T) {
	in := postfixRequest + "request=smtpd_access_policy\r\nsender=\r\nx==y=z\r\n\r\n"
	br := NewReader(strings.NewReader(in), Limits{})
	req, err := ReadRequest(br, Limits{})
	if err != nil {
		t.Fatalf("ReadRequest = %v", err)
	}
	if req["sender"] != "alice@client.test" || req["instance"] != "1a2b.5f6e7d8c.9a0b1.0" || req["queue_id"] != "" || len(req) != 29 {
		t.Fatalf("ReadRequest = %v (%d attributes)", req, len(req))
	}
	req, err = ReadRequest(br, Limits{})
	if err != nil || req["sender"] != "" || req["x"] != "=y=z" {
		t.Fatalf("second ReadRequest = %v, %v; want CRLF lines and values with '='", req, err)
	}
	if _, err := ReadRequest(br, Limits{}); err != io.EOF {
		t.Fatalf("ReadRequest at end = %v, want io.EOF", err)
	}
}

func TestReadRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		lim      Limits
		want     error
	}{
		{"no equals", "request=smtpd_access_policy\nbogus\n\n", Limits{}, ErrMalformed},
		{"empty name", "=x\n\n", Limits{}, ErrMalformed},
		{"truncated", "request=smtpd_access_policy\nsender=a@b", Limits{}, ErrTruncated},
		{"truncated at line end", "request=smtpd_access_policy\n", Limits{}, ErrTruncated},
		{"long line", "sender=" + strings.Repeat("a", 100) + "\n\n", Limits{MaxLineLength: 64}, ErrLineTooLong},
		{"many attributes", strings.Repeat("a=b\n", 11) + "\n", Limits{MaxAttributes: 10}, ErrTooManyAttributes},
	} {
		_, err := ReadRequest(NewReader(strings.NewReader(tc.in), tc.lim), tc.lim)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: ReadRequest = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Exactly at the limits is fine.
	lim := Limits{MaxLineLength: 64, MaxAttributes: 2}
	line := "s=" + strings.Repeat("a", 61) + "\n"
	if req, err := ReadRequest(NewReader(strings.NewReader(line+"b=c\n\n"), lim), lim); err != nil || len(req["s"]) != 61 {
		t.Errorf("ReadRequest at the limits = %v, %v", req, err)
	}
}

func TestWriteReply(t *testing.T) {
	var b bytes.Buffer
	if err := WriteReply(&b, "PREPEND X: a\r\nb\x00"); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "action=PREPEND X: a  b \n\n"; got != want {
		t.Fatalf("WriteReply = %q, want %q", got, want)
	}
}
