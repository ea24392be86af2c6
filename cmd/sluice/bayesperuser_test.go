package main

import (
	"bytes"
	"container/list"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// perUserBackend is one place per-user databases live, for the tests
// that run on both.
type perUserBackend struct {
	name string
	// setup writes the configuration (per_user = true unless off) and
	// returns its file and parsed form.
	setup func(t *testing.T, dir string, perUser bool) (string, config.Config)
	// exists reports whether user's database has been made.
	exists func(t *testing.T, cfg config.Config, user string) bool
}

func perUserBackends() []perUserBackend {
	return []perUserBackend{
		{
			name: "bbolt",
			setup: func(t *testing.T, dir string, perUser bool) (string, config.Config) {
				return perUserSetup(t, dir, perUser, fmt.Sprintf("[bayes]\npath = %q\n", filepath.Join(dir, "bayes.db")))
			},
			exists: func(t *testing.T, cfg config.Config, user string) bool {
				_, err := os.Stat(cfg.BayesPath() + "." + user)
				return err == nil
			},
		},
		{
			name: "redis",
			setup: func(t *testing.T, dir string, perUser bool) (string, config.Config) {
				addr, _ := testutil.StartRedis(t)
				return perUserSetup(t, dir, perUser, fmt.Sprintf("[redis]\nurl = %q\nkey_prefix = \"site1:\"\ntimeout = \"1s\"\n", "redis://"+addr+"/3"))
			},
			exists: func(t *testing.T, cfg config.Config, user string) bool {
				t.Helper()
				o, _ := redis.ParseURL(cfg.Redis.URL)
				rc := redis.NewClient(o)
				defer rc.Close()
				keys, err := rc.Keys(context.Background(), "site1:u:"+user+":*").Result()
				if err != nil {
					t.Fatal(err)
				}
				return len(keys) > 0
			},
		},
	}
}

// perUserSetup writes the Bayes test rules and a configuration with
// [bayes] per_user = perUser and extra, mail under dir/mail.
func perUserSetup(t *testing.T, dir string, perUser bool, extra string) (string, config.Config) {
	t.Helper()
	rulesFile := filepath.Join(dir, "local.cf")
	os.WriteFile(rulesFile, []byte(bayesTestRules), 0o644)
	os.MkdirAll(filepath.Join(dir, "mail"), 0o755)
	src := fmt.Sprintf("[delivery]\nmail_root = %q\ndomains = [\"example.test\"]\n[rules]\nmode = \"dirs\"\ndirs = [%q]\n[auth]\nenabled = false\n[sieve]\nenabled = false\n",
		filepath.Join(dir, "mail"), rulesFile)
	if strings.HasPrefix(extra, "[bayes]") {
		extra += fmt.Sprintf("per_user = %v\n", perUser)
	} else {
		extra = fmt.Sprintf("[bayes]\nper_user = %v\n", perUser) + extra
	}
	cfgFile := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfgFile, []byte(src+extra), 0o644)
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	return cfgFile, cfg
}

// trainUser learns five spam and five ham into user's database (the
// global one for "") with `sluice learn`.
func trainUser(t *testing.T, dir, cfgFile, user string) {
	t.Helper()
	for _, class := range []string{"spam", "ham"} {
		msgs := filepath.Join(dir, "train-"+class)
		os.MkdirAll(msgs, 0o755)
		for i := 0; i < 5; i++ {
			body := "cheap pills viagra casino winner"
			if class == "ham" {
				body = "the quarterly review meeting agenda is attached"
			}
			os.WriteFile(filepath.Join(msgs, fmt.Sprint(i)), []byte(fmt.Sprintf("Subject: %s %d\nMessage-ID: <%s.%d@x.test>\n\n%s %d\n", class, i, class, i, body, i)), 0o644)
		}
		args := []string{"learn", "-config", cfgFile}
		if user != "" {
			args = append(args, "-user", user)
		}
		args = append(args, "-"+class, msgs)
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("%v = %d\n%s%s", args, code, out.String(), errb.String())
		}
	}
}

