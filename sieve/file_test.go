package sieve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// userHome makes a home directory with a sieve/ directory, owned by
// nobody when the test runs as root.
func userHome(t *testing.T) (home string, owner *FileOwner) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "home")
	if err := os.MkdirAll(filepath.Join(home, "sieve"), 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		owner = &FileOwner{UID: 65534, GID: 65534}
		for _, d := range []string{home, filepath.Join(home, "sieve")} {
			if err := os.Chown(d, owner.UID, owner.GID); err != nil {
				t.Fatal(err)
			}
		}
	}
	return home, owner
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// loadWithin runs LoadUser and fails the test when it takes longer than
// 10 seconds (a FIFO or /dev/zero read would hang it).
func loadWithin(t *testing.T, c *Cache, u UserFiles) (*Script, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		s   *Script
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := c.LoadUser(ctx, u)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-ctx.Done():
		t.Fatalf("LoadUser(%s) did not return within 10s", u.Script)
		return nil, nil
	}
}

const secret = "TOPSECRET-root-only-content"

func TestLoadUserUnsafe(t *testing.T) {
	outside := t.TempDir()
	rootOnly := filepath.Join(outside, "shadow")
	writeFile(t, rootOnly, secret+" more;\n", 0o600)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, home string)
		want  error
	}{
		{"symlink to /dev/zero", func(t *testing.T, home string) {
			os.Symlink("/dev/zero", filepath.Join(home, ".dovecot.sieve"))
		}, ErrUnsafePath},
		{"device inside home", func(t *testing.T, home string) {
			// A symlink inside the home leading to a device inside the home.
			if err := syscall.Mknod(filepath.Join(home, "sieve", "zero.sieve"), syscall.S_IFCHR|0o666, 1<<8|5); err != nil {
				t.Skipf("mknod: %v", err)
			}
			os.Symlink("sieve/zero.sieve", filepath.Join(home, ".dovecot.sieve"))
		}, ErrNotRegular},
		{"FIFO", func(t *testing.T, home string) {
			if err := syscall.Mkfifo(filepath.Join(home, ".dovecot.sieve"), 0o666); err != nil {
				t.Fatal(err)
			}
		}, ErrNotRegular},
		{"directory", func(t *testing.T, home string) {
			os.Mkdir(filepath.Join(home, ".dovecot.sieve"), 0o755)
		}, ErrNotRegular},
		{"symlink to a root-only file outside home", func(t *testing.T, home string) {
			os.Symlink(rootOnly, filepath.Join(home, ".dovecot.sieve"))
		}, ErrUnsafePath},
		{"relative symlink escaping with ..", func(t *testing.T, home string) {
			rel, _ := filepath.Rel(home, rootOnly)
			os.Symlink(rel, filepath.Join(home, ".dovecot.sieve"))
		}, ErrUnsafePath},
		{"symlink through a symlinked directory", func(t *testing.T, home string) {
			os.Symlink(outside, filepath.Join(home, "out"))
			os.Symlink("out/shadow", filepath.Join(home, ".dovecot.sieve"))
		}, ErrUnsafePath},
		{"symlink to a symlink", func(t *testing.T, home string) {
			os.Symlink(rootOnly, filepath.Join(home, "sieve", "link.sieve"))
			os.Symlink("sieve/link.sieve", filepath.Join(home, ".dovecot.sieve"))
		}, ErrUnsafePath},
		{"hard link to a root-only file", func(t *testing.T, home string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to make the file unreadable by the owner")
			}
			if err := os.Link(rootOnly, filepath.Join(home, ".dovecot.sieve")); err != nil {
				t.Skipf("link: %v", err)
			}
		}, ErrUnsafePath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home, owner := userHome(t)
			tc.setup(t, home)
			c := NewCache(Options{})
			_, err := loadWithin(t, c, UserFiles{Home: home, Script: filepath.Join(home, ".dovecot.sieve"), Dir: filepath.Join(home, "sieve"), Owner: owner})
			if !errors.Is(err, tc.want) {
				t.Fatalf("LoadUser = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("LoadUser error %q quotes the file", err)
			}
		})
	}
}

