package mail

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSpool(t *testing.T) {
	dir := t.TempDir()
	msg := bytes.Repeat([]byte("0123456789\r\n"), 1000)
	for _, tc := range []struct {
		threshold int64
		spooled   bool
	}{
		{int64(len(msg)), false},
		{-1, false},
		{100, true},
	} {
		s := NewSpool(SpoolConfig{Dir: dir, Threshold: tc.threshold})
		for i := 0; i < len(msg); i += 700 {
			if _, err := s.Write(msg[i:min(i+700, len(msg))]); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) || s.Spooled() != tc.spooled || s.Size() != int64(len(msg)) {
			t.Errorf("threshold %d: Bytes() equal %v, Spooled() = %v, Size() = %d; want true, %v, %d",
				tc.threshold, bytes.Equal(got, msg), s.Spooled(), s.Size(), tc.spooled, len(msg))
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("threshold %d: spool dir holds %d files while open, want none (unlinked at once)", tc.threshold, len(ents))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCleanSpool(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	if err := CleanSpool(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("CleanSpool created %v (%v), want mode 0700", fi, err)
	}
	os.WriteFile(filepath.Join(dir, spoolPrefix+"123"), []byte("left by a crash"), 0o600)
	os.WriteFile(filepath.Join(dir, "other"), []byte("not ours"), 0o600)
	if err := CleanSpool(dir); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 || ents[0].Name() != "other" {
		t.Errorf("after CleanSpool the dir holds %v, want only other", ents)
	}
}
