package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/parity"
	"github.com/sluice-mail/sluice/internal/testutil"
)

const (
	sampleSpam    = "/usr/share/doc/spamassassin/examples/sample-spam.txt"
	sampleNonspam = "/usr/share/doc/spamassassin/examples/sample-nonspam.txt"
)

// startSpamdServe runs `sluice serve -config cfgFile -spamd 127.0.0.1:PORT`
// as a real process and returns the port once it accepts connections; the
// process gets SIGTERM at the end of the test and must exit 0.
func startSpamdServe(t *testing.T, cfgFile string) int {
	t.Helper()
	port := testutil.FreePort(t)
	startServeProcess(t, func() error { return testutil.WaitPort(port, 3*time.Minute) },
		"serve", "-config", cfgFile, "-spamd", fmt.Sprintf("127.0.0.1:%d", port))
	return port
}

// startServeProcess runs sluice with args until the end of the test, when
// it gets SIGTERM and must exit 0; ready waits until it serves.
func startServeProcess(t *testing.T, ready func() error, args ...string) {
	t.Helper()
	cmd := sluiceCommand(args...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sluice serve: %v\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("sluice serve did not stop on SIGTERM\n%s", logs.String())
		}
		if testing.Verbose() {
			t.Logf("sluice serve log:\n%s", logs.String())
		}
	})
	if err := ready(); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
}

// serveTOML is the start of a test configuration for a `sluice serve`
// process: no authentication (no DNS), no metrics, LMTP on a free port,
// mail under dir/mail. Callers append their sections.
func serveTOML(t *testing.T, dir string) string {
	t.Helper()
	return fmt.Sprintf(`[auth]
enabled = false
[metrics]
listen = ""
[lmtp]
listen = ["127.0.0.1:%d"]
[delivery]
mail_root = %q
`, testutil.FreePort(t), filepath.Join(dir, "mail"))
}

