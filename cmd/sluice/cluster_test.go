package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// clusterNode is one `sluice serve` process of a cluster test.
type clusterNode struct {
	lmtp, metrics string
	logs          *syncBuffer
}

// clusterConfig writes the configuration every node of a cluster test
// shares: one mail root (shared storage), the relay sink, [redis] at
// redisAddr, the rules in rulesFile (built-in rules when empty).
func clusterConfig(t *testing.T, dir, sinkAddr, redisAddr, rulesFile string) (string, config.Config) {
	t.Helper()
	rules := "mode = \"builtin\""
	if rulesFile != "" {
		rules = fmt.Sprintf("mode = \"dirs\"\ndirs = [%q]", rulesFile)
	}
	src := fmt.Sprintf(`[delivery]
mail_root = %q
domains = ["example.test"]
[rules]
%s
[auth]
enabled = false
[outbound]
relay = %q
[redis]
url = "redis://%s/0"
key_prefix = "cluster:"
timeout = "300ms"
`, filepath.Join(dir, "mail"), rules, sinkAddr, redisAddr)
	os.MkdirAll(filepath.Join(dir, "mail"), 0o755)
	f := filepath.Join(dir, "sluice.toml")
	os.WriteFile(f, []byte(src), 0o644)
	cfg, err := config.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return f, cfg
}

// startNode runs `sluice serve -config cfgFile` as its own process on free
// LMTP and metrics ports; it is stopped with SIGTERM at the end of the test.
func startNode(t *testing.T, cfgFile string) *clusterNode {
	t.Helper()
	port := testutil.FreePort(t)
	n := &clusterNode{
		lmtp:    fmt.Sprintf("127.0.0.1:%d", port),
		metrics: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
		logs:    &syncBuffer{},
	}
	cmd := sluiceCommand("serve", "-config", cfgFile, "-lmtp", n.lmtp, "-metrics", n.metrics)
	cmd.Stderr = n.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("node %s log:\n%s", n.lmtp, n.logs.String())
		}
	})
	if err := testutil.WaitPort(port, 20*time.Second); err != nil {
		t.Fatalf("node %s: %v\n%s", n.lmtp, err, n.logs.String())
	}
	return n
}

