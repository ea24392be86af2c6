// Package statetest is the conformance table every outbound state back end
// passes: the delivery log, the vacation windows and Sieve's duplicate
// memory, on one node (bbolt) or shared by many (Redis). The tests use the
// wall clock, with windows of a fraction of a second, because Redis
// expires keys by its own clock.
package statetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/outbound"
)

// State is what a back end offers: outbound's State and the duplicate
// memory the pipeline keeps for Sieve.
type State interface {
	outbound.State
	Seen(ctx context.Context, key string) (bool, error)
	MarkSeen(ctx context.Context, key string, expiry time.Time) error
}

// Opener returns a state whose delivery log keeps entries for ttl, closed
// by t.Cleanup. Calls with different tests return separate, empty states;
// when shared is true, calls with the same test return views of one state
// (two nodes).
type Opener func(t *testing.T, ttl time.Duration) State

// Run runs the table against open. shared says whether two opens see one
// state (then the cross-node cases run too).
func Run(t *testing.T, open Opener, shared bool) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, s State)
	}{
		{"MarkThenDone", func(t *testing.T, s State) {
			k := outbound.DeliveryKey{Message: "m1", Recipient: "Fred@Example.org", Action: "redirect:0:joe@elsewhere.example"}
			if done, err := s.Done(ctx, k); done || err != nil {
				t.Fatalf("Done(unmarked) = %v, %v, want false", done, err)
			}
			if err := s.Mark(ctx, k); err != nil {
				t.Fatalf("Mark = %v", err)
			}
			lower := k
			lower.Recipient = "fred@example.ORG"
			if done, err := s.Done(ctx, lower); !done || err != nil {
				t.Fatalf("Done(%v) = %v, %v, want true (recipient case-insensitive)", lower, done, err)
			}
			for _, other := range []outbound.DeliveryKey{
				{Message: "m1", Recipient: k.Recipient, Action: "redirect:1:joe@elsewhere.example"},
				{Message: "m2", Recipient: k.Recipient, Action: k.Action},
				{Message: "m1", Recipient: "joe@example.org", Action: k.Action},
			} {
				if done, err := s.Done(ctx, other); done || err != nil {
					t.Errorf("Done(%v) = %v, %v, want false", other, done, err)
				}
			}
		}},
		{"VacationWindow", func(t *testing.T, s State) {
			k := outbound.VacationKey{Recipient: "r@x.example", Sender: "S@Y.example", Handle: "h"}
			if ok, err := s.ClaimVacation(ctx, k, 300*time.Millisecond); !ok || err != nil {
				t.Fatalf("ClaimVacation(new) = %v, %v, want true", ok, err)
			}
			same := k
			same.Sender = "s@y.example"
			if ok, err := s.ClaimVacation(ctx, same, time.Hour); ok || err != nil {
				t.Fatalf("ClaimVacation(open window) = %v, %v, want false", ok, err)
			}
			other := k
			other.Handle = "h2"
			if ok, err := s.ClaimVacation(ctx, other, time.Hour); !ok || err != nil {
				t.Errorf("ClaimVacation(other handle) = %v, %v, want true", ok, err)
			}
			time.Sleep(400 * time.Millisecond)
			if ok, err := s.ClaimVacation(ctx, k, time.Hour); !ok || err != nil {
				t.Fatalf("ClaimVacation(after the window) = %v, %v, want true", ok, err)
			}
			if err := s.ReleaseVacation(ctx, k); err != nil {
				t.Fatalf("ReleaseVacation = %v", err)
			}
			if ok, err := s.ClaimVacation(ctx, k, time.Hour); !ok || err != nil {
				t.Errorf("ClaimVacation(released) = %v, %v, want true", ok, err)
			}
		}},
		{"DeliveryTTL", func(t *testing.T, s State) {
			k := outbound.DeliveryKey{Message: "m", Recipient: "r@x", Action: "vacation"}
			if err := s.Mark(ctx, k); err != nil {
				t.Fatal(err)
			}
			time.Sleep(400 * time.Millisecond)
			if done, err := s.Done(ctx, k); done || err != nil {
				t.Errorf("Done(past the TTL) = %v, %v, want false", done, err)
			}
		}},
		{"Duplicate", func(t *testing.T, s State) {
			if err := s.MarkSeen(ctx, "u\x00id1", time.Now().Add(300*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			if seen, err := s.Seen(ctx, "u\x00id1"); !seen || err != nil {
				t.Fatalf("Seen(marked) = %v, %v, want true", seen, err)
			}
			if seen, err := s.Seen(ctx, "v\x00id1"); seen || err != nil {
				t.Errorf("Seen(other user) = %v, %v, want false", seen, err)
			}
			time.Sleep(400 * time.Millisecond)
			if seen, err := s.Seen(ctx, "u\x00id1"); seen || err != nil {
				t.Errorf("Seen(expired) = %v, %v, want false", seen, err)
			}
			if err := s.MarkSeen(ctx, "u\x00past", time.Now().Add(-time.Second)); err != nil {
				t.Fatalf("MarkSeen(past expiry) = %v", err)
			}
			if seen, err := s.Seen(ctx, "u\x00past"); seen || err != nil {
				t.Errorf("Seen(marked with a past expiry) = %v, %v, want false", seen, err)
			}
		}},
		{"Concurrent", func(t *testing.T, s State) {
			others := []State{s, s}
			if shared {
				others[1] = open(t, 300*time.Millisecond)
			}
			var wg sync.WaitGroup
			var won atomic.Int32
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st := others[i%2]
					ok, err := st.ClaimVacation(ctx, outbound.VacationKey{Recipient: "r@x", Sender: "s@y", Handle: "h"}, time.Hour)
					if err != nil {
						t.Errorf("ClaimVacation = %v", err)
					}
					if ok {
						won.Add(1)
					}
					k := outbound.DeliveryKey{Message: "m", Recipient: "r@x", Action: fmt.Sprint("redirect:", i)}
					if err := st.Mark(ctx, k); err != nil {
						t.Errorf("Mark = %v", err)
					}
					if done, err := others[(i+1)%2].Done(ctx, k); !done || err != nil {
						t.Errorf("Done after Mark = %v, %v", done, err)
					}
				}()
			}
			wg.Wait()
			if n := won.Load(); n != 1 {
				t.Errorf("%d claimers won the window, want 1", n)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, open(t, 300*time.Millisecond))
		})
	}
	if shared {
		t.Run("TwoNodes", func(t *testing.T) { twoNodes(t, open) })
	}
}

// twoNodes: what one open records, a second open of the same state sees.
func twoNodes(t *testing.T, open Opener) {
	ctx := context.Background()
	a, b := open(t, time.Hour), open(t, time.Hour)
	k := outbound.DeliveryKey{Message: "m", Recipient: "r@x", Action: "redirect:0:z@y"}
	if err := a.Mark(ctx, k); err != nil {
		t.Fatal(err)
	}
	if done, err := b.Done(ctx, k); !done || err != nil {
		t.Errorf("node B Done(marked on A) = %v, %v, want true", done, err)
	}
	vk := outbound.VacationKey{Recipient: "r@x", Sender: "s@y", Handle: "h"}
	if ok, _ := a.ClaimVacation(ctx, vk, time.Hour); !ok {
		t.Fatal("node A ClaimVacation = false")
	}
	if ok, err := b.ClaimVacation(ctx, vk, time.Hour); ok || err != nil {
		t.Errorf("node B ClaimVacation(claimed on A) = %v, %v, want false", ok, err)
	}
	if err := a.MarkSeen(ctx, "u\x00id", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if seen, err := b.Seen(ctx, "u\x00id"); !seen || err != nil {
		t.Errorf("node B Seen(marked on A) = %v, %v, want true", seen, err)
	}
}
