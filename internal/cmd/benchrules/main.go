// Command benchrules measures sluice's per-message scoring throughput
// (parse, rules, scoring headers; no network checks) over a list of
// message files, with a fixed number of workers, and prints messages per
// second and CPU milliseconds per message. With -spamd and -rspamd it
// then sends the same messages, with as many concurrent clients, to a
// running spamd and to a private rspamd it starts, and prints the same
// figures for them, their CPU time read from /proc for the server's whole
// process tree. scripts/bench-rules.sh runs it.
//
//	benchrules -rules DIR [-rules DIR]... -workers 2 [-spamd ADDR -spamd-pid PID] [-rspamd rspamd] FILE...
//
// Output, one line per engine, then the CPU ratios (scripts read these):
//
//	sluice: N messages, W workers, R msg/s, C ms CPU/msg, S spam, rules load D
//	spamd: N messages, W workers, R msg/s, C ms CPU/msg, S spam
//	rspamd: N messages, W workers, R msg/s, C ms CPU/msg, S spam, version V
//	ratio rspamd_cpu/sluice_cpu: X
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluice-mail/sluice/internal/parity"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
	"github.com/sluice-mail/sluice/scoring"
)

// result is one engine's run over the messages.
type result struct {
	wall, cpu time.Duration
	spam      int
	errors    int
}

func (r result) line(name string, n, workers int) string {
	return fmt.Sprintf("%s: %d messages, %d workers, %.1f msg/s, %.2f ms CPU/msg, %d spam",
		name, n, workers, float64(n)/r.wall.Seconds(), r.cpuPerMsg(n), r.spam)
}

func (r result) cpuPerMsg(n int) float64 { return float64(r.cpu.Microseconds()) / 1000 / float64(n) }

// measure runs check on every message from workers goroutines and charges
// the CPU time of cpu's before and after readings to them.
func measure(n, workers int, cpu func() (time.Duration, error), check func(i int) (bool, error)) (result, error) {
	var spam, errs atomic.Int64
	var firstErr atomic.Value
	cpu0, err := cpu()
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	parity.Each(n, workers, func(i int) bool {
		s, err := check(i)
		if err != nil {
			errs.Add(1)
			firstErr.CompareAndSwap(nil, err)
		} else if s {
			spam.Add(1)
		}
		return true
	})
	wall := time.Since(start)
	cpu1, err := cpu()
	if err != nil {
		return result{}, err
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "benchrules: %d failed checks, the first: %v\n", errs.Load(), e)
	}
	return result{wall: wall, cpu: cpu1 - cpu0, spam: int(spam.Load()), errors: int(errs.Load())}, nil
}

func main() {
	var rd []string
	flag.Func("rules", "rules directory (repeatable)", func(v string) error { rd = append(rd, v); return nil })
	workers := flag.Int("workers", 2, "concurrent workers (and clients of spamd and rspamd)")
	spamdAddr := flag.String("spamd", "", "host:port of a running spamd to measure too")
	spamdPid := flag.Int("spamd-pid", 0, "spamd's parent process id, for its CPU time")
	rspamdBin := flag.String("rspamd", "", "rspamd binary to start privately and measure too")
	rspamdConf := flag.String("rspamd-conf", "/etc/rspamd/rspamd.conf", "rspamd's stock top-level configuration")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of sluice's measured run to `file`")
	flag.Parse()
	files := flag.Args()
	msgs := make([][]byte, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fail(err)
		}
		msgs[i] = b
	}
	n := len(msgs)
	sl, load, err := runSluice(rd, msgs, *workers, *cpuProfile)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%s, rules load %v\n", sl.line("sluice", n, *workers), load.Round(time.Millisecond))
	if *spamdAddr != "" {
		sd, err := runSpamd(*spamdAddr, *spamdPid, msgs, *workers)
		if err != nil {
			fail(err)
		}
		fmt.Println(sd.line("spamd", n, *workers))
		fmt.Printf("ratio spamd_cpu/sluice_cpu: %.2f\n", sd.cpuPerMsg(n)/sl.cpuPerMsg(n))
	}
	if *rspamdBin != "" {
		rs, err := runRspamd(*rspamdBin, *rspamdConf, msgs, *workers)
		if err != nil {
			fail(err)
		}
		fmt.Printf("%s, version %s\n", rs.line("rspamd", n, *workers), rspamdVersion(*rspamdBin))
		fmt.Printf("ratio rspamd_cpu/sluice_cpu: %.2f\n", rs.cpuPerMsg(n)/sl.cpuPerMsg(n))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func runSluice(rd []string, msgs [][]byte, workers int, cpuProfile string) (result, time.Duration, error) {
	t0 := time.Now()
	rs, err := rules.Load(rd, rules.Options{})
	if err != nil {
		return result{}, 0, err
	}
	load := time.Since(t0)
	conf := rs.Config()
	opt := scoring.Options{Hostname: "bench", Version: "bench"}
	// Warm up: the first evaluations size the regex caches.
	for _, m := range msgs[:min(20, len(msgs))] {
		rs.Eval(context.Background(), rules.FromMail(mail.Parse(m, mail.Options{})), rules.Input{})
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return result{}, 0, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return result{}, 0, err
		}
		defer pprof.StopCPUProfile()
	}
	r, err := measure(len(msgs), workers, selfCPU, func(i int) (bool, error) {
		pm := mail.Parse(msgs[i], mail.Options{})
		res := rs.Eval(context.Background(), rules.FromMail(pm), rules.Input{})
		v := scoring.Decide(res, conf)
		scoring.Apply(msgs[i], v, conf, opt)
		return v.Spam, nil
	})
	return r, load, err
}

func runSpamd(addr string, pid int, msgs [][]byte, workers int) (result, error) {
	if pid == 0 {
		return result{}, fmt.Errorf("benchrules: -spamd needs -spamd-pid")
	}
	// Warm both children, then let them settle.
	for _, m := range msgs[:min(4, len(msgs))] {
		spamdCheck(addr, m)
	}
	quiesce(pid, 30*time.Second)
	return measure(len(msgs), workers, func() (time.Duration, error) { return treeCPU(pid) },
		func(i int) (bool, error) { return spamdCheck(addr, msgs[i]) })
}

func runRspamd(bin, conf string, msgs [][]byte, workers int) (result, error) {
	dir, err := os.MkdirTemp("", "benchrules-rspamd-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	r, err := startRspamd(bin, conf, dir, workers)
	if err != nil {
		return result{}, err
	}
	defer r.Close()
	// Warm every worker, then wait for start-up work (the hs_helper
	// process compiling Hyperscan databases) to finish.
	for _, m := range msgs[:min(20, len(msgs))] {
		r.Check(m)
	}
	quiesce(r.Pid(), 2*time.Minute)
	return measure(len(msgs), workers, func() (time.Duration, error) { return treeCPU(r.Pid()) },
		func(i int) (bool, error) { return r.Check(msgs[i]) })
}

func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
