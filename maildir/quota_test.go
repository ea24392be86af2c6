package maildir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseQuotaRule(t *testing.T) {
	for _, tc := range []struct {
		rule    string
		want    Quota
		mailbox string
		err     bool
	}{
		{"*:storage=1G", Quota{Bytes: 1 << 30}, "*", false},
		{"*:storage=1024", Quota{Bytes: 1 << 20}, "*", false}, // kilobytes
		{"*:storage=100M", Quota{Bytes: 100 << 20}, "*", false},
		{"*:storage=2GB", Quota{Bytes: 2 << 30}, "*", false},
		{"*:bytes=1000", Quota{Bytes: 1000}, "*", false},
		{"*:bytes=10k", Quota{Bytes: 10 << 10}, "*", false},
		{"*:messages=10000", Quota{Messages: 10000}, "*", false},
		{"*:storage=1G:messages=10000", Quota{Bytes: 1 << 30, Messages: 10000}, "*", false},
		{"?:storage=0", Quota{}, "?", false},
		{"Trash:storage=+100M", Quota{Bytes: 100 << 20}, "Trash", false},
		{"SPAM:ignore", Quota{}, "SPAM", false},
		{"*:storage=+1G", Quota{}, "", true},
		{"*:storage=1X", Quota{}, "", true},
		{"*:size=1G", Quota{}, "", true},
		{"*:storage=", Quota{}, "", true},
		{"storage=1G", Quota{}, "", true},
		{"*:bytes=99999999999999999999", Quota{}, "", true},
	} {
		got, mb, err := ParseQuotaRule(tc.rule)
		if (err != nil) != tc.err || (err != nil && !errors.Is(err, ErrBadQuotaRule)) || got != tc.want || mb != tc.mailbox {
			t.Errorf("ParseQuotaRule(%q) = %+v, %q, %v; want %+v, %q, error %v", tc.rule, got, mb, err, tc.want, tc.mailbox, tc.err)
		}
	}
}

