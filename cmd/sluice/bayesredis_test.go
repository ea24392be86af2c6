package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// redisBayesSetup writes the Bayes test rules and a configuration file
// with [redis] url = redisURL, and returns both the file and the parsed
// configuration (for serve), mail under dir/mail.
func redisBayesSetup(t *testing.T, dir, redisURL string) (string, config.Config) {
	t.Helper()
	rulesFile := filepath.Join(dir, "local.cf")
	os.WriteFile(rulesFile, []byte(bayesTestRules), 0o644)
	os.MkdirAll(filepath.Join(dir, "mail"), 0o755)
	cfgFile := filepath.Join(dir, "sluice.toml")
	src := fmt.Sprintf(`[delivery]
mail_root = %q
domains = ["example.test"]
[rules]
mode = "dirs"
dirs = [%q]
[auth]
enabled = false
[sieve]
enabled = false
[redis]
url = %q
key_prefix = "site1:"
timeout = "300ms"
`, filepath.Join(dir, "mail"), rulesFile, redisURL)
	os.WriteFile(cfgFile, []byte(src), 0o644)
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	return cfgFile, cfg
}

// spamStatus returns the unfolded X-Spam-Status of the message delivered
// to alice with subject.
func spamStatus(t *testing.T, cfg config.Config, subject string) string {
	t.Helper()
	for _, f := range maildirFiles(t, filepath.Join(cfg.Delivery.MailRoot, "example.test/alice/Maildir")) {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "Subject: "+subject+"\r\n") || strings.Contains(string(b), "Subject: "+subject+"\n") {
			m := regexp.MustCompile(`X-Spam-Status: ([^\n]*(\n\t[^\n]*)*)`).FindStringSubmatch(string(b))
			if m == nil {
				t.Fatalf("no X-Spam-Status in %q", subject)
			}
			return strings.Join(strings.Fields(m[1]), " ")
		}
	}
	t.Fatalf("message %q not delivered", subject)
	return ""
}

