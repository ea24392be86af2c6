package outbound

import "errors"

// Sentinel errors. Every error returned by this package wraps exactly one of
// ErrTemporary or ErrPermanent; use [IsTemporary] to classify.
var (
	// ErrTemporary marks a failure worth retrying later (relay 4xx, relay
	// unreachable, timeout, local I/O): the pipeline answers 4xx.
	ErrTemporary = errors.New("outbound: temporary failure")
	// ErrPermanent marks a failure retrying cannot fix (relay 5xx, invalid
	// address, loop).
	ErrPermanent = errors.New("outbound: permanent failure")
	// ErrLoop is wrapped (with ErrPermanent) when a message is not sent
	// because it would loop. The pipeline should drop the action, not
	// bounce the message.
	ErrLoop = errors.New("outbound: mail loop")
	// ErrNotSRS is returned by [SRS.Reverse] for an address that is not an
	// SRS address.
	ErrNotSRS = errors.New("outbound: not an SRS address")
	// ErrSRSInvalid is returned by [SRS.Reverse] for an SRS address whose
	// hash does not verify, whose timestamp is too old, or which is
	// malformed.
	ErrSRSInvalid = errors.New("outbound: invalid SRS address")
	// ErrNoKey is returned when DKIM signing is required but no key matches.
	ErrNoKey = errors.New("outbound: no DKIM key")
	// ErrConfig is wrapped by errors in configuration files and values.
	ErrConfig = errors.New("outbound: bad configuration")
)

// IsTemporary reports whether err is a failure that may succeed on retry.
// Anything not explicitly permanent is temporary, so a nil error is the
// only value for which the question is moot (it returns false).
func IsTemporary(err error) bool {
	return err != nil && !errors.Is(err, ErrPermanent)
}
