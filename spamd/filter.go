package spamd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// FilterReply is the reply to FILTER: "SPAMD/1.5 0 EX_OK", a Copies
// header and a blank line, then per copy its Envelope-To headers, its
// Content-length and a blank line, and the message.
func FilterReply(copies []Copy) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "SPAMD/1.5 0 EX_OK\r\nCopies: %d\r\n\r\n", len(copies))
	for _, c := range copies {
		for _, r := range c.Recipients {
			fmt.Fprintf(&b, "Envelope-To: %s\r\n", r)
		}
		fmt.Fprintf(&b, "Content-length: %d\r\n\r\n", len(c.Message))
		b.Write(c.Message)
	}
	return b.Bytes()
}

// ErrFilterRefused wraps the error reply of a server that answered a
// FILTER request: the server is there, and the message was not filtered.
var ErrFilterRefused = errors.New("spamd: filter refused")

// RequestFilter sends msg with env as a FILTER request over conn and reads
// the copies back, each at most maxSize bytes. The whole exchange ends
// with ctx. An error reply wraps ErrFilterRefused; anything else is a
// transport or protocol failure.
func RequestFilter(ctx context.Context, conn net.Conn, env Envelope, msg []byte, maxSize int64) ([]Copy, error) {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var req bytes.Buffer
	req.WriteString("FILTER SPAMC/1.5\r\n")
	hdr := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&req, "%s: %s\r\n", name, value)
		}
	}
	hdr("Envelope-From", env.From)
	for _, r := range env.To {
		hdr("Envelope-To", r)
	}
	hdr("Client-Address", env.ClientAddress)
	hdr("Client-Helo", env.ClientHelo)
	hdr("Queue-Id", env.QueueID)
	fmt.Fprintf(&req, "Content-length: %d\r\n\r\n", len(msg))
	req.Write(msg)
	if _, err := conn.Write(req.Bytes()); err != nil {
		return nil, fmt.Errorf("spamd: sending FILTER: %w", err)
	}
	// As spamc: the server reads the message to EOF (or one byte past
	// Content-length), so the request ends with a half-close.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			return nil, fmt.Errorf("spamd: sending FILTER: %w", err)
		}
	}
	return readFilterReply(bufio.NewReader(conn), maxSize)
}

func readFilterReply(br *bufio.Reader, maxSize int64) ([]Copy, error) {
	status, err := readLine(br)
	if err != nil {
		return nil, fmt.Errorf("spamd: reading the FILTER reply: %w", err)
	}
	f := strings.SplitN(status, " ", 3)
	if len(f) < 3 || !strings.HasPrefix(f[0], "SPAMD/") {
		return nil, fmt.Errorf("spamd: FILTER reply %q", printable(status))
	}
	if f[1] != "0" {
		return nil, fmt.Errorf("%w: %s", ErrFilterRefused, printable(status))
	}
	head, err := readReplyHeaders(br)
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(head.get("Copies"))
	if err != nil || n < 1 || n > MaxRecipients {
		return nil, fmt.Errorf("spamd: FILTER reply: Copies %q", head.get("Copies"))
	}
	copies := make([]Copy, 0, n)
	for range n {
		h, err := readReplyHeaders(br)
		if err != nil {
			return nil, err
		}
		size, err := strconv.ParseInt(h.get("Content-length"), 10, 64)
		if err != nil || size < 0 || size > maxSize {
			return nil, fmt.Errorf("spamd: FILTER reply: Content-length %q (limit %d)", h.get("Content-length"), maxSize)
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(br, msg); err != nil {
			return nil, fmt.Errorf("spamd: FILTER reply: reading a copy: %w", err)
		}
		if len(h["Envelope-To"]) == 0 {
			return nil, errors.New("spamd: FILTER reply: a copy without Envelope-To")
		}
		copies = append(copies, Copy{Recipients: h["Envelope-To"], Message: msg})
	}
	return copies, nil
}

// replyHeaders are the "Name: value" lines of a reply section.
type replyHeaders map[string][]string

func (h replyHeaders) get(name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func readReplyHeaders(br *bufio.Reader) (replyHeaders, error) {
	h := replyHeaders{}
	for range MaxHeaders + MaxRecipients {
		line, err := readLine(br)
		if err != nil {
			return nil, fmt.Errorf("spamd: FILTER reply headers: %w", err)
		}
		if line == "" {
			return h, nil
		}
		name, value, ok := splitHeader(line)
		if !ok {
			return nil, fmt.Errorf("spamd: FILTER reply header %q", printable(line))
		}
		h[name] = append(h[name], value)
	}
	return nil, errors.New("spamd: FILTER reply: too many headers")
}
