package rules

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sharedDir locates the shared data (corpus) through SLUICE_SHARED.
func sharedDir(t testing.TB) string {
	t.Helper()
	d := os.Getenv("SLUICE_SHARED")
	if d == "" {
		d = filepath.Join("..", "..", "shared")
	}
	if _, err := os.Stat(filepath.Join(d, "corpus", "spamassassin")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared data missing: %v", err)
		}
		t.Skipf("shared data missing (required in CI): %v", err)
	}
	return d
}

// corpusFiles returns the first n ham and n spam messages by sorted name.
func corpusFiles(t testing.TB, n int) []string {
	t.Helper()
	base := filepath.Join(sharedDir(t), "corpus", "spamassassin")
	var out []string
	for _, sub := range []string{"ham", "spam"} {
		entries, err := os.ReadDir(filepath.Join(base, sub))
		if err != nil {
			t.Fatalf("ReadDir: %v", err)
		}
		var names []string
		for _, e := range entries {
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, nm := range names[:min(n, len(names))] {
			out = append(out, filepath.Join(base, sub, nm))
		}
	}
	return out
}

var stockOnce struct {
	sync.Once
	rs      *Ruleset
	load    time.Duration
	loadCPU time.Duration
	err     error
}

func loadStock(b testing.TB) *Ruleset {
	b.Helper()
	dir := stockRules(b)
	stockOnce.Do(func() {
		start, cpu := time.Now(), cpuTime()
		opt := Options{}
		if n, err := strconv.Atoi(os.Getenv("SLUICE_SETSIZE")); err == nil {
			opt.SetSize = n
		}
		stockOnce.rs, stockOnce.err = Load([]string{dir}, opt)
		stockOnce.load = time.Since(start)
		stockOnce.loadCPU = cpuTime() - cpu
	})
	if stockOnce.err != nil {
		b.Fatalf("Load = %v", stockOnce.err)
	}
	return stockOnce.rs
}

// BenchmarkEvalStock runs one message (SpamAssassin's sample spam) through
// the full stock ruleset.
func BenchmarkEvalStock(b *testing.B) {
	rs := loadStock(b)
	b.Logf("startup (load+compile): %v wall, %v CPU", stockOnce.load, stockOnce.loadCPU)
	msg := newTestMessage(readPeerFile(b, examplesDir+"sample-nonspam.txt"))
	rs.Eval(context.Background(), msg, Input{})
	b.ResetTimer()
	for b.Loop() {
		rs.Eval(context.Background(), msg, Input{})
	}
}

// BenchmarkEvalCorpus runs 500 ham + 500 spam messages through the stock
// ruleset; one op is the whole corpus. Parsing (test-only) is excluded.
func BenchmarkEvalCorpus(b *testing.B) {
	rs := loadStock(b)
	files := corpusFiles(b, 500)
	msgs := make([]*testMessage, len(files))
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = newTestMessage(data)
	}
	// A first pass fills RE2's lazily built DFA caches, as a running
	// server's first messages do; its cost is reported separately.
	coldStart, coldCPU := time.Now(), cpuTime()
	for _, m := range msgs {
		rs.Eval(context.Background(), m, Input{})
	}
	b.Logf("cold first pass: %v/msg wall, %v/msg CPU", time.Since(coldStart)/time.Duration(len(msgs)), (cpuTime()-coldCPU)/time.Duration(len(msgs)))
	b.ResetTimer()
	var worst time.Duration
	var all []time.Duration
	timedOut := 0
	cpu0 := cpuTime()
	for b.Loop() {
		for _, m := range msgs {
			r := rs.Eval(context.Background(), m, Input{})
			worst = max(worst, r.Elapsed)
			all = append(all, r.Elapsed)
			if r.TimedOut {
				timedOut++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(msgs)), "µs/msg")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*len(msgs)), "cpu-µs/msg")
	b.ReportMetric(float64(maxRSS())/(1<<20), "maxRSS-MiB")
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.Logf("startup %v wall, %v CPU; %d messages, p50 %v, p99 %v, worst %v, timed out %d", stockOnce.load, stockOnce.loadCPU,
		len(msgs), all[len(all)/2], all[len(all)*99/100], worst, timedOut)
}

// cpuTime returns the process's user plus system CPU time: on a machine
// shared with other work, wall time overstates the cost.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxRSS returns the process's peak resident set size in bytes.
func maxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}

// BenchmarkLoadStock measures startup: parsing and compiling the stock rules.
func BenchmarkLoadStock(b *testing.B) {
	dir := stockRules(b)
	for b.Loop() {
		if _, err := Load([]string{dir}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckOneCached measures a one-shot check with a warm
// compiled-rules cache: load the stock rules from it and evaluate one
// message, compiling only what that message needs.
func BenchmarkCheckOneCached(b *testing.B) {
	dir := stockRules(b)
	data, err := os.ReadFile(corpusFiles(b, 1)[1])
	if err != nil {
		b.Fatal(err)
	}
	opt := Options{Cache: CacheOptions{Dir: b.TempDir()}}
	if _, err := Load([]string{dir}, opt); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rs, err := Load([]string{dir}, opt)
		if err != nil {
			b.Fatal(err)
		}
		if rs.Lint().CacheHits == 0 {
			b.Fatal("no cache hits")
		}
		rs.Eval(context.Background(), newTestMessage(data), Input{})
	}
}
