package lmtp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// XFORWARD (Postfix's XFORWARD_README) passes the original client's name,
// address, HELO and the MTA's queue ID to a content filter or LMTP server.
// go-smtp does not know the command, so a thin layer between the socket
// and go-smtp (xfConn) answers it: it advertises XFORWARD in the LHLO reply
// of a trusted peer, consumes XFORWARD lines, and leaves every other byte
// alone. It mirrors go-smtp's DATA and BDAT handling, including go-smtp's
// reply to DATA, so that message content is never taken for a command and
// a refused DATA does not swallow the next transaction.
//
// The same layer enforces what go-smtp cannot report honestly: line length
// limits (go-smtp answers an over-long line "500 5.4.0" and closes, or
// fails the message as a temporary error), the session time cap, and it
// watches the socket while a message is being delivered so that a client
// that hangs up cancels the delivery.

// xforwardCap is the LHLO keyword with the attributes we accept.
const xforwardCap = "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n"

// Line limits. RFC 5321 §4.5.3.1.4 allows 512 octets for a command line,
// more with extensions (RFC 3461 ORCPT); §4.5.3.1.6 allows 1000 for a text
// line, but real mail breaks that rule and Dovecot accepts it, so only
// lines no MTA would pass on are refused.
const (
	maxCommandLine = 4 << 10
	maxDataLine    = 64 << 10
)

// Replies the connection layer sends itself. Postfix's smtpd answers an
// unauthorized XFORWARD with the same text.
const (
	replyXForwardOK      = "250 2.0.0 Ok\r\n"
	replyXForwardRefused = "550 5.7.0 Error: insufficient authorization\r\n"
	// RFC 5321 §4.2.2: 500 covers "command line too long".
	replyLineTooLong = "500 5.5.2 Error: line too long\r\n"
)

// errLineTooLong is what the DATA reader sees when a message line is
// longer than maxDataLine.
var errLineTooLong = errors.New("lmtp: message line too long")

// Forwarded is what XFORWARD told us about the original client.
type Forwarded struct {
	Name, Addr, Port, Proto, Helo, Ident, Source string
}

// field returns the field an XFORWARD attribute name (upper case) sets,
// nil for an attribute we do not keep.
func (f *Forwarded) field(attr string) *string {
	return map[string]*string{
		"NAME":   &f.Name,
		"ADDR":   &f.Addr,
		"PORT":   &f.Port,
		"PROTO":  &f.Proto,
		"HELO":   &f.Helo,
		"IDENT":  &f.Ident,
		"SOURCE": &f.Source,
	}[attr]
}

// xfListener wraps every accepted connection in an xfConn and refuses
// connections over the server's limit.
type xfListener struct {
	net.Listener
	s *Server
}

func (l xfListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return c, err
		}
		if max := l.s.cfg.MaxConnections; l.s.conns.Add(1) > int64(max) {
			l.s.conns.Add(-1)
			l.s.log.Warn("lmtp: connection refused: too many connections", "peer", c.RemoteAddr().String(), "max_connections", max)
			go refuse(c, "421 4.3.2 "+l.s.cfg.Hostname+" Too many connections, try again later\r\n")
			continue
		}
		xc := &xfConn{
			Conn:        c,
			trusted:     l.s.trusted(c.RemoteAddr()),
			log:         l.s.log,
			hostname:    l.s.cfg.Hostname,
			readTimeout: l.s.cfg.ReadTimeout,
			release:     func() { l.s.conns.Add(-1) },
		}
		xc.ctx, xc.cancel = context.WithCancel(l.s.ctx)
		if d := l.s.cfg.MaxSessionTime; d > 0 {
			xc.end = time.Now().Add(d)
		}
		return xc, nil
	}
}

// refuse answers c with reply and closes it, without waiting for a
// client that does not read.
func refuse(c net.Conn, reply string) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, reply)
	c.Close()
}

// States of the command stream, as go-smtp sees it.
const (
	stCommand   = iota // reading command lines
	stAwaitData        // DATA passed on; go-smtp's reply decides what follows
	stData             // message content up to the end-of-data line
	stDiscard          // content after an over-long line, dropped up to end of data
)

