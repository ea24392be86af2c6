package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/config"
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
	cmd := sluiceCommand("serve", "-config", cfgFile, "-spamd", fmt.Sprintf("127.0.0.1:%d", port))
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
	if err := testutil.WaitPort(port, 60*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	return port
}

// spamdServeConfig writes a configuration for serve behind spamc: no DNS,
// no metrics, LMTP on a free port, the stock rules plus localCF, Bayes in
// dir and TELL allowed; extra is appended as TOML.
func spamdServeConfig(t *testing.T, dir, localCF, extra string) string {
	t.Helper()
	lcf := filepath.Join(dir, "local.cf")
	if err := os.WriteFile(lcf, []byte(localCF), 0o644); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf(`[auth]
enabled = false
[metrics]
listen = ""
[lmtp]
listen = ["127.0.0.1:%d"]
[delivery]
mail_root = %q
[rules]
mode = "dirs"
dirs = [%q, %q]
cache_dir = %q
budget = "5m"
[bayes]
path = %q
[spamd]
allow_tell = true
%s`, testutil.FreePort(t), filepath.Join(dir, "mail"), stockRules(t), lcf, filepath.Join(dir, "cache"), filepath.Join(dir, "bayes.db"), extra)
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
	cfg := spamdServeConfig(t, dir, "bayes_min_spam_num 1\nbayes_min_ham_num 1\nbayes_auto_learn 0\n", "")
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
