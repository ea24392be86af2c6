package lmtp

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
)

// XFORWARD (Postfix's XFORWARD_README) passes the original client's name,
// address, HELO and the MTA's queue ID to a content filter or LMTP server.
// go-smtp does not know the command, so a thin layer between the socket
// and go-smtp answers it: it advertises XFORWARD in the LHLO reply,
// consumes XFORWARD lines, and leaves every other byte alone. It tracks
// DATA and BDAT so that message content is never taken for a command.

// xforwardCap is the LHLO keyword with the attributes we accept.
const xforwardCap = "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n"

// Forwarded is what XFORWARD told us about the original client.
type Forwarded struct {
	Name, Addr, Port, Proto, Helo, Ident, Source string
}

// xfListener wraps accepted connections from trusted peers in xfConn.
type xfListener struct {
	net.Listener
	trusted func(net.Addr) bool
}

func (l xfListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || !l.trusted(c.RemoteAddr()) {
		return c, err
	}
	return &xfConn{Conn: c}, nil
}

// xfConn intercepts XFORWARD commands on one connection.
type xfConn struct {
	net.Conn

	mu    sync.Mutex
	attrs Forwarded
	// in holds bytes read from the socket and not yet examined; out the
	// examined bytes waiting for go-smtp.
	in, out []byte
	// inData is true between DATA and the lone "." line; skip counts BDAT
	// chunk bytes still to pass through untouched.
	inData bool
	skip   int64
	rerr   error // the socket's read error, returned once in is drained
	buf    []byte
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

func (c *xfConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		c.scan()
		if len(c.out) > 0 {
			break
		}
		if c.rerr != nil {
			// Hand over what is left (an unterminated line) before the error.
			if len(c.in) > 0 {
				c.out, c.in = c.in, nil
				break
			}
			return 0, c.rerr
		}
		if c.buf == nil {
			c.buf = make([]byte, 32<<10)
		}
		n, err := c.Conn.Read(c.buf)
		c.in = append(c.in, c.buf[:n]...)
		c.rerr = err
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// scan moves complete lines from in to out, answering XFORWARD lines.
func (c *xfConn) scan() {
	for len(c.in) > 0 {
		if c.skip > 0 {
			n := int64(len(c.in))
			if n > c.skip {
				n = c.skip
			}
			c.out = append(c.out, c.in[:n]...)
			c.in = c.in[n:]
			c.skip -= n
			continue
		}
		i := bytes.IndexByte(c.in, '\n')
		if i < 0 {
			return
		}
		line, rest := c.in[:i+1], c.in[i+1:]
		if c.inData {
			c.in = rest
			if bytes.Equal(line, []byte(".\r\n")) || bytes.Equal(line, []byte(".\n")) {
				c.inData = false
			}
			c.out = append(c.out, line...)
			continue
		}
		cmd := strings.TrimRight(string(line), "\r\n")
		verb, arg, _ := strings.Cut(cmd, " ")
		switch strings.ToUpper(verb) {
		case "XFORWARD":
			if len(c.out) > 0 {
				// Earlier pipelined commands are not answered yet: let
				// go-smtp take them first so that replies stay in order.
				return
			}
			c.in = rest
			c.parse(arg)
			c.Conn.Write([]byte("250 2.0.0 Ok\r\n"))
			continue
		case "DATA":
			c.inData = true
		case "BDAT":
			f := strings.Fields(arg)
			if len(f) > 0 {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && n > 0 {
					c.skip = n
				}
			}
		}
		c.in = rest
		c.out = append(c.out, line...)
	}
}

// parse records "NAME=value ..." attributes; values are xtext (RFC 3461
// §4) and "[UNAVAILABLE]" means unknown.
func (c *xfConn) parse(arg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, kv := range strings.Fields(arg) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		v = decodeXtext(v)
		if v == "[UNAVAILABLE]" || v == "[TEMPUNAVAIL]" {
			v = ""
		}
		switch strings.ToUpper(k) {
		case "NAME":
			c.attrs.Name = v
		case "ADDR":
			c.attrs.Addr = strings.TrimPrefix(strings.TrimPrefix(v, "IPV6:"), "ipv6:")
		case "PORT":
			c.attrs.Port = v
		case "PROTO":
			c.attrs.Proto = v
		case "HELO":
			c.attrs.Helo = v
		case "IDENT":
			c.attrs.Ident = v
		case "SOURCE":
			c.attrs.Source = v
		}
	}
}

// Write adds the XFORWARD keyword to the LHLO reply.
func (c *xfConn) Write(p []byte) (int, error) {
	if i := bytes.Index(p, []byte("250-PIPELINING\r\n")); i >= 0 {
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
// peers and addresses inside nets.
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
