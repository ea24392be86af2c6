package spamd

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

// FuzzReadRequest: any input parses or fails with an *Error, never reads
// past the size limit, and a parsed request has a known command.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		"CHECK SPAMC/1.5\r\nContent-length: 5\r\nUser: bob\r\n\r\nhello",
		"PROCESS SPAMC/1.0\r\nSubject: x\n\nbody",
		"PING SPAMC/1.5\r\n\r\n",
		"SKIP SPAMC/1.2\r\n",
		"TELL SPAMC/1.5\r\nMessage-class: spam\r\nSet: local, remote\r\nContent-length: 3\r\n\r\nabc",
		"TELL SPAMC/1.5\r\nRemove: local\r\n\r\nabc",
		zlibRequest(Symbols, "Subject: z\n\nzz\n"),
		"CHECK SPAMC/1.5\r\nCompress: zlib\r\nContent-length: 2\r\n\r\nxx",
		"HEADERS SPAMC/x\r\n\r\n",
		"FILTER SPAMC/1.5\r\nEnvelope-From: s@x\r\nEnvelope-To: a@y\r\nEnvelope-To: b@y\r\nClient-Address: 192.0.2.1\r\nContent-length: 3\r\n\r\nabc",
	} {
		f.Add(s)
	}
	const max = 4096
	f.Fuzz(func(t *testing.T, in string) {
		req, err := ReadRequest(bufio.NewReader(strings.NewReader(in)), max)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == ExOK {
				t.Fatalf("ReadRequest(%q) error %v is not an *Error with a code", in, err)
			}
			if len(errorReply(err)) > MaxLine+100 {
				t.Fatalf("error reply too long: %d bytes", len(errorReply(err)))
			}
			return
		}
		if len(req.Message) > max {
			t.Fatalf("ReadRequest(%q) read %d bytes, limit %d", in, len(req.Message), max)
		}
		if _, err := parseRequestLine(req.Command + " SPAMC/" + req.Version); err != nil {
			t.Fatalf("ReadRequest(%q) returned command %q version %q that do not parse", in, req.Command, req.Version)
		}
		res := &Result{Spam: true, Score: 3, Required: 5, Symbols: []string{"X"}, Message: req.Message}
		if out := scanReply(req, res); len(out) == 0 {
			t.Fatalf("empty reply to %q", in)
		}
	})
}

// FuzzFilterReply: whatever a server sends back, the FILTER client returns
// copies within the size limit or an error, and never hangs or panics.
func FuzzFilterReply(f *testing.F) {
	f.Add(string(FilterReply([]Copy{{Recipients: []string{"a@x"}, Message: []byte("Subject: x\r\n\r\nb")}})))
	f.Add("SPAMD/1.5 0 EX_OK\r\nCopies: 2\r\n\r\nEnvelope-To: a\r\nContent-length: 1\r\n\r\nx")
	f.Add("SPAMD/1.0 75 EX_TEMPFAIL\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		copies, err := readFilterReply(bufio.NewReader(strings.NewReader(in)), 64)
		for _, c := range copies {
			if len(c.Message) > 64 || len(c.Recipients) == 0 {
				t.Fatalf("copy %q beyond the limits (err %v)", c, err)
			}
		}
	})
}
