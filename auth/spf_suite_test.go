package auth

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"

	"github.com/sluice-mail/sluice/internal/dnstest"
)

// sharedDir locates the shared conformance data: $SLUICE_SHARED, else
// ../../shared from the package directory. Missing data fails in CI and
// skips otherwise.
func sharedDir(t *testing.T, sub string) string {
	t.Helper()
	dir := os.Getenv("SLUICE_SHARED")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared")
	}
	dir = filepath.Join(dir, sub)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared data missing: %v", err)
		}
		t.Skipf("shared data missing (set SLUICE_SHARED; required in CI): %v", err)
	}
	return dir
}

// spfSuite is one YAML document of the openspf test suites.
type spfSuite struct {
	Description string
	Tests       map[string]spfTest
	ZoneData    map[string][]yaml.Node `yaml:"zonedata"`
}

type spfTest struct {
	Spec     yaml.Node
	Helo     string
	Host     string
	MailFrom string `yaml:"mailfrom"`
	Result   yaml.Node
}

// strings returns a scalar or a sequence of scalars as a list.
func nodeStrings(t *testing.T, n *yaml.Node) []string {
	t.Helper()
	var list []string
	if n.Kind == yaml.SequenceNode {
		if err := n.Decode(&list); err != nil {
			t.Fatalf("decoding %v: %v", n.Value, err)
		}
		return list
	}
	return []string{n.Value}
}

// loadSPFZone serves a suite's zonedata from srv, following the suites'
// conventions (conformance/README.md): SPF-type records are served as TXT
// unless the name has a TXT entry ("TXT: NONE" meaning none at all), and a
// TIMEOUT entry makes queries for the types the name has no records of
// time out.
func loadSPFZone(t *testing.T, srv *dnstest.Server, zone map[string][]yaml.Node) {
	t.Helper()
	for name, entries := range zone {
		fq := dns.Fqdn(name)
		hdr := func(rrtype uint16) dns.RR_Header {
			return dns.RR_Header{Name: fq, Rrtype: rrtype, Class: dns.ClassINET, Ttl: 300}
		}
		var txts, spfs [][]string
		hasTXT, timeout := false, false
		present := map[uint16]bool{}
		for _, e := range entries {
			if e.Kind == yaml.ScalarNode {
				switch e.Value {
				case "TIMEOUT":
					timeout = true
				default:
					t.Fatalf("zone %s: unknown entry %q", name, e.Value)
				}
				continue
			}
			if e.Kind != yaml.MappingNode || len(e.Content) != 2 {
				t.Fatalf("zone %s: bad entry at line %d", name, e.Line)
			}
			typ, val := e.Content[0].Value, e.Content[1]
			switch typ {
			case "A", "AAAA":
				for _, s := range nodeStrings(t, val) {
					ip := net.ParseIP(s)
					if ip.To4() != nil && typ == "A" {
						srv.Add(&dns.A{Hdr: hdr(dns.TypeA), A: ip})
						present[dns.TypeA] = true
					} else {
						srv.Add(&dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip})
						present[dns.TypeAAAA] = true
					}
				}
			case "MX":
				var mx []any
				if err := val.Decode(&mx); err != nil || len(mx) != 2 {
					t.Fatalf("zone %s: bad MX: %v", name, err)
				}
				srv.Add(&dns.MX{Hdr: hdr(dns.TypeMX), Preference: uint16(mx[0].(int)), Mx: dns.Fqdn(mx[1].(string))})
				present[dns.TypeMX] = true
			case "PTR":
				for _, s := range nodeStrings(t, val) {
					srv.Add(&dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: dns.Fqdn(s)})
				}
				present[dns.TypePTR] = true
			case "CNAME":
				srv.Add(&dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.Fqdn(val.Value)})
				present[dns.TypeCNAME] = true
			case "TXT":
				hasTXT = true
				if val.Kind == yaml.ScalarNode && val.Value == "NONE" {
					continue
				}
				txts = append(txts, nodeStrings(t, val))
			case "SPF":
				spfs = append(spfs, nodeStrings(t, val))
			default:
				t.Fatalf("zone %s: unknown record type %s", name, typ)
			}
		}
		if !hasTXT {
			txts = spfs
		}
		for _, strs := range txts {
			var chunks []string
			for _, s := range strs {
				for len(s) > 255 {
					chunks = append(chunks, s[:255])
					s = s[255:]
				}
				chunks = append(chunks, s)
			}
			srv.Add(&dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: chunks})
			present[dns.TypeTXT] = true
		}
		if timeout {
			var types []uint16
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT, dns.TypePTR, dns.TypeSPF} {
				if !present[qt] {
					types = append(types, qt)
				}
			}
			srv.Timeout(name, types...)
		}
	}
}

