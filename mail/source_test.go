package mail

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestSplitMbox(t *testing.T) {
	mbox := "From a@example.com Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody one\n>From here\n\nFrom b@example.com Tue Jan  2 00:00:00 2024\nSubject: two\n\nFrom the body, not a separator\n"
	msgs := SplitMbox([]byte(mbox))
	if len(msgs) != 2 {
		t.Fatalf("SplitMbox = %d messages %q, want 2", len(msgs), msgs)
	}
	if string(msgs[0]) != "Subject: one\n\nbody one\nFrom here\n" {
		t.Errorf("message 1 = %q", msgs[0])
	}
	if string(msgs[1]) != "Subject: two\n\nFrom the body, not a separator\n" {
		t.Errorf("message 2 = %q", msgs[1])
	}
	plain := []byte("Subject: x\n\nFrom a line\n")
	if got := SplitMbox(plain); len(got) != 1 || !bytes.Equal(got[0], plain) {
		t.Errorf("SplitMbox(non-mbox) = %q", got)
	}
}

// TestWalkSources: files, mboxes and Maildir trees are read in order;
// tmp/, Dovecot's files, symlinks and FIFOs are not; a file over the size
// limit is reported, not read.
func TestWalkSources(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Maildir/cur/1:2,S", "Subject: cur\n\nx\n")
	write("Maildir/new/2", "Subject: new\n\nx\n")
	write("Maildir/tmp/3", "Subject: tmp\n\nx\n")
	write("Maildir/dovecot-uidlist", "3 V1 N2\n")
	write("Maildir/.Junk/cur/4:2,", "Subject: junk\n\nx\n")
	write("Maildir/.Junk/maildirfolder", "")
	write("big", strings.Repeat("x", 2000))
	write("box.mbox", "From a Mon Jan  1 00:00:00 2024\nSubject: m1\n\nx\n\nFrom b Mon Jan  1 00:00:00 2024\nSubject: m2\n\nx\n")
	os.Symlink("/etc/passwd", filepath.Join(dir, "Maildir/cur/link"))
	syscall.Mkfifo(filepath.Join(dir, "Maildir/new/fifo"), 0o644)

	var got []string
	err := WalkSources([]string{filepath.Join(dir, "Maildir"), filepath.Join(dir, "box.mbox"), filepath.Join(dir, "big")}, nil, 1000, func(s Source, err error) error {
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				got = append(got, "too large "+filepath.Base(s.File))
				return nil
			}
			return err
		}
		subj := strings.TrimPrefix(strings.SplitN(string(s.Raw), "\n", 2)[0], "Subject: ")
		if s.Mbox {
			subj += "@" + string(rune('0'+s.Index))
		}
		got = append(got, subj)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "junk cur new m1@0 m2@1 too large big"
	if strings.Join(got, " ") != want {
		t.Fatalf("WalkSources read %q, want %q", strings.Join(got, " "), want)
	}
}

// FuzzSplitMbox: splitting never grows the data and non-mbox input comes
// back whole.
func FuzzSplitMbox(f *testing.F) {
	f.Add([]byte("From a 00:00\nX: y\n\nFrom b 12:34\n>From c\n"))
	f.Add([]byte("Subject: plain\n\nbody\n"))
	f.Add([]byte("From \n\n\nFrom \r\n\r\n>>From x\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		msgs := SplitMbox(raw)
		total := 0
		for _, m := range msgs {
			total += len(m)
		}
		if total > len(raw) {
			t.Fatalf("SplitMbox(%q) = %q: %d bytes out of %d", raw, msgs, total, len(raw))
		}
		if !bytes.HasPrefix(raw, []byte("From ")) && (len(msgs) != 1 || !bytes.Equal(msgs[0], raw)) {
			t.Fatalf("SplitMbox(%q) = %q, want the input whole", raw, msgs)
		}
	})
}
