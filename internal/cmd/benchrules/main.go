// Command benchrules measures sluice's per-message scoring throughput
// (parse, rules, scoring headers; no network checks) over a list of
// message files, with a fixed number of workers, and prints messages per
// second and CPU milliseconds per message. scripts/bench-rules.sh runs it
// beside spamd on the same messages.
//
//	benchrules -rules DIR [-rules DIR]... -workers 2 FILE...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/scoring"
)

func main() {
	var rd []string
	flag.Func("rules", "rules directory (repeatable)", func(v string) error { rd = append(rd, v); return nil })
	workers := flag.Int("workers", 2, "concurrent workers")
	flag.Parse()
	files := flag.Args()
	msgs := make([][]byte, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		msgs[i] = b
	}
	t0 := time.Now()
	rs, err := rules.Load(rd, rules.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	load := time.Since(t0)
	conf := rs.Config()
	opt := scoring.Options{Hostname: "bench", Version: "bench"}
	// Warm up: the first evaluations size the regex caches.
	for _, m := range msgs[:min(20, len(msgs))] {
		rs.Eval(context.Background(), rules.FromMail(mail.Parse(m, mail.Options{})), rules.Input{})
	}
	cpu0 := cpuTime()
	start := time.Now()
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	spam := 0
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(msgs) {
					return
				}
				pm := mail.Parse(msgs[i], mail.Options{})
				res := rs.Eval(context.Background(), rules.FromMail(pm), rules.Input{})
				v := scoring.Decide(res, conf)
				scoring.Apply(msgs[i], v, conf, opt)
				if v.Spam {
					mu.Lock()
					spam++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	cpu := cpuTime() - cpu0
	n := float64(len(msgs))
	fmt.Printf("sluice: %d messages, %d workers, %.1f msg/s, %.2f ms CPU/msg, %d spam, rules load %v\n",
		len(msgs), *workers, n/wall.Seconds(), float64(cpu.Microseconds())/1000/n, spam, load.Round(time.Millisecond))
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