// TestParseMaildirsize checks the format of README.maildirquota: a limits
// line ("<bytes>S,<count>C", either part optional), then "<bytes> <count>"
// lines whose sums are the usage, negative for removed mail.
func TestParseMaildirsize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want usage
		ok   bool
	}{
		{"1073741824S,10000C\n1000 10\n-100 -1\n", usage{Quota{1 << 30, 10000}, 900, 9}, true},
		{"5000S\n0 0\n", usage{Quota{Bytes: 5000}, 0, 0}, true},
		{"100C\n12 1\n", usage{Quota{Messages: 100}, 12, 1}, true},
		{"5000S\n", usage{Quota{Bytes: 5000}, 0, 0}, true},
		{"5000S\n10 1\n20", usage{}, false}, // last line cut short
		{"5000S\n10\n", usage{}, false},
		{"5000X\n10 1\n", usage{}, false},
		{"5000S", usage{}, false},
	} {
		got, ok := parseMaildirsize([]byte(tc.in))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseMaildirsize(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// readMaildirsize returns the maildirsize file of s.
func readMaildirsize(t *testing.T, s *Store) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Root(), maildirsizeFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDeliverQuota(t *testing.T) {
	ctx := context.Background()
	msg := strings.Repeat("x", 999) + "\n" // 1000 bytes stored
	deliver := func(s *Store, folder string) error {
		t.Helper()
		_, err := s.Deliver(ctx, folder, Flags{}, true, strings.NewReader(msg))
		return err
	}

	t.Run("storage", func(t *testing.T) {
		// 2500 bytes and a 10% grace: a third 1000-byte message would
		// end at 3000, past 2500 + 250, and is refused.
		s := testStore(t, nil, Options{Quota: Quota{Bytes: 2500}})
		for i := 0; i < 2; i++ {
			if err := deliver(s, []string{"", "Spam"}[i]); err != nil {
				t.Fatalf("Deliver #%d = %v", i+1, err)
			}
		}
		if got, want := readMaildirsize(t, s), "2500S\n0 0\n1000 1\n1000 1\n"; got != want {
			t.Errorf("maildirsize = %q, want %q", got, want)
		}
		err := deliver(s, "")
		if !errors.Is(err, ErrOverQuota) || errors.Is(err, ErrTemporary) {
			t.Fatalf("Deliver over quota = %v, want ErrOverQuota alone", err)
		}
		if n := len(listDir(t, filepath.Join(s.Root(), "new"))); n != 1 || len(listDir(t, filepath.Join(s.Root(), "tmp"))) != 0 {
			t.Errorf("new/ holds %d files after the refusal, want 1; tmp/ must be empty", n)
		}
		if got, want := readMaildirsize(t, s), "2500S\n0 0\n1000 1\n1000 1\n"; got != want {
			t.Errorf("maildirsize after refusal = %q, want %q", got, want)
		}
	})

	t.Run("grace", func(t *testing.T) {
		// 1900 of 2000 used: a 1000-byte message ends at 2900, beyond
		// the 10% grace; a 150-byte one ends at 2050, within it.
		s := testStore(t, nil, Options{Quota: Quota{Bytes: 2000}})
		os.WriteFile(filepath.Join(s.Root(), maildirsizeFile), []byte("2000S\n1900 3\n"), 0o600)
		if err := deliver(s, ""); !errors.Is(err, ErrOverQuota) {
			t.Fatalf("Deliver past the grace = %v, want ErrOverQuota", err)
		}
		if _, err := s.Deliver(ctx, "", Flags{}, true, strings.NewReader(strings.Repeat("y", 150))); err != nil {
			t.Fatalf("Deliver within the grace = %v, want nil", err)
		}
		if err := deliver(s, ""); !errors.Is(err, ErrOverQuota) {
			t.Fatalf("Deliver when over the limit = %v, want ErrOverQuota", err)
		}
	})

	t.Run("messages", func(t *testing.T) {
		s := testStore(t, nil, Options{Quota: Quota{Messages: 2}})
		for i := 0; i < 2; i++ {
			if err := deliver(s, ""); err != nil {
				t.Fatalf("Deliver #%d = %v", i+1, err)
			}
		}
		if err := deliver(s, "Spam"); !errors.Is(err, ErrOverQuota) {
			t.Fatalf("Deliver of message 3 = %v, want ErrOverQuota", err)
		}
	})

	t.Run("recalculated", func(t *testing.T) {
		s := testStore(t, nil, Options{Quota: Quota{Bytes: 1 << 20, Messages: 100}})
		if err := deliver(s, "Spam"); err != nil {
			t.Fatal(err)
		}
		if err := deliver(s, ""); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(s.Root(), maildirsizeFile)
		want := "1048576S,100C\n2000 2\n"
		for name, content := range map[string]string{
			// Over 5120 bytes: README.maildirquota says recalculate.
			"too large": "1048576S,100C\n" + strings.Repeat("1 0\n", 1300),
			"missing":   "",
			// Other limits: Dovecot rewrites the file with its own.
			"other limits": "5000S\n2000 2\n",
			"malformed":    "1048576S,100C\nbroken\n",
		} {
			os.Remove(path)
			if content != "" {
				os.WriteFile(path, []byte(content), 0o600)
			}
			u, err := s.usage(mustOpenRoot(t, s))
			if err != nil || u.bytes != 2000 || u.count != 2 {
				t.Errorf("%s: usage() = %+v, %v; want 2000 bytes in 2 messages", name, u, err)
			}
			if got := readMaildirsize(t, s); got != want {
				t.Errorf("%s: maildirsize after recalculation = %q, want %q", name, got, want)
			}
		}

		// An over-quota file older than 15 minutes is recalculated, so
		// that mail removed without updating it frees the quota.
		os.WriteFile(path, []byte("1048576S,100C\n5000000 100\n"), 0o600)
		if err := deliver(s, ""); !errors.Is(err, ErrOverQuota) {
			t.Fatalf("Deliver with a fresh over-quota maildirsize = %v, want ErrOverQuota", err)
		}
		old := time.Now().Add(-maildirsizeStale - time.Minute)
		os.Chtimes(path, old, old)
		if err := deliver(s, ""); err != nil {
			t.Fatalf("Deliver with a stale over-quota maildirsize = %v, want nil", err)
		}
		if got, want := readMaildirsize(t, s), "1048576S,100C\n2000 2\n1000 1\n"; got != want {
			t.Errorf("maildirsize = %q, want %q", got, want)
		}
	})

	t.Run("no quota keeps an existing file", func(t *testing.T) {
		s := testStore(t, nil, Options{})
		if err := deliver(s, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(s.Root(), maildirsizeFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("maildirsize created without a quota (%v)", err)
		}
		os.WriteFile(filepath.Join(s.Root(), maildirsizeFile), []byte("5000S\n1000 1\n"), 0o600)
		if err := deliver(s, ""); err != nil {
			t.Fatal(err)
		}
		if got, want := readMaildirsize(t, s), "5000S\n1000 1\n1000 1\n"; got != want {
			t.Errorf("maildirsize = %q, want %q", got, want)
		}
	})

	t.Run("hard-linked maildirsize", func(t *testing.T) {
		s := testStore(t, nil, Options{Quota: Quota{Bytes: 1 << 20}})
		target := filepath.Join(filepath.Dir(s.Root()), "victim")
		os.WriteFile(target, []byte("1048576S\n0 0\n"), 0o600)
		if err := os.Link(target, filepath.Join(s.Root(), maildirsizeFile)); err != nil {
			t.Fatal(err)
		}
		for _, q := range []Quota{{}, {Bytes: 1 << 20}} {
			s.quota = q
			if err := deliver(s, ""); err != nil {
				t.Fatalf("Deliver = %v", err)
			}
			if b, _ := os.ReadFile(target); string(b) != "1048576S\n0 0\n" {
				t.Errorf("quota %v: hard link target of maildirsize now holds %q", q, b)
			}
		}
	})

	t.Run("symlinked maildirsize", func(t *testing.T) {
		s := testStore(t, nil, Options{Quota: Quota{Bytes: 1 << 20}})
		target := filepath.Join(t.TempDir(), "victim")
		os.WriteFile(target, []byte("keep\n"), 0o600)
		os.Symlink(target, filepath.Join(s.Root(), maildirsizeFile))
		if err := deliver(s, ""); err != nil {
			t.Fatalf("Deliver = %v", err)
		}
		if b, _ := os.ReadFile(target); string(b) != "keep\n" {
			t.Errorf("symlink target of maildirsize now holds %q", b)
		}
		// The symlink was replaced by a recalculated file.
		if fi, err := os.Lstat(filepath.Join(s.Root(), maildirsizeFile)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("maildirsize is %v, %v; want a regular file", fi, err)
		}
	})
}

func mustOpenRoot(t *testing.T, s *Store) *dir {
	t.Helper()
	d, err := s.openRoot(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestDovecotQuota checks with Dovecot's own quota plugin (quota =
// maildir, the Maildir++ backend) that Dovecot reads the maildirsize this
// package keeps as the same usage, and that a file Dovecot recalculates
// equals ours.
func TestDovecotQuota(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "Maildir")
	opts := Options{Hostname: "mx.example", Quota: Quota{Bytes: 1 << 20, Messages: 100}}
	if os.Geteuid() == 0 {
		opts.Owner = &Owner{UID: 65534, GID: 65534}
	}
	s, err := Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	d := newDoveadm(t, dir, root)
	f, err := os.OpenFile(d.conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("mail_plugins = quota\nplugin {\n  quota = maildir:User quota\n  quota_rule = *:storage=1M:messages=100\n}\n")
	f.Close()

	for i, folder := range []string{"", "", "Spam", "Lists/Go"} {
		msg := "Subject: " + strconv.Itoa(i) + "\r\n\r\n" + strings.Repeat("body\r\n", 100*(i+1))
		if _, err := s.Deliver(context.Background(), folder, Flags{Seen: i == 1}, true, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
	}
	ours := readMaildirsize(t, s)
	u, ok := parseMaildirsize([]byte(ours))
	if !ok {
		t.Fatalf("maildirsize %q does not parse", ours)
	}
	quota := func() (kb, msgs string) {
		t.Helper()
		for _, l := range strings.Split(d.run("quota", "get"), "\n") {
			f := strings.Fields(l)
			if len(f) < 4 {
				continue
			}
			switch f[len(f)-4] {
			case "STORAGE":
				kb = f[len(f)-3] + "/" + f[len(f)-2]
			case "MESSAGE":
				msgs = f[len(f)-3] + "/" + f[len(f)-2]
			}
		}
		return kb, msgs
	}
	// doveadm shows kilobytes rounded up.
	wantKB := strconv.FormatInt((u.bytes+1023)/1024, 10) + "/1024"
	wantMsgs := strconv.FormatInt(u.count, 10) + "/100"
	if kb, msgs := quota(); kb != wantKB || msgs != wantMsgs || u.count != 4 {
		t.Errorf("doveadm quota get: storage %s, messages %s; our maildirsize %q says %s, %s", kb, msgs, ours, wantKB, wantMsgs)
	}
	d.run("quota", "recalc")
	theirs := readMaildirsize(t, s)
	if want := "1048576S,100C\n" + strconv.FormatInt(u.bytes, 10) + " 4\n"; theirs != want {
		t.Errorf("maildirsize after doveadm quota recalc = %q, want %q (ours: %q)", theirs, want, ours)
	}
	// We go on from Dovecot's file.
	if _, err := s.Deliver(context.Background(), "", Flags{}, true, strings.NewReader("x\n")); err != nil {
		t.Fatal(err)
	}
	if got := readMaildirsize(t, s); got != theirs+"2 1\n" {
		t.Errorf("maildirsize after one more delivery = %q, want %q", got, theirs+"2 1\n")
	}
}
