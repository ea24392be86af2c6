package parity

import (
	"sync/atomic"
	"testing"
)

func TestEach(t *testing.T) {
	for _, workers := range []int{0, 1, 3, 50} {
		seen := make([]atomic.Int32, 20)
		Each(len(seen), workers, func(i int) bool { seen[i].Add(1); return true })
		for i := range seen {
			if n := seen[i].Load(); n != 1 {
				t.Fatalf("Each(20, %d): index %d called %d times, want 1", workers, i, n)
			}
		}
	}
	var calls atomic.Int32
	Each(100, 1, func(i int) bool { calls.Add(1); return i < 4 })
	if n := calls.Load(); n != 5 {
		t.Fatalf("Each stopping at index 4: %d calls, want 5", n)
	}
}
