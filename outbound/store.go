package outbound

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluice-mail/sluice/mail"
)

var (
	bucketDelivered = []byte("delivered")
	bucketVacation  = []byte("vacation")
	bucketSeen      = []byte("seen")
)

// StoreConfig configures a [Store].
type StoreConfig struct {
	// Path of the bbolt database file; created with mode 0600 if missing.
	Path string
	// DeliveryTTL is how long a delivery log entry is kept. Default 7 days:
	// longer than Postfix's maximal_queue_lifetime default (5 days).
	DeliveryTTL time.Duration
	// OpenTimeout bounds the wait for the file lock held by another process.
	// Default 5 seconds.
	OpenTimeout time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Store is the persistent state of outbound mail in one bbolt file, for one
// node: the delivery log ([DeliveryLog]) that makes actions idempotent
// across Postfix retries, the vacation reply windows ([VacationWindows])
// and Sieve's duplicate memory ([Store.Seen]). Store is safe for concurrent use; only one
// process may open the file at a time.
type Store struct {
	db  *bolt.DB
	ttl time.Duration
	now func() time.Time
}

// DeliveryKey identifies one outbound action for one recipient of one
// message.
type DeliveryKey struct {
	// Message is the message identity, normally [MessageIdentity] of the
	// raw message as received.
	Message string
	// Recipient is the envelope recipient whose Sieve script produced the
	// action; compared case-insensitively.
	Recipient string
	// Action names the action, for example "redirect:0:bob@example.org" or
	// "vacation": its kind and index in the action list.
	Action string
}

// ID returns the key as stored: the message, the lower-cased recipient
// and the action, NUL-separated.
func (k DeliveryKey) ID() string {
	return k.Message + "\x00" + strings.ToLower(k.Recipient) + "\x00" + k.Action
}

func (k DeliveryKey) bytes() []byte { return []byte(k.ID()) }

// VacationKey identifies one vacation window (RFC 5230 §4.2): the recipient
// whose script runs, the sender being answered and the :handle (or the
// derived handle of [VacationHandle]).
type VacationKey struct {
	Recipient, Sender, Handle string
}

// ID returns the key as stored: the lower-cased recipient and sender and
// the handle, NUL-separated.
func (k VacationKey) ID() string {
	return strings.ToLower(k.Recipient) + "\x00" + strings.ToLower(k.Sender) + "\x00" + k.Handle
}

func (k VacationKey) bytes() []byte { return []byte(k.ID()) }

// OpenStore opens or creates the store at cfg.Path and drops expired entries.
func OpenStore(cfg StoreConfig) (*Store, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("%w: %w: store path is empty", ErrPermanent, ErrConfig)
	}
	timeout := cfg.OpenTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	db, err := bolt.Open(cfg.Path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return nil, fmt.Errorf("%w: open store %s: %w", ErrTemporary, cfg.Path, err)
	}
	s := &Store{db: db, ttl: cfg.DeliveryTTL, now: cfg.Now}
	if s.ttl <= 0 {
		s.ttl = 7 * 24 * time.Hour
	}
	if s.now == nil {
		s.now = time.Now
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDelivered, bucketVacation, bucketSeen} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		_, err = s.Expire()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: init store %s: %w", ErrTemporary, cfg.Path, err)
	}
	return s, nil
}

// Close closes the database file.
func (s *Store) Close() error { return s.db.Close() }

// Done reports whether the action k was already carried out and has not
// expired.
func (s *Store) Done(_ context.Context, k DeliveryKey) (bool, error) {
	var done bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDelivered).Get(k.bytes())
		done = len(v) == 8 && s.now().Sub(decodeTime(v)) < s.ttl
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("%w: delivery log: %w", ErrTemporary, err)
	}
	return done, nil
}

// Mark records that the action k was carried out now. The write is fsynced
// before Mark returns.
func (s *Store) Mark(_ context.Context, k DeliveryKey) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDelivered).Put(k.bytes(), encodeTime(s.now()))
	})
	if err != nil {
		return fmt.Errorf("%w: delivery log: %w", ErrTemporary, err)
	}
	return nil
}

