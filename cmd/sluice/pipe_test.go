package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/testutil"
)

// fakeSendmail writes a sendmail stand-in that records its arguments and
// input in dir, and exits with code.
func fakeSendmail(t *testing.T, dir string, code int) string {
	t.Helper()
	path := filepath.Join(dir, "sendmail")
	script := "#!/bin/sh\necho \"$@\" > " + dir + "/args\ncat > " + dir + "/msg\nexit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "sluice.toml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPipe(t *testing.T) {
	msg := "From: a@client.test\r\nSubject: hi\r\n\r\nbody\r\n"
	for _, tc := range []struct {
		name      string
		config    string // appended to [filter] sendmail = ...
		sendmail  int
		wantCode  int
		wantInMsg string
	}{
		{name: "ok", wantCode: 0, wantInMsg: "Subject: hi"},
		{name: "sendmail fails", sendmail: 1, wantCode: 75},
		{name: "broken config", config: "bogus = 1\n", wantCode: 75},
		{name: "rules fail to load", config: "[rules]\nmode = \"dirs\"\ndirs = [\"/nonexistent/rules\"]\n", wantCode: 75},
		{name: "rules fail, on_error pass", config: "on_error = \"pass\"\n[rules]\nmode = \"dirs\"\ndirs = [\"/nonexistent/rules\"]\n", wantCode: 0, wantInMsg: "X-Sluice-Unscanned: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sm := fakeSendmail(t, dir, tc.sendmail)
			rulesCfg := "[rules]\nmode = \"builtin\"\n"
			if strings.Contains(tc.config, "[rules]") {
				rulesCfg = ""
			}
			cfg := writeConfig(t, dir, "[auth]\nenabled = false\n"+rulesCfg+"[filter]\nsendmail = \""+sm+"\"\n"+tc.config)
			var errb bytes.Buffer
			code := runPipe(t, []string{"-config", cfg, "-f", "a@client.test", "--", "x@example.test", "y@example.test"}, msg, &errb)
			if code != tc.wantCode {
				t.Fatalf("sluice pipe = %d, want %d\n%s", code, tc.wantCode, errb.String())
			}
			if strings.Contains(tc.name, "rules fail") && !strings.Contains(errb.String(), "/nonexistent/rules") {
				t.Fatalf("log does not name the failing rules directory:\n%s", errb.String())
			}
			if tc.wantInMsg == "" {
				return
			}
			args, _ := os.ReadFile(filepath.Join(dir, "args"))
			if got := strings.TrimSpace(string(args)); got != "-G -i -f a@client.test -- x@example.test y@example.test" {
				t.Fatalf("sendmail args = %q", got)
			}
			out, _ := os.ReadFile(filepath.Join(dir, "msg"))
			if !strings.Contains(string(out), tc.wantInMsg) {
				t.Fatalf("re-injected message = %q, want %q in it", out, tc.wantInMsg)
			}
		})
	}
	t.Run("no recipients", func(t *testing.T) {
		if code := runPipe(t, []string{"-f", "a@b"}, msg, &bytes.Buffer{}); code != 75 {
			t.Fatalf("sluice pipe without recipients = %d, want 75", code)
		}
	})
}

func runPipe(t *testing.T, args []string, stdin string, stderr *bytes.Buffer) int {
	t.Helper()
	return cmdPipe(args, strings.NewReader(stdin), stderr)
}

