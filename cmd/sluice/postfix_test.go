package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// docBlocks returns the code blocks of docs/postfix.md by info string
// ("main.cf name=pipe" → "main.cf pipe"), so that the tests run Postfix
// with exactly the documented lines.
func docBlocks(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../docs/postfix.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	re := regexp.MustCompile("(?ms)^```(main\\.cf|master\\.cf) name=(\\w+)\n(.*?)^```")
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		blocks[m[1]+" "+m[2]] = m[3]
	}
	return blocks
}

// lines splits a block, after applying the replacements old→new.
func lines(block string, repl ...string) []string {
	block = strings.NewReplacer(repl...).Replace(block)
	return strings.Split(strings.TrimRight(block, "\n"), "\n")
}

// offlineDNS serves the zone the filter tests' auth checks look up.
func offlineDNS(t *testing.T) string {
	return dnstest.Start(t, `client.test. TXT "v=spf1 ip4:127.0.0.1 -all"`).Addr
}

// finalLMTP is the delivering sluice behind the filter: auth, rules and
// Sieve off, so a delivered message shows exactly what the filter did.
func finalLMTP(t *testing.T, root string) string {
	cfg := config.Default()
	cfg.Delivery.MailRoot = root
	cfg.Rules.Mode = "off"
	cfg.Sieve.Enabled = false
	addr, _ := startInProcess(t, cfg)
	return addr
}

// gtube is SpamAssassin's test string, which every configuration flags.
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// swaksTo sends one GTUBE message through the private Postfix.
func swaksTo(t *testing.T, pf *testutil.Postfix, rcpt, subject string) {
	t.Helper()
	out, err := exec.Command("swaks", "--server", fmt.Sprintf("127.0.0.1:%d", pf.SMTPPort),
		"--helo", "swaks.client.test", "--from", "sender@client.test", "--to", rcpt,
		"--header", "Subject: "+subject, "--body", "filtered body\n"+gtube).CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
}

func onlyMessage(t *testing.T, dir string, pf *testutil.Postfix) string {
	t.Helper()
	files := maildirFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("%s holds %d messages, want 1\npostfix log:\n%s", dir, len(files), pf.Log())
	}
	b, _ := os.ReadFile(files[0])
	return string(b)
}

// TestPostfixSMTPFilter: Postfix → sluice's SMTP filter → second smtpd →
// LMTP; the delivered message carries the filter's Authentication-Results.
func TestPostfixSMTPFilter(t *testing.T) {
	testutil.RequirePeer(t, "swaks")
	blocks := docBlocks(t)
	root := testutil.PeerDir(t)
	lmtpAddr := finalLMTP(t, root)

	fport, rport := testutil.FreePort(t), testutil.FreePort(t)
	cfg := config.Default()
	cfg.Delivery.MailRoot = t.TempDir()
	cfg.LMTP.Hostname = "filter.test"
	cfg.LMTP.XForwardNetworks = []string{"127.0.0.1/32"} // as docs/postfix.md says
	cfg.Auth.DNS = []string{offlineDNS(t)}
	cfg.Filter.Listen = []string{fmt.Sprintf("127.0.0.1:%d", fport)}
	cfg.Filter.NextHop = fmt.Sprintf("127.0.0.1:%d", rport)
	startInProcess(t, cfg)

	repl := []string{"10025", fmt.Sprint(fport), "10026", fmt.Sprint(rport)}
	pf := testutil.StartPostfix(t, testutil.PostfixOptions{
		LMTP:     "inet:" + lmtpAddr,
		MainCF:   lines(blocks["main.cf smtp"], repl...),
		MasterCF: lines(blocks["master.cf smtp"], repl...),
	})
	swaksTo(t, pf, "alice@example.test", "through the smtp filter")
	pf.WaitEmpty(30 * time.Second)
	msg := onlyMessage(t, filepath.Join(root, "example.test/alice/Maildir"), pf)
	checkFiltered(t, msg, "through the smtp filter")
	// The second smtpd saw the original client through XFORWARD.
	if !pf.WaitLog("orig_client=localhost[127.0.0.1]", 10*time.Second) {
		t.Fatalf("re-injection lost the original client:\n%s", pf.Log())
	}
}

// TestPostfixPipeFilter: Postfix → pipe(8) → sluice pipe → sendmail →
// LMTP; and while the rules fail to load the message stays deferred
// until they are fixed.
func TestPostfixPipeFilter(t *testing.T) {
	testutil.RequirePeer(t, "swaks")
	blocks := docBlocks(t)
	root := testutil.PeerDir(t)
	lmtpAddr := finalLMTP(t, root)

	// pipe(8) runs the command as an unprivileged user, who must be able
	// to execute this test binary and read its configuration.
	dir := testutil.PeerDir(t)
	bin := filepath.Join(dir, "sluice.test")
	copyFile(t, os.Args[0], bin, 0o755)
	wrapper := filepath.Join(dir, "sluice")
	os.WriteFile(wrapper, []byte("#!/bin/sh\nSLUICE_TEST_EXEC=1 exec "+bin+" \"$@\"\n"), 0o755)
	cfgFile := filepath.Join(dir, "sluice.toml")
	common := fmt.Sprintf("[lmtp]\nhostname = \"filter.test\"\n[metrics]\nlisten = \"\"\n[auth]\ndns = [%q]\n", offlineDNS(t))
	good := common + "[rules]\nmode = \"builtin\"\n"
	// First a rules directory that fails to load.
	os.WriteFile(cfgFile, []byte(common+"[rules]\nmode = \"dirs\"\ndirs = [\"/nonexistent/rules\"]\n"), 0o644)

	pf := testutil.StartPostfix(t, testutil.PostfixOptions{
		LMTP:   "inet:" + lmtpAddr,
		MainCF: append(lines(blocks["main.cf pipe"]), "setgid_group = mail"),
		MasterCF: lines(blocks["master.cf pipe"],
			"/usr/local/bin/sluice", wrapper, "/etc/sluice/sluice.toml", cfgFile,
			// ../shared/peers recipe 2, workaround B: sendmail run by
			// pipe(8) may use a private config directory.
			"user=sluice", "user=nobody:postdrop"),
		BeforeStart: func(d string) {
			for _, c := range [][]string{
				{"install", "-d", "-o", "postfix", "-g", "postdrop", "-m", "1730", d + "/queue/maildrop"},
				{"install", "-d", "-o", "postfix", "-g", "postdrop", "-m", "2710", d + "/queue/public"},
			} {
				if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
					t.Fatalf("%v: %v\n%s", c, err, out)
				}
			}
		},
	})
	swaksTo(t, pf, "alice@example.test", "through the pipe filter")

	// Rules that do not load: sluice pipe exits 75 and the mail waits.
	// With 1 s retries the message moves between the active and deferred
	// queues, so Postfix's log of the deferral is what is waited for; the
	// message must still be in the queue.
	const deferred = "relay=sluice-pipe"
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if l := pf.Log(); strings.Contains(l, deferred) && strings.Contains(l, "status=deferred (temporary failure") {
			break
		}
	}
	if l := pf.Log(); !strings.Contains(l, "status=deferred (temporary failure") || !strings.Contains(l, "/nonexistent/rules") {
		t.Fatalf("with rules that fail to load the message is not deferred by the pipe filter:\n%s", l)
	}
	if q := pf.Queue(); len(q) != 1 {
		t.Fatalf("queue holds %d messages while the filter is broken, want 1", len(q))
	}
	if files := maildirFiles(t, filepath.Join(root, "example.test/alice/Maildir")); len(files) != 0 {
		t.Fatalf("message delivered unscanned while the filter was broken")
	}

	os.WriteFile(cfgFile, []byte(good), 0o644)
	pf.Flush()
	pf.WaitEmpty(30 * time.Second)
	msg := onlyMessage(t, filepath.Join(root, "example.test/alice/Maildir"), pf)
	checkFiltered(t, msg, "through the pipe filter")
}

// checkFiltered asserts the filter's marks on a delivered GTUBE message:
// one Authentication-Results of the filter's with spf=pass, the X-Spam
// headers of spam, and the rewritten Subject.
func checkFiltered(t *testing.T, msg, subject string) {
	t.Helper()
	for _, want := range []string{
		"X-Spam-Flag: YES\n",
		"\nSubject: *****SPAM***** " + subject + "\n",
		"X-Spam-Status: Yes, score=10",
		"tests=GTUBE",
		"spf=pass",
	} {
		if !strings.Contains(msg, want) {
			t.Fatalf("delivered message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Count(msg, "Authentication-Results: filter.test;") != 1 {
		t.Fatalf("delivered message lacks the filter's one Authentication-Results:\n%s", msg)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
