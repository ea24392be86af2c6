package maildir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// snapshot describes every entry under dir (name, type, size, owner), to
// prove that a delivery wrote nothing there.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&b, "%s %v %d %d:%d %d\n", p, fi.Mode(), fi.Size(), st.Uid, st.Gid, fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// hostileSetup returns a mail root holding one user's Maildir, opened as a
// Store owned by nobody (when root), and an "outside" directory holding one
// file that the user would like sluice to write next to.
func hostileSetup(t *testing.T) (s *Store, outside string) {
	t.Helper()
	base := t.TempDir()
	outside = filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(outside, "passwd"), []byte("root:x:0:0\n"), 0o644)
	mailRoot := filepath.Join(base, "mail")
	opts := Options{Base: mailRoot, Hostname: "h"}
	if os.Geteuid() == 0 {
		opts.Owner = &Owner{UID: 65534, GID: 65534}
	}
	s, err := Open(filepath.Join(mailRoot, "example.com", "bob", "Maildir"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, outside
}

// deliverWithin runs Deliver and fails the test if it takes more than a few
// seconds (a FIFO opened for reading blocks until a writer comes).
func deliverWithin(t *testing.T, s *Store, folder string, flags Flags) (Delivered, error) {
	t.Helper()
	type result struct {
		d   Delivered
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := s.Deliver(context.Background(), folder, flags, true, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
		done <- result{d, err}
	}()
	select {
	case r := <-done:
		return r.d, r.err
	case <-time.After(5 * time.Second):
		t.Fatalf("Deliver(%q) hangs", folder)
	}
	return Delivered{}, nil
}

func TestDeliverRefusesSymlinks(t *testing.T) {
	tests := []struct {
		name   string
		folder string
		flags  Flags
		// plant replaces a part of the store by a symlink to outside.
		plant func(t *testing.T, root, outside string)
	}{
		{"folder is a symlink", "Junk", Flags{}, func(t *testing.T, root, outside string) {
			mustSymlink(t, outside, filepath.Join(root, ".Junk"))
		}},
		{"existing folder is a symlink", "Junk", Flags{}, func(t *testing.T, root, outside string) {
			for _, sub := range []string{"cur", "new", "tmp"} {
				os.Mkdir(filepath.Join(outside, sub), 0o700)
			}
			os.WriteFile(filepath.Join(outside, markerFile), nil, 0o600)
			mustSymlink(t, outside, filepath.Join(root, ".Junk"))
		}},
		{"folder tmp is a symlink", "Junk", Flags{}, func(t *testing.T, root, outside string) {
			os.Mkdir(filepath.Join(root, ".Junk"), 0o700)
			mustSymlink(t, outside, filepath.Join(root, ".Junk", "tmp"))
		}},
		{"INBOX tmp is a symlink", "", Flags{}, func(t *testing.T, root, outside string) {
			os.Remove(filepath.Join(root, "tmp"))
			mustSymlink(t, outside, filepath.Join(root, "tmp"))
		}},
		{"INBOX new is a symlink", "", Flags{}, func(t *testing.T, root, outside string) {
			os.Remove(filepath.Join(root, "new"))
			mustSymlink(t, outside, filepath.Join(root, "new"))
		}},
		{"INBOX cur is a symlink", "", Flags{Seen: true}, func(t *testing.T, root, outside string) {
			os.Remove(filepath.Join(root, "cur"))
			mustSymlink(t, outside, filepath.Join(root, "cur"))
		}},
		{"dovecot-keywords is a symlink", "", Flags{Keywords: []string{"Junk"}}, func(t *testing.T, root, outside string) {
			mustSymlink(t, filepath.Join(outside, "passwd"), filepath.Join(root, keywordsFile))
		}},
		{"subscriptions is a symlink", "Junk", Flags{}, func(t *testing.T, root, outside string) {
			mustSymlink(t, filepath.Join(outside, "passwd"), filepath.Join(root, subscriptionsFile))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, outside := hostileSetup(t)
			tt.plant(t, s.Root(), outside)
			before := snapshot(t, outside)
			d, err := deliverWithin(t, s, tt.folder, tt.flags)
			if !errors.Is(err, ErrUnsafe) || errors.Is(err, ErrTemporary) {
				t.Errorf("Deliver(%q) = %+v, %v, want an error wrapping ErrUnsafe alone", tt.folder, d, err)
			}
			if after := snapshot(t, outside); after != before {
				t.Errorf("Deliver(%q) wrote outside the mail root:\nbefore:\n%s\nafter:\n%s", tt.folder, before, after)
			}
			for _, sub := range []string{"tmp", "new", "cur"} {
				p := filepath.Join(s.Root(), sub)
				if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
					if names := listDir(t, p); len(names) != 0 {
						t.Errorf("%s holds %q after a failed delivery, want nothing", p, names)
					}
				}
			}
		})
	}
}

func TestOpenRefusesSymlinkedUserDir(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	os.Mkdir(outside, 0o755)
	mailRoot := filepath.Join(base, "mail")
	os.MkdirAll(filepath.Join(mailRoot, "example.com"), 0o755)
	mustSymlink(t, outside, filepath.Join(mailRoot, "example.com", "bob"))
	before := snapshot(t, outside)
	_, err := Open(filepath.Join(mailRoot, "example.com", "bob", "Maildir"), Options{Base: mailRoot})
	if !errors.Is(err, ErrUnsafe) {
		t.Errorf("Open(symlinked user dir) = %v, want ErrUnsafe", err)
	}
	if after := snapshot(t, outside); after != before {
		t.Errorf("Open wrote outside the mail root:\n%s", after)
	}

	// The base itself may be a symlink: it is the administrator's.
	linked := filepath.Join(base, "linked")
	mustSymlink(t, mailRoot, linked)
	if _, err := Open(filepath.Join(linked, "example.com", "alice", "Maildir"), Options{Base: linked}); err != nil {
		t.Errorf("Open under a symlinked base = %v, want nil", err)
	}
	if _, err := Open(filepath.Join(base, "elsewhere", "Maildir"), Options{Base: mailRoot}); !errors.Is(err, ErrUnsafe) {
		t.Errorf("Open(root outside base) = %v, want ErrUnsafe", err)
	}
}

func TestDeliverRefusesSpecialFiles(t *testing.T) {
	tests := []struct {
		name   string
		folder string
		flags  Flags
		path   string // relative to the root
	}{
		{"FIFO as folder", "Junk", Flags{}, ".Junk"},
		{"FIFO as tmp", "", Flags{}, "tmp"},
		{"FIFO as dovecot-keywords", "", Flags{Keywords: []string{"Junk"}}, keywordsFile},
		{"FIFO as subscriptions", "Junk", Flags{}, subscriptionsFile},
		{"FIFO as maildirfolder", "Junk", Flags{}, ".Junk/" + markerFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := hostileSetup(t)
			p := filepath.Join(s.Root(), tt.path)
			os.Remove(p)
			if tt.folder != "" && strings.HasPrefix(tt.path, ".Junk/") {
				os.Mkdir(filepath.Join(s.Root(), ".Junk"), 0o700)
			}
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
			d, err := deliverWithin(t, s, tt.folder, tt.flags)
			if err == nil {
				t.Errorf("Deliver(%q) with %s = %+v, want an error", tt.folder, tt.path, d)
			}
		})
	}
}

func TestReadFileSizeBound(t *testing.T) {
	s, _ := hostileSetup(t)
	big := strings.Repeat("0 Junk\n", maxReadSize/7+1)
	os.WriteFile(filepath.Join(s.Root(), keywordsFile), []byte(big), 0o600)
	if _, err := s.Deliver(context.Background(), "", Flags{Keywords: []string{"Junk"}}, true, strings.NewReader("x")); !errors.Is(err, errTooLarge) {
		t.Errorf("Deliver with a %d-byte dovecot-keywords = %v, want errTooLarge", len(big), err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
