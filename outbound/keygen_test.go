package outbound

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestKeygenRecordVerifies generates RSA 2048 and ed25519 keys, writes them,
// prints the DNS record, parses the record back into a zone, and checks that
// a message signed with the written key passes dkimpy and OpenDKIM.
func TestKeygenRecordVerifies(t *testing.T) {
	for _, alg := range []string{"rsa", "ed25519"} {
		t.Run(alg, func(t *testing.T) {
			key := cachedKey(t, "keygen-"+alg, alg, 0)
			dir := t.TempDir()
			path := filepath.Join(dir, "sel.private")
			if err := WritePrivateKey(path, key); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("key file mode = %v, %v, want 0600", st.Mode(), err)
			}
			if err := WritePrivateKey(path, key); err == nil {
				t.Errorf("WritePrivateKey over an existing file = nil, want error")
			}
			rec, err := DNSRecord("sel", "keygen.example", key.Public())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("record:\n%s", rec)
			if !strings.HasPrefix(rec, "sel._domainkey\tIN\tTXT\t( \"v=DKIM1; ") || !strings.HasSuffix(rec, " )  ; ----- DKIM key sel for keygen.example\n") {
				t.Errorf("DNSRecord layout = %q", rec)
			}
			for _, s := range regexp.MustCompile(`"[^"]*"`).FindAllString(rec, -1) {
				if len(s)-2 > 255 {
					t.Errorf("record string of %d bytes, want <= 255", len(s)-2)
				}
			}
			if alg == "rsa" && strings.Count(rec, "\"") < 6 {
				t.Errorf("RSA 2048 record not split: %q", rec)
			}
			zone := filepath.Join(dir, "keys.zone")
			os.WriteFile(zone, []byte("sel._domainkey.keygen.example "+ParseDNSRecord(rec)+"\n"), 0o600)
			os.WriteFile(filepath.Join(dir, "KeyTable"), []byte("k keygen.example:sel:"+path+"\n"), 0o600)
			os.WriteFile(filepath.Join(dir, "SigningTable"), []byte("*@keygen.example k\n"), 0o600)
			d, err := LoadDKIM(DKIMConfig{KeyTable: filepath.Join(dir, "KeyTable"), SigningTable: filepath.Join(dir, "SigningTable")})
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("From: a@keygen.example\r\nTo: b@x.example\r\nSubject: keygen\r\n\r\nbody\r\n")
			signed, ok, err := d.Sign(msg, "a@keygen.example")
			if err != nil || !ok {
				t.Fatalf("Sign = %v, %v", ok, err)
			}
			wantAllPass(t, "dkimpy", dkimpyVerify(t, signed, zone), "sel@keygen.example")
			wantAllPass(t, "opendkim", opendkimVerify(t, signed, zone), "sel@keygen.example")

			// OpenDKIM itself reads the RSA key file we wrote: sign with
			// opendkim-testmsg and verify with opendkim -t. The tool signs
			// rsa-sha1 only (so it cannot use an ed25519 key, whatever its
			// format), which the record's h=sha256 forbids: check against
			// the same key without h=.
			if alg != "rsa" {
				return
			}
			sha1Zone := filepath.Join(dir, "sha1.zone")
			os.WriteFile(sha1Zone, []byte("sel._domainkey.keygen.example "+strings.Replace(ParseDNSRecord(rec), "h=sha256; ", "", 1)+"\n"), 0o600)
			testmsg := peer(t, "/usr/sbin/opendkim-testmsg")
			cmd := exec.Command(testmsg, "-d", "keygen.example", "-s", "sel", "-k", path)
			cmd.Stdin = strings.NewReader("From: a@keygen.example\nTo: b@x.example\nSubject: keygen\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <k@keygen.example>\n\nbody\n")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("opendkim-testmsg: %v\n%s", err, out)
			}
			wantAllPass(t, "opendkim on opendkim-testmsg", opendkimVerify(t, out, sha1Zone), "sel@keygen.example")
		})
	}
}

func TestGenerateKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		alg  string
		bits int
	}{{"dsa", 0}, {"rsa", 512}} {
		if _, err := GenerateKey(tc.alg, tc.bits); err == nil || IsTemporary(err) {
			t.Errorf("GenerateKey(%q, %d) = %v, want permanent error", tc.alg, tc.bits, err)
		}
	}
}

func TestParsePrivateKeyForms(t *testing.T) {
	shared := sharedDir(t)
	for _, name := range []string{"dkimpy-test.rsa1024.private", "rfc8032-7.1.ed25519.seed.b64", "dkimpy-ed25519test.seed.b64"} {
		b, err := os.ReadFile(filepath.Join(shared, "conformance", "dkim", "keys", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePrivateKey(b); err != nil {
			t.Errorf("ParsePrivateKey(%s) = %v", name, err)
		}
	}
	if _, err := ParsePrivateKey([]byte("not a key!")); err == nil {
		t.Errorf("ParsePrivateKey(garbage) = nil error")
	}
}

func TestGenerateKeyFiles(t *testing.T) {
	dir := t.TempDir()
	keyPath, rec, err := GenerateKeyFiles(dir, "s1", "files.example", "ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePrivateKey(b); err != nil {
		t.Errorf("ParsePrivateKey(%s) = %v", keyPath, err)
	}
	if txt, _ := os.ReadFile(filepath.Join(dir, "s1.txt")); string(txt) != rec || !strings.Contains(rec, "k=ed25519") {
		t.Errorf("s1.txt = %q, want the record %q", txt, rec)
	}
	if _, _, err := GenerateKeyFiles(dir, "s1", "files.example", "ed25519", 0); err == nil {
		t.Errorf("GenerateKeyFiles over existing files = nil error")
	}
	if _, _, err := GenerateKeyFiles(dir, "../x", "files.example", "ed25519", 0); !errors.Is(err, ErrConfig) {
		t.Errorf("GenerateKeyFiles(selector ../x) = %v, want ErrConfig", err)
	}
}