func metricsBody(t *testing.T, cfg config.Config) string {
	t.Helper()
	resp, err := http.Get("http://" + cfg.Metrics.Listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// TestRedisBayesLearnsAndScores: with [redis] url set, `sluice learn`
// learns into Redis (not the bbolt file), a delivery through serve scores
// from it and fires BAYES_99; `-stats` reads the same database, and
// `-user` learns under the user's own key prefix.
func TestRedisBayesLearnsAndScores(t *testing.T) {
	addr, _ := testutil.StartRedis(t)
	dir := t.TempDir()
	cfgFile, cfg := redisBayesSetup(t, dir, "redis://"+addr+"/2")
	for _, class := range []string{"spam", "ham"} {
		msgs := filepath.Join(dir, class)
		os.MkdirAll(msgs, 0o755)
		for i := 0; i < 5; i++ {
			body := "cheap pills viagra casino winner"
			if class == "ham" {
				body = "the quarterly review meeting agenda is attached"
			}
			os.WriteFile(filepath.Join(msgs, fmt.Sprint(i)), []byte(fmt.Sprintf("Subject: %s %d\nMessage-ID: <%s.%d@x.test>\n\n%s %d\n", class, i, class, i, body, i)), 0o644)
		}
		var out, errb bytes.Buffer
		if code := run([]string{"learn", "-config", cfgFile, "-" + class, msgs}, &out, &errb); code != 0 {
			t.Fatalf("learn -%s = %d\n%s%s", class, code, out.String(), errb.String())
		}
	}
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: addr, DB: 2})
	defer rc.Close()
	if n, err := rc.Get(ctx, "site1:nspam").Result(); err != nil || n != "5" {
		t.Fatalf("Redis site1:nspam = %q, %v; want 5", n, err)
	}
	var out bytes.Buffer
	if code := run([]string{"learn", "-config", cfgFile, "-stats"}, &out, os.Stderr); code != 0 || !regexp.MustCompile(`\s5\s+0\s+non-token data: nham`).MatchString(out.String()) {
		t.Fatalf("learn -stats = %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"learn", "-config", cfgFile, "-user", "Bob@Example.test", "-spam", filepath.Join(dir, "spam", "0")}, &out, os.Stderr); code != 0 {
		t.Fatalf("learn -user = %d\n%s", code, out.String())
	}
	if n, _ := rc.Get(ctx, "site1:u:bob@example.test:nspam").Result(); n != "1" {
		t.Fatalf("Redis site1:u:bob@example.test:nspam = %q, want 1", n)
	}

	laddr, _ := startInProcess(t, cfg)
	if st := lmtpSend(t, laddr, "s@client.test", []string{"alice@example.test"}, testMessage("offer", "cheap pills viagra casino winner pharmacy")); st["alice@example.test"] != nil {
		t.Fatalf("delivery: %v", st)
	}
	if st := spamStatus(t, cfg, "offer"); !strings.Contains(st, "BAYES_99") {
		t.Fatalf("delivery after learning into Redis: X-Spam-Status %q, want BAYES_99", st)
	}
	if _, err := os.Stat(cfg.BayesPath()); err == nil {
		t.Fatalf("a bbolt database %s was made with [redis] url set", cfg.BayesPath())
	}
	if body := metricsBody(t, cfg); !strings.Contains(body, `sluice_bayes_errors_total{op="score"} 0`) {
		t.Fatalf("/metrics: want no Bayes errors:\n%s", body)
	}
}

// TestRedisDownDeliveryGoesOn: Redis goes down while sluice serves; the
// next delivery is answered 250 and scored without Bayes, and the failure
// is logged ("bayes unavailable") and counted.
func TestRedisDownDeliveryGoesOn(t *testing.T) {
	addr, stop := testutil.StartRedis(t)
	dir := t.TempDir()
	_, cfg := redisBayesSetup(t, dir, "redis://"+addr+"/0")
	laddr, logs := startInProcess(t, cfg)
	if st := lmtpSend(t, laddr, "s@client.test", []string{"alice@example.test"}, testMessage("before", "x")); st["alice@example.test"] != nil {
		t.Fatalf("delivery with Redis up = %v, want 250", st)
	}
	if strings.Contains(logs.String(), "bayes unavailable") {
		t.Fatalf("Bayes unavailable with Redis up:\n%s", logs.String())
	}
	stop()
	if st := lmtpSend(t, laddr, "s@client.test", []string{"alice@example.test"}, testMessage("while down", "x")); st["alice@example.test"] != nil {
		t.Fatalf("delivery with Redis down = %v, want 250", st)
	}
	if st := spamStatus(t, cfg, "while down"); strings.Contains(st, "BAYES_") {
		t.Fatalf("X-Spam-Status %q with Redis down names a Bayes rule", st)
	}
	if !strings.Contains(logs.String(), "bayes unavailable") {
		t.Fatalf("no log line says Bayes was unavailable:\n%s", logs.String())
	}
	if body := metricsBody(t, cfg); !strings.Contains(body, `sluice_bayes_errors_total{op="score"} 1`) {
		t.Fatalf("/metrics does not count the Bayes failure:\n%s", body)
	}
}

// TestRedisReloadKeepsOnePool: reloads reuse the Redis store, so the
// connections sluice holds to Redis do not grow by one pool per SIGHUP.
func TestRedisReloadKeepsOnePool(t *testing.T) {
	addr, _ := testutil.StartRedis(t)
	dir := t.TempDir()
	cfgFile, _ := redisBayesSetup(t, dir, "redis://"+addr+"/0")
	port := testutil.FreePort(t)
	lmtpAddr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := sluiceCommand("serve", "-config", cfgFile, "-lmtp", lmtpAddr, "-metrics", "off")
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	if err := testutil.WaitPort(port, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	clients := func() int {
		t.Helper()
		info, err := rc.Info(context.Background(), "clients").Result()
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`connected_clients:(\d+)`).FindStringSubmatch(info)
		n := 0
		fmt.Sscan(m[1], &n)
		return n - 1 // this test's own connection
	}
	deliverSome := func(round int) {
		t.Helper()
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deliverOne(lmtpAddr, fmt.Sprintf("Subject: r%d-%d\r\nMessage-ID: <r%d.%d@x.test>\r\n\r\nhello\r\n", round, i, round, i))
			}()
		}
		wg.Wait()
	}
	deliverSome(0)
	first := clients()
	for r := 1; r <= 5; r++ {
		cmd.Process.Signal(syscall.SIGHUP)
		for deadline := time.Now().Add(30 * time.Second); strings.Count(logs.String(), "msg=reloaded") < r; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("reload %d not logged:\n%s", r, logs.String())
			}
		}
		deliverSome(r)
	}
	// One pool grows with the 4 concurrent deliveries, but a pool per
	// reload would add at least one connection for each of the 5 rounds
	// delivered after a reload.
	if got := clients(); first == 0 || got >= first+5 {
		t.Fatalf("sluice holds %d Redis connections after 5 reloads, %d before: a pool per reload", got, first)
	}
}