// States of go-smtp's dot-stuffing reader (its data.go), mirrored byte for
// byte: the end of data is exactly CR LF "." CR LF.
const (
	dBeginLine = iota
	dDot
	dDotCR
	dCR
	dData
	dEOF
)

// dotStep is go-smtp's data reader transition for one byte.
func dotStep(s int, c byte) int {
	switch s {
	case dBeginLine:
		switch c {
		case '.':
			return dDot
		case '\r':
			return dCR
		}
		return dData
	case dDot:
		if c == '\r' {
			return dDotCR
		}
		return dData
	case dDotCR:
		if c == '\n' {
			return dEOF
		}
		return dData
	case dCR:
		if c == '\n' {
			return dBeginLine
		}
		return dData
	}
	if c == '\r' {
		return dCR
	}
	return dData
}

// dotTerminator is the shortest input that takes go-smtp's data reader
// from state s to the end of data.
func dotTerminator(s int) string {
	switch s {
	case dBeginLine:
		return ".\r\n"
	case dDot:
		return "\r\n"
	case dDotCR:
		return "\n"
	case dCR:
		return "\n.\r\n"
	}
	return "\r\n.\r\n"
}

// Replies to DATA seen on the way out, for stAwaitData.
const (
	dataPending = iota
	dataAccepted
	dataRefused
)

// xfConn is the connection layer described above, for one connection.
// Read and the socket fields are used by go-smtp's goroutines one at a
// time; Write may run beside Read (LMTP replies while content is drained).
type xfConn struct {
	net.Conn
	// ctx is the connection's context, cancelled by Close.
	ctx         context.Context
	cancel      context.CancelFunc
	trusted     bool
	log         *slog.Logger
	hostname    string
	readTimeout time.Duration
	end         time.Time // session time cap; zero: none
	release     func()
	closeOnce   sync.Once

	mu    sync.Mutex
	attrs Forwarded

	// in holds bytes read from the socket and not yet examined; out the
	// examined bytes waiting for go-smtp.
	in, out []byte
	state   int
	dstate  int   // go-smtp's data reader state over what it was given
	handed  int   // dstate when discarding began
	lineLen int   // octets of the message line being passed on
	skip    int64 // BDAT chunk octets still to pass through untouched
	toolong bool  // a command line over maxCommandLine is being dropped
	refused bool  // an XFORWARD was refused (and logged) on this connection
	pending error // handed to go-smtp once out is drained
	rerr    error // the socket's read error, returned once in is drained
	buf     []byte

	dataReply atomic.Int32 // dataPending, dataAccepted or dataRefused
}

// take returns the XFORWARD attributes collected so far and forgets them:
// they apply to one transaction.
func (c *xfConn) take() Forwarded {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.attrs
	c.attrs = Forwarded{}
	return a
}

// queueID is the queue ID XFORWARD announced for the coming transaction.
func (c *xfConn) queueID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attrs.Ident
}

// reset forgets XFORWARD attributes at RSET and at the end of a
// transaction, as Postfix's smtpd does.
func (c *xfConn) reset() {
	c.mu.Lock()
	c.attrs = Forwarded{}
	c.mu.Unlock()
}

func (c *xfConn) Close() error {
	c.closeOnce.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
		if c.release != nil {
			c.release()
		}
	})
	return c.Conn.Close()
}

