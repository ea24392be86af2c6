package maildir

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFolderDir(t *testing.T) {
	tests := []struct {
		name, want string
	}{
		{"", ""},
		{"INBOX", ""},
		{"inbox", ""},
		{"InBoX", ""},
		{"Spam", ".Spam"},
		{"Lists.Go", ".Lists.Go"},
		{"Lists/Go", ".Lists.Go"},
		{"a/b.c", ".a.b.c"},
		{"inbox.Sent", ".INBOX.Sent"},
		{"Inbox/Sent", ".INBOX.Sent"},
		{"INBOXES", ".INBOXES"},
		{"Sent Items", ".Sent Items"},
		{"Entwürfe", ".Entw&APw-rfe"},
		{"&", ".&-"},
		{"Tom & Jerry", ".Tom &- Jerry"},
		{"&&", ".&-&-"},
		{"not~first", ".not~first"},
		{"a*b%", ".a*b%"}, // Dovecot accepts list wildcards in names
		{"ü&ü", ".&APw-&-&APw-"},
		{"Gelöschte Elemente", ".Gel&APY-schte Elemente"},
		{"日本語", ".&ZeVnLIqe-"},             // RFC 3501 §5.1.3 example
		{"台北/日本語", ".&U,BTFw-.&ZeVnLIqe-"}, // ',' in modified base64
		{"😀", ".&2D3eAA-"},                 // surrogate pair
		{"Ünïcödé.Sub", ".&ANw-n&AO8-c&APY-d&AOk-.Sub"},
		{strings.Repeat("a", 254), "." + strings.Repeat("a", 254)},
	}
	for _, tt := range tests {
		got, err := FolderDir(tt.name)
		if err != nil || got != tt.want {
			t.Errorf("FolderDir(%q) = %q, %v, want %q, nil", tt.name, got, err, tt.want)
		}
	}
}

func TestFolderDirRejects(t *testing.T) {
	for _, name := range []string{
		"../../etc",
		"..",
		".",
		"a..b",
		".hidden",
		"Lists/.hidden",
		"Lists/..",
		"a//b",
		"a/./b",
		"Spam.",
		"Spam/",
		"/Spam",
		"/etc/passwd",
		"a\x00b",
		"a\nb",
		"tab\there",
		"del\x7f",
		"c1\u0085",
		"~root",
		"\xff\xfe",
		"bad\xc3(utf8",
		strings.Repeat("a", 256),
		strings.Repeat("ü", 100), // 200 bytes, but 270 in modified UTF-7
	} {
		got, err := FolderDir(name)
		if !errors.Is(err, ErrBadFolder) {
			t.Errorf("FolderDir(%q) = %q, %v, want ErrBadFolder", name, got, err)
		}
	}
}

func TestFolderName(t *testing.T) {
	tests := []struct {
		dir, want string
	}{
		{"", "INBOX"},
		{".", "INBOX"},
		{".Spam", "Spam"},
		{".Lists.Go", "Lists.Go"},
		{".Entw&APw-rfe", "Entwürfe"},
		{".&-", "&"},
		{".&2D3eAA-", "😀"},
		{".INBOX.Sent", "INBOX.Sent"},
	}
	for _, tt := range tests {
		got, err := FolderName(tt.dir)
		if err != nil || got != tt.want {
			t.Errorf("FolderName(%q) = %q, %v, want %q, nil", tt.dir, got, err, tt.want)
		}
	}
	for _, dir := range []string{
		"Spam",        // no leading dot
		"..",          // empty level
		".a..b",       // empty level
		".Entwürfe",   // raw 8-bit
		".&APw",       // unterminated
		".&AGE-",      // encodes printable ASCII "a"
		".&APw-&APw-", // two adjacent shifts
		".&APx-",      // non-zero padding bits
		".&2D0-",      // lone high surrogate
		".&3gA-",      // lone low surrogate
		".&A-",        // not a whole UTF-16 unit
		".&AP!-",      // not modified base64
		".inbox.Sent", // INBOX level not canonical
		".a/b",        // '/' is a separator, never stored
		".&AAA-",      // NUL
		".&U/BTFw-",   // '/' instead of ','
		".~root",      // leading '~'
	} {
		got, err := FolderName(dir)
		if !errors.Is(err, ErrBadFolder) {
			t.Errorf("FolderName(%q) = %q, %v, want ErrBadFolder", dir, got, err)
		}
	}
}

// canonicalForTest is what FolderName(FolderDir(name)) must return for a
// valid name: "/" as ".", the INBOX level upper-cased.
func canonicalForTest(name string) string {
	if name == "" || strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	levels := strings.FieldsFunc(name, func(r rune) bool { return r == '.' || r == '/' })
	if strings.EqualFold(levels[0], "INBOX") {
		levels[0] = "INBOX"
	}
	return strings.Join(levels, ".")
}

func FuzzFolderDir(f *testing.F) {
	for _, s := range []string{"Spam", "Lists/Go", "Entwürfe", "&", "a..b", "日本語", "😀x&y", "inbox.x", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		dir, err := FolderDir(name)
		if err != nil {
			if !errors.Is(err, ErrBadFolder) {
				t.Fatalf("FolderDir(%q) error %v does not wrap ErrBadFolder", name, err)
			}
			return
		}
		if len(dir) > maxNameLen || strings.ContainsAny(dir, "/\x00") || strings.Contains(dir, "..") {
			t.Fatalf("FolderDir(%q) = %q: unsafe directory name", name, dir)
		}
		for i := 0; i < len(dir); i++ {
			if dir[i] < 0x20 || dir[i] > 0x7e {
				t.Fatalf("FolderDir(%q) = %q: byte 0x%02x outside printable ASCII", name, dir, dir[i])
			}
		}
		got, err := FolderName(dir)
		if want := canonicalForTest(name); err != nil || got != want {
			t.Fatalf("FolderName(FolderDir(%q) = %q) = %q, %v, want %q", name, dir, got, err, want)
		}
	})
}

func FuzzFolderName(f *testing.F) {
	for _, s := range []string{".Spam", ".Entw&APw-rfe", ".&-", ".&APw-&APw-", ".&2D0-", ".a..b", "", ".&AGE-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dir string) {
		name, err := FolderName(dir)
		if err != nil {
			if !errors.Is(err, ErrBadFolder) {
				t.Fatalf("FolderName(%q) error %v does not wrap ErrBadFolder", dir, err)
			}
			return
		}
		if !utf8.ValidString(name) {
			t.Fatalf("FolderName(%q) = %q: invalid UTF-8", dir, name)
		}
		again, err := FolderDir(name)
		if dir == "." {
			dir = ""
		}
		if err != nil || again != dir {
			t.Fatalf("FolderDir(FolderName(%q) = %q) = %q, %v, want %q", dir, name, again, err, dir)
		}
	})
}
