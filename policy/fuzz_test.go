package policy

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzReadRequest: the reader never panics, keeps to its limits, and every
// request it returns survives being written out and read back.
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(postfixRequest))
	f.Add([]byte("request=smtpd_access_policy\r\n\r\nsender=\n\n"))
	f.Add([]byte("a=b\nnoequals\n\n"))
	f.Add([]byte("\n\n\na=" + strings.Repeat("x", 200) + "\n"))
	lim := Limits{MaxLineLength: 128, MaxAttributes: 8}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := NewReader(bytes.NewReader(in), lim)
		for range 100 {
			req, err := ReadRequest(br, lim)
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLineTooLong) &&
					!errors.Is(err, ErrTooManyAttributes) && !errors.Is(err, ErrTruncated) {
					t.Fatalf("ReadRequest = unexpected error %v", err)
				}
				return
			}
			if len(req) == 0 || len(req) > lim.MaxAttributes {
				t.Fatalf("ReadRequest = %d attributes, limit %d", len(req), lim.MaxAttributes)
			}
			var b bytes.Buffer
			for k, v := range req {
				if strings.ContainsAny(k, "\n=") || strings.Contains(v, "\n") || len(k)+len(v)+2 > lim.MaxLineLength {
					t.Fatalf("ReadRequest gave attribute %q=%q", k, v)
				}
				b.WriteString(k + "=" + v + "\n")
			}
			b.WriteString("\n")
			again, err := ReadRequest(NewReader(&b, Limits{}), Limits{})
			if err != nil || len(again) != len(req) {
				t.Fatalf("re-reading %v = %v, %v", req, again, err)
			}
		}
	})
}
