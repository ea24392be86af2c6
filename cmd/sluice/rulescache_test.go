package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestReloadUsesRulesCache: serve writes the compiled-rules cache at start
// and a reload with unchanged rules reads every translation from it.
func TestReloadUsesRulesCache(t *testing.T) {
	dir := t.TempDir()
	rulesFile, cache := filepath.Join(dir, "local.cf"), filepath.Join(dir, "cache")
	os.WriteFile(rulesFile, []byte("body MAGIC /magic\\s*word/\nheader H_SUBJ Subject =~ /\\bcached\\b/\nbody B_NOLIT /\\d[a-z]\\d/\n"), 0o644)
	cfgFile := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("[auth]\nenabled = false\n[metrics]\nlisten = \"\"\n[rules]\nmode = \"dirs\"\ndirs = [%q]\ncache_dir = %q\n[sieve]\nenabled = false\n", rulesFile, cache)), 0o644)
	port := testutil.FreePort(t)
	cmd := sluiceCommand("serve", "-config", cfgFile, "-lmtp", fmt.Sprintf("127.0.0.1:%d", port), "-mail-root", filepath.Join(dir, "mail"))
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	if err := testutil.WaitPort(port, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	hits := regexp.MustCompile(`msg="rules loaded".* cache_hits=(\d+)`)
	loads := func() [][]string { return hits.FindAllStringSubmatch(logs.String(), -1) }
	if m := loads(); len(m) != 1 || m[0][1] != "0" {
		t.Fatalf("start-up: rules loads %q, want one with cache_hits=0:\n%s", m, logs.String())
	}
	if m, _ := filepath.Glob(filepath.Join(cache, "rules-*.cache")); len(m) != 1 {
		t.Fatalf("cache files after start-up = %q, want 1", m)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(30 * time.Second); len(loads()) < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload:\n%s", logs.String())
		}
	}
	if got := loads()[1][1]; got != "3" {
		t.Fatalf("reload: cache_hits=%s, want 3:\n%s", got, logs.String())
	}
}
