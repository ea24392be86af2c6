package milter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// ErrMalformed reports a milter packet the MTA sent that cannot be
// parsed; the connection is closed.
var ErrMalformed = errors.New("milter: malformed packet")

// maxPacket bounds one packet from the MTA: Postfix sends body chunks of
// at most the negotiated 64 KiB, header fields of at most
// header_size_limit (100 KiB).
const maxPacket = 1 << 20

// guardedListener hands out guardedConns.
type guardedListener struct{ net.Listener }

func (l guardedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardedConn{Conn: c}, nil
}

// guardedConn passes the milter library only packets it parses safely.
// go-milter v0.10.1 indexes past the end of a zero-length packet, of a
// connect packet without the NUL after the host name or without the
// family byte, and of MAIL and RCPT packets without a NUL; each panics in
// a goroutine of its own and ends the whole process. A packet like that
// ends the connection instead.
type guardedConn struct {
	net.Conn
	pending []byte // the rest of a checked packet, length prefix included
	err     error
}

func (c *guardedConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		pkt, err := readPacket(c.Conn)
		if err != nil {
			c.err = err
			return 0, err
		}
		c.pending = pkt
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// readPacket reads one packet (a 4-byte big-endian length, a command
// byte, its data) and returns it whole once checkPacket accepts it.
func readPacket(r io.Reader) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n == 0 || n > maxPacket {
		return nil, fmt.Errorf("%w: length %d", ErrMalformed, n)
	}
	pkt := make([]byte, 4+n)
	copy(pkt, l[:])
	if _, err := io.ReadFull(r, pkt[4:]); err != nil {
		return nil, err
	}
	if err := checkPacket(pkt[4], pkt[5:]); err != nil {
		return nil, err
	}
	return pkt, nil
}

// checkPacket reports whether the library can take the command code with
// data (the Sendmail milter protocol's SMFIC_* commands).
func checkPacket(code byte, data []byte) error {
	switch code {
	case 'C': // SMFIC_CONNECT: host NUL, family, [port, address NUL]
		i := bytes.IndexByte(data, 0)
		if i < 0 || i+1 >= len(data) {
			return fmt.Errorf("%w: connect without host or family", ErrMalformed)
		}
		switch data[i+1] {
		case 'L', '4', '6':
			if len(data)-(i+2) < 2 {
				return fmt.Errorf("%w: connect without port", ErrMalformed)
			}
		}
	case 'M', 'R': // SMFIC_MAIL, SMFIC_RCPT: address NUL, [ESMTP arguments]
		if bytes.IndexByte(data, 0) < 0 {
			return fmt.Errorf("%w: %c without NUL", ErrMalformed, code)
		}
	}
	return nil
}
