package spamd

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The commands of protocol 1.5 (spamd/PROTOCOL).
const (
	Check        = "CHECK"
	Symbols      = "SYMBOLS"
	Report       = "REPORT"
	ReportIfSpam = "REPORT_IFSPAM"
	Process      = "PROCESS"
	Headers      = "HEADERS"
	Ping         = "PING"
	Skip         = "SKIP"
	Tell         = "TELL"
	// Filter is sluice's own extension, not SpamAssassin's: the whole
	// per-message pipeline (authentication with the envelope below,
	// rules, scoring, per-mailbox copies) for `sluice pipe`, which hands
	// its message to a running `sluice serve` this way. Its headers are
	// Envelope-From, Envelope-To (one per recipient), Client-Address,
	// Client-Helo and Queue-Id; its reply is FilterReply's.
	Filter = "FILTER"
)

// MaxRecipients bounds the Envelope-To headers of one FILTER request.
const MaxRecipients = 200

// Limits on what a request may send before its message.
const (
	// MaxLine is the longest request or header line, CRLF included.
	MaxLine = 8 << 10
	// MaxHeaders is spamd's limit on header lines ("too many headers").
	MaxHeaders = 256
)

// Request is one parsed client request.
type Request struct {
	// Command is one of the command constants.
	Command string
	// Version is the protocol version the client sent ("1.5"), and
	// Proto its numeric value as spamd compares it.
	Version string
	Proto   float64
	// User is the User header: the user on whose behalf the message is
	// scanned (spamc -u), "" when absent.
	User string
	// ContentLength is the Content-length header, -1 when absent; with
	// Compress: zlib it is the compressed length.
	ContentLength int64
	// Zlib reports Compress: zlib.
	Zlib bool
	// Class is TELL's Message-class, "spam" or "ham" (lower-cased), ""
	// when absent.
	Class string
	// SetLocal, SetRemote, RemoveLocal and RemoveRemote are TELL's Set
	// and Remove headers.
	SetLocal, SetRemote, RemoveLocal, RemoveRemote bool
	// Message is the message as sent, inflated when Zlib.
	Message []byte
	// Envelope is what FILTER sends of the SMTP transaction.
	Envelope Envelope
}

// Envelope is the SMTP transaction a FILTER request's message came in.
type Envelope struct {
	From          string   // Envelope-From; "" is the null sender
	To            []string // Envelope-To, in order
	ClientAddress string   // Client-Address: the SMTP client's IP, "" unknown
	ClientHelo    string   // Client-Helo
	QueueID       string   // Queue-Id, for logs
}

// hasBody reports whether the command is followed by a message.
func (r *Request) hasBody() bool { return r.Command != Ping && r.Command != Skip }

// ReadRequest reads one request from br: the request line, the headers
// (when the version has them) and, for the commands that carry one, the
// message, at most maxSize bytes (after inflating). Errors are *Error
// values carrying the EX_* code spamd answers them with.
func ReadRequest(br *bufio.Reader, maxSize int64) (*Request, error) {
	req, err := readHead(br)
	if err != nil || !req.hasBody() {
		return req, err
	}
	if req.Message, err = readBody(br, req, maxSize); err != nil {
		return nil, err
	}
	return req, nil
}

// readHead reads and checks the request line and headers.
func readHead(br *bufio.Reader) (*Request, error) {
	line, err := readLine(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, protoErr("(closed before headers)")
		}
		return nil, err
	}
	req, err := parseRequestLine(line)
	if err != nil {
		return nil, err
	}
	// spamd.raw: headers from protocol 1.1 on; PING and SKIP only send
	// them (an empty set) from 1.5 on (bug 6187).
	if (req.hasBody() && req.Proto > 1.0) || (!req.hasBody() && req.Proto >= 1.5) {
		if err := readHeaders(br, req); err != nil {
			return nil, err
		}
	}
	if !req.hasBody() {
		return req, nil
	}
	if err := validate(req); err != nil {
		return nil, err
	}
	return req, nil
}

// readLine reads one line of at most MaxLine bytes and returns it without
// its line end (CRLF, or a bare LF as spamd's s/\r?\n// tolerates).
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > MaxLine {
			return "", protoErr("(line too long)")
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(buf) == 0 {
			return "", io.EOF
		}
		if errors.Is(err, io.EOF) {
			return "", protoErr("(EOF during headers)")
		}
		return "", ioErr(err)
	}
	buf = bytes.TrimSuffix(buf, []byte("\n"))
	buf = bytes.TrimSuffix(buf, []byte("\r"))
	return string(buf), nil
}

// parseRequestLine reads "COMMAND SPAMC/VERSION".
func parseRequestLine(line string) (*Request, error) {
	cmd, proto, ok := strings.Cut(line, " ")
	version, isSpamc := strings.CutPrefix(proto, "SPAMC/")
	if !ok || !isSpamc {
		return nil, protoErr(printable(line))
	}
	switch cmd {
	case Check, Symbols, Report, ReportIfSpam, Process, Headers, Ping, Skip, Tell, Filter:
	default:
		return nil, protoErr(printable(line))
	}
	return &Request{Command: cmd, Version: version, Proto: perlNumber(version), ContentLength: -1}, nil
}

// perlNumber is the numeric value Perl gives a string: its leading
// decimal number, 0 when there is none.
func perlNumber(s string) float64 {
	s = strings.TrimLeft(s, " \t")
	end, dot := 0, false
	for end < len(s) {
		c := s[end]
		if c == '.' && !dot {
			dot = true
		} else if c < '0' || c > '9' {
			break
		}
		end++
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s[:end], "."), 64)
	if err != nil {
		return 0
	}
	return f
}

