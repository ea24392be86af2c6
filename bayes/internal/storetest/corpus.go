package storetest

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/testutil"
	"github.com/sluice-mail/sluice/mail"
)

// CorpusFiles returns up to n files of each class from the shared
// SpamAssassin corpus, taken round-robin over its subsets (easy, hard,
// spam, spam_2) in MANIFEST order.
func CorpusFiles(t testing.TB, n int) (ham, spam []string) {
	t.Helper()
	dir := filepath.Join(testutil.SharedDir(t), "corpus", "spamassassin")
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Skipf("corpus: %v", err)
	}
	defer f.Close()
	bySubset := map[string][]string{}
	var subsets []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) < 3 || fs[0] == "file" {
			continue
		}
		key := fs[1] + "\t" + fs[2]
		if _, ok := bySubset[key]; !ok {
			subsets = append(subsets, key)
		}
		bySubset[key] = append(bySubset[key], filepath.Join(dir, fs[1], fs[0]))
	}
	for i := 0; len(ham) < n || len(spam) < n; i++ {
		added := false
		for _, s := range subsets {
			files := bySubset[s]
			if i >= len(files) {
				continue
			}
			added = true
			if strings.HasPrefix(s, "ham") && len(ham) < n {
				ham = append(ham, files[i])
			} else if strings.HasPrefix(s, "spam") && len(spam) < n {
				spam = append(spam, files[i])
			}
		}
		if !added {
			break
		}
	}
	return ham, spam
}

// ParseAll parses the files, with the views a Bayes tokenizer reads
// already computed, as the rule engine leaves them.
func ParseAll(t testing.TB, files []string) []*mail.Message {
	t.Helper()
	out := make([]*mail.Message, 0, len(files))
	for _, p := range files {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m := mail.Parse(raw, mail.Options{})
		m.VisibleBody()
		m.InvisibleBody()
		m.URIs()
		m.Header("ALL", false)
		out = append(out, m)
	}
	return out
}

// CPUTime is the CPU time (user and system) this process has used. On a
// shared machine it measures a benchmark better than the wall clock:
// report it with b.ReportMetric(..., "cpu-ns/op").
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
