package sieve

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDebugCompile(t *testing.T) {
	p := os.Getenv("SIEVE_FILE")
	if p == "" {
		t.Skip()
	}
	src, _ := os.ReadFile(p)
	dir := filepath.Dir(p)
	_, err := Compile(p, src, Options{Loader: dirLoader{filepath.Join(dir, "included"), filepath.Join(dir, "included-global")}})
	t.Logf("%v", err)
}
