// Package storetest is the behaviour every [bayes.Store] must show, run
// by each implementation's tests.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/sluice-mail/sluice/bayes"
)

// Tok returns a distinct token for n.
func Tok(n int) bayes.Token { return bayes.HashToken(fmt.Sprint("tok", n)) }

// Change returns a learn of the message id with tokens from..to-1.
func Change(id string, c bayes.Class, from, to int) bayes.Change {
	ch := bayes.Change{IDs: []string{id}, Class: c, Atime: 1000}
	for i := from; i < to; i++ {
		ch.Tokens = append(ch.Tokens, Tok(i))
	}
	return ch
}

// Run runs the conformance tests against stores made by newStore, each
// of them empty.
func Run(t *testing.T, newStore func(t *testing.T) bayes.Store) {
	ctx := context.Background()
	apply := func(t *testing.T, s bayes.Store, ch bayes.Change, want bayes.Outcome) {
		t.Helper()
		got, err := s.Apply(ctx, ch)
		if err != nil {
			t.Fatalf("Apply(%v %c) error: %v", ch.IDs, ch.Class, err)
		}
		if got != want {
			t.Fatalf("Apply(%v %c) = %v, want %v", ch.IDs, ch.Class, got, want)
		}
	}
	check := func(t *testing.T, s bayes.Store, nspam, nham uint64, tok bayes.Token, spam, ham uint32) {
		t.Helper()
		snap, err := s.Lookup(ctx, []bayes.Token{tok})
		if err != nil {
			t.Fatal(err)
		}
		if snap.NSpam != nspam || snap.NHam != nham {
			t.Errorf("totals = %d spam %d ham, want %d, %d", snap.NSpam, snap.NHam, nspam, nham)
		}
		if c := snap.Counts[0]; c.Spam != spam || c.Ham != ham {
			t.Errorf("counts of %v = %d spam %d ham, want %d, %d", tok, c.Spam, c.Ham, spam, ham)
		}
	}

	t.Run("LearnTwiceCountsOnce", func(t *testing.T) {
		s := newStore(t)
		apply(t, s, Change("a@x", bayes.Spam, 0, 10), bayes.Learned)
		apply(t, s, Change("a@x", bayes.Spam, 0, 10), bayes.Already)
		check(t, s, 1, 0, Tok(3), 1, 0)
	})
	t.Run("OtherClassMoves", func(t *testing.T) {
		s := newStore(t)
		apply(t, s, Change("a@x", bayes.Spam, 0, 10), bayes.Learned)
		apply(t, s, Change("b@x", bayes.Spam, 5, 15), bayes.Learned)
		apply(t, s, Change("a@x", bayes.Ham, 0, 10), bayes.Moved)
		check(t, s, 1, 1, Tok(7), 1, 1)
		check(t, s, 1, 1, Tok(2), 0, 1)
		apply(t, s, Change("a@x", bayes.Ham, 0, 10), bayes.Already)
	})
	t.Run("SecondIDFindsMessage", func(t *testing.T) {
		s := newStore(t)
		apply(t, s, Change("gen@sa_generated", bayes.Spam, 0, 3), bayes.Learned)
		ch := Change("other@sa_generated", bayes.Spam, 0, 3)
		ch.IDs = append(ch.IDs, "gen@sa_generated")
		apply(t, s, ch, bayes.Already)
	})
	t.Run("ForgetRemoves", func(t *testing.T) {
		s := newStore(t)
		apply(t, s, Change("a@x", bayes.Ham, 0, 10), bayes.Learned)
		apply(t, s, Change("b@x", bayes.Ham, 5, 15), bayes.Learned)
		forget := Change("a@x", 0, 0, 10)
		apply(t, s, forget, bayes.Forgotten)
		check(t, s, 0, 1, Tok(2), 0, 0)
		check(t, s, 0, 1, Tok(7), 0, 1)
		apply(t, s, forget, bayes.NotLearned)
		apply(t, s, Change("a@x", bayes.Ham, 0, 10), bayes.Learned)
		check(t, s, 0, 2, Tok(7), 0, 2)
	})
	t.Run("AtimeNeverBackwards", func(t *testing.T) {
		s := newStore(t)
		ch := Change("a@x", bayes.Spam, 0, 1)
		ch.Atime = 5000
		apply(t, s, ch, bayes.Learned)
		ch = Change("b@x", bayes.Spam, 0, 1)
		ch.Atime = 10
		apply(t, s, ch, bayes.Learned)
		snap, err := s.Lookup(ctx, []bayes.Token{Tok(0)})
		if err != nil {
			t.Fatal(err)
		}
		if a := snap.Counts[0].Atime; a != 5000 {
			t.Errorf("atime = %d, want 5000", a)
		}
		if tc, ok := s.(bayes.Toucher); ok {
			if err := tc.Touch(ctx, []bayes.Token{Tok(0), Tok(99)}, 7000); err != nil {
				t.Fatal(err)
			}
			if f, ok := s.(interface{ Flush(context.Context) error }); ok {
				if err := f.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			snap, err := s.Lookup(ctx, []bayes.Token{Tok(0), Tok(99)})
			if err != nil {
				t.Fatal(err)
			}
			if a := snap.Counts[0].Atime; a != 7000 {
				t.Errorf("atime after Touch = %d, want 7000", a)
			}
			if c := snap.Counts[1]; c != (bayes.Counts{}) {
				t.Errorf("Touch created token: %+v", c)
			}
		}
	})
	t.Run("ConcurrentLearnersAddUp", func(t *testing.T) {
		s := newStore(t)
		const workers, each = 4, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					// Every worker learns its own messages, and all race
					// to learn the shared ones.
					for _, id := range []string{fmt.Sprintf("w%d-%d@x", w, i), fmt.Sprintf("shared-%d@x", i)} {
						if _, err := s.Apply(ctx, Change(id, bayes.Spam, 0, 20)); err != nil {
							errs <- err
							return
						}
					}
					if _, err := s.Lookup(ctx, []bayes.Token{Tok(1)}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		n := uint32(workers*each + each)
		check(t, s, uint64(n), 0, Tok(19), n, 0)
	})
}
