package parity

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"path"
	"strconv"
	"strings"
)

// ReadSharedTSV reads conformance/spamassassin/dev-corpus-sa401.tsv (file,
// label, score, spam, rules) — SpamAssassin 4.0.1's verdicts on the corpus
// made with the same settings — keyed by "label/file".
func ReadSharedTSV(p string) (map[string]Verdict, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("parity: %w", err)
	}
	defer f.Close()
	out := map[string]Verdict{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for ln := 1; sc.Scan(); ln++ {
		t := strings.Split(sc.Text(), "\t")
		if ln == 1 && t[0] == "file" {
			continue
		}
		if len(t) < 4 {
			return nil, fmt.Errorf("parity: %s:%d: %d fields", p, ln, len(t))
		}
		score, err := strconv.ParseFloat(t[2], 64)
		if err != nil {
			return nil, fmt.Errorf("parity: %s:%d: %w", p, ln, err)
		}
		v := Verdict{Score: score, Spam: t[3] == "yes", Hits: map[string]float64{}}
		if len(t) > 4 {
			if err := parseHits(t[4], v.Hits); err != nil {
				return nil, fmt.Errorf("parity: %s:%d: %w", p, ln, err)
			}
		}
		out[path.Join(t[1], t[0])] = v
	}
	return out, sc.Err()
}

// SeedCache adds shared verdicts (from ReadSharedTSV) to cache for the
// messages it lacks, and returns how many it added.
func SeedCache(cache Cache, msgs []Message, shared map[string]Verdict) (int, error) {
	n := 0
	for _, m := range msgs {
		v, ok := shared[m.Name]
		if !ok {
			continue
		}
		raw, err := os.ReadFile(m.Path)
		if err != nil {
			return n, fmt.Errorf("parity: %w", err)
		}
		h := Hash(Clean(raw))
		if _, ok := cache[h]; !ok {
			cache[h] = CacheEntry{Name: m.Name, Verdict: v}
			n++
		}
	}
	return n, nil
}

// CrossCheck compares cached verdicts with shared ones by message name and
// returns the names whose hit lists differ.
func CrossCheck(cache Cache, shared map[string]Verdict) (compared int, differ []string) {
	for _, e := range cache {
		v, ok := shared[e.Name]
		if !ok {
			continue
		}
		compared++
		if !maps.Equal(v.Hits, e.Hits) || v.Spam != e.Spam {
			differ = append(differ, e.Name)
		}
	}
	return compared, differ
}