// spamdServeConfig writes a configuration for serve behind spamc: no DNS,
// no metrics, LMTP on a free port, the stock rules plus localCF, Bayes in
// dir and TELL allowed; bayesExtra and spamdExtra are added to the
// [bayes] and [spamd] sections.
func spamdServeConfig(t *testing.T, dir, localCF, bayesExtra, spamdExtra string) string {
	t.Helper()
	lcf := filepath.Join(dir, "local.cf")
	if err := os.WriteFile(lcf, []byte(localCF), 0o644); err != nil {
		t.Fatal(err)
	}
	toml := serveTOML(t, dir) + fmt.Sprintf(`[rules]
mode = "dirs"
dirs = [%q, %q]
budget = "5m"
[bayes]
path = %q
%s[spamd]
allow_tell = true
%s`, stockRules(t), lcf, filepath.Join(dir, "bayes.db"), bayesExtra, spamdExtra)
	path := filepath.Join(dir, "sluice.toml")
	if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// spamc runs the real spamc against port with args and stdin from file,
// and returns its output and exit status.
func spamc(t *testing.T, port int, file string, args ...string) (string, int) {
	t.Helper()
	bin := testutil.RequirePeer(t, "spamc")[0]
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command(bin, append([]string{"-d", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "120", "-s", "50000000"}, args...)...)
	cmd.Stdin = in
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		if errb.Len() > 0 {
			t.Logf("spamc %v: stderr %s", args, errb.String())
		}
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("spamc: %v", err)
	return "", 0
}

// TestSpamcAgainstServe drives `sluice serve -spamd` with the real spamc:
// check, report, symbols, exit codes, zlib, ping, and learning with -L.
func TestSpamcAgainstServe(t *testing.T) {
	testutil.RequirePeer(t, "spamc")
	dir := testutil.PeerDir(t)
	// One message of each class is enough for Bayes to answer, so that a
	// learned message shows in the next check; no auto-learning, so that
	// only -L teaches.
	cfg := spamdServeConfig(t, dir, "bayes_min_spam_num 1\nbayes_min_ham_num 1\nbayes_auto_learn 0\n", "", "")
	port := startSpamdServe(t, cfg)

	scoreRE := regexp.MustCompile(`^(-?\d+\.\d)/5\.0\n$`)
	t.Run("check spam", func(t *testing.T) {
		out, code := spamc(t, port, sampleSpam, "-c")
		m := scoreRE.FindStringSubmatch(out)
		if code != 1 || m == nil {
			t.Fatalf("spamc -c < GTUBE = %q, exit %d; want SCORE/5.0 and exit 1", out, code)
		}
		if s, _ := strconv.ParseFloat(m[1], 64); s < 1000 {
			t.Fatalf("spamc -c < GTUBE score %s, want >= 1000", m[1])
		}
	})
	t.Run("check ham", func(t *testing.T) {
		out, code := spamc(t, port, sampleNonspam, "-c")
		if code != 0 || !scoreRE.MatchString(out) {
			t.Fatalf("spamc -c < sample-nonspam = %q, exit %d; want SCORE/5.0 and exit 0", out, code)
		}
	})
	t.Run("report", func(t *testing.T) {
		out, _ := spamc(t, port, sampleSpam, "-R")
		for _, want := range []string{"/5.0\n", "Content analysis details:", "GTUBE", "Generic Test for Unsolicited Bulk Email"} {
			if !strings.Contains(out, want) {
				t.Fatalf("spamc -R lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("symbols", func(t *testing.T) {
		out, _ := spamc(t, port, sampleSpam, "-y")
		if !regexp.MustCompile(`^([A-Z0-9_]+,)*GTUBE(,[A-Z0-9_]+)*\n?$`).MatchString(out) {
			t.Fatalf("spamc -y = %q, want a comma list with GTUBE", out)
		}
	})
	t.Run("exit codes", func(t *testing.T) {
		out, code := spamc(t, port, sampleSpam, "-E")
		if code != 1 || !strings.Contains(out, "X-Spam-Flag: YES") || !strings.Contains(out, "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE") {
			t.Fatalf("spamc -E < GTUBE: exit %d, want 1 and the message with X-Spam-Flag: YES:\n%s", code, out)
		}
		out, code = spamc(t, port, sampleNonspam, "-E")
		if code != 0 || !strings.Contains(out, "X-Spam-Status: No") {
			t.Fatalf("spamc -E < sample-nonspam: exit %d, want 0 and X-Spam-Status: No:\n%s", code, out)
		}
		out, code = spamc(t, port, sampleSpam, "--headers")
		if !strings.Contains(out, "X-Spam-Flag: YES") || !strings.Contains(out, "XJS*C4JDBQADN1") {
			t.Fatalf("spamc --headers: exit %d, want the new header and the original body:\n%s", code, out)
		}
	})
	t.Run("ping", func(t *testing.T) {
		if out, code := spamc(t, port, os.DevNull, "-K"); code != 0 || !strings.HasPrefix(out, "SPAMD/1.5 0") {
			t.Fatalf("spamc -K = %q, exit %d", out, code)
		}
	})
	t.Run("learn", func(t *testing.T) {
		db := filepath.Join(dir, "bayes.db")
		for _, tc := range []struct{ class, file, want string }{
			{"spam", sampleSpam, "Message successfully un/learned\n"},
			{"spam", sampleSpam, "Message was already un/learned\n"},
			{"ham", sampleNonspam, "Message successfully un/learned\n"},
		} {
			if out, code := spamc(t, port, tc.file, "-L", tc.class); code != 0 || out != tc.want {
				t.Fatalf("spamc -L %s < %s = %q, exit %d; want %q", tc.class, tc.file, out, code, tc.want)
			}
		}
		wantCounts(t, learnStatsOf(t, cfg, db), 1, 1)
		// Learned: Bayes now scores the message, and the check says so.
		if out, _ := spamc(t, port, sampleSpam, "-y"); !strings.Contains(out, "BAYES_99") {
			t.Fatalf("spamc -y after spamc -L spam = %q, want BAYES_99", out)
		}
		if out, code := spamc(t, port, sampleNonspam, "-L", "forget"); code != 0 || out != "Message successfully un/learned\n" {
			t.Fatalf("spamc -L forget = %q, exit %d", out, code)
		}
		wantCounts(t, learnStatsOf(t, cfg, db), 1, 0)
	})
}

// spamdParityMessages is how many corpus messages the spamd comparison
// scores through both servers.
const spamdParityMessages = 200

// spamcVerdict runs spamc -c -x: exit 1 is spam, 0 ham; anything else
// (spamd unreachable, a protocol error) fails the test.
func spamcVerdict(t *testing.T, port int, file string) (spam bool, score string) {
	out, code := spamc(t, port, file, "-c", "-x")
	if code != 0 && code != 1 {
		t.Errorf("spamc -c -x -p %d < %s: exit %d (%q)", port, file, code, out)
	}
	return code == 1, strings.TrimSpace(out)
}

// TestSpamcParityWithSpamd: the same corpus messages through the real
// spamd -L (a private instance, the parity harness's site configuration)
// and through `sluice serve -spamd` with the same rules and local.cf,
// both asked with spamc -c: the verdicts agree, and every disagreement
// is explained by rules docs/parity.md lists as known differences.
func TestSpamcParityWithSpamd(t *testing.T) {
	testutil.RequirePeer(t, "spamd", "spamc")
	corpus := filepath.Join(testutil.SharedDir(t), "corpus", "spamassassin")
	all, err := parity.Corpus(corpus)
	if err != nil {
		t.Fatal(err)
	}
	msgs := parity.Sample(all, len(all)/spamdParityMessages)
	if len(msgs) > spamdParityMessages {
		msgs = msgs[:spamdParityMessages]
	}
	dir := testutil.PeerDir(t)
	sd, err := parity.StartSpamd(context.Background(), parity.SpamdOptions{Dir: filepath.Join(dir, "spamd"), Children: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	// Both engines see the harness's cleaned bytes (no mbox line, no
	// incoming X-Spam-*), from files spamc reads.
	files := make([]string, len(msgs))
	for i, m := range msgs {
		raw, err := os.ReadFile(m.Path)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = filepath.Join(dir, fmt.Sprintf("msg%03d.eml", i))
		if err := os.WriteFile(files[i], parity.Clean(raw), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sdir := filepath.Join(dir, "sluice")
	os.MkdirAll(sdir, 0o755)
	port := startSpamdServe(t, spamdServeConfig(t, sdir, parity.LocalCF, "", ""))

	type verdict struct {
		spam  bool
		score string
	}
	sa, sl := make([]verdict, len(msgs)), make([]verdict, len(msgs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				sa[i].spam, sa[i].score = spamcVerdict(t, sd.Port(), files[i])
				sl[i].spam, sl[i].score = spamcVerdict(t, port, files[i])
			}
		}()
	}
	for i := range msgs {
		next <- i
	}
	close(next)
	wg.Wait()

	known, err := os.ReadFile("../../docs/parity.md")
	if err != nil {
		t.Fatal(err)
	}
	agree, sameScore, saSpam, slSpam := 0, 0, 0, 0
	var unexplained []string
	for i, m := range msgs {
		if sa[i].spam {
			saSpam++
		}
		if sl[i].spam {
			slSpam++
		}
		if sa[i].score == sl[i].score {
			sameScore++
		}
		if sa[i].spam == sl[i].spam {
			agree++
			continue
		}
		// The rules one side fired and the other did not.
		saRules := symbolSet(t, sd.Port(), files[i])
		slRules := symbolSet(t, port, files[i])
		var diff, unknown []string
		for r := range saRules {
			if !slRules[r] {
				diff = append(diff, "-"+r)
			}
		}
		for r := range slRules {
			if !saRules[r] {
				diff = append(diff, "+"+r)
			}
		}
		sort.Strings(diff)
		for _, d := range diff {
			if !bytes.Contains(known, []byte(d[1:])) {
				unknown = append(unknown, d)
			}
		}
		line := fmt.Sprintf("%s: spamd %s (spam=%v), sluice %s (spam=%v); rules only spamd (-) / only sluice (+): %v",
			m.Name, sa[i].score, sa[i].spam, sl[i].score, sl[i].spam, diff)
		t.Logf("disagreement %s", line)
		if len(unknown) > 0 || len(diff) == 0 {
			unexplained = append(unexplained, fmt.Sprintf("%s; not in docs/parity.md: %v", line, unknown))
		}
	}
	t.Logf("spamc -c verdicts agree on %d of %d corpus messages (spamd -L: %d spam, sluice serve -spamd: %d spam); the score/threshold line is identical for %d",
		agree, len(msgs), saSpam, slSpam, sameScore)
	if saSpam == 0 || saSpam == len(msgs) {
		t.Errorf("spamd called %d of %d messages spam: the sample should hold both", saSpam, len(msgs))
	}
	if min := len(msgs) * 98 / 100; agree < min {
		t.Errorf("verdicts agree on %d of %d messages, want at least %d", agree, len(msgs), min)
	}
	for _, u := range unexplained {
		t.Errorf("unexplained disagreement: %s", u)
	}
}

// symbolSet asks spamc -y for the rules a server fires on file.
func symbolSet(t *testing.T, port int, file string) map[string]bool {
	out, _ := spamc(t, port, file, "-y", "-x")
	set := map[string]bool{}
	for _, r := range strings.Split(strings.TrimSpace(out), ",") {
		if r != "" {
			set[r] = true
		}
	}
	return set
}

// TestSpamcUnixSocketPerUser: spamc over [spamd]'s unix socket; with
// [bayes] per_user the User header (spamc -u) picks the mailbox's Bayes
// database, and a user name that is no address learns nothing.
func TestSpamcUnixSocketPerUser(t *testing.T) {
	bin := testutil.RequirePeer(t, "spamc")[0]
	dir := testutil.PeerDir(t)
	sock := filepath.Join(dir, "spamd.sock")
	cfg := spamdServeConfig(t, dir, "", "per_user = true\n", fmt.Sprintf("listen = [%q]\n", "unix:"+sock))
	startServeProcess(t, func() error {
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if c, err := net.Dial("unix", sock); err == nil {
				c.Close()
				return nil
			}
		}
		return fmt.Errorf("no listener on %s", sock)
	}, "serve", "-config", cfg)
	run := func(file string, args ...string) (string, int) {
		cmd := exec.Command(bin, append([]string{"-U", sock, "-t", "120"}, args...)...)
		in, _ := os.Open(file)
		defer in.Close()
		cmd.Stdin = in
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := run(sampleSpam, "-c"); code != 1 || !strings.HasSuffix(out, "/5.0\n") {
		t.Fatalf("spamc -U -c < GTUBE = %q, exit %d", out, code)
	}
	if out, _ := run(sampleSpam, "-u", "alice@example.org", "-L", "spam"); out != "Message successfully un/learned\n" {
		t.Fatalf("spamc -u alice@example.org -L spam = %q", out)
	}
	if out, _ := run(sampleSpam, "-u", "root", "-L", "spam"); out != "Message was already un/learned\n" {
		t.Fatalf("spamc -u root -L spam = %q, want nothing learned (no database for a non-address)", out)
	}
	wantCounts(t, learnStatsOf(t, cfg, filepath.Join(dir, "bayes.db"), "-user", "alice@example.org"), 1, 0)
	if _, errs, code := sluiceLearn(t, cfg, "-bayes", filepath.Join(dir, "bayes.db"), "-stats"); code == 0 {
		t.Fatalf("the global database exists after per-user learning:\n%s", errs)
	}
}

func TestSpamdUnmarked(t *testing.T) {
	for in, want := range map[string]string{
		"Subject: a\nX-Sluice-Scanned: mx; v=1; b=x\n\tfolded\nTo: b\n\nbody X-Sluice-Scanned: no\n": "Subject: a\nTo: b\n\nbody X-Sluice-Scanned: no\n",
		"Subject: a\n\nbody\n": "Subject: a\n\nbody\n",
	} {
		if got := string(unmarked([]byte(in))); got != want {
			t.Errorf("unmarked(%q) = %q, want %q", in, got, want)
		}
	}
}
