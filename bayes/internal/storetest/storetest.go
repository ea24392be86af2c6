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
	h := harness{ctx: context.Background(), newStore: newStore}
	for _, tc := range []struct {
		name string
		test func(*testing.T, harness)
	}{
		{"LearnTwiceCountsOnce", testLearnTwiceCountsOnce},
		{"OtherClassMoves", testOtherClassMoves},
		{"SecondIDFindsMessage", testSecondIDFindsMessage},
		{"ForgetRemoves", testForgetRemoves},
		{"AtimeNeverBackwards", testAtimeNeverBackwards},
		{"ConcurrentLearnersAddUp", testConcurrentLearnersAddUp},
		{"BatchInOrder", testBatchInOrder},
		{"DumpIsWholeDatabase", testDumpIsWholeDatabase},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, h) })
	}
}

// harness is what every conformance test is given.
type harness struct {
	ctx      context.Context
	newStore func(t *testing.T) bayes.Store
}

func (h harness) apply(t *testing.T, s bayes.Store, ch bayes.Change, want bayes.Outcome) {
	t.Helper()
	got, err := s.Apply(h.ctx, ch)
	if err != nil {
		t.Fatalf("Apply(%v %c) error: %v", ch.IDs, ch.Class, err)
	}
	if got != want {
		t.Fatalf("Apply(%v %c) = %v, want %v", ch.IDs, ch.Class, got, want)
	}
}

