package spamd

import (
	"errors"
	"fmt"
	"os"
)

// Code is a sysexits.h status, as spamd puts it in a reply line.
type Code int

// The codes spamd answers with (spamd.raw %resphash).
const (
	ExOK          Code = 0
	ExUsage       Code = 64
	ExDataErr     Code = 65
	ExNoInput     Code = 66
	ExNoUser      Code = 67
	ExNoHost      Code = 68
	ExUnavailable Code = 69
	ExSoftware    Code = 70
	ExOSErr       Code = 71
	ExOSFile      Code = 72
	ExCantCreat   Code = 73
	ExIOErr       Code = 74
	ExTempFail    Code = 75
	ExProtocol    Code = 76
	ExNoPerm      Code = 77
	ExConfig      Code = 78
	ExTimeout     Code = 79
)

var codeNames = map[Code]string{
	ExOK:          "EX_OK",
	ExUsage:       "EX_USAGE",
	ExDataErr:     "EX_DATAERR",
	ExNoInput:     "EX_NOINPUT",
	ExNoUser:      "EX_NOUSER",
	ExNoHost:      "EX_NOHOST",
	ExUnavailable: "EX_UNAVAILABLE",
	ExSoftware:    "EX_SOFTWARE",
	ExOSErr:       "EX_OSERR",
	ExOSFile:      "EX_OSFILE",
	ExCantCreat:   "EX_CANTCREAT",
	ExIOErr:       "EX_IOERR",
	ExTempFail:    "EX_TEMPFAIL",
	ExProtocol:    "EX_PROTOCOL",
	ExNoPerm:      "EX_NOPERM",
	ExConfig:      "EX_CONFIG",
	ExTimeout:     "EX_TIMEOUT",
}

// String returns the code's sysexits.h name, such as "EX_PROTOCOL".
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("EX_%d", int(c))
}

// Sentinels that Error values wrap.
var (
	// ErrProtocol: the request broke the protocol.
	ErrProtocol = errors.New("spamd: protocol error")
	// ErrTooBig: the message is over Config.MaxMessageSize.
	ErrTooBig = errors.New("spamd: message too big")
	// ErrIO: reading the request failed (the client went away, a timeout).
	ErrIO = errors.New("spamd: read failed")
	// ErrTellDisabled: TELL came while Config.AllowTell is off.
	ErrTellDisabled = errors.New("spamd: TELL is not enabled")
	// ErrScan: the Scanner failed or panicked.
	ErrScan = errors.New("spamd: scan failed")
)

// Error is a failure with the code and text of the reply line it gets:
// "SPAMD/1.0 Code Text".
type Error struct {
	Code Code
	// Text follows the code in the reply line; the client sees it.
	Text string
	// Err is the sentinel (and cause) for errors.Is and the log.
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("%v: %s (%s)", e.Err, e.Text, e.Code) }

// Unwrap returns the wrapped sentinel.
func (e *Error) Unwrap() error { return e.Err }

func protoErr(detail string) *Error {
	return &Error{Code: ExProtocol, Text: "Bad header line: " + detail, Err: ErrProtocol}
}

func ioErr(err error) *Error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &Error{Code: ExTimeout, Text: "Timeout: (reading the request)", Err: fmt.Errorf("%w: %w", ErrIO, err)}
	}
	return &Error{Code: ExIOErr, Text: "EX_IOERR", Err: fmt.Errorf("%w: %w", ErrIO, err)}
}
