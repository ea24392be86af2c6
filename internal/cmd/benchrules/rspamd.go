package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rspamd is a private rspamd: its own local.d and override.d, run and
// database directories under dir, the system configuration otherwise, and
// DNS answered by a loopback NXDOMAIN server. The system service is never
// touched.
type rspamd struct {
	cmd    *exec.Cmd
	done   chan error
	dns    *nxServer
	url    string
	client *http.Client
	log    string
}

// startRspamd writes the private configuration and starts bin with
// workers normal workers, waiting until they accept connections.
func startRspamd(bin, conf, dir string, workers int) (*rspamd, error) {
	ns, err := startNX()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		ns.Close()
		return nil, err
	}
	files := map[string]string{
		"conf/override.d/worker-normal.inc":     fmt.Sprintf("bind_socket = \"127.0.0.1:%d\";\ncount = %d;\n", port, workers),
		"conf/override.d/worker-controller.inc": "enabled = false;\n",
		"conf/override.d/worker-proxy.inc":      "enabled = false;\n",
		"conf/local.d/options.inc":              fmt.Sprintf("dns {\n  nameserver = [\"%s\"];\n}\n", ns.Addr),
		// One log line per message at "info"; the benchmark measures the filter.
		"conf/local.d/logging.inc": "level = \"warning\";\n",
	}
	// Off: the modules that ask servers elsewhere (DNS and URL blocklists,
	// fuzzy hashes, DCC, ASN lookups, map updates); the rest is rspamd's
	// stock configuration. rspamd 3.4 turns surbl and emails into rbl
	// rules, so rbl covers them too.
	for _, m := range []string{"rbl", "surbl", "emails", "fuzzy_check", "dcc", "asn", "rspamd_update"} {
		files["conf/local.d/"+m+".conf"] = "enabled = false;\n"
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			ns.Close()
			return nil, fmt.Errorf("benchrules: rspamd: %w", err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			ns.Close()
			return nil, fmt.Errorf("benchrules: rspamd: %w", err)
		}
	}
	args := []string{"-f", "-c", conf}
	for _, v := range []string{"db", "run", "log"} {
		p := filepath.Join(dir, v)
		os.MkdirAll(p, 0o755)
		if os.Geteuid() == 0 {
			os.Chown(p, 65534, 65534)
		}
	}
	args = append(args,
		"--var=LOCAL_CONFDIR="+filepath.Join(dir, "conf"),
		"--var=DBDIR="+filepath.Join(dir, "db"),
		"--var=RUNDIR="+filepath.Join(dir, "run"),
		"--var=LOGDIR="+filepath.Join(dir, "log"))
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody", "-g", "nogroup")
	}
	r := &rspamd{done: make(chan error, 1), dns: ns, url: fmt.Sprintf("http://127.0.0.1:%d/checkv2", port),
		log: filepath.Join(dir, "log", "rspamd.log"),
		client: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
			MaxIdleConnsPerHost: workers, DisableCompression: true}}}
	out, err := os.Create(filepath.Join(dir, "rspamd.out"))
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("benchrules: rspamd: %w", err)
	}
	r.cmd = exec.Command(bin, args...)
	r.cmd.Stdout, r.cmd.Stderr = out, out
	if err := r.cmd.Start(); err != nil {
		out.Close()
		ns.Close()
		return nil, fmt.Errorf("benchrules: rspamd: %w", err)
	}
	go func() { r.done <- r.cmd.Wait(); out.Close() }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return r, nil
		}
		select {
		case err := <-r.done:
			ns.Close()
			return nil, fmt.Errorf("benchrules: rspamd exited before listening (%v); see %s", err, r.log)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Close()
			return nil, fmt.Errorf("benchrules: rspamd not listening after 2 minutes; see %s", r.log)
		}
	}
}

// Pid is the rspamd main process, parent of its workers.
func (r *rspamd) Pid() int { return r.cmd.Process.Pid }

// Check posts msg to /checkv2 over a kept-alive connection and reports
// whether rspamd's action is one that marks spam.
func (r *rspamd) Check(msg []byte) (bool, error) {
	resp, err := r.client.Post(r.url, "message/rfc822", bytes.NewReader(msg))
	if err != nil {
		return false, fmt.Errorf("benchrules: rspamd: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("benchrules: rspamd: %s: %v", resp.Status, err)
	}
	var v struct {
		Action string  `json:"action"`
		Score  float64 `json:"score"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return false, fmt.Errorf("benchrules: rspamd: %w", err)
	}
	switch v.Action {
	case "reject", "add header", "rewrite subject":
		return true, nil
	}
	return false, nil
}

// rspamdVersion is the version `rspamd --version` prints, e.g. "3.4".
func rspamdVersion(bin string) string {
	out, _ := exec.Command(bin, "--version").Output()
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "unknown"
	}
	return f[len(f)-1]
}

// Close stops rspamd (SIGTERM; the main process stops its workers) and
// the DNS server.
func (r *rspamd) Close() {
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
	r.dns.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("benchrules: %w", err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	n, err := strconv.Atoi(p)
	if err != nil {
		return 0, errors.Join(errors.New("benchrules: port"), err)
	}
	return n, nil
}