// TestLoadUserDovecotSymlink: ~/.dovecot.sieve -> sieve/NAME.sieve is
// Dovecot's layout and is followed; an edit through it recompiles.
func TestLoadUserDovecotSymlink(t *testing.T) {
	home, owner := userHome(t)
	target := filepath.Join(home, "sieve", "main.sieve")
	writeFile(t, target, `require "fileinto"; fileinto "A";`, 0o644)
	if err := os.Symlink("sieve/main.sieve", filepath.Join(home, ".dovecot.sieve")); err != nil {
		t.Fatal(err)
	}
	c := NewCache(Options{})
	u := UserFiles{Home: home, Script: filepath.Join(home, ".dovecot.sieve"), Dir: filepath.Join(home, "sieve"), Owner: owner}
	run := func() string {
		t.Helper()
		s, err := loadWithin(t, c, u)
		if err != nil {
			t.Fatalf("LoadUser = %v", err)
		}
		res, _ := s.Run(context.Background(), ParseMessage([]byte(testMsg)), Env{})
		return FormatActions(res)
	}
	if got := run(); got != "fileinto A\n" {
		t.Fatalf("actions = %q, want fileinto A", got)
	}
	writeFile(t, target, `require "fileinto"; fileinto "Longer";`, 0o644)
	if got := run(); got != "fileinto Longer\n" {
		t.Fatalf("after edit, actions = %q, want fileinto Longer", got)
	}
}

func TestLoadScriptTooLarge(t *testing.T) {
	home, owner := userHome(t)
	path := filepath.Join(home, ".dovecot.sieve")
	writeFile(t, path, "keep;"+strings.Repeat(" ", 200), 0o644)
	c := NewCache(Options{Limits: Limits{MaxScriptSize: 100}})
	_, err := loadWithin(t, c, UserFiles{Home: home, Script: path, Owner: owner})
	if !errors.Is(err, ErrScriptTooLarge) || !strings.Contains(err.Error(), "max_script_size") || !strings.Contains(err.Error(), "100") {
		t.Fatalf("LoadUser = %v, want ErrScriptTooLarge naming the limit 100 (max_script_size)", err)
	}
	if _, err := c.Load(context.Background(), path); !errors.Is(err, ErrScriptTooLarge) {
		t.Fatalf("Load(admin) = %v, want ErrScriptTooLarge", err)
	}
}

// TestLoadAdminNotRegular: administrator's paths follow symlinks but are
// bounded too: a FIFO or a device is refused at once.
func TestLoadAdminNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "before.sieve")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	c := NewCache(Options{})
	for _, p := range []string{fifo, "/dev/zero"} {
		done := make(chan error, 1)
		go func() { _, err := c.Load(context.Background(), p); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("Load(%s) = %v, want ErrNotRegular", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) did not return within 10s", p)
		}
	}
}