// userStats returns `sluice learn -user user -stats`.
func userStats(t *testing.T, cfgFile, user string) map[string]int64 {
	t.Helper()
	out, errs, code := sluiceLearn(t, cfgFile, "-user", user, "-stats")
	if code != 0 {
		t.Fatalf("sluice learn -user %s -stats: exit %d\n%s", user, code, errs)
	}
	return parseMagic(t, out)
}

// statusOf returns the unfolded X-Spam-Status of the copy delivered to
// local@example.test with subject.
func statusOf(t *testing.T, cfg config.Config, local, subject string) string {
	t.Helper()
	for _, f := range maildirFiles(t, filepath.Join(cfg.Delivery.MailRoot, "example.test", local, "Maildir")) {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "Subject: "+subject+"\n") || strings.Contains(string(b), "Subject: "+subject+"\r\n") {
			m := regexp.MustCompile(`X-Spam-Status: ([^\n]*(\n\t[^\n]*)*)`).FindStringSubmatch(string(b))
			if m == nil {
				t.Fatalf("no X-Spam-Status in %s's %q", local, subject)
			}
			return strings.Join(strings.Fields(m[1]), " ")
		}
	}
	t.Fatalf("message %q not delivered to %s", subject, local)
	return ""
}

// TestPerUserBayesDelivery: with [bayes] per_user, `sluice learn -user
// alice@example.test` trains alice's database alone. One LMTP transaction
// to alice and bob with the same spammy message gives alice's copy
// BAYES_99 and bob's none; alice+tag@ is scored with alice's database;
// scoring makes no database for bob; auto-learn goes to each recipient's
// own database and never to the global one. On both back ends.
func TestPerUserBayesDelivery(t *testing.T) {
	for _, be := range perUserBackends() {
		t.Run(be.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgFile, cfg := be.setup(t, dir, true)
			trainUser(t, dir, cfgFile, "alice@example.test")
			wantCounts(t, userStats(t, cfgFile, "alice@example.test"), 5, 5)
			addr, _ := startInProcess(t, cfg)

			rcpts := []string{"alice@example.test", "bob@example.test"}
			if st := lmtpSend(t, addr, "s@client.test", rcpts, testMessage("offer", "cheap pills viagra casino winner pharmacy")); st[rcpts[0]] != nil || st[rcpts[1]] != nil {
				t.Fatalf("delivery: %v", st)
			}
			if st := statusOf(t, cfg, "alice", "offer"); !strings.Contains(st, "BAYES_99") || !strings.Contains(st, "score=5.0") || !strings.HasPrefix(st, "Yes") {
				t.Errorf("alice's copy: X-Spam-Status %q, want Yes with BAYES_99 (3.5) + WORD in set 2 (1.5) = 5.0", st)
			}
			if st := statusOf(t, cfg, "bob", "offer"); strings.Contains(st, "BAYES_") || !strings.Contains(st, "score=0.5") || !strings.Contains(st, "autolearn=no") {
				t.Errorf("bob's copy: X-Spam-Status %q, want no BAYES_ rule, WORD in set 0 (0.5), autolearn=no", st)
			}
			if be.exists(t, cfg, "bob@example.test") {
				t.Errorf("scoring bob's copy made a database for bob")
			}

			rcpts = []string{"Alice+Tag@example.test", "bob@example.test"}
			if st := lmtpSend(t, addr, "s@client.test", rcpts, testMessage("tagged", "cheap pills viagra casino winner pharmacy")); st[rcpts[0]] != nil || st[rcpts[1]] != nil {
				t.Fatalf("delivery: %v", st)
			}
			if st := statusOf(t, cfg, "alice", "tagged"); !strings.Contains(st, "BAYES_99") {
				t.Errorf("alice+tag's copy: X-Spam-Status %q, want BAYES_99 from alice's database", st)
			}
			if st := statusOf(t, cfg, "bob", "tagged"); strings.Contains(st, "BAYES_") {
				t.Errorf("bob's copy: X-Spam-Status %q, want no BAYES_ rule", st)
			}

			// Clear spam is auto-learned, into each recipient's database.
			rcpts = []string{"alice@example.test", "bob@example.test", "alice+x@example.test"}
			if st := lmtpSend(t, addr, "s@client.test", rcpts, testMessage("LOUDSPAM now", "loudspam cheap pills")); st[rcpts[0]] != nil || st[rcpts[1]] != nil || st[rcpts[2]] != nil {
				t.Fatalf("delivery: %v", st)
			}
			for _, u := range []string{"alice", "bob"} {
				if st := statusOf(t, cfg, u, "LOUDSPAM now"); !strings.Contains(st, "autolearn=spam") {
					t.Errorf("%s's copy: X-Spam-Status %q, want autolearn=spam", u, st)
				}
			}
			wantCounts(t, userStats(t, cfgFile, "alice@example.test"), 6, 5)
			wantCounts(t, userStats(t, cfgFile, "bob@example.test"), 1, 0)
			if be.name == "bbolt" {
				if _, err := os.Stat(cfg.BayesPath()); err == nil {
					t.Errorf("the global database %s was made though per_user is on", cfg.BayesPath())
				}
			} else if out, _, code := sluiceLearn(t, cfgFile, "-stats"); code != 0 || !regexp.MustCompile(`\s0\s+0\s+non-token data: nspam`).MatchString(out) {
				t.Errorf("global database after per-user auto-learn: exit %d\n%s\nwant nspam 0", code, out)
			}
		})
	}
}

