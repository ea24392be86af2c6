package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors of the request reader. After any of them the connection's
// framing is lost: the server answers once and closes it.
var (
	// ErrMalformed is wrapped for a line that is not name=value.
	ErrMalformed = errors.New("policy: malformed request")
	// ErrLineTooLong is wrapped for a line longer than the limit.
	ErrLineTooLong = errors.New("policy: request line too long")
	// ErrTooManyAttributes is wrapped for a request with more
	// attributes than the limit.
	ErrTooManyAttributes = errors.New("policy: too many attributes")
	// ErrTruncated is wrapped when the client closed the connection in
	// the middle of a request.
	ErrTruncated = errors.New("policy: request truncated")
)

// Request is one policy delegation request: the attribute names Postfix
// sent mapped to their values ("request", "protocol_state",
// "client_address", "helo_name", "sender", "recipient", "instance", ...).
// A name sent twice keeps its last value.
type Request map[string]string

// Limits bound what ReadRequest accepts.
type Limits struct {
	// MaxLineLength is the longest line, newline included. Default 4096.
	MaxLineLength int
	// MaxAttributes is the most attributes one request may have.
	// Default 100 (Postfix 3.7 sends about 40).
	MaxAttributes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxLineLength <= 0 {
		l.MaxLineLength = 4096
	}
	if l.MaxAttributes <= 0 {
		l.MaxAttributes = 100
	}
	return l
}

// NewReader returns a reader for ReadRequest whose buffer holds one line
// of the longest length lim allows.
func NewReader(r io.Reader, lim Limits) *bufio.Reader {
	return bufio.NewReaderSize(r, lim.withDefaults().MaxLineLength)
}

// ReadRequest reads one request from br (made by NewReader with the same
// lim): name=value lines up to an empty line (SMTPD_POLICY_README,
// "Protocol description"). It returns io.EOF when the client closed the
// connection between requests. Lines may end in "\n" or "\r\n"; values are
// taken as they are, without decoding. Empty lines before the first
// attribute are skipped.
func ReadRequest(br *bufio.Reader, lim Limits) (Request, error) {
	lim = lim.withDefaults()
	req := Request{}
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull) || len(line) > lim.MaxLineLength:
			return nil, fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, lim.MaxLineLength)
		case err == io.EOF && n == 0 && len(line) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, ErrTruncated
		case err != nil:
			return nil, fmt.Errorf("policy: reading request: %w", err)
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			if n == 0 {
				continue
			}
			return req, nil
		}
		name, value, ok := bytes.Cut(line, []byte("="))
		if !ok || len(name) == 0 {
			return nil, fmt.Errorf("%w: line %q", ErrMalformed, truncate(line, 64))
		}
		n++
		if n > lim.MaxAttributes {
			return nil, fmt.Errorf("%w (over %d)", ErrTooManyAttributes, lim.MaxAttributes)
		}
		req[string(name)] = string(value)
	}
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// WriteReply writes the answer to one request: "action=" and the action,
// then the empty line that ends it. Line breaks and other control
// characters in action, which would break the framing, become spaces.
func WriteReply(w io.Writer, action string) error {
	clean := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, action)
	_, err := io.WriteString(w, "action="+clean+"\n\n")
	return err
}
