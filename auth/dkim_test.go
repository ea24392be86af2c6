package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/mail"
)

// dkimpyVerify is run by /usr/bin/python3: it verifies every signature of
// each message (argv[2:]) with dkimpy, keys from the keys.zone file in
// argv[1], and prints one JSON list of booleans per message.
//
// dkimpy checks x= against the wall clock and refuses RSA keys under 1024
// bits; no vector has x= or a short key, so neither affects the comparison
// (TestDKIMMinKeySize covers short keys on our side).
const dkimpyVerify = `
import json, sys, dkim
keys = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    name, value = line.split(None, 1)
    keys[name.lower().rstrip(".")] = value.encode()
def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    return keys.get(name.lower().rstrip("."), b"")
for path in sys.argv[2:]:
    msg = open(path, "rb").read()
    d = dkim.DKIM(msg)
    n = sum(1 for k, v in d.headers if k.lower() == b"dkim-signature")
    out = []
    for i in range(n):
        try:
            out.append(bool(d.verify(idx=i, dnsfunc=dnsfunc)))
        except Exception:
            out.append(False)
    print(json.dumps(out))
`

// startKeysZone serves a keys.zone file ("name TXT-value" per line) from
// a loopback DNS server.
func startKeysZone(t *testing.T, path string) *dnstest.Server {
	t.Helper()
	srv := dnstest.Start(t, "")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		srv.AddTXT(name, strings.TrimSpace(value), 300)
	}
	return srv
}

func testResolver(t testing.TB, addr string) *DNSResolver {
	t.Helper()
	r, err := NewDNSResolver(DNSConfig{Servers: []string{addr}, Timeout: 300 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDKIMVectorsDkimpy verifies every signature of every vector with our
// path and with dkimpy, and wants the same pass/fail from both.
func TestDKIMVectorsDkimpy(t *testing.T) {
	dir := sharedDir(t, filepath.Join("conformance", "dkim"))
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import dkim").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("peer missing: python3-dkim: %v", err)
		}
		t.Skip("peer missing: python3-dkim")
	}
	zone := filepath.Join(dir, "keys.zone")
	srv := startKeysZone(t, zone)
	r := testResolver(t, srv.Addr)

	msgs, err := filepath.Glob(filepath.Join(dir, "vectors", "*.eml"))
	if err != nil || len(msgs) == 0 {
		t.Fatalf("no DKIM vectors: %v", err)
	}
	out, err := exec.Command(python, append([]string{"-c", dkimpyVerify, zone}, msgs...)...).Output()
	if err != nil {
		t.Fatalf("dkimpy: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(msgs) {
		t.Fatalf("dkimpy printed %d lines for %d messages", len(lines), len(msgs))
	}
	for i, path := range msgs {
		var py []bool
		if err := json.Unmarshal([]byte(lines[i]), &py); err != nil {
			t.Fatalf("dkimpy output %q: %v", lines[i], err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := checkDKIM(context.Background(), r, raw, mail.ParseHeader(raw), 10, 1024)
		name := filepath.Base(path)
		if len(got) != len(py) {
			t.Errorf("%s: checkDKIM found %d signatures, dkimpy %d", name, len(got), len(py))
			continue
		}
		for j, g := range got {
			if (g.Result == DKIMPass) != py[j] {
				t.Errorf("%s signature %d (d=%s s=%s a=%s): checkDKIM = %s (%s), dkimpy pass = %v",
					name, j, g.Domain, g.Selector, g.Algorithm, g.Result, g.Reason, py[j])
			}
		}
		t.Logf("%s: %d signatures, dkimpy %v", name, len(got), py)
	}
}

func TestDKIMVectorsDetail(t *testing.T) {
	dir := sharedDir(t, filepath.Join("conformance", "dkim"))
	srv := startKeysZone(t, filepath.Join(dir, "keys.zone"))
	srv.ServFail("brisbane._domainkey.football.example.com")
	r := testResolver(t, srv.Addr)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "vectors", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	raw := read("rfc8463-appendixA3-ed25519-and-rsa.eml")

	got := checkDKIM(context.Background(), r, raw, mail.ParseHeader(raw), 5, 1024)
	want := []DKIMResult{
		{Result: DKIMTempError, Domain: "football.example.com", Selector: "brisbane", Algorithm: "ed25519-sha256"},
		{Result: DKIMPass, Domain: "football.example.com", Selector: "test", Algorithm: "rsa-sha256", KeyBits: 1024},
	}
	if len(got) != len(want) {
		t.Fatalf("checkDKIM(A.3) = %d results, want %d", len(got), len(want))
	}
	for i := range want {
		g := got[i]
		if g.Result != want[i].Result || g.Domain != want[i].Domain || g.Selector != want[i].Selector ||
			g.Algorithm != want[i].Algorithm || g.KeyBits != want[i].KeyBits {
			t.Errorf("checkDKIM(A.3)[%d] = %+v, want %+v", i, g, want[i])
		}
	}

	// Over the limit: the second signature is not verified.
	got = checkDKIM(context.Background(), r, raw, mail.ParseHeader(raw), 1, 1024)
	if len(got) != 2 || got[1].Result != DKIMNeutral {
		t.Errorf("checkDKIM(A.3, max 1) = %+v, want the second neutral", got)
	}

	// A 1024-bit key under a 2048-bit minimum is a permerror.
	got = checkDKIM(context.Background(), r, raw, mail.ParseHeader(raw), 5, 2048)
	if got[1].Result != DKIMPermError || got[1].KeyBits != 1024 {
		t.Errorf("checkDKIM(A.3, min 2048)[1] = %+v, want permerror with KeyBits 1024", got[1])
	}

	// Pipe delivery hands over LF line endings: signatures still verify.
	lf := bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	if got := checkDKIM(context.Background(), r, lf, mail.ParseHeader(lf), 5, 1024); len(got) != 2 || got[1].Result != DKIMPass {
		t.Errorf("checkDKIM(A.3 with LF endings) = %+v, want the RSA signature to pass", got)
	}

	if got := checkDKIM(context.Background(), r, read("rfc6376-unsigned.eml"), mail.ParseHeader(read("rfc6376-unsigned.eml")), 5, 1024); len(got) != 0 {
		t.Errorf("checkDKIM(unsigned) = %+v, want none", got)
	}
	got = checkDKIM(context.Background(), r, read("neg-rfc8463-A3-nokey.eml"), mail.ParseHeader(read("neg-rfc8463-A3-nokey.eml")), 5, 1024)
	for _, g := range got {
		if g.Result == DKIMPass {
			t.Errorf("checkDKIM(nokey) = %+v, want no pass", g)
		}
	}
}

func TestDKIMMinKeySize(t *testing.T) {
	// A 512-bit RSA public key (RFC 8301 §3.2 forbids keys under 1024
	// bits); only its size matters here.
	n := new(big.Int).Lsh(big.NewInt(1), 511)
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n.Add(n, big.NewInt(1)), E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	short := base64.StdEncoding.EncodeToString(der)
	ki := inspectKey("v=DKIM1; k=rsa; p="+short, 1024)
	if ki.bits != 512 || !ki.tooWeak {
		t.Errorf("inspectKey(512-bit) = %+v, want 512 bits, too weak", ki)
	}
	if ki := inspectKey("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", 1024); ki.bits != 256 || ki.tooWeak {
		t.Errorf("inspectKey(ed25519) = %+v, want 256 bits", ki)
	}
}

// startZone serves a master-file zone from a loopback DNS server.
func startZone(t *testing.T, zone string) *dnstest.Server {
	t.Helper()
	return dnstest.Start(t, zone)
}
