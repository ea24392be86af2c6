package maildir

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nameRE is the file name Deliver writes; groups: sec, usec, pid, Q, host,
// S, W, and the info (without ":").
var nameRE = regexp.MustCompile(`^(\d+)\.M(\d+)P(\d+)Q(\d+)\.([^,:/]+),S=(\d+),W=(\d+)(?::(2,[A-Za-z]*))?$`)

func TestLFWriter(t *testing.T) {
	tests := []struct {
		in, want string
		vsize    int64
	}{
		{"", "", 0},
		{"a", "a", 1},
		{"a\r\nb\r\n", "a\nb\n", 6},
		{"a\nb\n", "a\nb\n", 6}, // bare LF already
		{"a\r\n\r\nb", "a\n\nb", 6},
		{"a\rb", "a\rb", 3},       // bare CR kept
		{"a\r", "a\r", 2},         // trailing CR kept
		{"a\r\r\nb", "a\r\nb", 4}, // CR CR LF: one CR dropped, CRLF stays CRLF
		{"\r\n", "\n", 2},
		{"\r\r\r\n\n", "\r\r\n\n", 5},
	}
	for _, tt := range tests {
		// Whole, and one byte per Write to cross every chunk boundary.
		for _, chunk := range []int{len(tt.in) + 1, 1} {
			var out bytes.Buffer
			bw := bufio.NewWriter(&out)
			lw := &lfWriter{w: bw}
			for i := 0; i < len(tt.in); i += chunk {
				if _, err := lw.Write([]byte(tt.in[i:min(i+chunk, len(tt.in))])); err != nil {
					t.Fatal(err)
				}
			}
			if err := lw.finish(); err != nil {
				t.Fatal(err)
			}
			bw.Flush()
			if got := out.String(); got != tt.want || lw.size != int64(len(tt.want)) || lw.size+lw.bareLF != tt.vsize {
				t.Errorf("lfWriter(%q, chunk %d) = %q size %d vsize %d, want %q size %d vsize %d",
					tt.in, chunk, got, lw.size, lw.size+lw.bareLF, tt.want, len(tt.want), tt.vsize)
			}
		}
	}
}

func TestDeliverInbox(t *testing.T) {
	at := time.Date(2026, 11, 23, 17, 0, 0, 123456000, time.UTC)
	s := testStore(t, nil, Options{Hostname: "mx1.example:25/x", Now: func() time.Time { return at }})
	msg := "From: a@example.com\r\nSubject: hi\r\n\r\nline one\r\nline two\r\n"
	d, err := s.Deliver(context.Background(), "", Flags{}, true, strings.NewReader(msg))
	if err != nil {
		t.Fatalf("Deliver() = %v", err)
	}
	want := strings.ReplaceAll(msg, "\r\n", "\n")
	if d.Folder != "INBOX" || d.Size != int64(len(want)) || filepath.Dir(d.Path) != filepath.Join(s.Root(), "new") {
		t.Errorf("Deliver() = %+v, want Folder INBOX, Size %d, Path in new/", d, len(want))
	}
	got, err := os.ReadFile(d.Path)
	if err != nil || string(got) != want {
		t.Fatalf("delivered content = %q, %v, want %q", got, err, want)
	}
	m := nameRE.FindStringSubmatch(filepath.Base(d.Path))
	if m == nil {
		t.Fatalf("file name %q does not match %v", filepath.Base(d.Path), nameRE)
	}
	wantParts := []string{strconv.FormatInt(at.Unix(), 10), "123456", strconv.Itoa(os.Getpid()), "1",
		`mx1.example\07225\057x`, strconv.Itoa(len(want)), strconv.Itoa(len(msg)), ""}
	for i, w := range wantParts {
		if m[i+1] != w {
			t.Errorf("file name %q part %d = %q, want %q", filepath.Base(d.Path), i+1, m[i+1], w)
		}
	}
	if names := listDir(t, filepath.Join(s.Root(), "tmp")); len(names) != 0 {
		t.Errorf("tmp/ = %q after delivery, want empty", names)
	}
	for _, n := range []string{"INBOX", "inbox"} {
		d, err := s.Deliver(context.Background(), n, Flags{}, false, strings.NewReader(msg))
		if err != nil || d.Folder != "INBOX" || filepath.Dir(d.Path) != filepath.Join(s.Root(), "new") {
			t.Errorf("Deliver(%q) = %+v, %v, want INBOX in root new/", n, d, err)
		}
	}
}

