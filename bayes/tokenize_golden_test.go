package bayes_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/internal/storetest"
)

var update = flag.Bool("update", false, "rewrite testdata/tokenize.golden from the current tokenizer")

// goldenMeta is a metadata pseudo-header as the rule engine derives it,
// so the X-Spam-Relays-* handling is pinned too.
var goldenMeta = []string{
	"X-Spam-Relays-Untrusted: [ ip=192.0.2.7 rdns=mx.example.com helo=mx.example.com by=mail.example.org ident= envfrom= intl=0 id=4F2A1B3C auth= msa=0 ]\n",
	"X-Spam-Relays-Trusted: \n",
}

// TestTokenizeGolden pins the tokens of 200 corpus messages: each line of
// testdata/tokenize.golden is a message, its number of distinct tokens
// and the SHA-256 of its sorted "hash text" pairs. The file was written by
// the regexp-based tokenizer that the SpamAssassin comparisons
// (oracle_test.go) validated; -update rewrites it.
func TestTokenizeGolden(t *testing.T) {
	hamFiles, spamFiles := storetest.CorpusFiles(t, 100)
	files := append(hamFiles, spamFiles...)
	msgs := storetest.ParseAll(t, files)
	cfg := bayes.DefaultConfig()
	var got bytes.Buffer
	for i, m := range msgs {
		toks := bayes.Tokenize(m, goldenMeta, cfg)
		lines := make([]string, 0, len(toks))
		for k, v := range toks {
			lines = append(lines, k.String()+" "+v)
		}
		sort.Strings(lines)
		sum := sha256.New()
		for _, l := range lines {
			sum.Write([]byte(l))
			sum.Write([]byte{0})
		}
		name := filepath.Base(filepath.Dir(files[i])) + "/" + filepath.Base(files[i])
		fmt.Fprintf(&got, "%s %d %s\n", name, len(toks), hex.EncodeToString(sum.Sum(nil)))
	}
	path := filepath.Join("testdata", "tokenize.golden")
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantLines := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(want))
	for sc.Scan() {
		name, rest, _ := strings.Cut(sc.Text(), " ")
		wantLines[name] = rest
	}
	if len(wantLines) != len(msgs) {
		t.Fatalf("%s has %d messages, the corpus gave %d", path, len(wantLines), len(msgs))
	}
	sc = bufio.NewScanner(&got)
	for sc.Scan() {
		name, rest, _ := strings.Cut(sc.Text(), " ")
		if w, ok := wantLines[name]; !ok {
			t.Errorf("Tokenize(%s): not in %s", name, path)
		} else if rest != w {
			t.Errorf("Tokenize(%s) = %s, want %s", name, rest, w)
		}
	}
}
