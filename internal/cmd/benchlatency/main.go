// Command benchlatency measures the latency of sluice's full delivery
// pipeline and the server's resident memory over many deliveries. It
// drives a running `sluice serve` over one LMTP connection, kept open as
// Postfix's LMTP client keeps it, one message at a time to one recipient:
// the latency of a message is from MAIL FROM to the recipient's final
// reply after DATA, so it covers parsing, rules, scoring, Sieve and the
// Maildir delivery with its fsyncs. scripts/bench-latency.sh starts the
// server and runs it.
//
//	benchlatency -lmtp 127.0.0.1:2424 -metrics 127.0.0.1:9425 -pid PID [-deliveries 10000] FILE...
//
// After -warmup messages it sends every FILE once (the corpus pass) and
// prints its latency percentiles and how many of its messages ran out of
// the rule budget (the server's sluice_rules_timeouts_total) and the mean
// time per message of each stage (sluice_stage_duration_seconds); then it goes
// on through the files again until -deliveries messages in all have been
// delivered, printing the server's resident set size (VmRSS, from
// /proc/PID/status) after each count in -rss-at. It exits 1 if any
// delivery was not accepted.
//
// With -slowest N it scrapes the server's metrics after every message of
// the corpus pass (outside the timed span) and prints the N slowest
// messages with their file, size, each stage's time in the server and
// the garbage collections that ran during them, to show what the tail is
// made of.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/internal/parity"
)

func main() {
	addr := flag.String("lmtp", "127.0.0.1:2424", "sluice's LMTP address")
	metricsAddr := flag.String("metrics", "127.0.0.1:9425", "sluice's metrics address")
	pid := flag.Int("pid", 0, "the server's process id (for its resident size)")
	rcpt := flag.String("rcpt", "alice@example.test", "recipient of every message")
	warmup := flag.Int("warmup", 20, "messages delivered before the corpus pass, not timed")
	total := flag.Int("deliveries", 10000, "deliveries in all, warm-up and corpus pass included")
	rssAt := flag.String("rss-at", "1000,5000,10000", "delivery counts after which to print the server's RSS")
	slowest := flag.Int("slowest", 0, "print this many of the corpus pass's slowest messages with their stage times")
	flag.Parse()
	var msgs [][]byte
	names := flag.Args()
	for _, f := range flag.Args() {
		b, err := os.ReadFile(f)
		if err != nil {
			fail(err)
		}
		msgs = append(msgs, parity.Clean(b))
	}
	if len(msgs) == 0 {
		fail(fmt.Errorf("benchlatency: no message files given"))
	}
	samples := map[int]bool{}
	for _, s := range strings.Split(*rssAt, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
			samples[n] = true
		}
	}
	d, err := dial(*addr, *rcpt)
	if err != nil {
		fail(err)
	}
	defer d.close()
	failed := 0
	// deliver sends delivery n (counted from 0), then samples the RSS
	// when n+1 is one of the -rss-at counts.
	deliver := func(n int, msg []byte) time.Duration {
		lat, err := d.send(msg)
		if err != nil {
			failed++
			if failed <= 5 {
				fmt.Fprintf(os.Stderr, "benchlatency: delivery %d: %v\n", n+1, err)
			}
		}
		if samples[n+1] && *pid > 0 {
			rss, hwm := residentKiB(*pid)
			fmt.Printf("rss after %d deliveries: %.1f MiB (peak %.1f MiB)\n", n+1, float64(rss)/1024, float64(hwm)/1024)
		}
		return lat
	}
	if *pid > 0 {
		rss, hwm := residentKiB(*pid)
		fmt.Printf("rss before any delivery: %.1f MiB (peak %.1f MiB)\n", float64(rss)/1024, float64(hwm)/1024)
	}
	n := 0
	for ; n < min(*warmup, *total); n++ {
		deliver(n, msgs[n%len(msgs)])
	}
	m0, err := scrape(*metricsAddr)
	if err != nil {
		fail(err)
	}
	// The corpus pass: every file once, in order.
	var pass []time.Duration
	var traced []traceEntry
	prev := m0
	for i := 0; i < len(msgs) && n < *total; i, n = i+1, n+1 {
		lat := deliver(n, msgs[i])
		pass = append(pass, lat)
		if *slowest > 0 {
			m, err := scrape(*metricsAddr)
			if err != nil {
				fail(err)
			}
			traced = append(traced, traceOf(names[i], len(msgs[i]), lat, prev, m))
			prev = m
		}
	}
	m1, err := scrape(*metricsAddr)
	if err != nil {
		fail(err)
	}
	fmt.Printf("latency: %s, %d over the rule budget\n", summary(pass),
		int(m1["sluice_rules_timeouts_total"]-m0["sluice_rules_timeouts_total"]))
	fmt.Printf("stages, mean per message in the server: %s\n", stageMeans(m0, m1))
	if *slowest > 0 {
		fmt.Print(slowestReport(traced, *slowest))
	}
	var rest []time.Duration
	for ; n < *total; n++ {
		rest = append(rest, deliver(n, msgs[n%len(msgs)]))
	}
	if len(rest) > 0 {
		fmt.Printf("latency after the corpus pass: %s\n", summary(rest))
	}
	fmt.Printf("deliveries: %d, failed %d\n", n, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}

