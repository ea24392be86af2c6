package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestBayesConcurrentLearning: four concurrent LMTP senders whose messages
// are all auto-learned, while a `sluice learn` process learns 1000 more
// into the same database: every update lands (the totals add up), and no
// delivery was deferred or failed to auto-learn.
func TestBayesConcurrentLearning(t *testing.T) { concurrentLearning(t, "") }

// TestBayesConcurrentLearningRedis is TestBayesConcurrentLearning with
// the database in a real redis-server.
func TestBayesConcurrentLearningRedis(t *testing.T) {
	addr, _ := testutil.StartRedis(t)
	concurrentLearning(t, fmt.Sprintf("[redis]\nurl = \"redis://%s/0\"\n", addr))
}

// concurrentLearning runs the test with extra appended to the
// configuration file.
func concurrentLearning(t *testing.T, extra string) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "local.cf")
	os.WriteFile(rulesFile, []byte(bayesTestRules), 0o644)
	cfgFile := filepath.Join(dir, "sluice.toml")
	root := filepath.Join(dir, "mail")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("[rules]\nmode = \"dirs\"\ndirs = [%q]\n[delivery]\nmail_root = %q\n[bayes]\nlock_timeout = \"30s\"\n%s", rulesFile, root, extra)), 0o644)
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Delivery.Domains = []string{"example.test"}
	cfg.Sieve.Enabled = false
	addr, _ := startInProcess(t, cfg)

	const learned, delivered, senders = 1000, 200, 4
	corpus := filepath.Join(dir, "learn")
	os.MkdirAll(corpus, 0o755)
	for i := 0; i < learned; i++ {
		msg := fmt.Sprintf("From: x@spam.test\nSubject: offer %d\nMessage-ID: <learn.%d@spam.test>\n\ncheap pills number %d casino\n", i, i, i)
		os.WriteFile(filepath.Join(corpus, fmt.Sprint(i)), []byte(msg), 0o644)
	}
	var learnOut, learnErr bytes.Buffer
	learnDone := make(chan error, 1)
	learnCmd := sluiceCommand("learn", "-config", cfgFile, "-spam", corpus)
	learnCmd.Stdout, learnCmd.Stderr = &learnOut, &learnErr
	if err := learnCmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { learnDone <- learnCmd.Wait() }()

	var wg sync.WaitGroup
	next := make(chan int)
	var mu sync.Mutex
	var failures []string
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				subject, body := fmt.Sprintf("minutes %d", n), "the review meeting agenda is attached"
				if n%2 == 0 {
					subject, body = fmt.Sprintf("LOUDSPAM %d", n), "loudspam cheap pills"
				}
				msg := fmt.Sprintf("From: s@client.test\r\nTo: alice@example.test\r\nSubject: %s\r\nMessage-ID: <race.%d@client.test>\r\n\r\n%s %d\r\n", subject, n, body, n)
				if ok, reply := deliverOne(addr, msg); !ok {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d: %v", n, reply))
					mu.Unlock()
				}
			}
		}()
	}
	for n := 0; n < delivered; n++ {
		next <- n
	}
	close(next)
	wg.Wait()
	if err := <-learnDone; err != nil {
		t.Fatalf("sluice learn: %v\n%s%s", err, learnOut.String(), learnErr.String())
	}
	if len(failures) > 0 {
		t.Fatalf("%d deliveries failed: %q", len(failures), failures)
	}
	statuses := map[string]int{}
	for _, f := range maildirFiles(t, filepath.Join(root, "example.test/alice/Maildir")) {
		b, _ := os.ReadFile(f)
		if m := regexp.MustCompile(`autolearn=(\w+)`).FindSubmatch(b); m != nil {
			statuses[string(m[1])]++
		}
	}
	if statuses["spam"] != delivered/2 || statuses["ham"] != delivered/2 {
		t.Fatalf("auto-learn outcomes %v, want %d spam and %d ham", statuses, delivered/2, delivered/2)
	}
	var stats bytes.Buffer
	if code := run([]string{"learn", "-config", cfgFile, "-stats"}, &stats, os.Stderr); code != 0 {
		t.Fatalf("learn -stats = %d", code)
	}
	count := func(name string) int {
		m := regexp.MustCompile(`(\d+)\s+\d+\s+non-token data: ` + name + `\n`).FindStringSubmatch(stats.String())
		if m == nil {
			t.Fatalf("-stats lacks %s:\n%s", name, stats.String())
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if ns, nh := count("nspam"), count("nham"); ns != learned+delivered/2 || nh != delivered/2 {
		t.Fatalf("database totals nspam=%d nham=%d, want %d and %d:\n%s", ns, nh, learned+delivered/2, delivered/2, stats.String())
	}
	if _, err := os.Stat(cfg.BayesPath()); extra != "" && err == nil {
		t.Errorf("a bbolt database %s was made with [redis] url set", cfg.BayesPath())
	}
	if !strings.Contains(learnOut.String(), fmt.Sprint(learned)) {
		t.Errorf("sluice learn output does not report %d messages: %s", learned, learnOut.String())
	}
}