// Seen reports whether key was recorded with MarkSeen and has not expired
// (Sieve's duplicate extension, RFC 7352).
func (s *Store) Seen(_ context.Context, key string) (bool, error) {
	var seen bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSeen).Get([]byte(key))
		seen = len(v) == 8 && s.now().Before(decodeTime(v))
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("%w: duplicate store: %w", ErrTemporary, err)
	}
	return seen, nil
}

// MarkSeen records key until expiry.
func (s *Store) MarkSeen(_ context.Context, key string, expiry time.Time) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSeen).Put([]byte(key), encodeTime(expiry))
	})
	if err != nil {
		return fmt.Errorf("%w: duplicate store: %w", ErrTemporary, err)
	}
	return nil
}

// ClaimVacation atomically checks and opens the vacation window k: it
// returns true, and records the window as running until now+window, if no
// reply was sent to this sender for this handle within the current window.
// If sending the reply then fails, call [Store.ReleaseVacation].
func (s *Store) ClaimVacation(_ context.Context, k VacationKey, window time.Duration) (bool, error) {
	now := s.now()
	claimed := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVacation)
		if v := b.Get(k.bytes()); len(v) == 8 && now.Before(decodeTime(v)) {
			return nil
		}
		claimed = true
		return b.Put(k.bytes(), encodeTime(now.Add(window)))
	})
	if err != nil {
		return false, fmt.Errorf("%w: vacation store: %w", ErrTemporary, err)
	}
	return claimed, nil
}

// ReleaseVacation forgets the window k, so the next message from the sender
// is answered.
func (s *Store) ReleaseVacation(_ context.Context, k VacationKey) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVacation).Delete(k.bytes())
	})
	if err != nil {
		return fmt.Errorf("%w: vacation store: %w", ErrTemporary, err)
	}
	return nil
}

// Expire deletes delivery log entries older than the TTL and vacation
// windows that have ended, and returns how many it deleted. OpenStore calls
// it; long-running processes should call it now and then (hourly is plenty).
func (s *Store) Expire() (int, error) {
	now := s.now()
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range []struct {
			name    []byte
			expired func(t time.Time) bool
		}{
			{bucketDelivered, func(t time.Time) bool { return now.Sub(t) >= s.ttl }},
			{bucketVacation, func(t time.Time) bool { return !now.Before(t) }},
			{bucketSeen, func(t time.Time) bool { return !now.Before(t) }},
		} {
			bk := tx.Bucket(b.name)
			var dead [][]byte
			err := bk.ForEach(func(k, v []byte) error {
				if len(v) != 8 || b.expired(decodeTime(v)) {
					dead = append(dead, bytes.Clone(k))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range dead {
				if err := bk.Delete(k); err != nil {
					return err
				}
			}
			n += len(dead)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%w: expire store: %w", ErrTemporary, err)
	}
	return n, nil
}

func encodeTime(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
}

func decodeTime(b []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)))
}

// MessageIdentity returns a stable identity of a raw message for the
// delivery log: a digest of its Message-ID, From, To, Date and Subject
// fields and of its body. Other fields are left out because a retried
// message may come back with different trace and result fields.
func MessageIdentity(raw []byte) string {
	hdr, body := splitMessage(raw)
	h := sha256.New()
	for _, name := range []string{"Message-Id", "From", "To", "Date", "Subject"} {
		h.Write([]byte(strings.Join(headerValues(hdr, name), "\x01")))
		h.Write([]byte{0})
	}
	bd := sha256.Sum256(toCRLF(body))
	h.Write(bd[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// splitMessage splits raw where mail.Parse ends its header section; the
// header keeps the blank line that ends it.
func splitMessage(raw []byte) (hdr, body []byte) {
	n := mail.HeaderLen(raw)
	return raw[:n], raw[n:]
}
