package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/maildir"
)

func TestLoadUsersQuota(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	os.WriteFile(path, []byte(strings.Join([]string{
		"alice@example.test:{PLAIN}x::::::userdb_quota_rule=*:storage=1G userdb_quota_rule2=Trash:storage=+100M",
		"bob@example.test:x::::::quota_rule=*:messages=10000 userdb_mail=maildir:~/Maildir",
		"carol@example.test:x::::::userdb_quota_rule=*:storage=0",
		"dave@example.test:x:1000:1000::/home/dave::",
	}, "\n")+"\n"), 0o644)
	users, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]*maildir.Quota{
		"alice@example.test": {Bytes: 1 << 30},
		"bob@example.test":   {Messages: 10000},
		"carol@example.test": {},
		"dave@example.test":  nil,
	} {
		got := users[name].Quota
		if (got == nil) != (want == nil) || got != nil && *got != *want {
			t.Errorf("LoadUsers: %s quota = %+v, want %+v", name, got, want)
		}
	}
	// The users file overrides the default rule, also with "no quota".
	d := NewDirectory(DirectoryConfig{MailRoot: "/m", MailLocation: "%d/%n", Users: users, Quota: maildir.Quota{Bytes: 5000}})
	for addr, want := range map[string]maildir.Quota{
		"alice@example.test": {Bytes: 1 << 30},
		"carol@example.test": {},
		"dave@example.test":  {Bytes: 5000},
	} {
		if r, err := d.Resolve(addr); err != nil || r.Quota != want {
			t.Errorf("Resolve(%s).Quota = %+v, %v; want %+v", addr, r.Quota, err, want)
		}
	}
	os.WriteFile(path, []byte("eve@example.test:x::::::userdb_quota_rule=*:storage=lots\n"), 0o644)
	if _, err := LoadUsers(path); err == nil || !strings.Contains(err.Error(), path+":1:") {
		t.Errorf("LoadUsers(bad quota rule) = %v, want a file:line error", err)
	}
}

// TestOverQuota: in one transaction, the recipient over quota gets 552
// 5.2.2 (452 4.2.2 with QuotaFullTempfail), the others 250, and only their
// copies are written.
func TestOverQuota(t *testing.T) {
	for _, tt := range []struct {
		tempfail bool
		want     string
	}{
		{false, "552 5.2.2 <full@example.test>"},
		{true, "452 4.2.2 <full@example.test>"},
	} {
		t.Run(tt.want[:3], func(t *testing.T) { checkOverQuota(t, tt.tempfail, tt.want) })
	}
}

func checkOverQuota(t *testing.T, tempfail bool, status string) {
	t.Helper()
	root := t.TempDir()
	full := maildir.Quota{Bytes: 100}
	dir := NewDirectory(DirectoryConfig{
		MailRoot: root, MailLocation: "%d/%n/Maildir",
		Users: map[string]User{
			"full@example.test":  {Name: "full@example.test", Quota: &full},
			"roomy@example.test": {Name: "roomy@example.test"},
			"other@example.test": {Name: "other@example.test"},
		},
		Quota: maildir.Quota{Bytes: 1 << 20},
	})
	addr := serveLMTP(t, New(Config{Hostname: "mx.test", Directory: dir, QuotaFullTempfail: tempfail}, quietLog()))
	body := "Subject: big\r\n\r\n" + strings.Repeat("0123456789\r\n", 20)
	got := transaction(t, addr, []string{"roomy@example.test", "full@example.test", "other@example.test"}, body)
	want := []string{"250", "250", "250", "250", "354", "250 2.0.0 <roomy@example.test>", status, "250 2.0.0 <other@example.test>"}
	if len(got) != len(want) {
		t.Fatalf("replies = %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("tempfail %v: reply %d = %q, want prefix %q (all: %q)", tempfail, i, got[i], want[i], got)
		}
	}
	if !strings.Contains(got[6], "Mailbox is full") {
		t.Errorf("over-quota reply %q lacks %q", got[6], "Mailbox is full")
	}
	files := countFiles(t, root)
	if len(files) != 2 || strings.Contains(strings.Join(files, " "), "/full/") {
		t.Errorf("files = %q, want roomy's and other's only", files)
	}
	b, err := os.ReadFile(filepath.Join(root, "example.test/roomy/Maildir/maildirsize"))
	if err != nil || !strings.HasPrefix(string(b), "1048576S\n0 0\n") || strings.Count(string(b), "\n") != 3 {
		t.Errorf("roomy's maildirsize = %q, %v; want the limits, the recalculated 0 0 and one delivery", b, err)
	}
}