func TestIncludeFiles(t *testing.T) {
	home, owner := userHome(t)
	global := t.TempDir()
	sdir := filepath.Join(home, "sieve")
	writeFile(t, filepath.Join(sdir, "lists.sieve"), `require "fileinto"; if header :contains "Subject" "Test" { fileinto "Lists"; }`, 0o644)
	writeFile(t, filepath.Join(sdir, "flag.sieve"), `require "imap4flags"; addflag "\\Seen";`, 0o644)
	writeFile(t, filepath.Join(global, "spam.sieve"), `require "fileinto"; if header :is "X-Spam-Flag" "YES" { fileinto "Junk"; }`, 0o644)
	writeFile(t, filepath.Join(sdir, "loop-a.sieve"), `require "include"; include "loop-b";`, 0o644)
	writeFile(t, filepath.Join(sdir, "loop-b.sieve"), `require "include"; include "loop-a";`, 0o644)
	for i := 0; i < 12; i++ {
		writeFile(t, filepath.Join(sdir, "deep"+string(rune('a'+i))+".sieve"), `require "include"; include "deep`+string(rune('a'+i+1))+`";`, 0o644)
	}
	writeFile(t, filepath.Join(sdir, "deepm.sieve"), `keep;`, 0o644)
	os.Symlink(filepath.Join(t.TempDir(), "x.sieve"), filepath.Join(sdir, "escape.sieve"))
	writeFile(t, filepath.Join(filepath.Dir(home), "escape2.sieve"), `discard;`, 0o644)

	c := NewCache(Options{GlobalDir: global})
	script := filepath.Join(home, ".dovecot.sieve")
	u := UserFiles{Home: home, Script: script, Dir: sdir, Owner: owner}
	for _, tc := range []struct {
		name, src string
		want      string // the actions
		wantErr   string // or a part of the error
	}{
		{"personal and global", `require "include"; include :global "spam"; include "lists";`, "fileinto Junk\n", ""},
		{"once", `require ["include", "imap4flags"]; include :once "flag"; include :once "flag"; keep;`, "keep flags=\\Seen\n", ""},
		{"optional missing", `require "include"; include :optional "nope"; keep;`, "keep\n", ""},
		{"missing", `require "include"; include "nope";`, "", ".dovecot.sieve:1:20: included personal script 'nope' does not exist"},
		{"missing global", `require "include"; include :global "nope";`, "", "included global script 'nope' does not exist"},
		{"cycle", `require "include"; include "loop-a";`, "", "include cycle"},
		{"depth", `require "include"; include "deepa";`, "", "cannot nest includes deeper than 10 levels"},
		{"traversal", `require "include"; include "../escape2";`, "", ".dovecot.sieve:1:28: include: invalid script name '../escape2'"},
		{"symlink out of home", `require "include"; include "escape";`, "", "included personal script 'escape' cannot be read: sieve: unsafe script path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, script, tc.src, 0o644)
			// A new modification time for each case, whatever the clock's resolution.
			mt := time.Now().Add(time.Duration(len(tc.name)) * time.Hour)
			os.Chtimes(script, mt, mt)
			s, err := loadWithin(t, c, u)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadUser = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadUser = %v", err)
			}
			raw := strings.Replace(testMsg, "X-Spam-Flag: NO", "X-Spam-Flag: YES", 1)
			res, _ := s.Run(context.Background(), ParseMessage([]byte(raw)), Env{})
			if got := FormatActions(res); got != tc.want {
				t.Fatalf("actions = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestIncludeEditRecompiles: the cache notices an edited included file.
func TestIncludeEditRecompiles(t *testing.T) {
	home, owner := userHome(t)
	sdir := filepath.Join(home, "sieve")
	script := filepath.Join(home, ".dovecot.sieve")
	writeFile(t, script, `require "include"; include "inc";`, 0o644)
	writeFile(t, filepath.Join(sdir, "inc.sieve"), `require "fileinto"; fileinto "One";`, 0o644)
	c := NewCache(Options{})
	u := UserFiles{Home: home, Script: script, Dir: sdir, Owner: owner}
	run := func() string {
		t.Helper()
		s, err := loadWithin(t, c, u)
		if err != nil {
			t.Fatalf("LoadUser = %v", err)
		}
		res, _ := s.Run(context.Background(), ParseMessage([]byte(testMsg)), Env{})
		return FormatActions(res)
	}
	if got := run(); got != "fileinto One\n" {
		t.Fatalf("actions = %q", got)
	}
	writeFile(t, filepath.Join(sdir, "inc.sieve"), `require "fileinto"; fileinto "Second";`, 0o644)
	if got := run(); got != "fileinto Second\n" {
		t.Fatalf("after editing the included file, actions = %q, want fileinto Second", got)
	}
}
