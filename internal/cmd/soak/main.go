// Command soak drives a running sluice over LMTP at a bounded rate for a
// while with a mix of corpus messages, hostile messages and slow or
// vanishing clients, and samples the server's own metrics (resident memory,
// goroutines, open file descriptors) to show whether anything grows.
// scripts/soak.sh starts sluice and runs it.
//
//	soak -lmtp 127.0.0.1:2424 -metrics 127.0.0.1:9425 -duration 30m -rate 20 FILE...
//
// It prints one sample line every -sample, then the first-minute and final
// figures, and exits 1 when the final RSS is above -rss-band times the
// first minute's, or goroutines or fds grew by more than -slack, or any
// well-formed delivery got something other than 250 or a 4xx.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

type sample struct {
	at         time.Duration
	rss        float64
	goroutines float64
	fds        float64
}

type counts struct {
	sent, ok, temp, perm, refusedHostile, proto atomic.Int64
}

func main() {
	addr := flag.String("lmtp", "127.0.0.1:2424", "sluice's LMTP address")
	metricsAddr := flag.String("metrics", "127.0.0.1:9425", "sluice's metrics address")
	duration := flag.Duration("duration", 30*time.Minute, "how long to run")
	rate := flag.Float64("rate", 20, "messages started per second")
	every := flag.Duration("sample", 30*time.Second, "sampling interval")
	band := flag.Float64("rss-band", 1.5, "final RSS may be at most this times the first minute's peak")
	slack := flag.Float64("slack", 20, "goroutines and fds may grow by at most this much")
	burst := flag.Int("burst", 0, "instead of soaking: send this many messages of -burst-size at once, then print the server's peak RSS")
	burstSize := flag.Int("burst-size", 45<<20, "size in bytes of each -burst message")
	pid := flag.Int("pid", 0, "the server's process id, for -burst (reads /proc/PID/status)")
	flag.Parse()
	if *burst > 0 {
		os.Exit(runBurst(*addr, *burst, *burstSize, *pid))
	}
	var corpus [][]byte
	for _, f := range flag.Args() {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			os.Exit(2)
		}
		corpus = append(corpus, toCRLF(stripFromLine(b)))
	}
	if len(corpus) == 0 {
		fmt.Fprintln(os.Stderr, "soak: no corpus files given")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()

	var c counts
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	defer tick.Stop()
	sampler := time.NewTicker(*every)
	defer sampler.Stop()
	start := time.Now()
	var samples []sample
	take := func() {
		s, err := scrape(*metricsAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "soak: metrics:", err)
			return
		}
		s.at = time.Since(start).Round(time.Second)
		samples = append(samples, s)
		fmt.Printf("%8s rss=%.1fMiB goroutines=%.0f fds=%.0f sent=%d ok=%d temp=%d perm=%d proto=%d\n",
			s.at, s.rss/(1<<20), s.goroutines, s.fds, c.sent.Load(), c.ok.Load(), c.temp.Load(), c.perm.Load(), c.proto.Load())
	}
	take()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			// Let sessions close and the GC return what it can.
			time.Sleep(5 * time.Second)
			take()
			os.Exit(report(samples, &c, *band, *slack))
		case <-sampler.C:
			take()
		case <-tick.C:
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(*addr, n, corpus, &c)
			}()
		}
	}
}

// run sends delivery n, picking its kind from n.
func run(addr string, n int, corpus [][]byte, c *counts) {
	c.sent.Add(1)
	var err error
	switch n % 20 {
	case 0:
		err = send(addr, hostile(n), 0, c, true)
	case 1:
		err = send(addr, corpus[n%len(corpus)], 2*time.Millisecond, c, false) // a slow client
	case 2:
		vanish(addr, corpus[n%len(corpus)]) // a client that goes away mid-DATA
		return
	default:
		err = send(addr, corpus[rand.IntN(len(corpus))], 0, c, false)
	}
	if err != nil {
		c.proto.Add(1)
	}
}

// hostile returns one of the messages that used to cost the server dearly.
func hostile(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: h@client.test\r\nTo: alice@example.test\r\n")
	switch (n / 20) % 4 {
	case 0: // a 256 KiB header folded into short lines
		b.WriteString("Subject: x")
		for b.Len() < 256<<10 {
			b.WriteString("\r\n y")
		}
		b.WriteString("\r\n\r\nbody\r\n")
	case 1: // many header fields
		for i := 0; i < 5000; i++ {
			fmt.Fprintf(&b, "X-H%d: v\r\n", i)
		}
		b.WriteString("\r\nbody\r\n")
	case 2: // deep MIME nesting
		b.WriteString("MIME-Version: 1.0\r\n")
		for i := 0; i < 200; i++ {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
		}
		b.WriteString("Content-Type: text/plain\r\n\r\ndeep\r\n")
	case 3: // a 1 MiB body of one word repeated
		b.WriteString("Subject: big\r\n\r\n")
		for b.Len() < 1<<20 {
			b.WriteString("viagra viagra viagra viagra viagra viagra viagra\r\n")
		}
	}
	return b.Bytes()
}

