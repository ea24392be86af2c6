package auth

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

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
		for _, suite := range dnstest.ReadSPFSuites(t, filepath.Join(dir, file)) {
			runSPFSuite(t, file, suite, exceptions, pyspf, seen, passed)
		}
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

func runSPFSuite(t *testing.T, file string, suite dnstest.SPFSuite, exceptions, pyspf map[string]string, seen map[string]bool, passed map[string]int) {
	srv := dnstest.Start(t, "")
	srv.AddSPFZone(t, suite.ZoneData)
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
		want := dnstest.NodeStrings(t, &tc.Result)
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
