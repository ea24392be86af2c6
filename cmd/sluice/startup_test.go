package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeStartupChecks: a configuration under which every delivery
// would fail stops the start with exit 1 and a clear error, instead of a
// ready server that defers everything.
func TestServeStartupChecks(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := "[auth]\nenabled = false\n[metrics]\nlisten = \"\"\n[lmtp]\nlisten = [\"127.0.0.1:0\"]\n"
	for _, tc := range []struct{ name, config, want string }{
		{
			name:   "mail root not writable",
			config: common + "[rules]\nmode = \"builtin\"\n[delivery]\nmail_root = \"" + filepath.Join(notDir, "mail") + "\"\n",
			want:   "delivery.mail_root",
		},
		{
			name:   "spool dir not writable",
			config: common + "spool_dir = \"" + filepath.Join(notDir, "spool") + "\"\n[rules]\nmode = \"builtin\"\n[delivery]\nmail_root = \"" + filepath.Join(dir, "m0") + "\"\n",
			want:   "lmtp.spool_dir",
		},
		{
			name:   "missing before script",
			config: common + "[rules]\nmode = \"builtin\"\n[delivery]\nmail_root = \"" + filepath.Join(dir, "m1") + "\"\n[sieve]\nbefore = [\"" + filepath.Join(dir, "nope.sieve") + "\"]\n",
			want:   "nope.sieve",
		},
		{
			name:   "missing rule directory",
			config: common + "[rules]\nmode = \"dirs\"\ndirs = [\"" + filepath.Join(dir, "norules") + "\"]\n[delivery]\nmail_root = \"" + filepath.Join(dir, "m2") + "\"\n",
			want:   "norules",
		},
		{
			name:   "dirs without mode",
			config: common + "[rules]\ndirs = [\"" + dir + "\"]\n[delivery]\nmail_root = \"" + filepath.Join(dir, "m3") + "\"\n",
			want:   "rules.mode",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "sluice.toml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := sluiceCommand("serve", "-config", cfg)
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Before the checks, serve started and ran forever: bound the
			// wait so that case fails instead of hanging the suite.
			timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
			defer timer.Stop()
			err := cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 1 {
				t.Fatalf("serve exit = %d (%v), want 1\n%s", code, err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("serve stderr = %q, want it to name %q", stderr.String(), tc.want)
			}
		})
	}
}
