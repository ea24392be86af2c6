package parity

import "sync"

// Each calls fn for every index 0..n-1 from workers goroutines (at least
// one), handing indexes out in order, and returns when all calls have
// returned. When fn returns false no further index is handed out.
// SARun, Pairs and internal/cmd/benchrules share this loop, so the
// parity run and the benchmark schedule messages the same way.
func Each(n, workers int, fn func(i int) bool) {
	var mu sync.Mutex
	next, stop := 0, false
	var wg sync.WaitGroup
	for w := 0; w < max(workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if stop || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if !fn(i) {
					mu.Lock()
					stop = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
}
