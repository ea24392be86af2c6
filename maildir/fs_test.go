package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRenameNoReplace(t *testing.T) {
	real := func(ofd int, o string, nfd int, n string) error {
		return unix.Renameat2(ofd, o, nfd, n, unix.RENAME_NOREPLACE)
	}
	for name, renameat2 := range map[string]func(int, string, int, string) error{
		"renameat2":      real,
		"link fallback":  func(int, string, int, string) error { return unix.ENOSYS },
		"link on EINVAL": func(int, string, int, string) error { return unix.EINVAL },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			d, err := osFS{}.OpenBase(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			os.WriteFile(src, []byte("new"), 0o600)
			os.WriteFile(dst, []byte("delivered"), 0o600)
			err = renameNoReplace(d, "src", d, "dst", renameat2)
			if !errors.Is(err, os.ErrExist) {
				t.Fatalf("renameNoReplace onto an existing file = %v, want ErrExist", err)
			}
			if b, _ := os.ReadFile(dst); string(b) != "delivered" {
				t.Fatalf("existing file now holds %q: overwritten", b)
			}
			dst2 := filepath.Join(dir, "dst2")
			if err := renameNoReplace(d, "src", d, "dst2", renameat2); err != nil {
				t.Fatalf("renameNoReplace = %v", err)
			}
			if b, _ := os.ReadFile(dst2); string(b) != "new" {
				t.Errorf("moved file holds %q, want %q", b, "new")
			}
			if _, err := os.Stat(src); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("source still exists after move (%v)", err)
			}
		})
	}
}
