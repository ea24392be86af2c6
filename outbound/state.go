package outbound

import (
	"context"
	"time"
)

// DeliveryLog remembers which outbound actions were carried out, so that a
// message Postfix delivers again (a retry, perhaps to another node) does
// not send them twice. [Store] keeps it in bbolt; a Redis implementation
// shares it between nodes.
type DeliveryLog interface {
	// Done reports whether the action k was carried out and has not
	// expired. An error wraps ErrTemporary: the action must wait.
	Done(ctx context.Context, k DeliveryKey) (bool, error)
	// Mark records that the action k was carried out now.
	Mark(ctx context.Context, k DeliveryKey) error
}

// DeliveryClaimer is an optional capability of a DeliveryLog that several
// nodes share: an action is claimed before it is carried out, so that two
// nodes handed the same message at once (a Postfix retry after a timeout,
// while the first attempt still runs) do not both send it. Sender uses it
// in place of Done when the DeliveryLog has it.
type DeliveryClaimer interface {
	// Claim reserves the action k for hold: claimed means the caller may
	// carry it out (and then Mark it, or Release it on failure); done
	// means it was carried out already. Neither means another node holds
	// it now: the caller must wait (a temporary failure).
	Claim(ctx context.Context, k DeliveryKey, hold time.Duration) (claimed, done bool, err error)
	// Release gives up a claim whose action failed, unless it was marked
	// done meanwhile.
	Release(ctx context.Context, k DeliveryKey) error
}

// ClaimHold is how long Sender holds a claim: longer than one submission
// may take (connect, command and data timeouts), short enough that a node
// that dies holding one delays the action only that long.
const ClaimHold = 15 * time.Minute

// VacationWindows holds the vacation reply windows (RFC 5230 §4.2).
type VacationWindows interface {
	// ClaimVacation atomically checks and opens the window k for window:
	// true means no reply went out in the current window and the caller
	// may send one. Two callers racing on one window, in one process or
	// on several nodes, never both get true.
	ClaimVacation(ctx context.Context, k VacationKey, window time.Duration) (bool, error)
	// ReleaseVacation forgets the window k (the reply could not be sent).
	ReleaseVacation(ctx context.Context, k VacationKey) error
}

// State is what a [Sender] keeps between messages: the delivery log and
// the vacation windows.
type State interface {
	DeliveryLog
	VacationWindows
}
