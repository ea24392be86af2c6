package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
)

// The compiled-rules cache keeps what is expensive to derive from a rule's
// pattern and cheap to store: its RE2 and regexp2 translations, the
// line-anchored superset used by RE2 sets, its required literals and the
// fact that RE2 accepted it. Compiled RE2 programs cannot be serialized, so
// a Ruleset loaded from the cache compiles each program on first use (see
// Ruleset.Precompile).
//
// One file per list of rule sources holds one generation of entries. Its
// key is a SHA-256 over the build identity and every rule file read (path
// and content, includes too); a file with another key is stale. Entries are
// found by pattern (as written, before ReplaceTags) and flags. A file that is truncated,
// fails its checksum or does not decode is ignored and rewritten.

// cacheMagic opens every cache file; its last digits are the format version.
const cacheMagic = "sluice-rules-cache 0006\n"

// maxCacheSize bounds what is read: the stock rules need about 4 MB.
const maxCacheSize = 64 << 20

// CacheOptions configures the compiled-rules cache of Load.
type CacheOptions struct {
	// Dir is the cache directory, created if missing. If empty, there is
	// no cache. A directory that cannot be written only means no cache.
	Dir string
	// Build names the program's version. A cache written by another build
	// is stale: Build is combined with the module versions and VCS state
	// of the running binary and its executable's size and modification
	// time, which change with every rebuild.
	Build string
}

// cacheFile is the decoded content of a cache file.
type cacheFile struct {
	Key     [sha256.Size]byte
	Entries map[string]cacheEntry
}

// cacheEntry is the outcome of compileRegex for one pattern that compiled.
type cacheEntry struct {
	RE2, SetPat, Backtrack string
	Screen                 string // regexp2.RE2 pattern for screening, or ""
	Cost                   screenCost
	Confirm                bool
	Reasons, Lits          []string
}

// cacheEntryKey names a pattern as written; replace marks one whose
// ReplaceTags tags are expanded before translation.
func cacheEntryKey(pat, flags string, replace bool) string {
	if replace {
		return "r" + flags + "\x00" + pat
	}
	return flags + "\x00" + pat
}

// ruleCache is the cache of one Load.
type ruleCache struct {
	opt  CacheOptions
	path string
	h    hash.Hash // over the build and the rule files, as they are read
	old  map[string]cacheEntry
	hits int
	// read delivers the cache file, read and decoded while the rule
	// files are parsed; load checks its key once they are.
	read chan cacheRead
}

// cacheRead is the outcome of readCacheFile.
type cacheRead struct {
	f   cacheFile
	err error
}

func newRuleCache(opt CacheOptions, sources []string) *ruleCache {
	if opt.Dir == "" {
		return nil
	}
	opt.Build += "\x00" + buildIdentity()
	name := sha256.Sum256([]byte(strings.Join(sources, "\x00")))
	c := &ruleCache{opt: opt, h: sha256.New(), path: filepath.Join(opt.Dir, fmt.Sprintf("rules-%x.cache", name[:8]))}
	fmt.Fprintf(c.h, "%s\x00%d\x00", opt.Build, len(opt.Build))
	// Reading and decoding the file takes as long as parsing the rule
	// files, on a CPU that is otherwise idle then. Nothing is trusted
	// before load has compared the key.
	c.read = make(chan cacheRead, 1)
	go func() {
		f, err := readCacheFile(c.path)
		c.read <- cacheRead{f, err}
	}()
	return c
}

// addFile records one rule file read by the parser.
func (c *ruleCache) addFile(name string, data []byte) {
	if c == nil {
		return
	}
	fmt.Fprintf(c.h, "%d:%s%d:", len(name), name, len(data))
	c.h.Write(data)
}

func (c *ruleCache) key() [sha256.Size]byte {
	var k [sha256.Size]byte
	c.h.Sum(k[:0])
	return k
}

// load takes the cache file that newRuleCache started reading, once
// every rule file is hashed; any problem means an empty cache.
func (c *ruleCache) load(log interface{ Debug(string, ...any) }) {
	rd := <-c.read
	f, err := rd.f, rd.err
	switch {
	case errors.Is(err, os.ErrNotExist):
		log.Debug("rules cache empty", "path", c.path)
		return
	case err != nil:
		log.Debug("rules cache ignored", "path", c.path, "err", err)
		return
	case f.Key != c.key():
		log.Debug("rules cache stale", "path", c.path)
		return
	}
	c.old = f.Entries
	// A file in use stays young, so that pruning spares it.
	if fi, err := os.Stat(c.path); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
		now := time.Now()
		os.Chtimes(c.path, now, now)
	}
}

