package maildir

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// doveadm runs Dovecot's doveadm against one Maildir, as the mail user,
// with a throw-away configuration.
type doveadm struct {
	t    *testing.T
	bin  string
	conf string
	uid  int
	home string
}

// newDoveadm prepares doveadm for the Maildir root (under dir). As root it
// runs doveadm as uid/gid 65534, which then must own the Maildir, since
// Dovecot refuses mail access as root.
func newDoveadm(t *testing.T, dir, root string) *doveadm {
	t.Helper()
	bin, err := exec.LookPath("doveadm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("peer missing: doveadm")
		}
		t.Skip("peer missing: doveadm")
	}
	uid := os.Geteuid()
	if uid == 0 {
		uid = 65534
		// t.TempDir's directories are 0700: let the mail user through.
		for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	d := &doveadm{t: t, bin: bin, uid: uid, home: filepath.Join(dir, "home"), conf: filepath.Join(dir, "dovecot.conf")}
	for _, sub := range []string{"home", "run", "state"} {
		os.Mkdir(filepath.Join(dir, sub), 0o755)
		os.Chown(filepath.Join(dir, sub), uid, uid)
	}
	conf := fmt.Sprintf(`ssl = no
log_path = /dev/stderr
base_dir = %[1]s/run
state_dir = %[1]s/state
first_valid_uid = %[3]d
first_valid_gid = %[3]d
mail_uid = %[3]d
mail_gid = %[3]d
mail_location = maildir:%[2]s
namespace inbox {
  inbox = yes
  separator = .
}
`, dir, root, uid)
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// run runs doveadm with args and returns its standard output.
func (d *doveadm) run(args ...string) string {
	d.t.Helper()
	cmd := exec.Command(d.bin, append([]string{"-c", d.conf}, args...)...)
	cmd.Env = []string{"HOME=" + d.home, "USER=mailuser", "PATH=/usr/bin:/bin"}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(d.uid), Gid: uint32(d.uid)}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		d.t.Fatalf("doveadm %q: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

// fetch returns "mailbox|flags|size.physical|size.virtual" of every message,
// sorted.
func (d *doveadm) fetch() []string {
	d.t.Helper()
	out := d.run("fetch", "mailbox flags size.physical size.virtual", "all")
	var recs []string
	for _, block := range strings.Split(strings.TrimSpace(out), "\f\n") {
		var fields []string
		for _, l := range strings.Split(strings.TrimSpace(block), "\n") {
			_, v, _ := strings.Cut(l, ": ")
			fields = append(fields, strings.TrimSpace(v))
		}
		recs = append(recs, strings.Join(fields, "|"))
	}
	slices.Sort(recs)
	return recs
}

// TestDovecotReads delivers into a Maildir and checks, with Dovecot's own
// doveadm, that Dovecot sees the folders, subscriptions, flags, keywords and
// sizes this package meant.
func TestDovecotReads(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "Maildir")
	opts := Options{Hostname: "mx.example"}
	if os.Geteuid() == 0 {
		opts.Owner = &Owner{UID: 65534, GID: 65534}
	}
	s, err := Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	d := newDoveadm(t, dir, root)
	msg := "From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\nline2\r\n" // 44 bytes stored, 49 virtual
	deliver := func(folder string, f Flags) {
		t.Helper()
		if _, err := s.Deliver(context.Background(), folder, f, true, strings.NewReader(msg)); err != nil {
			t.Fatalf("Deliver(%q, %v) = %v", folder, f, err)
		}
	}
	deliver("", Flags{})
	deliver("", Flags{Seen: true, Flagged: true, Keywords: []string{"$Label1", "Junk"}})
	deliver("Entwürfe", Flags{Draft: true})
	deliver("Lists/Go", Flags{Answered: true, Keywords: []string{"NonJunk"}})
	deliver("Tom & Jerry", Flags{Deleted: true})

	if got, want := d.run("mailbox", "list", "-s"), "Entwürfe\nLists.Go\nTom & Jerry\n"; got != want {
		t.Errorf("doveadm mailbox list -s = %q, want %q", got, want)
	}
	want := []string{
		"Entwürfe|\\Draft \\Recent|44|49",
		"INBOX|\\Flagged \\Seen \\Recent $Label1 Junk|44|49",
		"INBOX|\\Recent|44|49",
		"Lists.Go|\\Answered \\Recent NonJunk|44|49",
		"Tom & Jerry|\\Deleted \\Recent|44|49",
	}
	if got := d.fetch(); !slices.Equal(got, want) {
		t.Errorf("doveadm fetch =\n%q\nwant\n%q", got, want)
	}

	// Dovecot adds keywords of its own; a later delivery reuses the
	// letters Dovecot assigned and adds the next free one.
	d.run("flags", "add", "Work $Important", "mailbox", "INBOX", "all")
	deliver("", Flags{Keywords: []string{"work", "Later"}})
	d.run("mailbox", "subscribe", "INBOX")
	deliver("Archive", Flags{})
	got := d.fetch()
	if !slices.Contains(got, "INBOX|\\Recent Work Later|44|49") {
		t.Errorf("doveadm fetch = %q, want an INBOX message with Work and Later", got)
	}
	if got, want := d.run("mailbox", "list", "-s"), "Entwürfe\nLists.Go\nTom & Jerry\nINBOX\nArchive\n"; got != want {
		t.Errorf("doveadm mailbox list -s = %q, want %q", got, want)
	}
	// Dovecot's mailbox list index, built by now, notices a new folder.
	list := strings.Fields(d.run("mailbox", "list"))
	slices.Sort(list)
	if want := []string{"&", "Archive", "Entwürfe", "INBOX", "Jerry", "Lists", "Lists.Go", "Tom"}; !slices.Equal(list, want) {
		t.Errorf("doveadm mailbox list = %q, want %q", list, want)
	}
	if got := d.run("mailbox", "status", "messages", "Archive"); got != "Archive messages=1\n" {
		t.Errorf("doveadm mailbox status messages Archive = %q, want %q", got, "Archive messages=1\n")
	}
}
