package bayes

import (
	"context"
	"fmt"

	"github.com/sluice-mail/sluice/mail"
)

// Batcher is an optional capability of a [Store]: applying many changes
// in one transaction, in order, each with the semantics of [ApplyChange]
// (sa-learn learning a folder). Either all are applied or none.
type Batcher interface {
	ApplyAll(ctx context.Context, chs []Change) ([]Outcome, error)
}

// Dumper is an optional capability of a [Store]: reading its whole content
// in one snapshot (sa-learn --backup, --dump magic).
type Dumper interface {
	Dump(ctx context.Context) (*Backup, error)
}

// LearnAll learns msgs as class, or forgets them when class is zero, and
// returns one Outcome per message. A store that is a [Batcher] takes them
// in one transaction; others get one Apply per message, and on an error
// the outcomes so far are returned with it.
func (c *Classifier) LearnAll(ctx context.Context, msgs []*mail.Message, class Class) ([]Outcome, error) {
	if !c.Config.UseBayes {
		return nil, ErrDisabled
	}
	chs := make([]Change, len(msgs))
	for i, m := range msgs {
		chs[i] = c.change(m, class)
	}
	if b, ok := c.Store.(Batcher); ok {
		outs, err := b.ApplyAll(ctx, chs)
		if err != nil {
			return nil, fmt.Errorf("bayes: learn: %w", err)
		}
		return outs, nil
	}
	outs := make([]Outcome, 0, len(chs))
	for _, ch := range chs {
		out, err := c.Store.Apply(ctx, ch)
		if err != nil {
			return outs, fmt.Errorf("bayes: learn: %w", err)
		}
		outs = append(outs, out)
	}
	return outs, nil
}

// ApplyAll implements [Batcher].
func (m *MemStore) ApplyAll(ctx context.Context, chs []Change) ([]Outcome, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// memTxn cannot fail, so the batch is all or nothing.
	outs := make([]Outcome, len(chs))
	for i, ch := range chs {
		out, err := ApplyChange(memTxn{m}, ch)
		if err != nil {
			return outs[:i], err
		}
		outs[i] = out
	}
	return outs, nil
}

// Dump implements [Dumper].
func (m *MemStore) Dump(ctx context.Context) (*Backup, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	b := &Backup{NSpam: m.nspam, NHam: m.nham, Tokens: make(map[Token]Counts, len(m.toks)), Seen: make(map[string]Class, len(m.seen))}
	for t, c := range m.toks {
		b.Tokens[t] = c
	}
	for id, c := range m.seen {
		b.Seen[id] = c
	}
	return b, nil
}
