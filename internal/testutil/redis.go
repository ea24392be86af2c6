package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// StartRedis starts a private redis-server on 127.0.0.1 on a free port,
// with no persistence and its files in a temporary directory, and returns
// its host:port. stop kills it (tests use it to take Redis down); it runs
// again, harmlessly, at the end of the test. The system's own Redis
// service, if any, plays no part.
func StartRedis(t testing.TB) (addr string, stop func()) {
	t.Helper()
	return StartRedisOn(t, FreePort(t))
}

// StartRedisOn is StartRedis on a given port: a test that killed its
// server starts a new, empty one where its clients expect it.
func StartRedisOn(t testing.TB, port int, extra ...string) (addr string, stop func()) {
	t.Helper()
	bin := RequirePeer(t, "redis-server")[0]
	dir := t.TempDir()
	logFile := filepath.Join(dir, "redis.log")
	cmd := exec.Command(bin, append([]string{
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--dir", dir,
		"--logfile", logFile,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--databases", "16",
	}, extra...)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	if err := WaitPort(port, 10*time.Second); err != nil {
		b, _ := os.ReadFile(logFile)
		stop()
		t.Fatalf("redis-server did not listen on %d: %v\n%s", port, err, b)
	}
	return "127.0.0.1:" + strconv.Itoa(port), stop
}

// StartRedisCluster starts a one-node Redis Cluster (cluster mode, every
// slot assigned to the node) on a free port and returns the node's
// host:port once the cluster answers "cluster_state:ok".
func StartRedisCluster(t testing.TB) string {
	t.Helper()
	port := FreePort(t)
	addr, _ := StartRedisOn(t, port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes-"+strconv.Itoa(port)+".conf")
	cli := RequirePeer(t, "redis-cli")[0]
	if out, err := exec.Command(cli, "-p", strconv.Itoa(port), "cluster", "addslotsrange", "0", "16383").CombinedOutput(); err != nil {
		t.Fatalf("redis-cli cluster addslotsrange: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out, _ := exec.Command(cli, "-p", strconv.Itoa(port), "cluster", "info").Output()
		if strings.Contains(string(out), "cluster_state:ok") {
			return addr
		}
	}
	t.Fatal("redis cluster did not reach cluster_state:ok")
	return ""
}
