package parity

import (
	"context"
	"fmt"
	"os"
	"sync"
)

// Pair is both engines' verdicts on one message.
type Pair struct {
	Msg    Message
	SA     Verdict
	Sluice Verdict
}

// SARun asks spamd about every message missing from cache (by the hash of
// its cleaned bytes), with workers concurrent spamc clients, adding the
// answers to cache; progress, when set, is called after each answer.
// save, when set, is called every 200 answers so an interrupted run keeps
// what it has.
func SARun(ctx context.Context, sd *Spamd, msgs []Message, cache Cache, workers int,
	progress func(done, todo int), save func() error) error {
	type job struct {
		m    Message
		hash string
		body []byte
	}
	var todo []job
	for _, m := range msgs {
		raw, err := os.ReadFile(m.Path)
		if err != nil {
			return fmt.Errorf("parity: %w", err)
		}
		body := Clean(raw)
		h := Hash(body)
		if _, ok := cache[h]; !ok {
			todo = append(todo, job{m, h, body})
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if sd == nil {
		return fmt.Errorf("%w: %d messages are not cached and spamd is not running", ErrSpamd, len(todo))
	}
	var mu sync.Mutex
	var firstErr error
	done := 0
	Each(len(todo), workers, func(i int) bool {
		j := todo[i]
		v, err := sd.Check(ctx, j.body)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", j.m.Name, err)
			}
			return false
		}
		cache[j.hash] = CacheEntry{Name: j.m.Name, Verdict: v}
		done++
		if progress != nil {
			progress(done, len(todo))
		}
		if save != nil && done%200 == 0 {
			if err := save(); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		return firstErr == nil
	})
	if save != nil {
		if err := save(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// Pairs scores every message with sluice (workers goroutines) and pairs
// the verdict with SpamAssassin's from cache, which must hold every
// message (run SARun first).
func Pairs(ctx context.Context, s *Sluice, msgs []Message, cache Cache, workers int) ([]Pair, error) {
	out := make([]Pair, len(msgs))
	errs := make([]error, len(msgs))
	Each(len(msgs), workers, func(i int) bool {
		raw, err := os.ReadFile(msgs[i].Path)
		if err != nil {
			errs[i] = err
			return true
		}
		body := Clean(raw)
		e, ok := cache[Hash(body)]
		if !ok {
			errs[i] = fmt.Errorf("%w: %s not in the SpamAssassin cache", ErrSpamd, msgs[i].Name)
			return true
		}
		out[i] = Pair{Msg: msgs[i], SA: e.Verdict, Sluice: s.Check(ctx, body)}
		return true
	})
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("parity: %w", err)
		}
	}
	return out, nil
}
