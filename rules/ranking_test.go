package rules

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestEvalRanking ranks the eval: functions of the stock rules (every
// plugin enabled, so every ifplugin branch counts) by how many rules call
// them, with sluice's status for each, and compares with
// testdata/eval-ranking.txt (regenerate with -update).
func TestEvalRanking(t *testing.T) {
	dir := stockRules(t)
	p, _ := newParser(Options{Plugins: allPlugins(t, dir)})
	if err := p.loadDirs([]string{dir}); err != nil {
		t.Fatalf("load: %v", err)
	}
	count := map[string]int{}
	for _, d := range p.defs {
		if d.eval != "" {
			count[d.eval]++
		}
	}
	names := make([]string, 0, len(count))
	for n := range count {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if count[names[i]] != count[names[j]] {
			return count[names[i]] > count[names[j]]
		}
		return names[i] < names[j]
	})
	reg := NewEvalRegistry()
	net := map[string]bool{}
	for _, n := range networkEvalNames() {
		net[n] = true
	}
	var b strings.Builder
	b.WriteString("# eval: functions of SpamAssassin 4.0.1's stock rules, by number of rules calling them.\n")
	b.WriteString("# status: local = implemented in Go; input = answered from Input (network, auth, Bayes); unsupported = never fires.\n")
	local, localTop := 0, 0
	for i, n := range names {
		status := "unsupported"
		if _, ok := reg.Lookup(n); ok {
			status = "local"
			if net[n] || isAuthEval(n) {
				status = "input"
			}
		}
		if status == "local" {
			local++
			if i < 60 {
				localTop++
			}
		}
		fmt.Fprintf(&b, "%4d %-48s %s\n", count[n], n, status)
	}
	got := b.String()
	path := "testdata/eval-ranking.txt"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(want) != got {
		t.Errorf("eval ranking differs from %s (run with -update):\n%s", path, got)
	}
	if local < 40 {
		t.Errorf("local eval functions = %d, want >= 40", local)
	}
	t.Logf("%d eval functions, %d implemented locally", len(names), local)
}

// allPlugins returns every plugin the rules directory mentions.
func allPlugins(t *testing.T, dir string) map[string]bool {
	t.Helper()
	m := DefaultPlugins()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			f := strings.Fields(l)
			if len(f) >= 2 && f[0] == "ifplugin" {
				m[f[1]] = true
			}
		}
	}
	return m
}
