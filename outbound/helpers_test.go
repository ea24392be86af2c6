package outbound

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/sluice-mail/sluice/internal/testutil"
	"github.com/sluice-mail/sluice/mail"
)

// peer returns the path of a real peer binary, failing in CI and skipping
// elsewhere when it is missing.
func peer(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("peer missing: %s", path)
		}
		t.Skipf("peer missing: %s", path)
	}
	return path
}

// sharedDir returns the shared data directory (see testutil.SharedDir).
func sharedDir(t *testing.T) string { return testutil.SharedDir(t) }

func startSink(t *testing.T) *testutil.Sink { return testutil.StartSink(t, &testutil.Sink{}, nil) }

// testKeys is a DKIM setup on disk: keys, KeyTable, SigningTable and the
// zone of public keys (OpenDKIM TestPublicKeys format).
type testKeys struct {
	dir  string
	zone string
	dkim *DKIM
}

type testKey struct {
	name, domain, selector string
	key                    crypto.Signer
}

var (
	keyCacheMu sync.Mutex
	keyCache   = map[string]crypto.Signer{}
)

// cachedKey returns one generated key per name for the whole test run: RSA
// generation is slow on a shared machine.
func cachedKey(t *testing.T, name, alg string, bits int) crypto.Signer {
	t.Helper()
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()
	if k, ok := keyCache[name]; ok {
		return k
	}
	k, err := GenerateKey(alg, bits)
	if err != nil {
		t.Fatal(err)
	}
	keyCache[name] = k
	return k
}

func writeTestKeys(t *testing.T, keys []testKey, signingTable string) *testKeys {
	t.Helper()
	dir := t.TempDir()
	var kt, zone strings.Builder
	for _, k := range keys {
		p := filepath.Join(dir, k.name+".private")
		if err := WritePrivateKey(p, k.key); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&kt, "%s %s:%s:%s\n", k.name, k.domain, k.selector, p)
		rec, err := DNSRecord(k.selector, k.domain, k.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&zone, "%s._domainkey.%s %s\n", k.selector, k.domain, ParseDNSRecord(rec))
	}
	tk := &testKeys{dir: dir, zone: filepath.Join(dir, "keys.zone")}
	for name, data := range map[string]string{"KeyTable": kt.String(), "SigningTable": signingTable, "keys.zone": zone.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d, err := LoadDKIM(DKIMConfig{KeyTable: filepath.Join(dir, "KeyTable"), SigningTable: "refile:" + filepath.Join(dir, "SigningTable")})
	if err != nil {
		t.Fatalf("LoadDKIM: %v", err)
	}
	tk.dkim = d
	return tk
}

// sigResult is one verifier's verdict on one signature.
type sigResult struct {
	Domain, Selector string
	Pass             bool
}

var dkimpyLine = regexp.MustCompile(`^(\d+) d=(\S+) s=(\S+) (pass|fail)$`)

// dkimpyVerify verifies every signature of msg with dkimpy and the keys in
// zoneFiles.
func dkimpyVerify(t *testing.T, msg []byte, zoneFiles ...string) []sigResult {
	t.Helper()
	py := peer(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import dkim").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("peer missing: python3-dkim")
		}
		t.Skip("peer missing: python3-dkim")
	}
	dir := t.TempDir()
	zone := filepath.Join(dir, "zone")
	var all []byte
	for _, z := range zoneFiles {
		b, err := os.ReadFile(z)
		if err != nil {
			t.Fatal(err)
		}
		all = append(append(all, b...), '\n')
	}
	os.WriteFile(zone, all, 0o600)
	mf := filepath.Join(dir, "msg.eml")
	os.WriteFile(mf, msg, 0o600)
	var stderr bytes.Buffer
	cmd := exec.Command(py, "testdata/dkimpy_verify.py", zone, mf)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s%s", err, out, stderr.Bytes())
	}
	var res []sigResult
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		m := dkimpyLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("dkimpy: unexpected output line %q", line)
		}
		res = append(res, sigResult{Domain: m[2], Selector: m[3], Pass: m[4] == "pass"})
	}
	return res
}

var opendkimLine = regexp.MustCompile(`verification \(s=(\S+?),? d=(\S+?),.*\) (succeeded|failed)`)

// opendkimVerify verifies each signature of msg with `opendkim -t`. OpenDKIM
// reports only one signature per message, so each is checked in a copy of
// msg without the other DKIM-Signature fields (no signature covers another).
func opendkimVerify(t *testing.T, msg []byte, zoneFiles ...string) []sigResult {
	t.Helper()
	bin := peer(t, "/usr/sbin/opendkim")
	dir := t.TempDir()
	var all []byte
	for _, z := range zoneFiles {
		b, err := os.ReadFile(z)
		if err != nil {
			t.Fatal(err)
		}
		all = append(append(all, b...), '\n')
	}
	zone := filepath.Join(dir, "zone")
	os.WriteFile(zone, all, 0o600)
	conf := filepath.Join(dir, "opendkim.conf")
	os.WriteFile(conf, []byte("Mode v\nSyslog no\nTestPublicKeys "+zone+"\n"), 0o600)
	hdr, body := splitMessage(msg)
	fields := mail.ParseHeader(hdr)
	var sigIdx []int
	for i, f := range fields {
		if strings.EqualFold(f.Name, "DKIM-Signature") {
			sigIdx = append(sigIdx, i)
		}
	}
	var res []sigResult
	for n, keep := range sigIdx {
		var b bytes.Buffer
		for i, f := range fields {
			if i == keep || !slices.Contains(sigIdx, i) {
				b.Write(f.Raw())
			}
		}
		b.WriteString("\r\n")
		b.Write(body)
		mf := filepath.Join(dir, fmt.Sprintf("msg%d.eml", n))
		os.WriteFile(mf, b.Bytes(), 0o600)
		out, err := exec.Command(bin, "-x", conf, "-t", mf).CombinedOutput()
		if err != nil {
			t.Fatalf("opendkim -t: %v\n%s", err, out)
		}
		m := opendkimLine.FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("opendkim -t: unexpected output %q", out)
		}
		res = append(res, sigResult{Domain: m[2], Selector: m[1], Pass: m[3] == "succeeded"})
	}
	return res
}

// wantAllPass fails unless every signature passed and the set of
// (domain, selector) pairs is want.
func wantAllPass(t *testing.T, who string, got []sigResult, want ...string) {
	t.Helper()
	var names []string
	for _, r := range got {
		if !r.Pass {
			t.Errorf("%s: signature d=%s s=%s failed", who, r.Domain, r.Selector)
		}
		names = append(names, r.Selector+"@"+r.Domain)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("%s: signatures %v, want %v", who, names, want)
	}
}

func bg() context.Context { return context.Background() }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

var smtpErr451 = smtp.SMTPError{Code: 451, Message: "try later"}
