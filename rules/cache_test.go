package rules

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// cacheRules is a small rule set with every kind of regex rule, one that
// needs backtracking and one that does not compile.
const cacheRules = `
header   H_SUBJ    Subject =~ /\bfree\s+money\b/i
header   H_NOLIT   From =~ /^\S+\d{3,}@/
body     B_LIT     /click here/i
body     B_NOLIT   /\b[a-z]\d[a-z]\d\b/
body     B_LOOK    /(?<!not )urgent(?= reply)/i
rawbody  R_NOLIT   /<\w+\s+on\w+=/i
rawbody  R_DUP     /click here/i
uri      U_NOLIT   /^https?:\/\/\d+\.\d+/
body     B_BROKEN  /(?{ code })/
meta     M_BOTH    B_LIT && B_NOLIT
score    B_LIT     1.5
`

const cacheMsg = "From: bob12345@example.com\r\nSubject: free  money\r\n\r\nPlease click here: http://10.1.2.3/x\r\n\r\nurgent reply needed a1b2\r\n<a onclick=x>\r\n"

func writeCacheRules(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "10_test.cf"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "rules-*.cache"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// loadCached loads dirs with the cache in cacheDir and checks how many
// translations came from it.
func loadCached(t *testing.T, dirs []string, cacheDir string, wantHits bool) *Ruleset {
	t.Helper()
	rs, err := Load(dirs, Options{Budget: time.Hour, Cache: CacheOptions{Dir: cacheDir, Build: "test"}})
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if got := rs.Lint().CacheHits > 0; got != wantHits {
		t.Fatalf("Load: CacheHits = %d, want hits %v", rs.Lint().CacheHits, wantHits)
	}
	return rs
}

// sameLoad checks that two loads of the same rules agree on every rule
// and on the verdict for msg.
func sameLoad(t *testing.T, a, b *Ruleset, msg string) {
	t.Helper()
	la, lb := a.Lint(), b.Lint()
	la.LoadTime, lb.LoadTime, la.CacheHits, lb.CacheHits = 0, 0, 0, 0
	if !reflect.DeepEqual(la, lb) {
		t.Fatalf("Lint differs:\n%+v\n%+v", la, lb)
	}
	for i, r := range a.rules {
		s := b.rules[i]
		if r.name != s.name || r.inactive != s.inactive || (r.re == nil) != (s.re == nil) || (r.bt == nil) != (s.bt == nil) ||
			(r.screen == nil) != (s.screen == nil) || !reflect.DeepEqual(r.lits, s.lits) || r.setPat != s.setPat {
			t.Fatalf("rule %s differs between loads: inactive %q %q, re %v %v, bt %v %v, screen %v %v, lits %q %q, setPat %q %q", r.name,
				r.inactive, s.inactive, r.re != nil, s.re != nil, r.bt != nil, s.bt != nil, r.screen != nil, s.screen != nil, r.lits, s.lits, r.setPat, s.setPat)
		}
		if r.re != nil && r.re.pat != s.re.pat {
			t.Fatalf("rule %s: RE2 pattern differs between loads", r.name)
		}
	}
	ra := a.Eval(context.Background(), newTestMessage([]byte(msg)), Input{})
	rb := b.Eval(context.Background(), newTestMessage([]byte(msg)), Input{})
	ra.Elapsed, rb.Elapsed = 0, 0
	if ra.TimedOut || rb.TimedOut {
		// Where the budget ran out depends on the machine's load.
		t.Fatalf("Eval timed out (budget %v): %v, %v", a.opt.Budget, ra.TimedOut, rb.TimedOut)
	}
	if !reflect.DeepEqual(ra, rb) {
		t.Fatalf("Eval differs:\n%+v\n%+v", ra, rb)
	}
}

func TestCacheHit(t *testing.T) {
	rules, cache := writeCacheRules(t, cacheRules), t.TempDir()
	cold := loadCached(t, []string{rules}, cache, false)
	if n := len(cacheFiles(t, cache)); n != 1 {
		t.Fatalf("cache files after a cold load = %d, want 1", n)
	}
	fi, err := os.Stat(cacheFiles(t, cache)[0])
	if err != nil {
		t.Fatal(err)
	}
	warm := loadCached(t, []string{rules}, cache, true)
	if fi2, err := os.Stat(cacheFiles(t, cache)[0]); err != nil || !os.SameFile(fi, fi2) {
		t.Errorf("a load from the cache rewrote it (%v)", err)
	}
	if got, want := warm.Lint().CacheHits, warm.Lint().RE2+warm.Lint().Backtrack; got != want {
		t.Errorf("CacheHits = %d, want every compiled regex rule (%d)", got, want)
	}
	if len(cold.Lint().Errors) != 1 {
		t.Errorf("Errors = %v, want B_BROKEN's", cold.Lint().Errors)
	}
	sameLoad(t, cold, warm, cacheMsg)
	if res := warm.Eval(context.Background(), newTestMessage([]byte(cacheMsg)), Input{}); len(res.Hits) < 7 {
		t.Errorf("Eval hits = %v, want every rule of the message", res.Hits)
	}
}

func TestCacheBroken(t *testing.T) {
	rules := writeCacheRules(t, cacheRules)
	damage := map[string]func(b []byte) []byte{
		"flipped byte": func(b []byte) []byte { b[len(b)/2] ^= 0x20; return b },
		"truncated":    func(b []byte) []byte { return b[:len(b)-100] },
		"empty":        func(b []byte) []byte { return nil },
		"other format": func(b []byte) []byte { b[len(cacheMagic)-2]++; return b },
		"garbage":      func(b []byte) []byte { return []byte("not a cache at all\n") },
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			cache := t.TempDir()
			cold := loadCached(t, []string{rules}, cache, false)
			path := cacheFiles(t, cache)[0]
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, f(b), 0o644); err != nil {
				t.Fatal(err)
			}
			rebuilt := loadCached(t, []string{rules}, cache, false)
			sameLoad(t, cold, rebuilt, cacheMsg)
			loadCached(t, []string{rules}, cache, true) // rewritten
		})
	}
}

