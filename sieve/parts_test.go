package sieve

import (
	"bytes"
	"reflect"
	"testing"
)

// TestParseMessageParts checks that a message given as header section and
// body parses as the same message given whole.
func TestParseMessageParts(t *testing.T) {
	for _, raw := range []string{
		"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n",
		"Subject: x\n\nbody\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b--\r\n",
		"\r\nbody only\r\n",
		"not a header\r\n\r\nbody\r\n",
		"Subject: no body\r\n",
	} {
		k := len(raw)
		if i := bytes.Index([]byte(raw), []byte("\n\r\n")); i >= 0 {
			k = i + 3
		} else if i := bytes.Index([]byte(raw), []byte("\n\n")); i >= 0 {
			k = i + 2
		} else if bytes.HasPrefix([]byte(raw), []byte("\r\n")) {
			k = 2
		}
		got := ParseMessageParts([]byte(raw[:k]), []byte(raw[k:]))
		want := ParseMessage([]byte(raw))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseMessageParts(%q, %q) = %+v, want %+v", raw[:k], raw[k:], got, want)
		}
	}
}