// metric returns the value of the sample named series (with its labels)
// on node n's /metrics, or -1 if it is missing.
func (n *clusterNode) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + n.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(b.String())
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// ready returns the status code of node n's /readyz.
func (n *clusterNode) ready(t *testing.T) int {
	t.Helper()
	resp, err := http.Get("http://" + n.metrics + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// sinkCount counts the sink's messages to rcpt whose data contains sub.
func sinkCount(sk *testutil.Sink, rcpt, sub string) int {
	n := 0
	for _, m := range sk.Received() {
		if len(m.To) == 1 && m.To[0] == rcpt && strings.Contains(string(m.Data), sub) {
			n++
		}
	}
	return n
}

// TestClusterRetryOnOtherNode: two nodes share Redis and the mail root;
// the same message delivered to both (a Postfix retry that picked the
// other node) is filed once, forwarded once and answered by one vacation
// reply, counted at the relay sink.
func TestClusterRetryOnOtherNode(t *testing.T) {
	redisAddr, _ := testutil.StartRedis(t)
	sk := &testutil.Sink{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	testutil.StartSink(t, sk, nil)
	dir := t.TempDir()
	cfgFile, cfg := clusterConfig(t, dir, sk.Addr, redisAddr, "")
	userScript(t, cfg.Delivery.MailRoot, "alice", "require \"vacation\";\nvacation :days 1 :subject \"Away\" \"I am away.\";\nredirect \"friend@elsewhere.test\";\nkeep;\n")
	a, b := startNode(t, cfgFile), startNode(t, cfgFile)
	msg := "From: Sender <sender@client.test>\r\nTo: alice@example.test\r\nSubject: retried\r\nMessage-ID: <retry1@client.test>\r\n\r\nplease forward\r\n"
	for i, n := range []*clusterNode{a, b, a} {
		// Each retry gets its own trace fields, as Postfix's would.
		raw := fmt.Sprintf("Received: by mx.example.test; attempt %d\r\n%s", i, msg)
		if st := lmtpSend(t, n.lmtp, "sender@client.test", []string{"alice@example.test"}, raw); st["alice@example.test"] != nil {
			t.Fatalf("delivery %d to node %s: %v", i, n.lmtp, st)
		}
	}
	if got := sinkCount(sk, "friend@elsewhere.test", "please forward"); got != 1 {
		t.Errorf("forwards at the sink = %d, want exactly 1", got)
	}
	if got := sinkCount(sk, "sender@client.test", "I am away."); got != 1 {
		t.Errorf("vacation replies at the sink = %d, want exactly 1", got)
	}
	if n := len(sk.Received()); n != 2 {
		t.Errorf("sink received %d messages, want 2 (one forward, one reply)", n)
	}
	if got := len(maildirFiles(t, filepath.Join(cfg.Delivery.MailRoot, "example.test/alice/Maildir"))); got != 1 {
		t.Errorf("INBOX holds %d copies, want 1", got)
	}
	for _, f := range []string{".sluice-state.db"} {
		if _, err := os.Stat(filepath.Join(cfg.Delivery.MailRoot, f)); err == nil {
			t.Errorf("a node opened %s with [redis] url set", f)
		}
	}
}

// TestClusterBayesSharedLearning: a message learned as spam through node
// A's configuration (`sluice learn` with the shared Redis) makes node B
// score its like BAYES_99.
func TestClusterBayesSharedLearning(t *testing.T) {
	redisAddr, _ := testutil.StartRedis(t)
	sk := &testutil.Sink{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	testutil.StartSink(t, sk, nil)
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "local.cf")
	os.WriteFile(rulesFile, []byte(bayesTestRules), 0o644)
	cfgFile, cfg := clusterConfig(t, dir, sk.Addr, redisAddr, rulesFile)
	startNode(t, cfgFile) // node A, serving; the learning goes through its configuration
	b := startNode(t, cfgFile)
	for _, class := range []string{"spam", "ham"} {
		msgs := filepath.Join(dir, class)
		os.MkdirAll(msgs, 0o755)
		for i := range 5 {
			body := "cheap pills viagra casino winner"
			if class == "ham" {
				body = "the quarterly review meeting agenda is attached"
			}
			os.WriteFile(filepath.Join(msgs, fmt.Sprint(i)), fmt.Appendf(nil, "Subject: %s %d\nMessage-ID: <%s.%d@x.test>\n\n%s %d\n", class, i, class, i, body, i), 0o644)
		}
		var out bytes.Buffer
		if code := run([]string{"learn", "-config", cfgFile, "-" + class, msgs}, &out, &out); code != 0 {
			t.Fatalf("learn -%s = %d\n%s", class, code, out.String())
		}
	}
	if st := lmtpSend(t, b.lmtp, "s@client.test", []string{"alice@example.test"}, testMessage("offer", "cheap pills viagra casino winner pharmacy")); st["alice@example.test"] != nil {
		t.Fatalf("delivery to node B: %v", st)
	}
	if st := spamStatus(t, cfg, "offer"); !strings.Contains(st, "BAYES_99") {
		t.Fatalf("node B after learning on A: X-Spam-Status %q, want BAYES_99", st)
	}
}

// TestClusterRedisKilled: a stream of forwarded messages alternates
// between two nodes while redis-server is killed (SIGKILL) and started
// again on the same port, empty. A recipient answered 4xx is retried on
// the other node, as Postfix would. Every message is filed (none lost),
// every one forwarded exactly once; the outage is counted, logged and
// seen on /readyz, and the vacation reply is not sent twice.
func TestClusterRedisKilled(t *testing.T) {
	port := testutil.FreePort(t)
	redisAddr, stop := testutil.StartRedisOn(t, port)
	sk := &testutil.Sink{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	testutil.StartSink(t, sk, nil)
	dir := t.TempDir()
	cfgFile, cfg := clusterConfig(t, dir, sk.Addr, redisAddr, "")
	userScript(t, cfg.Delivery.MailRoot, "alice", "require \"vacation\";\nvacation :days 1 \"I am away.\";\nredirect \"friend@elsewhere.test\";\nkeep;\n")
	nodes := []*clusterNode{startNode(t, cfgFile), startNode(t, cfgFile)}
	const total = 30
	msg := func(i int) string {
		return fmt.Sprintf("From: sender@client.test\r\nTo: alice@example.test\r\nSubject: m%d\r\nMessage-ID: <k%d@client.test>\r\n\r\nbody of k%d\r\n", i, i, i)
	}
	var pending []int // answered 4xx, to retry
	deliver := func(i, attempt int) {
		t.Helper()
		n := nodes[(i+attempt)%2]
		st := lmtpSend(t, n.lmtp, "sender@client.test", []string{"alice@example.test"}, msg(i))
		switch err := st["alice@example.test"]; {
		case err == nil:
		case isTemp(err):
			pending = append(pending, i)
		default:
			t.Fatalf("message %d on %s: %v, want 250 or 4xx", i, n.lmtp, err)
		}
	}
	for i := range total / 3 {
		deliver(i, 0)
	}
	stop() // SIGKILL
	for i := total / 3; i < 2*total/3; i++ {
		deliver(i, 0)
	}
	if len(pending) == 0 {
		t.Fatal("no delivery was deferred with Redis down")
	}
	deferred := len(pending)
	for deadline := time.Now().Add(15 * time.Second); nodes[0].ready(t) != http.StatusServiceUnavailable; {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still ready with Redis down")
		}
		time.Sleep(200 * time.Millisecond)
	}
	testutil.StartRedisOn(t, port)
	for i := 2 * total / 3; i < total; i++ {
		deliver(i, 0)
	}
	for attempt := 1; len(pending) > 0; attempt++ {
		if attempt > 10 {
			t.Fatalf("messages %v still deferred after Redis came back", pending)
		}
		retry := pending
		pending = nil
		for _, i := range retry {
			deliver(i, attempt)
		}
	}
	inbox := map[string]int{}
	for _, f := range maildirFiles(t, filepath.Join(cfg.Delivery.MailRoot, "example.test/alice/Maildir")) {
		b, _ := os.ReadFile(f)
		if m := regexp.MustCompile(`Message-ID: <(k\d+)@`).FindSubmatch(b); m != nil {
			inbox[string(m[1])]++
		}
	}
	fwd := map[string]int{}
	replies := 0
	for _, m := range sk.Received() {
		switch {
		case m.To[0] == "friend@elsewhere.test":
			if id := regexp.MustCompile(`body of (k\d+)`).FindSubmatch(m.Data); id != nil {
				fwd[string(id[1])]++
			}
		case m.To[0] == "sender@client.test":
			replies++
		}
	}
	for i := range total {
		id := fmt.Sprintf("k%d", i)
		if inbox[id] != 1 {
			t.Errorf("%s filed %d times, want 1", id, inbox[id])
		}
		if fwd[id] != 1 {
			t.Errorf("%s forwarded %d times, want exactly 1", id, fwd[id])
		}
	}
	// The window of the first reply was lost with Redis's memory, so a
	// second may follow once Redis is back; never one per message.
	if replies < 1 || replies > 2 {
		t.Errorf("vacation replies = %d, want 1 (2 after the restart lost the window)", replies)
	}
	var errs float64
	for _, n := range nodes {
		errs += n.metric(t, `sluice_state_errors_total{state="delivery_log"}`)
	}
	t.Logf("%d messages, %d deferred while Redis was down, %d delivery-log errors counted, %d vacation replies", total, deferred, int(errs), replies)
	if errs < float64(deferred) {
		t.Errorf("sluice_state_errors_total{state=\"delivery_log\"} summed over the nodes = %v, want > 0", errs)
	}
	if !strings.Contains(nodes[0].logs.String()+nodes[1].logs.String(), "shared state unavailable") {
		t.Error("no node logged the outage (shared state unavailable)")
	}
	for deadline := time.Now().Add(15 * time.Second); nodes[0].ready(t) != http.StatusOK; {
		if time.Now().After(deadline) {
			t.Fatal("/readyz not ready again after Redis came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// isTemp reports whether err is an SMTP 4xx reply.
func isTemp(err error) bool {
	se, ok := err.(*smtp.SMTPError)
	return ok && se.Code/100 == 4
}