// summary formats the percentiles of lat.
func summary(lat []time.Duration) string {
	s := slices.Clone(lat)
	slices.Sort(s)
	p := func(q float64) string {
		i := min(len(s)-1, int(q*float64(len(s))))
		return fmt.Sprintf("%.1f", float64(s[i].Microseconds())/1000)
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return fmt.Sprintf("%d messages, 1 session, p50 %s ms, p90 %s ms, p99 %s ms, max %s ms, mean %.1f ms",
		len(s), p(0.5), p(0.9), p(0.99), p(1), float64(sum.Microseconds())/1000/float64(len(s)))
}

// deliverer is one LMTP session kept open across messages.
type deliverer struct {
	c    *smtp.Client
	rcpt string
}

func dial(addr, rcpt string) (*deliverer, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("benchlatency: %w", err)
	}
	c := smtp.NewClientLMTP(conn)
	if err := c.Hello("client.test"); err != nil {
		c.Close()
		return nil, fmt.Errorf("benchlatency: LHLO: %w", err)
	}
	return &deliverer{c: c, rcpt: rcpt}, nil
}

// send delivers msg and returns the time from MAIL FROM to the reply
// after DATA.
func (d *deliverer) send(msg []byte) (time.Duration, error) {
	start := time.Now()
	if err := d.c.Mail("sender@client.test", nil); err != nil {
		return 0, fmt.Errorf("benchlatency: MAIL: %w", err)
	}
	if err := d.c.Rcpt(d.rcpt, nil); err != nil {
		d.c.Reset()
		return 0, fmt.Errorf("benchlatency: RCPT: %w", err)
	}
	w, err := d.c.Data()
	if err != nil {
		d.c.Reset()
		return 0, fmt.Errorf("benchlatency: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return 0, fmt.Errorf("benchlatency: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return time.Since(start), fmt.Errorf("benchlatency: %w", err)
	}
	return time.Since(start), nil
}

func (d *deliverer) close() { d.c.Quit() }

// scrape reads every sample of the server's /metrics, keyed by the series
// as written (name and labels, e.g. `x_sum{stage="rules"}`).
func scrape(addr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("benchlatency: metrics: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	if _, ok := out["sluice_rules_timeouts_total"]; !ok {
		return nil, fmt.Errorf("benchlatency: metrics: no sluice_rules_timeouts_total")
	}
	return out, nil
}

// stageMeans formats the mean time per message of each pipeline stage
// between two scrapes (autolearn: per message it wrote, with their count).
func stageMeans(m0, m1 map[string]float64) string {
	var parts []string
	for _, st := range stages {
		k := `sluice_stage_duration_seconds_%s{stage="` + st + `"}`
		n := m1[fmt.Sprintf(k, "count")] - m0[fmt.Sprintf(k, "count")]
		if n > 0 {
			sum := m1[fmt.Sprintf(k, "sum")] - m0[fmt.Sprintf(k, "sum")]
			part := fmt.Sprintf("%s %.2f ms", st, sum/n*1000)
			if st == "autolearn" { // only the messages it wrote
				part += fmt.Sprintf(" (%d messages)", int(n))
			}
			parts = append(parts, part)
		}
	}
	return strings.Join(parts, ", ")
}

// stages are the pipeline stages of sluice_stage_duration_seconds, in
// pipeline order.
var stages = []string{"parse", "auth", "bayes", "rules", "autolearn", "sieve", "delivery"}

// traceEntry is one message of the corpus pass with what the server
// spent on it.
type traceEntry struct {
	file  string
	size  int
	lat   time.Duration
	stage map[string]float64 // seconds, by stage
	gcs   int                // garbage collections completed during it
	pause float64            // their stop-the-world pauses, seconds
	heap  float64            // heap in use after it, bytes
}

// traceOf is the entry of one message from the scrapes before and after it.
func traceOf(file string, size int, lat time.Duration, m0, m1 map[string]float64) traceEntry {
	e := traceEntry{file: file, size: size, lat: lat, stage: map[string]float64{}}
	for _, st := range stages {
		k := `sluice_stage_duration_seconds_sum{stage="` + st + `"}`
		e.stage[st] = m1[k] - m0[k]
	}
	e.gcs = int(m1["go_gc_duration_seconds_count"] - m0["go_gc_duration_seconds_count"])
	e.pause = m1["go_gc_duration_seconds_sum"] - m0["go_gc_duration_seconds_sum"]
	e.heap = m1["go_memstats_heap_inuse_bytes"]
	return e
}

// slowestReport formats the n slowest entries, slowest first, and how the
// slowest 1% compares with the whole pass.
func slowestReport(tr []traceEntry, n int) string {
	s := slices.Clone(tr)
	slices.SortFunc(s, func(a, b traceEntry) int { return cmp.Compare(b.lat, a.lat) })
	var b strings.Builder
	fmt.Fprintf(&b, "slowest %d of the corpus pass (ms; delivery includes sieve; other = outside the stages; gc = collections during the message/their pause):\n", min(n, len(s)))
	fmt.Fprintf(&b, "%8s %8s", "latency", "size")
	for _, st := range stages {
		fmt.Fprintf(&b, " %8s", st)
	}
	fmt.Fprintf(&b, " %8s %6s  %s\n", "other", "gc", "file")
	for _, e := range s[:min(n, len(s))] {
		fmt.Fprintf(&b, "%8.1f %8d", ms(e.lat.Seconds()), e.size)
		in := 0.0
		for _, st := range stages {
			fmt.Fprintf(&b, " %8.1f", ms(e.stage[st]))
			if st != "sieve" { // inside delivery
				in += e.stage[st]
			}
		}
		fmt.Fprintf(&b, " %8.1f %2d/%.1f  %s\n", ms(e.lat.Seconds()-in), e.gcs, ms(e.pause), filepath.Base(e.file))
	}
	if len(s) >= 100 {
		mean := func(es []traceEntry) (size float64, gcs float64) {
			for _, e := range es {
				size += float64(e.size)
				gcs += float64(e.gcs)
			}
			return size / float64(len(es)), gcs / float64(len(es))
		}
		ts, tg := mean(s[:len(s)/100])
		as, ag := mean(s)
		fmt.Fprintf(&b, "slowest 1%%: mean size %.0f bytes, %.2f collections per message; all: %.0f bytes, %.2f\n", ts, tg, as, ag)
	}
	return b.String()
}

func ms(sec float64) float64 { return sec * 1000 }

// residentKiB reads VmRSS and VmHWM (the peak) from /proc/PID/status.
func residentKiB(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				rss = v
			case "VmHWM:":
				hwm = v
			}
		}
	}
	return rss, hwm
}