func TestCacheStale(t *testing.T) {
	rules, cache := writeCacheRules(t, cacheRules), t.TempDir()
	loadCached(t, []string{rules}, cache, false)
	// Another build of sluice: stale.
	rs, err := Load([]string{rules}, Options{Cache: CacheOptions{Dir: cache, Build: "other"}})
	if err != nil || rs.Lint().CacheHits != 0 {
		t.Fatalf("Load by another build: CacheHits = %d, err %v; want 0, nil", rs.Lint().CacheHits, err)
	}
	loadCached(t, []string{rules}, cache, false) // "other" rewrote it
	loadCached(t, []string{rules}, cache, true)
	// A changed rule file: stale, and the new rule is what runs.
	changed := cacheRules + "body B_NEW /\\bnew\\s+rule\\b/\n"
	if err := os.WriteFile(filepath.Join(rules, "10_test.cf"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	rs = loadCached(t, []string{rules}, cache, false)
	if _, ok := rs.byName["B_NEW"]; !ok {
		t.Fatal("B_NEW not loaded after the rule file changed")
	}
	ref, err := Load([]string{rules}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameLoad(t, ref, loadCached(t, []string{rules}, cache, true), cacheMsg+"a new rule\r\n")
	// A file added to the directory: stale.
	if err := os.WriteFile(filepath.Join(rules, "20_more.cf"), []byte("body B_MORE /more/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	loadCached(t, []string{rules}, cache, false)
}

func TestCachePrune(t *testing.T) {
	rules, cache := writeCacheRules(t, cacheRules), t.TempDir()
	old, recent := filepath.Join(cache, "rules-0000000000000000.cache"), filepath.Join(cache, "rules-1111111111111111.cache")
	for _, p := range []string{old, recent} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-pruneAge - time.Hour)
	os.Chtimes(old, long, long)
	loadCached(t, []string{rules}, cache, false)
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("cache file unused for %v survived a store: %v", pruneAge, err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("recent cache file removed: %v", err)
	}
}

func TestCacheUnwritable(t *testing.T) {
	rules := writeCacheRules(t, cacheRules)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	dirs := []string{filepath.Join(file, "sub"), file}
	if os.Geteuid() != 0 { // root writes anywhere
		dirs = append(dirs, ro)
	}
	for _, d := range dirs {
		rs := loadCached(t, []string{rules}, d, false)
		if len(rs.Lint().Errors) != 1 {
			t.Errorf("cache dir %s: Errors = %v, want B_BROKEN's alone", d, rs.Lint().Errors)
		}
		loadCached(t, []string{rules}, d, false)
	}
}

// TestScreenAgrees checks on corpus messages that the first Eval of a
// Ruleset, which screens the rules of the RE2 sets with regexp2, finds
// exactly what later ones find with the sets.
func TestScreenAgrees(t *testing.T) {
	shared := loadStock(t)
	n := 40
	if testing.Short() || raceEnabled {
		n = 4
	}
	shared.compileSets()
	for _, f := range corpusFiles(t, n/2) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg := newTestMessage(data)
		screen := &Ruleset{}
		*screen = *shared
		screen.sets = new(setState)
		screen.opt.Budget = time.Hour
		sets := &Ruleset{}
		*sets = *shared
		sets.opt.Budget = time.Hour
		rs, vs := screen.eval(context.Background(), msg, Input{})
		rr, vr := sets.eval(context.Background(), msg, Input{})
		if rs.TimedOut || rr.TimedOut {
			t.Fatalf("%s: timed out", f)
		}
		for i, r := range shared.rules {
			if vs[i] != vr[i] {
				t.Errorf("%s: %s = %v screened, %v with sets", filepath.Base(f), r.name, vs[i], vr[i])
			}
		}
	}
}

// TestStockCacheAgrees checks that the stock rules loaded from the cache
// give the verdicts of a cold load.
func TestStockCacheAgrees(t *testing.T) {
	dir := stockRules(t)
	n := 20
	if testing.Short() || raceEnabled {
		n = 4
	}
	cache := t.TempDir()
	cold := loadCached(t, []string{dir}, cache, false)
	warm := loadCached(t, []string{dir}, cache, true)
	for _, f := range corpusFiles(t, n/2) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sameLoad(t, cold, warm, string(data))
	}
}

// TestOneShot: compiling the screens in the background while Eval runs
// changes nothing in the verdict.
func TestOneShot(t *testing.T) {
	ref, err := LoadString("t.cf", cacheRules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rs, err := LoadString("t.cf", cacheRules, Options{OneShot: true})
		if err != nil {
			t.Fatal(err)
		}
		sameLoad(t, ref, rs, cacheMsg)
	}
}

// TestPrecompile: after Precompile a cached load has nothing left to
// compile, and its first Eval uses the sets.
func TestPrecompile(t *testing.T) {
	rules, cache := writeCacheRules(t, cacheRules), t.TempDir()
	cold := loadCached(t, []string{rules}, cache, false)
	warm := loadCached(t, []string{rules}, cache, true)
	warm.Precompile()
	if !warm.sets.ready.Load() {
		t.Error("Precompile left the sets uncompiled")
	}
	for _, r := range warm.rules {
		if r.re != nil && r.inactive == "" && (!r.re.compiled() || r.bt != nil && !r.bt.compiled()) {
			t.Errorf("Precompile left %s uncompiled", r.name)
		}
	}
	sameLoad(t, cold, warm, cacheMsg)
}
