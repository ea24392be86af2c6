package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-mail/sluice/outbound"
	"github.com/sluice-mail/sluice/sieve"
)

// ErrRedirectRefused means the relay refused a redirect for good (5xx); the
// message is kept instead, so that it is not lost.
var ErrRedirectRefused = errors.New("pipeline: redirect refused by the relay")

// ErrStateUnavailable means the delivery log could not be read (Redis
// down): a recipient with redirects is deferred (4xx) before anything is
// filed, so that the retry neither files twice nor forwards twice.
var ErrStateUnavailable = errors.New("pipeline: state unavailable")

// DeliveryLog remembers which actions of a message were done for a
// recipient, so that when Postfix retries a recipient after a partial
// failure (a copy filed, then a redirect failed) only the rest is redone.
type DeliveryLog interface {
	Done(ctx context.Context, msgIdentity, rcpt, action string) (bool, error)
	Mark(ctx context.Context, msgIdentity, rcpt, action string) error
}

// State is what a [Sender] keeps between messages, on one node (an
// outbound.Store) or shared by several (outbound/redisstate): the
// outbound delivery log and vacation windows, and Sieve's duplicate
// memory, whose keys are user-prefixed by [Sender.Duplicates].
type State interface {
	outbound.State
	Seen(ctx context.Context, key string) (bool, error)
	MarkSeen(ctx context.Context, key string, expiry time.Time) error
}

// Bouncer forwards bounces sent to our SRS addresses back to the original
// sender (the reverse path of a forward).
type Bouncer interface {
	IsSRS(addr string) bool
	Bounce(ctx context.Context, m *Message, addr string) error
}

// Sender adapts an outbound.Sender and its store to what the pipeline
// needs: Outbound, DeliveryLog and Bouncer.
type Sender struct {
	Out   *outbound.Sender
	Store State
	// SRS enables bounce forwarding; nil leaves SRS addresses to the
	// directory (usually unknown users).
	SRS *outbound.SRS
}

// Redirect implements Outbound: SRS, loop checks and DKIM happen in
// outbound; the delivery log makes a retried redirect a no-op.
func (s *Sender) Redirect(ctx context.Context, m *Message, rcpt Recipient, addr string, raw []byte) error {
	key := &outbound.DeliveryKey{Message: m.logIdentity(), Recipient: rcpt.Address, Action: "redirect:" + addr}
	// Our Delivered-To lets the next hop (and we, on a loop) see the chain.
	raw = append([]byte("Delivered-To: "+rcpt.Address+"\r\n"), raw...)
	err := s.Out.Send(ctx, outbound.Msg{
		Kind: outbound.Redirect, From: m.Env.MailFrom, To: []string{addr}, Raw: raw, Rcpt: rcpt.Address, Key: key,
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, outbound.ErrLoop):
		return fmt.Errorf("%w: %w", ErrRedirectRefused, err)
	case outbound.IsTemporary(err):
		return err
	}
	return fmt.Errorf("%w: %w", ErrRedirectRefused, err)
}

// Vacation implements Outbound.
func (s *Sender) Vacation(ctx context.Context, m *Message, rcpt Recipient, v *sieve.Vacation) error {
	_, _, err := s.Out.Vacation(ctx, m.Raw, m.Env.MailFrom, rcpt.Address, outbound.VacationParams{
		Reason: v.Reason, MIME: v.MIME, Subject: v.Subject, From: v.From,
		Addresses: v.Addresses, Handle: v.Handle, Window: v.Period,
	})
	return err
}

// Done implements DeliveryLog.
func (s *Sender) Done(ctx context.Context, msgIdentity, rcpt, action string) (bool, error) {
	return s.Store.Done(ctx, outbound.DeliveryKey{Message: msgIdentity, Recipient: rcpt, Action: action})
}

// Mark implements DeliveryLog.
func (s *Sender) Mark(ctx context.Context, msgIdentity, rcpt, action string) error {
	return s.Store.Mark(ctx, outbound.DeliveryKey{Message: msgIdentity, Recipient: rcpt, Action: action})
}

// IsSRS implements Bouncer.
func (s *Sender) IsSRS(addr string) bool { return s.SRS != nil && outbound.IsSRS(addr) }

// Bounce implements Bouncer: the bounce goes on to the address the SRS
// address stands for.
func (s *Sender) Bounce(ctx context.Context, m *Message, addr string) error {
	return s.Out.Send(ctx, outbound.Msg{Kind: outbound.Bounce, From: m.Env.MailFrom, To: []string{addr}, Raw: m.Raw})
}

// Duplicates returns Sieve's duplicate tracker (RFC 7352) for one user:
// the user's keys live in the state database, apart from other users'.
func (s *Sender) Duplicates(user string) sieve.DuplicateTracker {
	return userDuplicates{st: s.Store, prefix: user + "\x00"}
}

type userDuplicates struct {
	st     State
	prefix string
}

func (u userDuplicates) Seen(ctx context.Context, key string) (bool, error) {
	return u.st.Seen(ctx, u.prefix+key)
}

func (u userDuplicates) Mark(ctx context.Context, key string, expiry time.Time) error {
	return u.st.MarkSeen(ctx, u.prefix+key, expiry)
}
