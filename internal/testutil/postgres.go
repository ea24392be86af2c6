package testutil

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Postgres is a private PostgreSQL server on 127.0.0.1, with one
// superuser that must give its password over TCP (scram-sha-256).
type Postgres struct {
	Port     int
	User     string
	Password string
	Database string // "postgres", the database initdb creates
}

// StartPostgres initialises a cluster in a temporary directory and
// starts Debian's postgresql (/usr/lib/postgresql/N/bin) on a free port,
// stopped at the end of the test. As root, it runs as the postgres user
// the package creates (PostgreSQL refuses root). The system's own
// cluster, if any, plays no part.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(bins)
	if len(bins) == 0 {
		if InCI() {
			t.Fatal("peer missing: postgresql (make test installs it)")
		}
		t.Skip("peer missing: postgresql (make test installs it)")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	pg := &Postgres{Port: FreePort(t), User: "sluice", Password: "p'w\\x", Database: "postgres"}
	dir := PeerDir(t)
	data := filepath.Join(dir, "data")
	pwfile := filepath.Join(dir, "pw")
	os.WriteFile(pwfile, []byte(pg.Password+"\n"), 0o644)
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("postgresql: no postgres user to run as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		os.Chown(dir, uid, gid)
	}
	run := func(name string, args ...string) *exec.Cmd {
		c := exec.Command(filepath.Join(bin, name), args...)
		c.Dir = dir
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return c
	}
	if out, err := run("initdb", "-D", data, "-U", pg.User, "--pwfile", pwfile,
		"--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	logFile := filepath.Join(dir, "postgres.log")
	logf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := run("postgres", "-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-k", dir, "-F")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	// Listening comes before accepting queries ("the database system is
	// starting up"); the log says when it is ready.
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(logFile)
		if strings.Contains(string(b), "ready to accept connections") {
			return pg
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres not ready on %d after 30s:\n%s", pg.Port, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