func (c *xfConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.state == stAwaitData {
			// go-smtp asks for more, so it has answered DATA.
			c.state = stCommand
			if c.dataReply.Swap(dataPending) == dataAccepted {
				c.state, c.dstate, c.lineLen = stData, dBeginLine, 0
			}
		}
		if c.pending != nil {
			err := c.pending
			c.pending = nil
			return 0, err
		}
		if c.state == stCommand && c.expired() {
			c.log.Info("lmtp: session time limit reached, closing", "peer", c.RemoteAddr().String())
			c.Conn.Write([]byte("421 4.4.2 " + c.hostname + " Session time limit exceeded, closing connection\r\n"))
			return 0, io.EOF
		}
		c.scan()
		if len(c.out) > 0 || c.pending != nil || c.state == stAwaitData {
			continue
		}
		if c.rerr != nil {
			// Hand over what is left (an unterminated line) before the error.
			if len(c.in) > 0 && !c.toolong {
				c.out, c.in = c.in, nil
				break
			}
			c.in = nil
			return 0, c.rerr
		}
		if c.buf == nil {
			c.buf = make([]byte, 32<<10)
		}
		if c.state == stCommand && !c.end.IsZero() && c.readTimeout > 0 {
			// Wake up when the session's time is up, not only when
			// go-smtp's idle timeout strikes.
			d := time.Now().Add(c.readTimeout)
			if c.end.Before(d) {
				d = c.end
			}
			c.Conn.SetReadDeadline(d)
		}
		n, err := c.Conn.Read(c.buf)
		c.in = append(c.in, c.buf[:n]...)
		c.rerr = err
		if isTimeout(err) && c.state == stCommand && c.expired() {
			c.rerr = nil
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

func (c *xfConn) expired() bool {
	return !c.end.IsZero() && !time.Now().Before(c.end)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// scan moves examined bytes from in to out, answering XFORWARD lines. It
// stops where go-smtp must act before the rest can be read correctly.
func (c *xfConn) scan() {
	for len(c.in) > 0 && c.pending == nil {
		switch {
		case c.skip > 0:
			n := min(int64(len(c.in)), c.skip)
			c.out = append(c.out, c.in[:n]...)
			c.in = c.in[n:]
			c.skip -= n
		case c.state == stAwaitData:
			return
		case c.state == stData || c.state == stDiscard:
			if c.scanData() {
				// End of data: what follows is read after go-smtp has
				// answered the message and reset the transaction.
				return
			}
		case c.toolong:
			i := bytes.IndexByte(c.in, '\n')
			if i < 0 {
				c.in = c.in[:0]
				return
			}
			c.in = c.in[i+1:]
			c.toolong = false
			c.Conn.Write([]byte(replyLineTooLong))
		default:
			if !c.scanCommand() {
				return
			}
		}
	}
}

// scanCommand examines one command line; false means wait (for more
// input, or for go-smtp to answer what it has been given).
func (c *xfConn) scanCommand() bool {
	i := bytes.IndexByte(c.in, '\n')
	if i < 0 || i+1 > maxCommandLine {
		if i < 0 && len(c.in) <= maxCommandLine {
			return false
		}
		if len(c.out) > 0 {
			// Earlier pipelined commands are not answered yet: let
			// go-smtp take them first so that replies stay in order.
			return false
		}
		c.log.Warn("lmtp: command line too long", "peer", c.RemoteAddr().String(), "queue_id", c.queueID(), "limit", maxCommandLine)
		c.toolong = true
		return true
	}
	line, rest := c.in[:i+1], c.in[i+1:]
	cmd := strings.TrimRight(string(line), "\r\n")
	verb, arg, _ := strings.Cut(cmd, " ")
	switch strings.ToUpper(verb) {
	case "XFORWARD":
		if len(c.out) > 0 {
			return false
		}
		c.in = rest
		if !c.trusted {
			if !c.refused {
				c.refused = true
				c.log.Warn("lmtp: XFORWARD refused from a peer outside lmtp.xforward_networks", "peer", c.RemoteAddr().String())
			}
			c.Conn.Write([]byte(replyXForwardRefused))
			return true
		}
		c.parse(arg)
		c.Conn.Write([]byte(replyXForwardOK))
		return true
	case "DATA":
		if len(c.out) > 0 {
			// Hand DATA over alone, so that the next reply written is
			// the one to DATA.
			return false
		}
		c.in = rest
		c.out = append(c.out, line...)
		c.dataReply.Store(dataPending)
		c.state = stAwaitData
		return true
	case "BDAT":
		// go-smtp reads the chunk whenever it parsed the size, refused
		// or not (RFC 3030 §2); mirror its parsing exactly.
		f := strings.Fields(arg)
		if len(f) == 1 || len(f) == 2 && strings.EqualFold(f[1], "LAST") {
			if n, err := strconv.ParseUint(f[0], 10, 32); err == nil {
				c.skip = int64(n)
			}
		}
	}
	c.in = rest
	c.out = append(c.out, line...)
	return true
}

// scanData passes message content through go-smtp's end-of-data state
// machine; it reports whether the end of data was reached.
func (c *xfConn) scanData() bool {
	n := 0
	for n < len(c.in) {
		b := c.in[n]
		n++
		prev := c.dstate
		c.dstate = dotStep(prev, b)
		if b == '\n' {
			c.lineLen = 0
		} else {
			c.lineLen++
		}
		if c.state == stData && c.lineLen > maxDataLine {
			// Give go-smtp the content so far, then the error; drop the
			// rest of the message and end it where go-smtp expects.
			c.out = append(c.out, c.in[:n-1]...)
			c.in = c.in[n:]
			c.handed = prev
			c.state = stDiscard
			c.pending = errLineTooLong
			return false
		}
		if c.dstate == dEOF {
			if c.state == stDiscard {
				c.out = append(c.out, dotTerminator(c.handed)...)
			} else {
				c.out = append(c.out, c.in[:n]...)
			}
			c.in = c.in[n:]
			c.state, c.lineLen = stCommand, 0
			return true
		}
	}
	if c.state == stData {
		c.out = append(c.out, c.in...)
	}
	c.in = c.in[:0]
	return false
}

// parse records "NAME=value ..." attributes; values are xtext (RFC 3461
// §4) and "[UNAVAILABLE]" means unknown. A value with control characters
// is dropped: it would end up in header fields.
func (c *xfConn) parse(arg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, kv := range strings.Fields(arg) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		v = decodeXtext(v)
		if v == "[UNAVAILABLE]" || v == "[TEMPUNAVAIL]" || hasControl(v) {
			v = ""
		}
		if k = strings.ToUpper(k); k == "ADDR" {
			v = strings.TrimPrefix(strings.TrimPrefix(v, "IPV6:"), "ipv6:")
		}
		if f := c.attrs.field(k); f != nil {
			*f = v
		}
	}
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// Write adds the XFORWARD keyword to the LHLO reply of a trusted peer, and
// notes go-smtp's reply to DATA.
func (c *xfConn) Write(p []byte) (int, error) {
	if c.dataReply.Load() == dataPending && len(p) >= 4 && p[3] == ' ' {
		if bytes.HasPrefix(p, []byte("354")) {
			c.dataReply.Store(dataAccepted)
		} else {
			c.dataReply.Store(dataRefused)
		}
	}
	if i := bytes.Index(p, []byte("250-PIPELINING\r\n")); i >= 0 && c.trusted {
		q := make([]byte, 0, len(p)+len(xforwardCap))
		q = append(q, p[:i]...)
		q = append(q, xforwardCap...)
		q = append(q, p[i:]...)
		if _, err := c.Conn.Write(q); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// watch reads the socket while a message is delivered, when go-smtp does
// not, and calls cancel if the client goes away. Bytes the client
// pipelines meanwhile are kept for go-smtp. stop must be called before
// go-smtp reads again.
func (c *xfConn) watch(cancel context.CancelFunc) (stop func()) {
	if c.rerr != nil {
		cancel()
		return func() {}
	}
	var stopping atomic.Bool
	done := make(chan struct{})
	c.Conn.SetReadDeadline(time.Time{})
	go func() {
		defer close(done)
		buf := make([]byte, 4<<10)
		for len(c.in) < maxCommandLine {
			n, err := c.Conn.Read(buf)
			c.in = append(c.in, buf[:n]...)
			if err != nil {
				if !stopping.Load() || !isTimeout(err) {
					c.rerr = err
					cancel()
				}
				return
			}
		}
	}()
	return func() {
		stopping.Store(true)
		c.Conn.SetReadDeadline(time.Now())
		<-done
		c.Conn.SetReadDeadline(time.Time{})
	}
}

func decodeXtext(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// trustedPeer reports whether a connection may use XFORWARD: unix socket
// peers, and TCP peers inside nets. Nothing else: a peer that may set the
// client address decides what SPF and DNSBL checks see.
func trustedPeer(nets []*net.IPNet) func(net.Addr) bool {
	return func(a net.Addr) bool {
		switch a := a.(type) {
		case *net.UnixAddr:
			return true
		case *net.TCPAddr:
			for _, n := range nets {
				if n.Contains(a.IP) {
					return true
				}
			}
		}
		return false
	}
}
