package parity

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// CacheEntry is one cached SpamAssassin verdict.
type CacheEntry struct {
	Name string // corpus name, for people reading the file
	Verdict
}

// Cache holds SpamAssassin verdicts by message hash (Hash of the cleaned
// bytes), so that a rerun only asks spamd about new or changed messages.
type Cache map[string]CacheEntry

// LoadCache reads a cache file written by Cache.Write; a missing file is
// an empty cache.
func LoadCache(path string) (Cache, error) {
	c := Cache{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("parity: cache: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	ln := 0
	for sc.Scan() {
		ln++
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "hash\t") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("parity: cache %s:%d: %d fields, want 5", path, ln, len(f))
		}
		score, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			return nil, fmt.Errorf("parity: cache %s:%d: %w", path, ln, err)
		}
		v := Verdict{Score: score, Spam: f[2] == "yes", Hits: map[string]float64{}}
		if err := parseHits(f[4], v.Hits); err != nil {
			return nil, fmt.Errorf("parity: cache %s:%d: %w", path, ln, err)
		}
		c[f[0]] = CacheEntry{Name: f[1], Verdict: v}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parity: cache: %w", err)
	}
	return c, nil
}

// Write writes the cache as TSV (hash, name, spam, score, hits), sorted by
// name so that the file diffs well.
func (c Cache) Write(w io.Writer) error {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c[keys[i]].Name != c[keys[j]].Name {
			return c[keys[i]].Name < c[keys[j]].Name
		}
		return keys[i] < keys[j]
	})
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "hash\tname\tspam\tscore\thits")
	for _, k := range keys {
		e := c[k]
		yn := "no"
		if e.Spam {
			yn = "yes"
		}
		fmt.Fprintf(bw, "%s\t%s\t%s\t%s\t%s\n", k, e.Name, yn, strconv.FormatFloat(e.Score, 'f', -1, 64), formatHits(e.Hits))
	}
	return bw.Flush()
}

// Save writes the cache to path atomically.
func (c Cache) Save(path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("parity: cache: %w", err)
	}
	if err := c.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("parity: cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("parity: cache: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("parity: cache: %w", err)
	}
	return nil
}