// send delivers msg to alice; a 5xx counts as a failure unless the
// message is a hostile one, which may be refused on purpose. A non-zero drip writes it in 1 KiB pieces
// with that pause between them.
func send(addr string, msg []byte, drip time.Duration, c *counts, isHostile bool) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Minute))
	cl := smtp.NewClientLMTP(conn)
	defer cl.Close()
	if err := cl.Hello("client.test"); err != nil {
		return err
	}
	if err := cl.Mail("s@client.test", nil); err != nil {
		return err
	}
	if err := cl.Rcpt("alice@example.test", nil); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	for p := msg; len(p) > 0; {
		k := len(p)
		if drip > 0 {
			k = min(k, 1024)
			time.Sleep(drip)
		}
		if _, err := w.Write(p[:k]); err != nil {
			return err
		}
		p = p[k:]
	}
	_, err = w.CloseWithLMTPResponse()
	if lerr, ok := err.(smtp.LMTPDataError); ok {
		for _, e := range lerr {
			switch {
			case e.Code/100 == 4:
				c.temp.Add(1)
			case isHostile:
				c.refusedHostile.Add(1)
			default:
				c.perm.Add(1)
			}
		}
		cl.Quit()
		return nil
	}
	if err != nil {
		return err
	}
	c.ok.Add(1)
	return cl.Quit()
}

// vanish starts a delivery and closes the connection half-way through DATA.
func vanish(addr string, msg []byte) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	line := func() { r.ReadString('\n') }
	line()
	io.WriteString(conn, "LHLO client.test\r\n")
	for {
		l, err := r.ReadString('\n')
		if err != nil || strings.HasPrefix(l, "250 ") {
			break
		}
	}
	io.WriteString(conn, "MAIL FROM:<s@client.test>\r\n")
	line()
	io.WriteString(conn, "RCPT TO:<alice@example.test>\r\n")
	line()
	io.WriteString(conn, "DATA\r\n")
	line()
	conn.Write(msg[:len(msg)/2])
}

// scrape reads the process metrics off /metrics.
func scrape(addr string) (sample, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	var s sample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			s.rss = v
		case "go_goroutines":
			s.goroutines = v
		case "process_open_fds":
			s.fds = v
		}
	}
	return s, sc.Err()
}

// report prints the first-minute and final figures and returns the exit
// code.
func report(samples []sample, c *counts, band, slack float64) int {
	if len(samples) < 3 {
		fmt.Println("soak: too few samples")
		return 1
	}
	var first sample
	for _, s := range samples[1:] {
		if s.at > time.Minute && first.at != 0 {
			break
		}
		if s.rss > first.rss {
			first.rss = s.rss
		}
		first.goroutines = max(first.goroutines, s.goroutines)
		first.fds = max(first.fds, s.fds)
		first.at = s.at
	}
	last := samples[len(samples)-1]
	fmt.Printf("first minute: rss=%.1fMiB goroutines=%.0f fds=%.0f\n", first.rss/(1<<20), first.goroutines, first.fds)
	fmt.Printf("final (%s): rss=%.1fMiB goroutines=%.0f fds=%.0f\n", last.at, last.rss/(1<<20), last.goroutines, last.fds)
	fmt.Printf("deliveries: sent=%d ok=%d temp=%d perm=%d hostile-refused=%d protocol-errors=%d\n", c.sent.Load(), c.ok.Load(), c.temp.Load(), c.perm.Load(), c.refusedHostile.Load(), c.proto.Load())
	code := 0
	if last.rss > band*first.rss {
		fmt.Printf("FAIL: final RSS %.1fMiB above %.1fx the first minute's %.1fMiB\n", last.rss/(1<<20), band, first.rss/(1<<20))
		code = 1
	}
	if last.goroutines > first.goroutines+slack {
		fmt.Printf("FAIL: goroutines grew from %.0f to %.0f\n", first.goroutines, last.goroutines)
		code = 1
	}
	if last.fds > first.fds+slack {
		fmt.Printf("FAIL: fds grew from %.0f to %.0f\n", first.fds, last.fds)
		code = 1
	}
	if c.perm.Load() > 0 {
		fmt.Printf("FAIL: %d deliveries got a 5xx\n", c.perm.Load())
		code = 1
	}
	return code
}

func stripFromLine(b []byte) []byte {
	if bytes.HasPrefix(b, []byte("From ")) {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return b[i+1:]
		}
	}
	return b
}

func toCRLF(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// runBurst sends n messages of size bytes concurrently and prints the
// server's peak resident set (VmHWM) against the bytes in flight.
func runBurst(addr string, n, size, pid int) int {
	var b bytes.Buffer
	b.WriteString("From: s@client.test\r\nTo: alice@example.test\r\nSubject: burst\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n")
	for b.Len() < size {
		b.WriteString("The quick brown fox jumps over the lazy dog, again and again and again.\r\n")
	}
	msg := b.Bytes()
	before := hwm(pid)
	var c counts
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.sent.Add(1)
			if err := send(addr, msg, 0, &c, false); err != nil {
				fmt.Fprintln(os.Stderr, "soak: burst:", err)
				c.proto.Add(1)
			}
		}()
	}
	wg.Wait()
	peak := hwm(pid)
	inFlight := float64(n * len(msg))
	fmt.Printf("burst: %d x %.1f MiB in %s: ok=%d temp=%d perm=%d errors=%d; peak RSS %.0f MiB (before %.0f MiB) = %.2fx the %.0f MiB in flight\n",
		n, float64(len(msg))/(1<<20), time.Since(t0).Round(time.Millisecond), c.ok.Load(), c.temp.Load(), c.perm.Load(), c.proto.Load(),
		peak/(1<<20), before/(1<<20), peak/inFlight, inFlight/(1<<20))
	if c.ok.Load()+c.temp.Load() != int64(n) {
		return 1
	}
	return 0
}

// hwm returns the peak resident set of process pid in bytes, 0 if unknown.
func hwm(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024
		}
	}
	return 0
}