func TestDeliverFlags(t *testing.T) {
	s := testStore(t, nil, Options{})
	tests := []struct {
		flags Flags
		info  string
	}{
		{Flags{}, ""},
		{Flags{Seen: true}, "2,S"},
		{Flags{Seen: true, Answered: true, Flagged: true, Deleted: true, Draft: true}, "2,DFRST"},
		{Flags{Deleted: true, Answered: true}, "2,RT"},
		{Flags{Keywords: []string{"$Label1"}}, "2,a"},
		{Flags{Seen: true, Keywords: []string{"Junk", "$label1"}}, "2,Sab"}, // case-insensitive reuse
		{Flags{Keywords: []string{"NonJunk", "Junk"}}, "2,bc"},              // letters sorted
		{Flags{Keywords: []string{"bad keyword", `\Seen`, "a(b"}}, ""},      // invalid: dropped
	}
	for _, tt := range tests {
		d, err := s.Deliver(context.Background(), "", tt.flags, true, strings.NewReader("x\r\n"))
		if err != nil {
			t.Fatalf("Deliver(%v) = %v", tt.flags, err)
		}
		m := nameRE.FindStringSubmatch(filepath.Base(d.Path))
		wantDir := "new"
		if tt.info != "" {
			wantDir = "cur"
		}
		if m == nil || m[8] != tt.info || filepath.Base(filepath.Dir(d.Path)) != wantDir {
			t.Errorf("Deliver(%v) path %q, want %s/ with info %q", tt.flags, d.Path, wantDir, tt.info)
		}
	}
	kw, err := os.ReadFile(filepath.Join(s.Root(), keywordsFile))
	if want := "0 $Label1\n1 Junk\n2 NonJunk\n"; err != nil || string(kw) != want {
		t.Errorf("dovecot-keywords = %q, %v, want %q", kw, err, want)
	}
}

