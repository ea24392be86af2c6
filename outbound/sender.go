package outbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Kind says what a [Msg] is, which decides how [Sender.Send] treats it.
type Kind int

const (
	// Redirect is a Sieve redirect (RFC 5228 §4.2): the envelope sender is
	// rewritten with SRS, the message is signed for the forwarding domain.
	Redirect Kind = iota + 1
	// Vacation is an auto-reply built by [BuildVacation]: sent from the
	// null sender, signed for the domain of its From address.
	Vacation
	// Bounce is a message that arrived for an SRS address: its recipients
	// are reversed with SRS and it is sent on unchanged and unsigned.
	Bounce
)

// String returns the kind's name, as used in logs and action keys.
func (k Kind) String() string {
	switch k {
	case Redirect:
		return "redirect"
	case Vacation:
		return "vacation"
	case Bounce:
		return "bounce"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Msg is one outbound message.
type Msg struct {
	Kind Kind
	// From is the envelope sender: for Redirect the original message's
	// envelope sender (before SRS); for Vacation ignored (always null); for
	// Bounce the bounce's own envelope sender, normally null.
	From string
	// To are the envelope recipients.
	To []string
	// Raw is the message, header and body, CRLF or LF line endings.
	Raw []byte
	// Rcpt is the local recipient on whose behalf we send: the redirecting
	// address or the address replying. It selects the SRS domain and the
	// DKIM key of a Redirect and the loop token.
	Rcpt string
	// Key, when not nil, makes Send idempotent through the delivery log:
	// an action already done is not redone, a successful one is recorded.
	Key *DeliveryKey
}

// SenderConfig configures a [Sender]. Only Submitter is required.
type SenderConfig struct {
	// Submitter hands the message to the mail system, normally a [Relay].
	Submitter Submitter
	// Store holds the delivery log and vacation windows: a [*Store] on
	// one node, a shared one on several. If nil, Msg.Key is ignored and
	// Sender.Vacation refuses to run.
	Store State
	// DKIM signs outgoing mail. If nil, nothing is signed.
	DKIM *DKIM
	// SRS rewrites the envelope sender of redirects and reverses bounce
	// recipients. If nil, redirects keep the original sender.
	SRS *SRS
	// Hostname names this host in the loop token and Message-IDs. Default
	// "localhost".
	Hostname string
	// MaxHops is the Received limit of [CheckLoop]. Default DefaultMaxHops.
	MaxHops int
	// Logger receives one debug line per message sent. Default
	// slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Sender carries out outbound actions. It is safe for concurrent use.
type Sender struct {
	cfg SenderConfig
}

// NewSender returns a Sender for cfg, or an error wrapping [ErrConfig].
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Submitter == nil {
		return nil, fmt.Errorf("%w: %w: no submitter", ErrPermanent, ErrConfig)
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sender{cfg: cfg}, nil
}

// Send checks m for loops, rewrites and signs it according to its Kind and
// submits it. An error wraps [ErrTemporary] (answer 4xx and let Postfix
// retry) or [ErrPermanent]; one wrapping [ErrLoop] means the action must be
// dropped, not retried.
func (s *Sender) Send(ctx context.Context, m Msg) (err error) {
	if len(m.To) == 0 {
		return fmt.Errorf("%w: %s: no recipients", ErrPermanent, m.Kind)
	}
	if m.Key != nil && s.cfg.Store != nil {
		var done, claimed bool
		if done, claimed, err = s.claim(ctx, *m.Key); err != nil {
			return err
		}
		if done {
			s.cfg.Logger.DebugContext(ctx, "outbound action already done", "kind", m.Kind.String(), "rcpt", m.Rcpt, "action", m.Key.Action)
			return nil
		}
		if claimed {
			sent := false
			defer func() {
				if !sent {
					if err := s.cfg.Store.(DeliveryClaimer).Release(context.WithoutCancel(ctx), *m.Key); err != nil {
						s.cfg.Logger.WarnContext(ctx, "outbound delivery log: releasing a claim", "rcpt", m.Rcpt, "err", err)
					}
				}
			}()
			defer func() { sent = err == nil }()
		}
	}
	// SMTP carries CRLF; signing what will be sent keeps signatures valid.
	from, to, raw := m.From, m.To, toCRLF(m.Raw)
	switch m.Kind {
	case Redirect:
		if err := CheckLoop(raw, s.cfg.Hostname, m.Rcpt, to, s.cfg.MaxHops); err != nil {
			return err
		}
		if s.cfg.SRS != nil && m.Rcpt != "" {
			if from, err = s.cfg.SRS.Forward(from, m.Rcpt); err != nil {
				return err
			}
		}
		raw = prependField(raw, LoopHeader, LoopToken(s.cfg.Hostname, m.Rcpt))
		// The forward is signed as the forwarding address's domain; earlier
		// signatures stay untouched below ours.
		if raw, err = s.sign(raw, m.Rcpt); err != nil {
			return err
		}
	case Vacation:
		from = ""
		if err := CheckLoop(raw, s.cfg.Hostname, m.Rcpt, to, s.cfg.MaxHops); err != nil {
			return err
		}
		raw = prependField(raw, LoopHeader, LoopToken(s.cfg.Hostname, m.Rcpt))
		hdr, _ := splitMessage(raw)
		if raw, err = s.sign(raw, bareAddress(headerValue(hdr, "From"))); err != nil {
			return err
		}
	case Bounce:
		if err := CheckLoop(raw, s.cfg.Hostname, m.Rcpt, nil, s.cfg.MaxHops); err != nil {
			return err
		}
		if s.cfg.SRS == nil {
			return fmt.Errorf("%w: %w: bounce forwarding needs SRS", ErrPermanent, ErrConfig)
		}
		to = make([]string, len(m.To))
		for i, a := range m.To {
			if to[i], err = s.cfg.SRS.Reverse(a); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: unknown kind %s", ErrPermanent, m.Kind)
	}
	if err := s.cfg.Submitter.Submit(ctx, from, to, raw); err != nil {
		return err
	}
	s.cfg.Logger.DebugContext(ctx, "outbound sent", "kind", m.Kind.String(), "rcpt", m.Rcpt, "from", from, "to", strings.Join(to, ","))
	if m.Key != nil && s.cfg.Store != nil {
		// The message is out: a failure to record it must not make Postfix
		// retry and send it twice, so it is only logged.
		if err := s.cfg.Store.Mark(ctx, *m.Key); err != nil {
			s.cfg.Logger.ErrorContext(ctx, "outbound delivery log", "rcpt", m.Rcpt, "err", err)
		}
	}
	return nil
}

// claim asks the delivery log whether the action k is done; a log shared
// by nodes (DeliveryClaimer) also reserves it, and one another node holds
// is a temporary failure.
func (s *Sender) claim(ctx context.Context, k DeliveryKey) (done, claimed bool, err error) {
	c, ok := s.cfg.Store.(DeliveryClaimer)
	if !ok {
		done, err = s.cfg.Store.Done(ctx, k)
		return done, false, err
	}
	claimed, done, err = c.Claim(ctx, k, ClaimHold)
	switch {
	case err != nil || done:
		return done, false, err
	case !claimed:
		return false, false, fmt.Errorf("%w: %s for %s is being sent by another node", ErrTemporary, k.Action, k.Recipient)
	}
	return false, true, nil
}

func (s *Sender) sign(raw []byte, addr string) ([]byte, error) {
	if s.cfg.DKIM == nil || addr == "" {
		return raw, nil
	}
	out, _, err := s.cfg.DKIM.Sign(raw, addr)
	return out, err
}

// Vacation answers the message raw, from the envelope sender to the local
// recipient rcpt, with the vacation parameters p: it applies
// [ShouldReply], claims the (rcpt, sender, handle) window in the store,
// builds the reply and sends it. It reports whether a reply went out, and
// why not otherwise. If sending fails the window is released so a retry
// can answer.
func (s *Sender) Vacation(ctx context.Context, raw []byte, sender, rcpt string, p VacationParams) (sent bool, reason string, err error) {
	if s.cfg.Store == nil {
		return false, "", fmt.Errorf("%w: %w: vacation needs a store", ErrPermanent, ErrConfig)
	}
	if ok, why := ShouldReply(raw, sender, rcpt, p.Addresses); !ok {
		return false, why, nil
	}
	handle := p.Handle
	if handle == "" {
		handle = VacationHandle(p)
	}
	window := p.Window
	if window <= 0 {
		window = DefaultVacationWindow
	}
	key := VacationKey{Recipient: rcpt, Sender: bareAddress(sender), Handle: handle}
	claimed, err := s.cfg.Store.ClaimVacation(ctx, key, window)
	if err != nil {
		return false, "", err
	}
	if !claimed {
		return false, "already replied within the window", nil
	}
	reply, err := BuildVacation(raw, sender, rcpt, p, s.cfg.Hostname, s.cfg.Now())
	if err == nil {
		err = s.Send(ctx, Msg{Kind: Vacation, To: []string{bareAddress(sender)}, Raw: reply, Rcpt: rcpt})
	}
	if err != nil {
		if rerr := s.cfg.Store.ReleaseVacation(ctx, key); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if errors.Is(err, ErrLoop) {
			return false, "loop", nil
		}
		return false, "", err
	}
	return true, "", nil
}
