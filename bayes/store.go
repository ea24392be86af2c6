package bayes

import (
	"context"
	"math"
)

// Class is how a message was learned, as SpamAssassin's seen database
// records it.
type Class byte

const (
	// Spam is a message learned as spam ("s" in bayes_seen).
	Spam Class = 's'
	// Ham is a message learned as ham ("h").
	Ham Class = 'h'
)

// Counts is what a store keeps per token: the spam and ham messages it
// was learned from and the last time (Unix seconds) it was learned or
// proved useful in a scan, for expiry.
type Counts struct {
	Spam, Ham uint32
	Atime     int64
}

// Snapshot is one consistent read: the totals and the counts of the
// tokens asked for, in their order (zero Counts for unknown tokens).
type Snapshot struct {
	NSpam, NHam uint64
	Counts      []Counts
}

// Change is one learn or forget of one message.
type Change struct {
	// IDs are the message's ids, most specific first (see [MessageIDs]);
	// the message is known when any of them is in the seen database, and
	// is recorded under the first.
	IDs []string
	// Class is what to learn the message as; zero forgets it.
	Class Class
	// Tokens are the message's distinct tokens.
	Tokens []Token
	// Atime is the message's receive time, Unix seconds.
	Atime int64
	// NoRelearn leaves a message learned as the other class as it is
	// (Already) instead of moving it: auto-learn never overrules what a
	// user or `sluice learn` taught (SpamAssassin's no_relearn, bug 3704).
	NoRelearn bool
}

// Outcome is what a [Change] did.
type Outcome int

const (
	// Learned: the message was new and is now learned.
	Learned Outcome = iota + 1
	// Already: the message was already learned as that class; nothing
	// changed.
	Already
	// Moved: the message was learned as the other class; it was
	// forgotten from that one and learned as this one.
	Moved
	// Forgotten: a forget removed the message.
	Forgotten
	// NotLearned: a forget found no such message; nothing changed.
	NotLearned
)

func (o Outcome) String() string {
	switch o {
	case Learned:
		return "learned"
	case Already:
		return "already"
	case Moved:
		return "moved"
	case Forgotten:
		return "forgotten"
	case NotLearned:
		return "not-learned"
	}
	return "unknown"
}

// Store is the Bayes database a [Classifier] needs. Implementations must
// be safe for concurrent use, and Apply must be atomic: a message is
// counted once however many learners race to learn it.
type Store interface {
	// Lookup reads the totals and the counts of toks in one snapshot.
	Lookup(ctx context.Context, toks []Token) (Snapshot, error)
	// Apply performs one learn or forget atomically, with the semantics
	// of [ApplyChange].
	Apply(ctx context.Context, ch Change) (Outcome, error)
}

// Toucher is an optional capability of a [Store]: raising the atime of
// tokens that proved significant in a scan (Bayes.pm tok_touch_all), so
// expiry keeps them.
type Toucher interface {
	Touch(ctx context.Context, toks []Token, atime int64) error
}

// Expirer is an optional capability of a [Store]: an expiry run on
// demand (sa-learn --force-expire), whatever the time since the last one.
type Expirer interface {
	Expire(ctx context.Context, e Expiry) (ExpiryResult, error)
}

// ExpiryResult is what an expiry run did.
type ExpiryResult struct {
	// Before and Removed count tokens: in the database when the run
	// started, and removed by it.
	Before, Removed int
	// Cutoff is the atime below which tokens were removed; zero when
	// none were.
	Cutoff int64
	// Skipped says why nothing was removed ("" when tokens were).
	Skipped string
}

// ExpiryStater is an optional capability of a [Store]: what sa-learn
// --dump magic shows of expiry.
type ExpiryStater interface {
	ExpiryStats(ctx context.Context) (ExpiryStats, error)
}

// ExpiryStats is the expiry state of a database (BayesStore.pm
// get_storage_variables 3, 4, 8 and 9).
type ExpiryStats struct {
	// NTokens is the number of tokens.
	NTokens int
	// LastExpire is when the last expiry run ended, Unix seconds (zero:
	// never).
	LastExpire int64
	// LastAtimeDelta is how old, counted back from the newest atime, a
	// token had to be for that run to remove it.
	LastAtimeDelta int64
	// LastReduce is how many tokens that run removed.
	LastReduce int
}

// Txn is what [ApplyChange] needs from a store inside one transaction.
type Txn interface {
	// Seen returns the class a message id was learned as.
	Seen(id string) (Class, bool, error)
	PutSeen(id string, c Class) error
	DeleteSeen(id string) error
	// AddTotals changes the learned message totals, clamping at zero.
	AddTotals(dspam, dham int) error
	// AddCounts changes the counts of every token by dspam and dham; see
	// [Counts.Add].
	AddCounts(toks []Token, dspam, dham int, atime int64) error
}

// ApplyChange applies ch in tx as Bayes.pm _learn_trapped and
// _forget_trapped do: a message already learned as the same class is left
// alone; one learned as the other class is forgotten first (its counts
// taken from the other class) and then learned; a forget removes the
// counts of the class it was learned as.
func ApplyChange(tx Txn, ch Change) (Outcome, error) {
	var seenID string
	var seen Class
	for _, id := range ch.IDs {
		if id == "" {
			continue
		}
		c, ok, err := tx.Seen(id)
		if err != nil {
			return 0, err
		}
		if ok {
			seenID, seen = id, c
			break
		}
	}
	if ch.Class == 0 {
		if seenID == "" {
			return NotLearned, nil
		}
		if err := forget(tx, seenID, seen, ch.Tokens); err != nil {
			return 0, err
		}
		return Forgotten, nil
	}
	out := Learned
	if seenID != "" {
		if seen == ch.Class || ch.NoRelearn {
			return Already, nil
		}
		if err := forget(tx, seenID, seen, ch.Tokens); err != nil {
			return 0, err
		}
		out = Moved
	}
	ds, dh := 0, 1
	if ch.Class == Spam {
		ds, dh = 1, 0
	}
	if err := tx.AddTotals(ds, dh); err != nil {
		return 0, err
	}
	if err := tx.AddCounts(ch.Tokens, ds, dh, ch.Atime); err != nil {
		return 0, err
	}
	if err := tx.PutSeen(ch.IDs[0], ch.Class); err != nil {
		return 0, err
	}
	return out, nil
}

func forget(tx Txn, id string, c Class, toks []Token) error {
	ds, dh := 0, -1
	if c == Spam {
		ds, dh = -1, 0
	}
	if err := tx.AddTotals(ds, dh); err != nil {
		return err
	}
	if err := tx.AddCounts(toks, ds, dh, 0); err != nil {
		return err
	}
	return tx.DeleteSeen(id)
}

// Add returns c changed by dspam and dham, counts clamped to zero and
// saturated, the atime never moved back (BayesStore DBM
// tok_sync_counters). A result with both counts zero means the token is
// to be deleted.
func (c Counts) Add(dspam, dham int, atime int64) Counts {
	c.Spam = addClamp(c.Spam, dspam)
	c.Ham = addClamp(c.Ham, dham)
	if atime > c.Atime {
		c.Atime = atime
	}
	return c
}

func addClamp(v uint32, d int) uint32 {
	r := int64(v) + int64(d)
	if r < 0 {
		return 0
	}
	if r > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(r)
}

func addTotal(v uint64, d int) uint64 {
	if d < 0 && uint64(-d) > v {
		return 0
	}
	return uint64(int64(v) + int64(d))
}