// TestPerUserBayesOffUsesGlobal: with per_user off (the default), delivery
// scores with the global database as before, whatever `-user` trained.
func TestPerUserBayesOffUsesGlobal(t *testing.T) {
	for _, be := range perUserBackends() {
		t.Run(be.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgFile, cfg := be.setup(t, dir, false)
			trainUser(t, dir, cfgFile, "alice@example.test")
			addr, _ := startInProcess(t, cfg)
			if st := lmtpSend(t, addr, "s@client.test", []string{"alice@example.test"}, testMessage("before", "cheap pills viagra casino winner pharmacy")); st["alice@example.test"] != nil {
				t.Fatalf("delivery: %v", st)
			}
			if st := statusOf(t, cfg, "alice", "before"); strings.Contains(st, "BAYES_") {
				t.Errorf("per_user off: X-Spam-Status %q fired Bayes from alice's own database", st)
			}
			trainUser(t, dir, cfgFile, "")
			rcpts := []string{"alice@example.test", "bob@example.test"}
			if st := lmtpSend(t, addr, "s@client.test", rcpts, testMessage("after", "cheap pills viagra casino winner pharmacy")); st[rcpts[0]] != nil || st[rcpts[1]] != nil {
				t.Fatalf("delivery: %v", st)
			}
			for _, u := range []string{"alice", "bob"} {
				if st := statusOf(t, cfg, u, "after"); !strings.Contains(st, "BAYES_99") {
					t.Errorf("per_user off, global database trained: %s's X-Spam-Status %q, want BAYES_99", u, st)
				}
			}
		})
	}
}