// readHeaders reads "Name: value" lines up to the blank line, as spamd's
// parse_headers does: names are matched exactly, unknown ones ignored.
func readHeaders(br *bufio.Reader, req *Request) error {
	for range MaxHeaders {
		line, err := readLine(br)
		if errors.Is(err, io.EOF) {
			return protoErr("(EOF during headers)")
		}
		if err != nil {
			return err
		}
		if line == "" {
			return nil
		}
		name, value, ok := splitHeader(line)
		if !ok {
			return protoErr("(header not in 'Name: value' format)")
		}
		if err := setHeader(req, name, value); err != nil {
			return err
		}
	}
	return protoErr("(too many headers)")
}

// splitHeader splits as Perl's split(/:\s*/, $line, 2).
func splitHeader(line string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(line, ":")
	return name, strings.TrimLeft(value, " \t\r\n\f"), ok
}

func setHeader(req *Request, name, value string) error {
	switch name {
	case "Content-length":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 || strings.TrimLeft(value, "0123456789") != "" {
			return protoErr("(Content-Length contains non-numeric bytes)")
		}
		req.ContentLength = n
	case "User":
		if hasControl(value) {
			return protoErr("(User header contains control chars)")
		}
		req.User = value
	case "Envelope-From", "Envelope-To", "Client-Address", "Client-Helo", "Queue-Id":
		if req.Command != Filter {
			return nil // spamd ignores headers it does not know
		}
		return setEnvelope(&req.Envelope, name, value)
	case "Message-class":
		switch c := strings.ToLower(strings.TrimSpace(value)); c {
		case "spam", "ham":
			req.Class = c
		default:
			return protoErr("(Message-class header contains invalid class)")
		}
	case "Set":
		req.SetLocal, req.SetRemote = containsFold(value, "local"), containsFold(value, "remote")
	case "Remove":
		req.RemoveLocal, req.RemoveRemote = containsFold(value, "local"), containsFold(value, "remote")
	case "Compress":
		if !containsFold(value, "zlib") {
			return protoErr("(compression type not supported: " + printable(value) + ")")
		}
		req.Zlib = true
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// setEnvelope sets one of FILTER's envelope headers.
func setEnvelope(env *Envelope, name, value string) error {
	if hasControl(value) {
		return protoErr("(" + name + " header contains control chars)")
	}
	switch name {
	case "Envelope-From":
		env.From = value
	case "Envelope-To":
		if len(env.To) >= MaxRecipients {
			return protoErr("(too many Envelope-To headers)")
		}
		env.To = append(env.To, value)
	case "Client-Address":
		env.ClientAddress = value
	case "Client-Helo":
		env.ClientHelo = value
	case "Queue-Id":
		env.QueueID = value
	}
	return nil
}

// validate checks what the headers say together, before the body is read.
func validate(req *Request) error {
	if req.Zlib && req.ContentLength < 0 {
		return &Error{Code: ExUnavailable, Text: "Service Unavailable: Compress requires Content-length header", Err: ErrProtocol}
	}
	if req.Command == Filter && len(req.Envelope.To) == 0 {
		return protoErr("(FILTER requires an Envelope-To header)")
	}
	if req.Command != Tell {
		return nil
	}
	if req.SetLocal && req.RemoveLocal {
		return protoErr("Unable to set local and remove local in the same operation.")
	}
	if req.SetRemote && req.RemoveRemote {
		return protoErr("Unable to set remote and remove remote in the same operation.")
	}
	if (req.SetLocal || req.SetRemote) && req.Class == "" {
		return protoErr("(Set requires a Message-class header)")
	}
	return nil
}

// readBody reads the message: Content-length bytes when given (it must
// then be all there), otherwise up to EOF; never more than maxSize.
func readBody(br *bufio.Reader, req *Request, maxSize int64) ([]byte, error) {
	tooBig := &Error{Code: ExDataErr, Text: fmt.Sprintf("Message too big: the limit is %d bytes", maxSize), Err: ErrTooBig}
	if req.ContentLength > maxSize {
		return nil, tooBig
	}
	var r io.Reader = br
	limit := maxSize
	if req.ContentLength >= 0 {
		limit = req.ContentLength
	}
	r = io.LimitReader(r, limit+1)
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, ioErr(err)
	}
	got := int64(buf.Len())
	switch {
	case req.ContentLength < 0 && got > maxSize:
		return nil, tooBig
	case req.ContentLength >= 0 && got < req.ContentLength:
		return nil, protoErr(fmt.Sprintf("(Content-Length mismatch: Expected %d bytes, got %d bytes)", req.ContentLength, got))
	case req.ContentLength >= 0 && got > req.ContentLength:
		// More than announced: spamd stops reading at the length.
		buf.Truncate(int(req.ContentLength))
	}
	if !req.Zlib {
		return buf.Bytes(), nil
	}
	return inflate(buf.Bytes(), maxSize)
}

// inflate decompresses a zlib stream (RFC 1950) of at most maxSize bytes
// inflated: a small stream cannot blow up past the message limit.
func inflate(data []byte, maxSize int64) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, &Error{Code: ExUnavailable, Text: "Service Unavailable: zlib: " + err.Error(), Err: ErrProtocol}
	}
	var out bytes.Buffer
	n, err := out.ReadFrom(io.LimitReader(zr, maxSize+1))
	if err != nil {
		return nil, &Error{Code: ExUnavailable, Text: "Service Unavailable: zlib: " + err.Error(), Err: ErrProtocol}
	}
	if n > maxSize {
		return nil, &Error{Code: ExDataErr, Text: fmt.Sprintf("Message too big: the limit is %d bytes", maxSize), Err: ErrTooBig}
	}
	return out.Bytes(), nil
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), sub)
}

// printable replaces control characters and bytes past ASCII in s with
// '?' and cuts it short, for an error reply that echoes client input.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
