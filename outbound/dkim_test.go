package outbound

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseTables(t *testing.T) {
	kt := "# comment\n\nrsa-key\texample.com:2026:/etc/dkim/example.com.private\nwild % : sel : /etc/dkim/%.key\nwild2 %:sel:/etc/dkim/%.key   # trailing comment\n"
	keys, err := ParseKeyTable(strings.NewReader(kt))
	if err != nil {
		t.Fatalf("ParseKeyTable = %v", err)
	}
	if len(keys) != 3 || keys[0] != (KeyTableEntry{Name: "rsa-key", Domain: "example.com", Selector: "2026", Key: "/etc/dkim/example.com.private"}) || keys[2].Domain != "%" || keys[2].Key != "/etc/dkim/%.key" {
		t.Errorf("ParseKeyTable = %+v", keys)
	}
	for _, bad := range []string{"lonely\n", "k example.com:sel\n", "k :sel:/x\n"} {
		if _, err := ParseKeyTable(strings.NewReader(bad)); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseKeyTable(%q) = %v, want ErrConfig", bad, err)
		}
	}
	st, err := ParseSigningTable(strings.NewReader("*@Example.COM rsa-key\n*@*.example.org wild\nboss@example.net k3\nexample.net k4\n.example.edu k5\n"))
	if err != nil || len(st) != 5 || st[0].Pattern != "*@example.com" {
		t.Fatalf("ParseSigningTable = %+v, %v", st, err)
	}
	for _, tc := range []struct {
		pattern, addr string
		want          bool
	}{
		{"*@example.com", "a@example.com", true},
		{"*@example.com", "a@sub.example.com", false},
		{"*@*.example.com", "a@sub.example.com", true},
		{"*@*.example.com", "a@example.com", false},
		{"*", "a@b.c", true},
		{"a*b@x", "ab@x", true},
		{"a*a@x", "a@x", false},
		{"boss@example.net", "boss@example.net", true},
		{"boss@example.net", "other@example.net", false},
		{"example.net", "other@example.net", true},
		{"@example.net", "other@example.net", true},
		{"example.net", "other@sub.example.net", false},
		{".example.edu", "x@dept.example.edu", true},
		{".example.edu", "x@example.edu", false},
	} {
		if got := matchPattern(tc.pattern, tc.addr); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tc.pattern, tc.addr, got, tc.want)
		}
	}
}

// TestDKIMPercentWildcard uses a KeyTable line with "%" for the domain and
// key file: every domain with a key file is signed as itself, others not.
func TestDKIMPercentWildcard(t *testing.T) {
	dir := t.TempDir()
	key := cachedKey(t, "ed-a", "ed25519", 0)
	if err := WritePrivateKey(filepath.Join(dir, "one.example.key"), key); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "KeyTable"), []byte("any %:mail:"+dir+"/%.key\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "SigningTable"), []byte("* any\n"), 0o600)
	d, err := LoadDKIM(DKIMConfig{KeyTable: "file:" + filepath.Join(dir, "KeyTable"), SigningTable: "refile:" + filepath.Join(dir, "SigningTable")})
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte("From: a@one.example\r\nSubject: s\r\n\r\nb\r\n")
	out, signed, err := d.Sign(raw, "a@one.example")
	if err != nil || !signed || !bytes.Contains(out, []byte("d=one.example;")) || !bytes.Contains(out, []byte("s=mail;")) {
		t.Fatalf("Sign(one.example) = %v, %v:\n%s", signed, err, out)
	}
	if !d.HasKey("x@ONE.example") || d.HasKey("x@two.example") {
		t.Errorf("HasKey: want one.example only")
	}
	if _, signed, err := d.Sign(raw, "a@two.example"); signed || err != nil {
		t.Errorf("Sign(two.example, no key file) = %v, %v, want unsigned", signed, err)
	}
}

func TestLoadDKIMErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(data), 0o600)
		return p
	}
	kt := write("KeyTable", "k example.com:s:"+dir+"/missing.key\n")
	st := write("SigningTable", "*@example.com k\n")
	if _, err := LoadDKIM(DKIMConfig{KeyTable: kt, SigningTable: st}); !errors.Is(err, ErrConfig) || IsTemporary(err) {
		t.Errorf("LoadDKIM(missing key) = %v, want permanent ErrConfig", err)
	}
	seed := base64.StdEncoding.EncodeToString(make([]byte, 32))
	kt = write("KeyTable2", "k example.com:s:"+seed+"\n")
	st = write("SigningTable2", "*@example.com other\n")
	if _, err := LoadDKIM(DKIMConfig{KeyTable: kt, SigningTable: st}); !errors.Is(err, ErrConfig) {
		t.Errorf("LoadDKIM(unknown key name) = %v, want ErrConfig", err)
	}
	// Key data inline, as OpenDKIM allows.
	st = write("SigningTable3", "*@example.com k\n")
	d, err := LoadDKIM(DKIMConfig{KeyTable: kt, SigningTable: st})
	if err != nil || !d.HasKey("a@example.com") {
		t.Errorf("LoadDKIM(inline key) = %v", err)
	}
}

func FuzzParseKeyTable(f *testing.F) {
	f.Add("k example.com:sel:/etc/k\n# c\nw %:s:/k/%.key\n")
	f.Add("k\t:::\n")
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := ParseKeyTable(strings.NewReader(s))
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Fatalf("ParseKeyTable error %v without ErrConfig", err)
		}
		for _, k := range keys {
			if k.Name == "" || k.Domain == "" || k.Selector == "" || k.Key == "" {
				t.Fatalf("ParseKeyTable(%q) gave an empty field: %+v", s, k)
			}
		}
	})
}

func FuzzParseSigningTable(f *testing.F) {
	f.Add("*@example.com k\nexample.net k2\n.example.org k3\n", "a@example.com")
	f.Add("a*b*c k\n", "abc")
	f.Fuzz(func(t *testing.T, s, addr string) {
		st, err := ParseSigningTable(strings.NewReader(s))
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Fatalf("ParseSigningTable error %v without ErrConfig", err)
		}
		for _, e := range st {
			matchPattern(e.Pattern, strings.ToLower(addr))
		}
	})
}
