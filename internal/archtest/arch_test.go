// Package archtest keeps docs/architecture.md true to the code.
package archtest

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/sluice-mail/sluice/"

// TestArchitectureTable: every non-internal package is in the table of
// docs/architecture.md, and the table lists exactly the packages of ours
// that each one imports.
func TestArchitectureTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	table := map[string][]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		pkg := strings.Trim(strings.TrimSpace(cells[1]), "`")
		imports := strings.Fields(strings.TrimSpace(cells[3]))
		if len(imports) == 1 && imports[0] == "—" {
			imports = nil
		}
		table[pkg] = imports
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}`, "../../...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, imps, _ := strings.Cut(line, "|")
		pkg := strings.TrimPrefix(path, module)
		if strings.HasPrefix(pkg, "internal/") || strings.Contains(pkg, "/internal/") {
			continue
		}
		var ours []string
		for _, imp := range strings.Fields(imps) {
			if p, ok := strings.CutPrefix(imp, module); ok {
				ours = append(ours, p)
			}
		}
		slices.Sort(ours)
		want, ok := table[pkg]
		if !ok {
			t.Errorf("docs/architecture.md does not list package %s", pkg)
			continue
		}
		slices.Sort(want)
		if !slices.Equal(ours, want) {
			t.Errorf("docs/architecture.md: %s imports %v, the table says %v", pkg, ours, want)
		}
		delete(table, pkg)
	}
	for pkg := range table {
		t.Errorf("docs/architecture.md lists %s, which is not a package", pkg)
	}
}