func TestKeywordsFile(t *testing.T) {
	s := testStore(t, nil, Options{})
	// An existing file with a gap and junk lines, as Dovecot may leave it.
	kwPath := filepath.Join(s.Root(), keywordsFile)
	if err := os.WriteFile(kwPath, []byte("0 Work\n2 Later\nbroken\n99 TooFar\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(time.Hour) // mtime in the future: the rewrite must still advance it
	os.Chtimes(kwPath, old, old)
	d, err := s.Deliver(context.Background(), "", Flags{Keywords: []string{"later", "New"}}, true, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(d.Path, ":2,bc") {
		t.Errorf("Deliver(later, New) path %q, want suffix :2,bc", d.Path)
	}
	b, _ := os.ReadFile(kwPath)
	if want := "0 Work\n1 New\n2 Later\n"; string(b) != want {
		t.Errorf("dovecot-keywords = %q, want %q", b, want)
	}
	if fi, _ := os.Stat(kwPath); fi.ModTime().Unix() <= old.Unix() {
		t.Errorf("dovecot-keywords mtime %v not after previous %v", fi.ModTime(), old)
	}
	for _, n := range listDir(t, s.Root()) {
		if strings.HasSuffix(n, ".lock") {
			t.Errorf("lock %s left behind", n)
		}
	}

	// More than 26 keywords: the extras are dropped, delivery succeeds.
	var many []string
	for i := range 30 {
		many = append(many, fmt.Sprintf("k%02d", i))
	}
	d, err = s.Deliver(context.Background(), "", Flags{Keywords: many}, true, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	info := d.Path[strings.LastIndex(d.Path, ":2,")+3:]
	if info != "defghijklmnopqrstuvwxyz" { // 23 free letters; a, b, c are taken
		t.Errorf("info with 30 new keywords = %q, want the 23 free letters", info)
	}
	b, _ = os.ReadFile(kwPath)
	if n := strings.Count(string(b), "\n"); n != 26 {
		t.Errorf("dovecot-keywords has %d lines, want 26", n)
	}
}

func TestKeywordsPerFolder(t *testing.T) {
	s := testStore(t, nil, Options{})
	if _, err := s.Deliver(context.Background(), "Work", Flags{Keywords: []string{"B"}}, true, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.Root(), ".Work", keywordsFile))
	if err != nil || string(b) != "0 B\n" {
		t.Errorf(".Work/dovecot-keywords = %q, %v, want %q", b, err, "0 B\n")
	}
	if _, err := os.Stat(filepath.Join(s.Root(), keywordsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("root dovecot-keywords exists (%v), want none", err)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{`\Seen`}, `\Seen`},
		{[]string{`\flagged`, `\SEEN`}, `\Flagged \Seen`},
		{[]string{`\Answered \Deleted`, `\Draft`}, `\Answered \Deleted \Draft`},
		{[]string{"$Label1", "junk", "Junk"}, "$Label1 junk"},
		{[]string{`\Recent`, `\Unknown`, "a(b", ""}, ""},
	}
	for _, tt := range tests {
		f := ParseFlags(tt.in)
		if got := f.String(); got != tt.want || f.IsZero() != (tt.want == "") {
			t.Errorf("ParseFlags(%q) = %q (IsZero %v), want %q", tt.in, got, f.IsZero(), tt.want)
		}
	}
}

func TestDeliverFolders(t *testing.T) {
	s := testStore(t, nil, Options{})
	ctx := context.Background()
	if _, err := s.Deliver(ctx, "Spam", Flags{}, false, strings.NewReader("x")); !errors.Is(err, ErrNoFolder) {
		t.Fatalf("Deliver(Spam, create=false) = %v, want ErrNoFolder", err)
	}
	if _, err := s.Deliver(ctx, "../../etc", Flags{}, true, strings.NewReader("x")); !errors.Is(err, ErrBadFolder) {
		t.Fatalf("Deliver(../../etc) = %v, want ErrBadFolder", err)
	}
	for _, f := range []string{"Spam", "Lists/Go", "Entwürfe", "Lists.Go", "spam", "Spam"} {
		d, err := s.Deliver(ctx, f, Flags{}, true, strings.NewReader("x"))
		if err != nil {
			t.Fatalf("Deliver(%q) = %v", f, err)
		}
		dir, _ := FolderDir(f)
		if filepath.Dir(d.Path) != filepath.Join(s.Root(), dir, "new") {
			t.Errorf("Deliver(%q) path %q, want in %s/new", f, d.Path, dir)
		}
	}
	for _, dir := range []string{".Spam", ".Lists.Go", ".Entw&APw-rfe", ".spam"} {
		for _, n := range []string{"cur", "new", "tmp", markerFile} {
			if _, err := os.Stat(filepath.Join(s.Root(), dir, n)); err != nil {
				t.Errorf("%s/%s: %v", dir, n, err)
			}
		}
	}
	// The parent of Lists.Go is not created: Maildir++ is flat.
	if _, err := os.Stat(filepath.Join(s.Root(), ".Lists")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".Lists exists (%v), want only .Lists.Go", err)
	}
	b, err := os.ReadFile(filepath.Join(s.Root(), subscriptionsFile))
	if want := "V\t2\n\nSpam\nLists\tGo\nEntw&APw-rfe\nspam\n"; err != nil || string(b) != want {
		t.Errorf("subscriptions = %q, %v, want %q", b, err, want)
	}
	// Existing folder without create.
	if _, err := s.Deliver(ctx, "Lists/Go", Flags{Seen: true}, false, strings.NewReader("x")); err != nil {
		t.Errorf("Deliver(Lists/Go, create=false) = %v", err)
	}
}

func TestSubscriptionsFile(t *testing.T) {
	tests := []struct {
		old        string
		exists     bool
		name, want string
		changed    bool
	}{
		// A new file is version 2, as Dovecot 2.3.19 writes it.
		{"", false, "Spam", "V\t2\n\nSpam\n", true},
		{"", false, "Lists.Go", "V\t2\n\nLists\tGo\n", true},
		// An existing plain file stays plain.
		{"", true, "Lists.Go", "Lists.Go\n", true},
		{"INBOX\nSent\n", true, "Spam", "INBOX\nSent\nSpam\n", true},
		{"INBOX\nSent", true, "Spam", "INBOX\nSent\nSpam\n", true}, // no final newline
		{"Spam\n", true, "Spam", "Spam\n", false},
		{"V\t2\n\nSent\n", true, "Lists.Go", "V\t2\n\nSent\nLists\tGo\n", true},
		{"V\t2\n\nLists\tGo\n", true, "Lists.Go", "V\t2\n\nLists\tGo\n", false},
	}
	for _, tt := range tests {
		got, changed := addSubscription([]byte(tt.old), tt.exists, tt.name)
		if string(got) != tt.want || changed != tt.changed {
			t.Errorf("addSubscription(%q, %v, %q) = %q, %v, want %q, %v", tt.old, tt.exists, tt.name, got, changed, tt.want, tt.changed)
		}
	}

	// Through Deliver, an existing plain file stays plain.
	s := testStore(t, nil, Options{})
	path := filepath.Join(s.Root(), subscriptionsFile)
	os.WriteFile(path, []byte("INBOX\n"), 0o600)
	for _, f := range []string{"A/B", "A.B", "Entwürfe"} {
		if _, err := s.Deliver(context.Background(), f, Flags{}, true, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	if want := "INBOX\nA.B\nEntw&APw-rfe\n"; string(b) != want {
		t.Errorf("subscriptions = %q, want %q", b, want)
	}
}

func TestDeliverConcurrent(t *testing.T) {
	s := testStore(t, nil, Options{})
	const workers, per = 8, 200
	folders := []string{"", "Spam", "Lists.Go"}
	var wg sync.WaitGroup
	paths := make(chan string, workers*per)
	errs := make(chan error, workers*per)
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				body := fmt.Sprintf("Subject: %d-%d\r\n\r\n%s\r\n", w, i, strings.Repeat("x", i))
				var fl Flags
				if i%3 == 0 {
					fl = Flags{Seen: true, Keywords: []string{fmt.Sprintf("kw%d", i%5)}}
				}
				d, err := s.Deliver(context.Background(), folders[(w+i)%len(folders)], fl, true, strings.NewReader(body))
				if err != nil {
					errs <- err
					continue
				}
				paths <- d.Path
			}
		})
	}
	wg.Wait()
	close(paths)
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Deliver() = %v", err)
	}
	seen := map[string]bool{}
	bases := map[string]bool{}
	for p := range paths {
		if seen[p] {
			t.Fatalf("path %s delivered twice", p)
		}
		seen[p] = true
		base, _, _ := strings.Cut(filepath.Base(p), ",")
		if bases[base] {
			t.Fatalf("base name %s used twice", base)
		}
		bases[base] = true
		b, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(b, []byte("Subject: ")) || !bytes.HasSuffix(b, []byte("\n")) {
			t.Fatalf("message %s incomplete: %q, %v", p, b, err)
		}
		m := nameRE.FindStringSubmatch(filepath.Base(p))
		if m == nil || m[6] != strconv.Itoa(len(b)) {
			t.Fatalf("message %s: S= does not match size %d", p, len(b))
		}
	}
	if len(seen) != workers*per {
		t.Fatalf("delivered %d messages, want %d", len(seen), workers*per)
	}
	// Every message is on disk, once.
	n := 0
	for _, f := range []string{"", ".Spam", ".Lists.Go"} {
		for _, sub := range []string{"new", "cur"} {
			n += len(listDir(t, filepath.Join(s.Root(), f, sub)))
		}
		if tmp := listDir(t, filepath.Join(s.Root(), f, "tmp")); len(tmp) != 0 {
			t.Errorf("%s/tmp = %q, want empty", f, tmp)
		}
	}
	if n != workers*per {
		t.Errorf("found %d files in new/ and cur/, want %d", n, workers*per)
	}
	b, _ := os.ReadFile(filepath.Join(s.Root(), subscriptionsFile))
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 4 {
		t.Errorf("subscriptions = %q, want Spam and Lists.Go once each", b)
	}
}

func TestUniqueAcrossStores(t *testing.T) {
	// Two Stores on one root with a frozen clock produce the same names;
	// the no-replace move must keep both messages.
	at := time.Unix(1700000000, 0)
	root := filepath.Join(t.TempDir(), "Maildir")
	opts := Options{Hostname: "h", Now: func() time.Time { return at }}
	a, err := Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	da, err := a.Deliver(context.Background(), "", Flags{}, true, strings.NewReader("a"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := b.Deliver(context.Background(), "", Flags{}, true, strings.NewReader("a"))
	if err != nil {
		t.Fatal(err)
	}
	if da.Path == db.Path {
		t.Fatalf("two Stores delivered to the same path %s", da.Path)
	}
	if names := listDir(t, filepath.Join(root, "new")); len(names) != 2 {
		t.Fatalf("new/ = %q, want 2 messages", names)
	}
}

func TestOpenStaleTmp(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	if _, err := Open(root, Options{}); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(root, "tmp")
	for _, n := range []string{"stale", "fresh-mtime"} {
		os.WriteFile(filepath.Join(tmp, n), []byte("x"), 0o600)
	}
	os.Mkdir(filepath.Join(tmp, "subdir"), 0o700)
	// Seen from 37h in the future every file is stale, except one whose
	// mtime was set later still (ctime alone would not protect it).
	later := time.Now().Add(37 * time.Hour)
	os.Chtimes(filepath.Join(tmp, "fresh-mtime"), later, later)
	if _, err := Open(root, Options{Now: func() time.Time { return later }}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(listDir(t, tmp), " ")
	if want := "fresh-mtime subdir"; got != want {
		t.Errorf("tmp/ after Open = %q, want %q", got, want)
	}
	// With the real clock nothing is stale.
	os.WriteFile(filepath.Join(tmp, "new"), []byte("x"), 0o600)
	if _, err := Open(root, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listDir(t, tmp), " "); got != "fresh-mtime new subdir" {
		t.Errorf("tmp/ after Open = %q, want %q", got, "fresh-mtime new subdir")
	}
}

func TestOpenErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := Open(f, Options{}); !errors.Is(err, ErrTemporary) || !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("Open(file) = %v, want ErrTemporary wrapping ENOTDIR", err)
	}
	if _, err := Open(filepath.Join(f, "Maildir"), Options{}); !errors.Is(err, ErrTemporary) {
		t.Errorf("Open(file/Maildir) = %v, want ErrTemporary", err)
	}
}

func TestModesIgnoreUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	s := testStore(t, nil, Options{DirMode: 0o750, FileMode: 0o640})
	d, err := s.Deliver(context.Background(), "Spam", Flags{Keywords: []string{"k"}}, true, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	checkModes(t, s.Root(), 0o750, 0o640)
	if fi, _ := os.Stat(d.Path); fi.Mode().Perm() != 0o640 {
		t.Errorf("message mode %v, want 0640", fi.Mode().Perm())
	}
}

// checkModes walks root and checks every directory and file mode.
func checkModes(t *testing.T, root string, dirMode, fileMode os.FileMode) {
	t.Helper()
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		want := fileMode
		if fi.IsDir() {
			want = dirMode
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
}

func TestFolderExistsAndFolders(t *testing.T) {
	s := testStore(t, nil, Options{})
	for _, f := range []string{"Spam", "Entwürfe", "Lists/Go"} {
		if _, err := s.Deliver(context.Background(), f, Flags{}, true, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(s.Root(), ".bad..name"), 0o700) // not a valid folder: skipped
	for name, want := range map[string]bool{"INBOX": true, "": true, "Spam": true, "spam": false, "Lists.Go": true, "Lists": false, "Entwürfe": true} {
		if got, err := s.FolderExists(name); err != nil || got != want {
			t.Errorf("FolderExists(%q) = %v, %v, want %v", name, got, err, want)
		}
	}
	if _, err := s.FolderExists("a..b"); !errors.Is(err, ErrBadFolder) {
		t.Errorf("FolderExists(a..b) error = %v, want ErrBadFolder", err)
	}
	got, err := s.Folders()
	if want := []string{"INBOX", "Entwürfe", "Lists.Go", "Spam"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Folders() = %q, %v, want %q", got, err, want)
	}
}

// FuzzLFWriter checks the CRLF→LF conversion and both sizes against a
// direct computation, for any input split at any point.
func FuzzLFWriter(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", "\r\r\n", "\r", "\n\r\n\r", "x\r\ry\n"} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		want := bytes.ReplaceAll(in, []byte("\r\n"), []byte("\n"))
		wantV := int64(len(want))
		for i, c := range want {
			if c == '\n' && (i == 0 || want[i-1] != '\r') {
				wantV++
			}
		}
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		lw := &lfWriter{w: bw}
		at := min(int(split), len(in))
		lw.Write(in[:at])
		lw.Write(in[at:])
		lw.finish()
		bw.Flush()
		if !bytes.Equal(out.Bytes(), want) || lw.size != int64(len(want)) || lw.size+lw.bareLF != wantV {
			t.Fatalf("lfWriter(%q split %d) = %q size %d vsize %d, want %q size %d vsize %d",
				in, at, out.Bytes(), lw.size, lw.size+lw.bareLF, want, len(want), wantV)
		}
	})
}

func TestDeliverRecreatesSubdirs(t *testing.T) {
	s := testStore(t, nil, Options{})
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.Remove(filepath.Join(s.Root(), sub)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []Flags{{}, {Seen: true}} {
		if _, err := s.Deliver(context.Background(), "", f, false, strings.NewReader("x")); err != nil {
			t.Fatalf("Deliver(%v) with tmp/, new/, cur/ removed = %v", f, err)
		}
	}
	for _, sub := range []string{"new", "cur"} {
		if n := len(listDir(t, filepath.Join(s.Root(), sub))); n != 1 {
			t.Errorf("%s/ holds %d messages, want 1", sub, n)
		}
	}
}

func TestTmpNameCollision(t *testing.T) {
	at := time.Unix(1700000000, 5000)
	s := testStore(t, nil, Options{Hostname: "h", Now: func() time.Time { return at }})
	// Another process holds the name the next delivery would use.
	taken := fmt.Sprintf("1700000000.M5P%dQ1.h", os.Getpid())
	if err := os.WriteFile(filepath.Join(s.Root(), "tmp", taken), []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := s.Deliver(context.Background(), "", Flags{}, true, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("1700000000.M5P%dQ2.h,S=1,W=1", os.Getpid()); filepath.Base(d.Path) != want {
		t.Errorf("Deliver() path %q, want base name %q", d.Path, want)
	}
	if b, _ := os.ReadFile(filepath.Join(s.Root(), "tmp", taken)); string(b) != "other" {
		t.Errorf("other process's tmp file now holds %q", b)
	}
}
