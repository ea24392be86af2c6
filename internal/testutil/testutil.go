// Package testutil holds what sluice's tests share: locating the shared
// corpus, requiring real peers (Postfix, Dovecot, ...), free loopback ports
// and private peer instances. Tests only.
package testutil

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// InCI reports whether the tests run in CI, where a missing peer is a
// failure instead of a skip.
func InCI() bool { return os.Getenv("CI") != "" }

// RequirePeer returns the path of each named binary. When one is missing
// the test fails in CI and is skipped elsewhere ("peer missing: ...").
func RequirePeer(t testing.TB, names ...string) []string {
	t.Helper()
	var paths []string
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/lib/dovecot"} {
				if _, err2 := os.Stat(filepath.Join(dir, n)); err2 == nil {
					p, err = filepath.Join(dir, n), nil
					break
				}
			}
		}
		if err != nil {
			if InCI() {
				t.Fatalf("peer missing: %s (make test installs it)", n)
			}
			t.Skipf("peer missing: %s (make test installs it)", n)
		}
		paths = append(paths, p)
	}
	return paths
}

// RequireRoot skips (or fails in CI) when not running as root, which the
// private Postfix and Dovecot instances need.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if InCI() {
			t.Fatalf("this test requires root to run private Postfix/Dovecot instances")
		}
		t.Skip("requires root to run private Postfix/Dovecot instances")
	}
}

// SharedDir returns the shared data directory: $SLUICE_SHARED, or
// ../shared beside the repository. A missing directory fails in CI and
// skips elsewhere.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SLUICE_SHARED")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		// file is <repo>/internal/testutil/testutil.go
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
	}
	if _, err := os.Stat(dir); err != nil {
		if InCI() {
			t.Fatalf("shared data missing at %s (set SLUICE_SHARED)", dir)
		}
		t.Skipf("shared data missing at %s (set SLUICE_SHARED)", dir)
	}
	return dir
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// PeerDir returns a short, world-traversable temporary directory, removed
// after the test. Peers drop privileges (postfix, nobody), so t.TempDir's
// 0700 parent would lock them out; Dovecot's socket paths must stay short.
func PeerDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }
