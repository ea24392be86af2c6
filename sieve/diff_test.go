package sieve

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The differential test runs Pigeonhole's sieve-test and this package on
// every script of testdata/diff × 50 messages of the SpamAssassin corpus
// and compares the actions in a normal form.

const (
	diffFrom = "sender@example.net"
	diffTo   = "user+lists@example.org"
	// Extensions Debian's Pigeonhole does not enable by default.
	diffExtra = "+editheader +spamtest +spamtestplus +virustest +vacation-seconds"
)

func requirePeer(t *testing.T, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("peer missing: %s", bin)
		}
		t.Skipf("peer missing: %s", bin)
	}
	return p
}

// diffMessages picks 25 ham and 25 spam messages deterministically and
// prepends the verdict headers the spamtest/virustest configuration reads.
func diffMessages(t *testing.T, dir string) []string {
	corpus := filepath.Join(sharedDir(t), "corpus", "spamassassin")
	var out []string
	for _, label := range []string{"ham", "spam"} {
		ents, err := os.ReadDir(filepath.Join(corpus, label))
		if err != nil {
			t.Fatalf("read corpus: %v", err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for i := 0; i < 25; i++ {
			name := names[i*len(names)/25]
			raw, err := os.ReadFile(filepath.Join(corpus, label, name))
			if err != nil {
				t.Fatal(err)
			}
			h := fnv.New32a()
			h.Write([]byte(name))
			n := h.Sum32()
			score := float64(n%100) / 10
			if label == "spam" {
				score = 5 + float64(n%50)/10
			}
			virus := "clean"
			if n%7 == 0 {
				virus = "infected"
			}
			hdr := fmt.Sprintf("X-Spam-Score: %.1f\nX-Virus-Scan: %s\n", score, virus)
			if label == "spam" && n%3 == 0 {
				hdr += "X-Spam-Flag: YES\n"
			}
			p := filepath.Join(dir, label+"-"+name+".eml")
			if err := os.WriteFile(p, append([]byte(hdr), raw...), 0o644); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
	}
	// Hand-made messages for what the corpus sample lacks (HTML with
	// script, style, comments, entities and CDATA).
	extra, _ := filepath.Glob(filepath.Join("testdata", "diffmsg", "*.eml"))
	for _, f := range extra {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "extra-"+filepath.Base(f))
		if err := os.WriteFile(p, append([]byte("X-Spam-Score: 1.0\nX-Virus-Scan: clean\n"), raw...), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func TestDifferentialPigeonhole(t *testing.T) {
	if testing.Short() {
		t.Skip("differential test spawns sieve-test 1750 times")
	}
	bin := requirePeer(t, "sieve-test")
	dir, err := os.MkdirTemp("", "sluice-sieve-diff-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// sieve-test drops privileges to 65534: everything must be readable by it.
	for _, d := range []string{dir, filepath.Join(dir, "sieve"), filepath.Join(dir, "home"), filepath.Join(dir, "personal"), filepath.Join(dir, "global"), filepath.Join(dir, "msg")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o777)
	}
	conf := fmt.Sprintf(rootConf()+`mail_home = %[1]s/home
mail_location = maildir:~/Maildir
plugin {
  sieve = file:%[1]s/personal
  sieve_global = %[1]s/global
  sieve_spamtest_status_type = score
  sieve_spamtest_status_header = X-Spam-Score
  sieve_spamtest_max_value = 10.0
  sieve_virustest_status_type = text
  sieve_virustest_status_header = X-Virus-Scan
  sieve_virustest_text_value1 = clean
  sieve_virustest_text_value5 = infected
}
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "sieve.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"personal", "global"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "diff", sub, "*.sieve"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			os.WriteFile(filepath.Join(dir, sub, filepath.Base(f)), b, 0o644)
		}
	}
	scripts, _ := filepath.Glob(filepath.Join("testdata", "diff", "*.sieve"))
	if len(scripts) < 30 {
		t.Fatalf("want at least 30 scripts in testdata/diff, have %d", len(scripts))
	}
	msgs := diffMessages(t, filepath.Join(dir, "msg"))

	type job struct{ script, msg string }
	type outcome struct {
		job
		want, got string
	}
	jobs := make(chan job)
	results := make(chan outcome)
	var wg sync.WaitGroup
	loader := dirLoader{personal: filepath.Join("testdata", "diff", "personal"), global: filepath.Join("testdata", "diff", "global")}
	compiled := map[string]*Script{}
	for _, sc := range scripts {
		src, _ := os.ReadFile(sc)
		s, err := Compile(filepath.Base(sc), src, Options{Loader: loader, Extensions: withEnotify})
		if err != nil {
			t.Fatalf("Compile(%s) = %v", sc, err)
		}
		compiled[sc] = s
		os.WriteFile(filepath.Join(dir, "sieve", filepath.Base(sc)), src, 0o644)
	}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				want := runPigeonhole(bin, dir, filepath.Join(dir, "sieve", filepath.Base(j.script)), j.msg)
				raw, _ := os.ReadFile(j.msg)
				got := ourNormalForm(compiled[j.script], raw)
				results <- outcome{j, want, got}
			}
		}()
	}
	go func() {
		for _, sc := range scripts {
			for _, m := range msgs {
				jobs <- job{sc, m}
			}
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()
	start := time.Now()
	total, bad := 0, 0
	perScript := map[string]int{}
	for o := range results {
		total++
		if o.want != o.got {
			bad++
			perScript[filepath.Base(o.script)]++
			if perScript[filepath.Base(o.script)] <= 2 {
				t.Errorf("%s × %s:\nsieve-test:\n%s\nours:\n%s", filepath.Base(o.script), filepath.Base(o.msg), o.want, o.got)
			}
		}
	}
	t.Logf("differential: %d/%d script×message runs agree (%d scripts × %d messages) in %v", total-bad, total, len(scripts), len(msgs), time.Since(start).Round(time.Millisecond))
}

// runPigeonhole runs sieve-test and returns its actions in normal form.
func runPigeonhole(bin, dir, script, msg string) string {
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "sieve.conf"), "-x", diffExtra, "-C",
		"-f", diffFrom, "-r", diffTo, script, msg)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 89 {
		return "compile-error\n" + stderr.String()
	}
	if strings.Contains(stderr.String(), "final result: failed") {
		return "error\nimplicit_keep\n"
	}
	return parseSieveTest(stdout.String())
}

// parseSieveTest turns sieve-test's report into the normal form. With
// several scripts (-s) each prints its own sections; "* keep" in all but
// the last only lets the sequence continue.
func parseSieveTest(out string) string {
	var lines []string
	last := strings.LastIndex(out, "Performed actions:")
	section := ""
	final := false
	inMsg := false
	var cur *normAction
	var acts []*normAction
	off := 0
	for _, l := range strings.Split(out, "\n") {
		final = off >= last
		off += len(l) + 1
		tl := strings.TrimSpace(l)
		switch {
		case inMsg:
			if tl == "END MESSAGE" {
				inMsg = false
				cur.reason = strings.TrimSuffix(cur.reason, "\n")
				continue
			}
			cur.reason += l + "\n"
			continue
		case tl == "Performed actions:":
			section = "performed"
			continue
		case tl == "Implicit keep:":
			section = "implicit"
			continue
		case tl == "START MESSAGE":
			inMsg = true
			continue
		}
		switch {
		case strings.HasPrefix(tl, "* store message in folder: ") && section == "implicit" && !final:
			cur = &normAction{kind: "ignore"}
		case strings.HasPrefix(tl, "* store message in folder: "):
			cur = &normAction{kind: "store", arg: strings.TrimPrefix(tl, "* store message in folder: ")}
			if section == "implicit" {
				cur.kind = "implicit_keep"
				cur.arg = ""
			}
			acts = append(acts, cur)
		case strings.HasPrefix(tl, "* redirect message to: "):
			cur = &normAction{kind: "redirect", arg: strings.Trim(strings.TrimPrefix(tl, "* redirect message to: "), "<>")}
			acts = append(acts, cur)
		case tl == "* discard":
			cur = &normAction{kind: "discard"}
			acts = append(acts, cur)
		case strings.HasPrefix(tl, "* reject message with reason: "):
			cur = &normAction{kind: "reject", arg: strings.TrimPrefix(tl, "* reject message with reason: ")}
			acts = append(acts, cur)
		case strings.HasPrefix(tl, "* send notification with method "):
			cur = &normAction{kind: "notify"}
			acts = append(acts, cur)
		case strings.HasPrefix(tl, "=> importance") && cur != nil && cur.kind == "notify":
			cur.arg = "importance=" + strings.TrimSpace(strings.SplitN(tl, ":", 2)[1])
		case (strings.HasPrefix(tl, "+ To: ") || strings.HasPrefix(tl, "+ Cc: ")) && cur != nil && cur.kind == "notify":
			cur.flags = append(cur.flags, strings.TrimPrefix(tl, "+ "))
		case tl == "* send vacation message:":
			cur = &normAction{kind: "vacation"}
			acts = append(acts, cur)
		case strings.HasPrefix(tl, "=> seconds : ") && cur != nil:
			cur.arg = "seconds=" + strings.TrimPrefix(tl, "=> seconds : ")
		case tl == "+ create mailbox if it does not exist" && cur != nil:
			cur.create = true
		case strings.HasPrefix(tl, "+ add IMAP flags: ") && cur != nil:
			cur.flags = strings.Fields(strings.TrimPrefix(tl, "+ add IMAP flags: "))
		case tl == "* keep":
			if !final {
				cur = &normAction{kind: "ignore"}
				continue
			}
			cur = &normAction{kind: "store", arg: "INBOX"}
			if section == "implicit" {
				cur = &normAction{kind: "implicit_keep"}
			}
			acts = append(acts, cur)
		case tl == "* track duplicate":
			// duplicate's bookkeeping, not a delivery action.
		case strings.HasPrefix(tl, "* "):
			acts = append(acts, &normAction{kind: "unknown:" + tl})
		}
	}
	for _, a := range acts {
		lines = append(lines, a.String())
	}
	return strings.Join(lines, "\n") + "\n"
}

type normAction struct {
	kind, arg, reason string
	create            bool
	flags             []string
}

func (a *normAction) String() string {
	s := a.kind
	if a.arg != "" {
		s += " " + a.arg
	}
	if a.create {
		s += " create"
	}
	if a.kind == "notify" {
		return s + " recipients=" + strings.Join(a.flags, ",")
	}
	if len(a.flags) > 0 {
		f := make([]string, len(a.flags))
		for i, x := range a.flags {
			if strings.HasPrefix(x, "\\") {
				x = strings.ToLower(x)
			}
			f[i] = x
		}
		sort.Strings(f)
		s += " flags=" + strings.Join(f, ",")
	}
	if a.reason != "" {
		s += " reason=" + strconv.Quote(strings.ReplaceAll(a.reason, "\r\n", "\n"))
	}
	return s
}

// ourNormalForm runs the script the way the differential test's sieve-test does.
func ourNormalForm(s *Script, raw []byte) string {
	return ourSequenceForm(&Sequence{User: s}, raw)
}

func ourSequenceForm(q *Sequence, raw []byte) string {
	// sieve-test's mail store is empty: no mailbox exists.
	env := Env{From: diffFrom, To: diffTo, Vars: map[string]string{"phase": "post"}, Mailboxes: noMailboxes{}}
	msg := ParseMessage(raw)
	for _, f := range msg.HeaderFields() {
		switch strings.ToLower(f.Name) {
		case "x-spam-score":
			env.SpamTested = true
			env.SpamScore, _ = strconv.ParseFloat(strings.TrimSpace(f.Value), 64)
			env.SpamRequired = 10
		case "x-virus-scan":
			env.VirusTested = true
			env.VirusValue = 1
			if strings.TrimSpace(f.Value) == "infected" {
				env.VirusValue = 5
			}
		}
	}
	res, err := q.Run(context.Background(), msg, env)
	if err != nil {
		return "error\nimplicit_keep\n"
	}
	var acts []*normAction
	for _, a := range res.Actions {
		var n *normAction
		switch a.Kind {
		case Keep:
			n = &normAction{kind: "store", arg: "INBOX", flags: a.Flags}
		case FileInto:
			n = &normAction{kind: "store", arg: a.Mailbox, create: a.Create, flags: a.Flags}
		case Redirect:
			n = &normAction{kind: "redirect", arg: a.Address}
		case Discard:
			n = &normAction{kind: "discard"}
		case Reject, EReject:
			r := strings.NewReplacer("\r", "?", "\n", "?").Replace(a.Reason)
			n = &normAction{kind: "reject", arg: r}
		case NotifyAction:
			n = &normAction{kind: "notify", arg: "importance=" + a.Notify.Importance}
			for _, x := range a.Notify.To {
				spec, _ := mailboxAddress(x)
				n.flags = append(n.flags, "To: "+spec)
			}
			for _, x := range a.Notify.Cc {
				spec, _ := mailboxAddress(x)
				n.flags = append(n.flags, "Cc: "+spec)
			}
		case VacationAction:
			n = &normAction{kind: "vacation", arg: "seconds=" + strconv.FormatInt(int64(a.Vacation.Period/time.Second), 10), reason: a.Vacation.Reason}
		}
		acts = append(acts, n)
	}
	if res.ImplicitKeep {
		acts = append(acts, &normAction{kind: "implicit_keep", flags: res.ImplicitKeepFlags})
	}
	var lines []string
	for _, a := range acts {
		lines = append(lines, a.String())
	}
	return strings.Join(lines, "\n") + "\n"
}

type noMailboxes struct{}

func (noMailboxes) MailboxExists(context.Context, string) bool { return false }

// TestDifferentialSequence checks Sequence against sieve-test's multiscript
// mode (-s before scripts, then the main script).
func TestDifferentialSequence(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns sieve-test")
	}
	bin := requirePeer(t, "sieve-test")
	dir, err := os.MkdirTemp("", "sluice-sieve-seq-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{dir, filepath.Join(dir, "sieve"), filepath.Join(dir, "home"), filepath.Join(dir, "msg")} {
		os.MkdirAll(d, 0o755)
		os.Chmod(d, 0o777)
	}
	conf := fmt.Sprintf(rootConf()+"mail_home = %[1]s/home\nmail_location = maildir:~/Maildir\n", dir)
	os.WriteFile(filepath.Join(dir, "sieve.conf"), []byte(conf), 0o644)
	combos := [][]string{
		{"01-spamflag", "02-lists"},
		{"01-spamflag", "35-flags-keep"},
		{"24-editheader", "03-address"},
		{"24-editheader", "14-reject"},
		{"35-flags-keep", "10-imap4flags"},
		{"12-copy-redirect", "15-discard"},
		{"35-flags-keep", "01-spamflag", "04-subject-variables"},
		{"13-redirect", "12-copy-redirect"},
	}
	all := diffMessages(t, filepath.Join(dir, "msg"))
	var msgs []string
	for i := 0; i < len(all); i += 3 {
		msgs = append(msgs, all[i])
	}
	compiled := map[string]*Script{}
	for _, c := range combos {
		for _, name := range c {
			if compiled[name] != nil {
				continue
			}
			src, err := os.ReadFile(filepath.Join("testdata", "diff", name+".sieve"))
			if err != nil {
				t.Fatal(err)
			}
			s, err := Compile(name, src, Options{})
			if err != nil {
				t.Fatal(err)
			}
			compiled[name] = s
			os.WriteFile(filepath.Join(dir, "sieve", name+".sieve"), src, 0o644)
		}
	}
	total, bad := 0, 0
	for _, c := range combos {
		var q Sequence
		// sieve-test -s with -C fails to open the extra scripts; compile once instead.
		args := []string{"-c", filepath.Join(dir, "sieve.conf"), "-x", diffExtra, "-f", diffFrom, "-r", diffTo}
		for _, name := range c[:len(c)-1] {
			q.Before = append(q.Before, compiled[name])
			args = append(args, "-s", filepath.Join(dir, "sieve", name+".sieve"))
		}
		q.User = compiled[c[len(c)-1]]
		for _, m := range msgs {
			cmd := exec.Command(bin, append(args, filepath.Join(dir, "sieve", c[len(c)-1]+".sieve"), m)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.Run()
			want := "error\nimplicit_keep\n"
			if !strings.Contains(stderr.String(), "final result: failed") {
				want = parseSieveTest(stdout.String())
			}
			raw, _ := os.ReadFile(m)
			got := ourSequenceForm(&q, raw)
			total++
			if got != want {
				bad++
				if bad <= 5 {
					t.Errorf("%v × %s:\nsieve-test:\n%s\nours:\n%s", c, filepath.Base(m), want, got)
				}
			}
		}
	}
	t.Logf("sequence differential: %d/%d runs agree", total-bad, total)
}

// rootConf is the sieve-test configuration needed when running as root:
// it then drops privileges to nobody (65534), which must be able to read
// the scripts and messages.
func rootConf() string {
	if os.Geteuid() != 0 {
		return ""
	}
	return "mail_uid = 65534\nmail_gid = 65534\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n"
}

// withEnotify offers enotify besides the defaults, as Pigeonhole does.
var withEnotify = append(DefaultExtensions(), "enotify")
