package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// TestReadyzFollowsMailRoot: /readyz answers 503 while a delivery would
// fail because the mail root cannot be written (here: it was replaced by a
// file, as when a mount goes away), and 200 again once it can.
func TestReadyzFollowsMailRoot(t *testing.T) {
	old := readyInterval
	readyInterval = 20 * time.Millisecond
	t.Cleanup(func() { readyInterval = old })

	root := filepath.Join(t.TempDir(), "mail")
	cfg := config.Default()
	cfg.Delivery.MailRoot = root
	mport := testutil.FreePort(t)
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", mport)
	_, logs := startInProcess(t, cfg)

	waitReady := func(want int) {
		t.Helper()
		var code int
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", mport))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if code = resp.StatusCode; code == want {
				return
			}
		}
		t.Fatalf("/readyz = %d, want %d", code, want)
	}
	waitReady(200)

	// Moved away in one step: removing it would race with the readiness
	// probe writing its test file into it.
	if err := os.Rename(root, root+".gone"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitReady(503)
	if !strings.Contains(logs.String(), "delivery.mail_root") {
		t.Fatalf("no log line names delivery.mail_root:\n%s", logs.String())
	}

	if err := os.Remove(root); err != nil {
		t.Fatal(err)
	}
	waitReady(200)
}
