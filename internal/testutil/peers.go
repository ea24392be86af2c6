package testutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Postfix is a private Postfix instance on loopback (../shared/peers
// recipe 1): its own config and queue directories, SMTP on SMTPPort, and
// every virtual_mailbox_domains recipient handed to an LMTP server.
type Postfix struct {
	Dir      string
	ConfDir  string
	SMTPPort int
	t        testing.TB
}

// PostfixOptions configure StartPostfix.
type PostfixOptions struct {
	// LMTP is the Postfix transport target, e.g. "inet:127.0.0.1:2424" or
	// "unix:/path/lmtp.sock".
	LMTP string
	// Domains are the virtual mailbox domains; default example.test.
	Domains []string
	// MainCF and MasterCF lines are appended to the generated files.
	MainCF, MasterCF []string
	// BeforeStart, when set, runs after the files are written and before
	// postfix start, with the instance directory.
	BeforeStart func(dir string)
}

// StartPostfix starts a private Postfix, stopped at the end of the test.
func StartPostfix(t testing.TB, o PostfixOptions) *Postfix {
	t.Helper()
	RequireRoot(t)
	RequirePeer(t, "postfix", "postconf", "postqueue")
	dir := PeerDir(t)
	p := &Postfix{Dir: dir, ConfDir: filepath.Join(dir, "conf"), SMTPPort: FreePort(t), t: t}
	if len(o.Domains) == 0 {
		o.Domains = []string{"example.test"}
	}
	for _, d := range []string{p.ConfDir, filepath.Join(dir, "queue")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	main := []string{
		"compatibility_level = 3.6",
		"queue_directory = " + dir + "/queue",
		"data_directory = " + dir + "/data",
		"maillog_file = " + dir + "/maillog",
		"maillog_file_prefixes = " + dir,
		"myhostname = mx.example.test",
		"inet_interfaces = 127.0.0.1",
		"inet_protocols = ipv4",
		"mynetworks = 127.0.0.0/8",
		"mydestination =",
		"alias_maps =",
		"smtpd_relay_restrictions = reject_unauth_destination",
		"default_transport = error:outbound mail disabled",
		"relay_transport = error:outbound mail disabled",
		"virtual_mailbox_domains = " + strings.Join(o.Domains, ", "),
		"virtual_mailbox_maps =",
		"virtual_transport = lmtp:" + o.LMTP,
		"lmtp_send_xforward_command = yes",
		"queue_run_delay = 1s",
		"minimal_backoff_time = 1s",
		"maximal_backoff_time = 2s",
	}
	main = append(main, o.MainCF...)
	master := []string{
		fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd", p.SMTPPort),
		"pickup    unix  n - n 60  1 pickup",
		"cleanup   unix  n - n -   0 cleanup",
		"qmgr      unix  n - n 300 1 qmgr",
		"rewrite   unix  - - n -   - trivial-rewrite",
		"bounce    unix  - - n -   0 bounce",
		"defer     unix  - - n -   0 bounce",
		"trace     unix  - - n -   0 bounce",
		"flush     unix  n - n 1000? 0 flush",
		"proxymap  unix  - - n -   - proxymap",
		"showq     unix  n - n -   - showq",
		"error     unix  - - n -   - error",
		"retry     unix  - - n -   - error",
		"lmtp      unix  - - n -   - lmtp",
		"anvil     unix  - - n -   1 anvil",
		"scache    unix  - - n -   1 scache",
		"postlog   unix-dgram n - n - 1 postlogd",
	}
	master = append(master, o.MasterCF...)
	writeLines(t, filepath.Join(p.ConfDir, "main.cf"), main)
	writeLines(t, filepath.Join(p.ConfDir, "master.cf"), master)
	if o.BeforeStart != nil {
		o.BeforeStart(dir)
	}
	if out, err := exec.Command("postfix", "-c", p.ConfDir, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		t.Fatalf("postfix start: %v\n%s\nmaillog:\n%s", err, out, log)
	}
	t.Cleanup(p.stop)
	return p
}

// stop stops the instance. Under heavy load postlogd has been seen to
// wedge and `postfix stop` with it; after 15 s the master's process group
// (master runs setsid) is killed instead.
func (p *Postfix) stop() {
	cmd := exec.Command("postfix", "-c", p.ConfDir, "stop")
	if err := cmd.Start(); err != nil {
		return
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(15 * time.Second):
	}
	cmd.Process.Kill()
	b, err := os.ReadFile(filepath.Join(p.Dir, "queue", "pid", "master.pid"))
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
		syscall.Kill(-pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Log returns the instance's mail log so far.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "maillog"))
	return string(b)
}

// WaitLog waits until the maillog holds substr and reports whether it
// does. postlogd writes the log asynchronously: a line can land after
// the queue file it describes is gone.
func (p *Postfix) WaitLog(substr string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		if strings.Contains(p.Log(), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// QueueEntry is one message of postqueue -j.
type QueueEntry struct {
	QueueName  string `json:"queue_name"`
	QueueID    string `json:"queue_id"`
	Recipients []struct {
		Address     string `json:"address"`
		DelayReason string `json:"delay_reason"`
	} `json:"recipients"`
}

// Queue lists the messages in the instance's queue.
func (p *Postfix) Queue() []QueueEntry {
	p.t.Helper()
	out, err := exec.Command("postqueue", "-c", p.ConfDir, "-j").Output()
	if err != nil {
		p.t.Fatalf("postqueue -j: %v", err)
	}
	var q []QueueEntry
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e QueueEntry
		if err := json.Unmarshal(line, &e); err != nil {
			p.t.Fatalf("postqueue -j line %q: %v", line, err)
		}
		q = append(q, e)
	}
	return q
}

// Flush asks Postfix to retry deferred mail now.
func (p *Postfix) Flush() {
	exec.Command("postqueue", "-c", p.ConfDir, "-f").Run()
}

// WaitEmpty waits until the queue is empty, failing after timeout.
func (p *Postfix) WaitEmpty(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if len(p.Queue()) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.t.Fatalf("postfix queue not empty after %v: %+v\nmaillog:\n%s", timeout, p.Queue(), p.Log())
}

// Dovecot is a private Dovecot instance (../shared/peers recipe 4) serving
// IMAP on IMAPPort from MailRoot/%d/%n/Maildir, as uid/gid 65534, password
// "secret" for every user.
type Dovecot struct {
	Dir      string
	IMAPPort int
	LMTPPort int
	t        testing.TB
}

// DovecotOptions configure StartDovecot.
type DovecotOptions struct {
	// MailRoot holds <domain>/<user>/Maildir trees.
	MailRoot string
	// LMTP also starts Dovecot's LMTP service on LMTPPort (for benchmarks).
	LMTP bool
	// Extra lines appended to dovecot.conf.
	Extra []string
}

// StartDovecot starts a private Dovecot in the foreground, stopped at the
// end of the test.
func StartDovecot(t testing.TB, o DovecotOptions) *Dovecot {
	t.Helper()
	RequireRoot(t)
	bin := RequirePeer(t, "dovecot")[0]
	dir := PeerDir(t)
	d := &Dovecot{Dir: dir, IMAPPort: FreePort(t), t: t}
	protocols := "imap"
	if o.LMTP {
		protocols = "imap lmtp"
		d.LMTPPort = FreePort(t)
	}
	conf := []string{
		"base_dir = " + dir + "/run",
		"state_dir = " + dir + "/state",
		"log_path = " + dir + "/dovecot.log",
		"protocols = " + protocols,
		"listen = 127.0.0.1",
		"ssl = no",
		"disable_plaintext_auth = no",
		"auth_mechanisms = plain",
		"mail_location = maildir:~/Maildir",
		"passdb {", "  driver = static", "  args = password=secret", "}",
		"userdb {", "  driver = static", "  args = uid=65534 gid=65534 home=" + o.MailRoot + "/%d/%n", "}",
		"service imap-login {",
		fmt.Sprintf("  inet_listener imap {\n    address = 127.0.0.1\n    port = %d\n  }", d.IMAPPort),
		"  inet_listener imaps {\n    port = 0\n  }",
		"}",
	}
	if o.LMTP {
		conf = append(conf,
			"service lmtp {",
			fmt.Sprintf("  inet_listener lmtp {\n    address = 127.0.0.1\n    port = %d\n  }", d.LMTPPort),
			"}")
	}
	conf = append(conf, o.Extra...)
	writeLines(t, filepath.Join(dir, "dovecot.conf"), conf)
	cmd := exec.Command(bin, "-F", "-c", filepath.Join(dir, "dovecot.conf"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	if err := WaitPort(d.IMAPPort, 10*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
		t.Fatalf("dovecot did not start: %v\n%s\n%s", err, out.String(), log)
	}
	return d
}

// Log returns the Dovecot log so far.
func (d *Dovecot) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "dovecot.log"))
	return string(b)
}

// WaitPort waits until something accepts TCP connections on 127.0.0.1:port.
func WaitPort(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for {
		c, err := netDial(addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeLines(t testing.TB, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