// loadExceptions reads testdata/spf-exceptions.txt: "file<TAB>test<TAB>reason".
func loadExceptions(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "spf-exceptions.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ex := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) != 3 || strings.TrimSpace(parts[2]) == "" {
			t.Fatalf("spf-exceptions.txt: %q: want file<TAB>test<TAB>reason", line)
		}
		ex[parts[0]+"\t"+parts[1]] = parts[2]
	}
	return ex
}

// loadPySPF reads pyspf-results.tsv: file, test, spec, expected, pyspf's
// result, explanation, verdict.
func loadPySPF(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "pyspf-results.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	py := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, "\t")
		if len(f) >= 5 {
			py[f[0]+"\t"+f[1]] = f[4]
		}
	}
	return py
}

func TestSPFSuites(t *testing.T) {
	dir := sharedDir(t, filepath.Join("conformance", "spf"))
	exceptions := loadExceptions(t)
	pyspf := loadPySPF(t, dir)
	seen := map[string]bool{}
	passed := map[string]int{}
	for _, file := range []string{"rfc7208-tests.yml", "rfc4408-tests.yml"} {
		f, err := os.Open(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for {
			var suite spfSuite
			err := dec.Decode(&suite)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			runSPFSuite(t, file, suite, exceptions, pyspf, seen, passed)
		}
		f.Close()
		total := 0
		for k := range seen {
			if strings.HasPrefix(k, file+"\t") {
				total++
			}
		}
		t.Logf("%s: %d/%d pass", file, passed[file], total)
	}
	var stale []string
	for k := range exceptions {
		if !seen[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(stale)
	for _, k := range stale {
		t.Errorf("spf-exceptions.txt lists %q, which no suite has", k)
	}
	t.Logf("%d SPF tests run, %d listed as exceptions", len(seen), len(exceptions))
}

func runSPFSuite(t *testing.T, file string, suite spfSuite, exceptions, pyspf map[string]string, seen map[string]bool, passed map[string]int) {
	srv := dnstest.Start(t, "")
	loadSPFZone(t, srv, suite.ZoneData)
	r, err := NewDNSResolver(DNSConfig{
		Servers:  []string{srv.Addr},
		Timeout:  150 * time.Millisecond,
		Attempts: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(suite.Tests))
	for name := range suite.Tests {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		tc := suite.Tests[name]
		k := file + "\t" + name
		seen[k] = true
		want := nodeStrings(t, &tc.Result)
		got := checkSPF(context.Background(), r, net.ParseIP(tc.Host), tc.Helo, tc.MailFrom)
		ok := slices.Contains(want, got.Result)
		if ok {
			passed[file]++
		}
		reason, listed := exceptions[k]
		switch {
		case !ok && !listed:
			t.Errorf("%s %s: checkSPF(%s, %q, %q) = %s (%s), want %v (pyspf: %s)",
				file, name, tc.Host, tc.Helo, tc.MailFrom, got.Result, got.Reason, want, pyspf[k])
		case ok && listed:
			t.Errorf("%s %s: passes but spf-exceptions.txt lists it (%s): remove it", file, name, reason)
		case !ok:
			t.Logf("%s %s: known exception: got %s, want %v: %s", file, name, got.Result, want, reason)
		}
	}
}