// pruneAge is how long a cache file may go unused before a store of
// another one removes it (rule sets of test directories, old paths).
const pruneAge = 30 * 24 * time.Hour

// prune removes the cache files of the directory unused for pruneAge.
func (c *ruleCache) prune() {
	m, _ := filepath.Glob(filepath.Join(c.opt.Dir, "rules-*.cache"))
	for _, p := range m {
		if fi, err := os.Stat(p); err == nil && p != c.path && time.Since(fi.ModTime()) > pruneAge {
			os.Remove(p)
		}
	}
}

// lookup returns the cached outcome for a pattern.
func (c *ruleCache) lookup(pat, flags string, replace bool) (cacheEntry, bool) {
	if c == nil || c.old == nil {
		return cacheEntry{}, false
	}
	e, ok := c.old[cacheEntryKey(pat, flags, replace)]
	if ok {
		c.hits++
	}
	return e, ok
}

// store writes entries as the new cache file, atomically.
func (c *ruleCache) store(entries map[string]cacheEntry) error {
	var payload bytes.Buffer
	if err := gob.NewEncoder(&payload).Encode(cacheFile{Key: c.key(), Entries: entries}); err != nil {
		return err
	}
	if err := os.MkdirAll(c.opt.Dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.opt.Dir, ".rules-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	var hdr bytes.Buffer
	hdr.WriteString(cacheMagic)
	fmt.Fprintf(&hdr, "%08x%016x", checksum(payload.Bytes()), payload.Len())
	if _, err := tmp.Write(append(hdr.Bytes(), payload.Bytes()...)); err != nil {
		tmp.Close()
		return err
	}
	// The cache is rebuilt when lost, so there is no fsync: rename alone
	// keeps readers from ever seeing a partial file.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return err
	}
	c.prune()
	return nil
}

// checksum is the CRC-32C that finds damage in a cache file (not
// tampering: the cache directory is trusted like the rule files).
func checksum(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// errCacheCorrupt is what readCacheFile returns for a damaged file.
var errCacheCorrupt = errors.New("rules: corrupt cache file")

func readCacheFile(path string) (cacheFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return cacheFile{}, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxCacheSize+1))
	if err != nil {
		return cacheFile{}, err
	}
	hdrLen := len(cacheMagic) + 8 + 16
	if len(data) > maxCacheSize || len(data) < hdrLen || string(data[:len(cacheMagic)]) != cacheMagic {
		return cacheFile{}, fmt.Errorf("%w: bad header or size", errCacheCorrupt)
	}
	var sum uint32
	var n int
	if _, err := fmt.Sscanf(string(data[len(cacheMagic):hdrLen]), "%08x%016x", &sum, &n); err != nil || n != len(data)-hdrLen {
		return cacheFile{}, fmt.Errorf("%w: truncated", errCacheCorrupt)
	}
	payload := data[hdrLen:]
	if checksum(payload) != sum {
		return cacheFile{}, fmt.Errorf("%w: checksum mismatch", errCacheCorrupt)
	}
	var f cacheFile
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&f); err != nil {
		return cacheFile{}, fmt.Errorf("%w: %v", errCacheCorrupt, err)
	}
	return f, nil
}

// buildIdentity names the running build for cache keys: module versions
// and VCS state, plus the executable's size and time, which change with
// every rebuild of a development tree.
func buildIdentity() string {
	var b strings.Builder
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(&b, "%s %s %s", bi.GoVersion, bi.Main.Path, bi.Main.Version)
		for _, d := range bi.Deps {
			fmt.Fprintf(&b, " %s@%s", d.Path, d.Version)
		}
		for _, s := range bi.Settings {
			if strings.HasPrefix(s.Key, "vcs.") {
				fmt.Fprintf(&b, " %s=%s", s.Key, s.Value)
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			fmt.Fprintf(&b, " exe=%s:%d:%d", exe, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}