// TestPerUserCheckAndPipe: `sluice check -user ADDR` scores with ADDR's
// database (creating none for an untrained user), and `sluice pipe` with
// per_user re-injects one copy per mailbox, each scored with its own
// database.
func TestPerUserCheckAndPipe(t *testing.T) {
	dir := t.TempDir()
	cfgFile, cfg := perUserBackends()[0].setup(t, dir, true)
	sm := filepath.Join(dir, "sendmail")
	script := "#!/bin/sh\nn=$(ls " + dir + "/out | wc -l)\necho \"$@\" > " + dir + "/out/args.$n\ncat > " + dir + "/out/msg.$n\n"
	os.MkdirAll(filepath.Join(dir, "out"), 0o755)
	os.WriteFile(sm, []byte(script), 0o755)
	f, _ := os.OpenFile(cfgFile, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "[filter]\nsendmail = %q\n", sm)
	f.Close()
	trainUser(t, dir, cfgFile, "alice@example.test")

	probe := filepath.Join(dir, "probe")
	os.WriteFile(probe, []byte("Subject: hello\n\ncheap pills viagra casino winner\n"), 0o644)
	for _, tc := range []struct {
		user  string
		bayes bool
	}{
		{"alice+list@Example.TEST", true},
		{"bob@example.test", false},
	} {
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-config", cfgFile, "-user", tc.user, "-json", probe}, &out, &errb); code != 0 {
			t.Fatalf("check -user %s = %d\n%s", tc.user, code, errb.String())
		}
		if got := strings.Contains(out.String(), `"BAYES_99"`); got != tc.bayes {
			t.Errorf("check -user %s: BAYES_99 %v, want %v: %s", tc.user, got, tc.bayes, out.String())
		}
	}
	if _, err := os.Stat(cfg.BayesPath() + ".bob@example.test"); err == nil {
		t.Errorf("check -user bob made a database for bob")
	}
	if code := run([]string{"check", "-config", cfgFile, "-user", "../x@y", probe}, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("check -user ../x@y = %d, want 2", code)
	}

	var errb bytes.Buffer
	msg := "From: s@client.test\r\nSubject: piped\r\nMessage-ID: <piped@client.test>\r\n\r\ncheap pills viagra casino winner pharmacy\r\n"
	if code := runPipe(t, []string{"-config", cfgFile, "-f", "s@client.test", "--", "alice@example.test", "bob@example.test", "Alice+x@example.test"}, msg, &errb); code != 0 {
		t.Fatalf("sluice pipe = %d\n%s", code, errb.String())
	}
	want := map[string]bool{
		"-G -i -f s@client.test -- alice@example.test Alice+x@example.test": true,
		"-G -i -f s@client.test -- bob@example.test":                        false,
	}
	for i := 0; i < 2; i++ {
		args, err := os.ReadFile(filepath.Join(dir, "out", fmt.Sprintf("args.%d", i*2)))
		if err != nil {
			t.Fatalf("re-injection %d: %v (sendmail ran for %v)", i, err, want)
		}
		out, _ := os.ReadFile(filepath.Join(dir, "out", fmt.Sprintf("msg.%d", i*2)))
		bayes, ok := want[strings.TrimSpace(string(args))]
		if !ok {
			t.Fatalf("re-injection %d: sendmail %q, want one of %v", i, args, want)
		}
		if got := strings.Contains(string(out), "BAYES_99"); got != bayes {
			t.Errorf("copy for %q: BAYES_99 %v, want %v:\n%s", args, got, bayes, out)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "out")); len(ents) != 4 {
		t.Errorf("sendmail ran %d times, want 2", len(ents)/2)
	}
}

// TestUserBayesCacheBounded: the per-user store cache keeps at most
// maxUserStores stores, and a user with no database takes no place in it.
func TestUserBayesCacheBounded(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Bayes.Path = filepath.Join(dir, "bayes.db")
	u := &userBayes{cfg: cfg, create: true, log: slog.New(slog.DiscardHandler), byKey: map[string]*list.Element{}, lru: list.New()}
	ctx := context.Background()
	if cl, err := u.Classifier(ctx, "nobody@example.test", false); cl != nil || err != nil || u.len() != 0 {
		t.Fatalf("Classifier(nobody, no create) = %v, %v with %d cached; want nil, nil, 0", cl, err, u.len())
	}
	for i := 0; i < maxUserStores+10; i++ {
		if cl, err := u.Classifier(ctx, fmt.Sprintf("u%d@example.test", i), true); cl == nil || err != nil {
			t.Fatalf("Classifier(u%d, create) = %v, %v", i, cl, err)
		}
	}
	if n := u.len(); n != maxUserStores {
		t.Fatalf("cache holds %d stores, want %d", n, maxUserStores)
	}
	if _, err := os.Stat(cfg.BayesPath() + ".u0@example.test"); err != nil {
		t.Fatalf("auto-learn's open did not make the database: %v", err)
	}
}
