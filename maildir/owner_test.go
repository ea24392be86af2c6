package maildir

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("requires root")
	}
	const id = 65534
	base := t.TempDir()
	root := filepath.Join(base, "example.com", "bob", "Maildir")
	s, err := Open(root, Options{Owner: &Owner{UID: id, GID: id}, Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, d := range []struct {
		folder string
		flags  Flags
	}{
		{"", Flags{}},
		{"", Flags{Keywords: []string{"Junk"}}},
		{"Lists/Go", Flags{Seen: true, Keywords: []string{"$Label1"}}},
	} {
		if _, err := s.Deliver(ctx, d.folder, d.flags, true, strings.NewReader("Subject: x\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	var files, dirs int
	err = filepath.Walk(filepath.Join(base, "example.com"), func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		want := DefaultFileMode
		if fi.IsDir() {
			want = DefaultDirMode
			dirs++
		} else {
			files++
		}
		if st.Uid != id || st.Gid != id || fi.Mode().Perm() != want {
			t.Errorf("%s: uid %d gid %d mode %v, want %d %d %v", p, st.Uid, st.Gid, fi.Mode().Perm(), id, id, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Dirs: example.com, bob, Maildir, its cur/new/tmp, .Lists.Go and its
	// cur/new/tmp. Files: 3 messages, dovecot-keywords twice, maildirfolder,
	// subscriptions.
	if dirs != 10 || files != 7 {
		t.Errorf("walked %d dirs and %d files, want 10 and 7", dirs, files)
	}
}

func TestOwnerIgnoredWhenNotRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("requires a non-root user")
	}
	s := testStore(t, nil, Options{Owner: &Owner{UID: 65534, GID: 65534}})
	if _, err := s.Deliver(context.Background(), "", Flags{}, true, strings.NewReader("x")); err != nil {
		t.Fatalf("Deliver() with Owner as non-root = %v, want nil (no chown)", err)
	}
}