// TestPipeHandsToServe: with a `sluice serve` listening for spamd, pipe
// hands the message over (FILTER) and re-injects the filtered copy
// without loading the rules; with none answering it filters in-process.
func TestPipeHandsToServe(t *testing.T) {
	dir := t.TempDir()
	sm := fakeSendmail(t, dir, 0)
	port := testutil.FreePort(t)
	cfg := writeConfig(t, dir, serveTOML(t, dir)+fmt.Sprintf(`[rules]
mode = "builtin"
[filter]
sendmail = %q
[spamd]
listen = ["127.0.0.1:%d"]
`, sm, port))
	startServeProcess(t, func() error { return testutil.WaitPort(port, time.Minute) }, "serve", "-config", cfg)
	gtube, err := os.ReadFile(sampleSpam)
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	if code := runPipe(t, []string{"-config", cfg, "-f", "a@client.test", "-client-ip", "192.0.2.1", "--", "x@example.test"}, string(gtube), &errb); code != 0 {
		t.Fatalf("sluice pipe = %d\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "filtered by sluice serve") || strings.Contains(errb.String(), "rules loaded") {
		t.Fatalf("pipe did not hand the message to serve (or loaded rules itself):\n%s", errb.String())
	}
	out, _ := os.ReadFile(filepath.Join(dir, "msg"))
	if !strings.Contains(string(out), "X-Spam-Flag: YES") {
		t.Fatalf("re-injected message lacks X-Spam-Flag: YES:\n%.600s", out)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if got := strings.TrimSpace(string(args)); got != "-G -i -f a@client.test -- x@example.test" {
		t.Fatalf("sendmail args = %q", got)
	}

	// Nothing listening: pipe filters in-process.
	os.Remove(filepath.Join(dir, "msg"))
	cfg2 := writeConfig(t, t.TempDir(), fmt.Sprintf("[auth]\nenabled = false\n[rules]\nmode = \"builtin\"\n[filter]\nsendmail = %q\nserver = \"127.0.0.1:%d\"\n", sm, testutil.FreePort(t)))
	errb.Reset()
	if code := runPipe(t, []string{"-config", cfg2, "-f", "a@client.test", "--", "x@example.test"}, string(gtube), &errb); code != 0 {
		t.Fatalf("sluice pipe without serve = %d\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "filtering in-process") {
		t.Fatalf("pipe without serve did not say it filters in-process:\n%s", errb.String())
	}
	if out, _ := os.ReadFile(filepath.Join(dir, "msg")); !strings.Contains(string(out), "X-Spam-Flag: YES") {
		t.Fatalf("in-process re-injection lacks X-Spam-Flag: YES:\n%.600s", out)
	}
}

// TestPipeLargeMessageNotOnHeap: a message past lmtp.spool_threshold is
// spooled to a file and re-injected as header plus body without being
// joined, so pipe allocates far less than the message (it had read it
// into a growing buffer and copied it whole: over 3× its size); the
// re-injected copy is complete.
func TestPipeLargeMessageNotOnHeap(t *testing.T) {
	dir := t.TempDir()
	sm := filepath.Join(dir, "sendmail")
	if err := os.WriteFile(sm, []byte("#!/bin/sh\nwc -c > "+dir+"/size\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, "[auth]\nenabled = false\n[rules]\nmode = \"builtin\"\n[lmtp]\nmax_message_size = 104857600\nspool_dir = \""+dir+"\"\n[filter]\nsendmail = \""+sm+"\"\nserver = \"off\"\n")
	line := strings.Repeat("x", 76) + "\r\n"
	small := "From: a@client.test\r\nSubject: big\r\n\r\n" + line
	big := "From: a@client.test\r\nSubject: big\r\n\r\n" + strings.Repeat(line, (48<<20)/len(line))
	alloc := func(msg string) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var errb bytes.Buffer
		if code := runPipe(t, []string{"-config", cfg, "-f", "a@client.test", "--", "x@example.test"}, msg, &errb); code != 0 {
			t.Fatalf("sluice pipe = %d\n%s", code, errb.String())
		}
		runtime.ReadMemStats(&after)
		got, _ := os.ReadFile(filepath.Join(dir, "size"))
		if n, _ := strconv.Atoi(strings.TrimSpace(string(got))); n < len(msg) {
			t.Fatalf("re-injected %d bytes of a %d-byte message", n, len(msg))
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	base := alloc(small)
	extra := alloc(big) - base
	t.Logf("pipe allocations: %d MiB for a 1-line message, %d MiB more for %d MiB", base>>20, extra>>20, len(big)>>20)
	if extra > uint64(len(big))/2 {
		t.Fatalf("pipe allocated %d MiB more for a %d MiB message than for a small one; want under half the message", extra>>20, len(big)>>20)
	}
}
