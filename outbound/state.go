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
