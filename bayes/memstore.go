package bayes

import (
	"context"
	"sync"
)

// MemStore is a [Store] in memory, for tests and for short-lived tools.
// The zero MemStore is empty and ready to use.
type MemStore struct {
	mu          sync.RWMutex
	toks        map[Token]Counts
	seen        map[string]Class
	nspam, nham uint64
}

// Lookup implements [Store].
func (m *MemStore) Lookup(ctx context.Context, toks []Token) (Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := Snapshot{NSpam: m.nspam, NHam: m.nham, Counts: make([]Counts, len(toks))}
	for i, t := range toks {
		s.Counts[i] = m.toks[t]
	}
	return s, nil
}

// Apply implements [Store].
func (m *MemStore) Apply(ctx context.Context, ch Change) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return ApplyChange(memTxn{m}, ch)
}

// Touch implements [Toucher].
func (m *MemStore) Touch(ctx context.Context, toks []Token, atime int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range toks {
		if c, ok := m.toks[t]; ok && atime > c.Atime {
			c.Atime = atime
			m.toks[t] = c
		}
	}
	return nil
}

// Len returns the number of tokens stored.
func (m *MemStore) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.toks)
}

type memTxn struct{ m *MemStore }

func (t memTxn) Seen(id string) (Class, bool, error) {
	c, ok := t.m.seen[id]
	return c, ok, nil
}

func (t memTxn) PutSeen(id string, c Class) error {
	if t.m.seen == nil {
		t.m.seen = make(map[string]Class)
	}
	t.m.seen[id] = c
	return nil
}

func (t memTxn) DeleteSeen(id string) error {
	delete(t.m.seen, id)
	return nil
}

func (t memTxn) AddTotals(ds, dh int) error {
	t.m.nspam = addTotal(t.m.nspam, ds)
	t.m.nham = addTotal(t.m.nham, dh)
	return nil
}

func (t memTxn) AddCounts(toks []Token, ds, dh int, atime int64) error {
	if t.m.toks == nil {
		t.m.toks = make(map[Token]Counts, len(toks))
	}
	for _, tok := range toks {
		old, ok := t.m.toks[tok]
		if !ok && (ds < 0 || dh < 0) {
			continue // tok_put: nothing to take away from
		}
		c := old.Add(ds, dh, atime)
		if c.Spam == 0 && c.Ham == 0 {
			delete(t.m.toks, tok)
			continue
		}
		t.m.toks[tok] = c
	}
	return nil
}