func (h harness) check(t *testing.T, s bayes.Store, nspam, nham uint64, tok bayes.Token, spam, ham uint32) {
	t.Helper()
	snap, err := s.Lookup(h.ctx, []bayes.Token{tok})
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

func testLearnTwiceCountsOnce(t *testing.T, h harness) {
	s := h.newStore(t)
	h.apply(t, s, Change("a@x", bayes.Spam, 0, 10), bayes.Learned)
	h.apply(t, s, Change("a@x", bayes.Spam, 0, 10), bayes.Already)
	h.check(t, s, 1, 0, Tok(3), 1, 0)
}

func testOtherClassMoves(t *testing.T, h harness) {
	s := h.newStore(t)
	h.apply(t, s, Change("a@x", bayes.Spam, 0, 10), bayes.Learned)
	h.apply(t, s, Change("b@x", bayes.Spam, 5, 15), bayes.Learned)
	h.apply(t, s, Change("a@x", bayes.Ham, 0, 10), bayes.Moved)
	h.check(t, s, 1, 1, Tok(7), 1, 1)
	h.check(t, s, 1, 1, Tok(2), 0, 1)
	h.apply(t, s, Change("a@x", bayes.Ham, 0, 10), bayes.Already)
}

func testSecondIDFindsMessage(t *testing.T, h harness) {
	s := h.newStore(t)
	h.apply(t, s, Change("gen@sa_generated", bayes.Spam, 0, 3), bayes.Learned)
	ch := Change("other@sa_generated", bayes.Spam, 0, 3)
	ch.IDs = append(ch.IDs, "gen@sa_generated")
	h.apply(t, s, ch, bayes.Already)
}

func testForgetRemoves(t *testing.T, h harness) {
	s := h.newStore(t)
	h.apply(t, s, Change("a@x", bayes.Ham, 0, 10), bayes.Learned)
	h.apply(t, s, Change("b@x", bayes.Ham, 5, 15), bayes.Learned)
	forget := Change("a@x", 0, 0, 10)
	h.apply(t, s, forget, bayes.Forgotten)
	h.check(t, s, 0, 1, Tok(2), 0, 0)
	h.check(t, s, 0, 1, Tok(7), 0, 1)
	h.apply(t, s, forget, bayes.NotLearned)
	h.apply(t, s, Change("a@x", bayes.Ham, 0, 10), bayes.Learned)
	h.check(t, s, 0, 2, Tok(7), 0, 2)
}

func testAtimeNeverBackwards(t *testing.T, h harness) {
	s := h.newStore(t)
	ch := Change("a@x", bayes.Spam, 0, 1)
	ch.Atime = 5000
	h.apply(t, s, ch, bayes.Learned)
	ch = Change("b@x", bayes.Spam, 0, 1)
	ch.Atime = 10
	h.apply(t, s, ch, bayes.Learned)
	snap, err := s.Lookup(h.ctx, []bayes.Token{Tok(0)})
	if err != nil {
		t.Fatal(err)
	}
	if a := snap.Counts[0].Atime; a != 5000 {
		t.Errorf("atime = %d, want 5000", a)
	}
	if tc, ok := s.(bayes.Toucher); ok {
		if err := tc.Touch(h.ctx, []bayes.Token{Tok(0), Tok(99)}, 7000); err != nil {
			t.Fatal(err)
		}
		if f, ok := s.(interface{ Flush(context.Context) error }); ok {
			if err := f.Flush(h.ctx); err != nil {
				t.Fatal(err)
			}
		}
		snap, err := s.Lookup(h.ctx, []bayes.Token{Tok(0), Tok(99)})
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
}

func testConcurrentLearnersAddUp(t *testing.T, h harness) {
	s := h.newStore(t)
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
					if _, err := s.Apply(h.ctx, Change(id, bayes.Spam, 0, 20)); err != nil {
						errs <- err
						return
					}
				}
				if _, err := s.Lookup(h.ctx, []bayes.Token{Tok(1)}); err != nil {
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
	h.check(t, s, uint64(n), 0, Tok(19), n, 0)
}

func testBatchInOrder(t *testing.T, h harness) {
	s := h.newStore(t)
	b, ok := s.(bayes.Batcher)
	if !ok {
		t.Skip("not a bayes.Batcher")
	}
	h.apply(t, s, Change("old@x", bayes.Ham, 0, 10), bayes.Learned)
	// In one batch: a new message, the same again, a move of an
	// earlier one and a forget of what the batch just learned.
	outs, err := b.ApplyAll(h.ctx, []bayes.Change{
		Change("a@x", bayes.Spam, 0, 10),
		Change("a@x", bayes.Spam, 0, 10),
		Change("old@x", bayes.Spam, 0, 10),
		Change("b@x", bayes.Ham, 20, 30),
		Change("b@x", 0, 20, 30),
	})
	want := []bayes.Outcome{bayes.Learned, bayes.Already, bayes.Moved, bayes.Learned, bayes.Forgotten}
	if err != nil || fmt.Sprint(outs) != fmt.Sprint(want) {
		t.Fatalf("ApplyAll = %v, %v; want %v", outs, err, want)
	}
	h.check(t, s, 2, 0, Tok(3), 2, 0)
	h.check(t, s, 2, 0, Tok(25), 0, 0)
}

func testDumpIsWholeDatabase(t *testing.T, h harness) {
	s := h.newStore(t)
	d, ok := s.(bayes.Dumper)
	if !ok {
		t.Skip("not a bayes.Dumper")
	}
	h.apply(t, s, Change("a@x", bayes.Spam, 0, 10), bayes.Learned)
	h.apply(t, s, Change("b@x", bayes.Ham, 5, 12), bayes.Learned)
	b, err := d.Dump(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.NSpam != 1 || b.NHam != 1 || len(b.Tokens) != 12 || len(b.Seen) != 2 {
		t.Fatalf("Dump = %d spam, %d ham, %d tokens, %d seen; want 1, 1, 12, 2", b.NSpam, b.NHam, len(b.Tokens), len(b.Seen))
	}
	if c := b.Tokens[Tok(7)]; c != (bayes.Counts{Spam: 1, Ham: 1, Atime: 1000}) {
		t.Errorf("Dump token 7 = %+v, want 1 spam 1 ham at 1000", c)
	}
	if b.Seen["a@x"] != bayes.Spam || b.Seen["b@x"] != bayes.Ham {
		t.Errorf("Dump seen = %v", b.Seen)
	}
	if _, ok := s.(bayes.Restorer); !ok {
		return
	}
	fresh := h.newStore(t)
	if err := fresh.(bayes.Restorer).Restore(h.ctx, b); err != nil {
		t.Fatal(err)
	}
	again, err := fresh.(bayes.Dumper).Dump(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again) != fmt.Sprint(b) {
		t.Errorf("Dump after Restore(Dump) = %v, want %v", again, b)
	}
}
