package rules

import (
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlclark/regexp2"
	re2 "github.com/wasilibs/go-re2"
	"github.com/wasilibs/go-re2/experimental"

	"github.com/sluice-mail/sluice/rules/perlre"
)

// lazyRE is a rule's RE2 program, compiled on first use when the pattern
// came from the cache (which records that it compiles). A program that
// fails to compile after all matches nothing. A pattern that is a small
// set of literal strings is matched in Go instead (perlre.LitSet): a call
// into go-re2 copies the text into its WebAssembly memory first, which
// costs more than comparing a few bytes.
type lazyRE struct {
	pat   string
	once  sync.Once
	re    *re2.Regexp // set by get, or before first use
	ready atomic.Bool // get has run
	lits  *perlre.LitSet
}

// newLazyRE returns the program of pat; re is its compiled RE2 program,
// or nil to compile it on first use.
func newLazyRE(pat string, re *re2.Regexp) *lazyRE {
	l := &lazyRE{pat: pat, re: re}
	if ls, ok := perlre.NewLitSet(pat); ok {
		l.lits = ls
	}
	return l
}

func (l *lazyRE) get() *re2.Regexp {
	l.once.Do(func() {
		if l.re == nil && l.lits == nil {
			// A literal set needs no RE2 program.
			l.re, _ = experimental.CompileLatin1(l.pat)
		}
		l.ready.Store(true)
	})
	return l.re
}

// compiled reports whether get has run: the program is compiled, or
// failed to compile.
func (l *lazyRE) compiled() bool { return l.ready.Load() }

// String returns the RE2 pattern.
func (l *lazyRE) String() string { return l.pat }

func (l *lazyRE) Match(b []byte) bool {
	if l.lits != nil {
		return l.lits.Match(b)
	}
	re := l.get()
	return re != nil && re.Match(b)
}

func (l *lazyRE) MatchString(s string) bool {
	if l.lits != nil {
		return l.lits.MatchString(s)
	}
	re := l.get()
	return re != nil && re.MatchString(s)
}

func (l *lazyRE) FindIndex(b []byte) []int {
	if l.lits != nil {
		return l.lits.FindIndex(b)
	}
	if re := l.get(); re != nil {
		return re.FindIndex(b)
	}
	return nil
}

func (l *lazyRE) FindAllIndex(b []byte, n int) [][]int {
	if l.lits != nil {
		return l.lits.FindAllIndex(b, n)
	}
	if re := l.get(); re != nil {
		return re.FindAllIndex(b, n)
	}
	return nil
}

// Count returns len(FindAllIndex(b, n)).
func (l *lazyRE) Count(b []byte, n int) int {
	if l.lits != nil {
		return l.lits.Count(b, n)
	}
	return len(l.FindAllIndex(b, n))
}

// lazyBT is a regexp2 program compiled on first use; nil when it does not
// compile after all (Load checked that it does).
type lazyBT struct {
	pat     string
	opts    regexp2.RegexOptions
	timeout time.Duration
	once    sync.Once
	re      *regexp2.Regexp
	ready   atomic.Bool
	at      anchoredBT
}

func (l *lazyBT) get() *regexp2.Regexp {
	l.once.Do(func() {
		if l.re == nil {
			if re, err := regexp2.Compile(l.pat, l.opts); err == nil {
				re.MatchTimeout = l.timeout
				l.re = re
			}
		}
		l.ready.Store(true)
	})
	return l.re
}

func (l *lazyBT) compiled() bool { return l.ready.Load() }

// setBytes caps the pattern bytes of one RE2 set (buildScans).
const setBytes = 1 << 20

// lazySet is an RE2 set compiled on first use. Callers treat a set that
// fails to compile as matching all its members, which then run alone.
type lazySet struct {
	exprs []string
	once  sync.Once
	set   *experimental.Set
	err   error
}

func (l *lazySet) get() (*experimental.Set, error) {
	l.once.Do(func() {
		l.set, l.err = experimental.CompileSetWithOptions(l.exprs, experimental.CompileOptions{Latin1: true})
	})
	return l.set, l.err
}

// FindAllWithError matches the set, failing when it does not compile.
func (l *lazySet) FindAllWithError(b []byte, n int) ([]int, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.FindAllWithError(b, n)
}

// Precompile compiles every RE2 program and set, and every regexp2
// confirmation, that a load left for first use, on every CPU. Eval is
// correct without it; serve calls it so that messages do not wait for
// compilations. Safe to call concurrently with Eval and more than once.
func (rs *Ruleset) Precompile() {
	rs.compileSets()
	var work []func()
	for _, r := range rs.rules {
		if r.re != nil && r.inactive == "" {
			work = append(work, func() {
				r.re.get()
				if r.bt != nil {
					r.bt.get()
					r.bt.anchored(r.re.String())
				}
			})
		}
	}
	parallel(work)
}

// compileScreens compiles every screen, biggest first, on every CPU.
func (rs *Ruleset) compileScreens() {
	var screens []*lazyBT
	// What a message scored in the load's score set, without user
	// preferences, needs (needed.go); Eval compiles any other screen
	// it uses.
	need := rs.neededRules(&Input{}, rs.opt.scoreSet())
	for _, r := range rs.rules {
		if r.screen != nil && r.inactive == "" && (need == nil || need[r.idx]) {
			screens = append(screens, r.screen)
		}
	}
	sort.SliceStable(screens, func(i, j int) bool { return len(screens[i].pat) > len(screens[j].pat) })
	work := make([]func(), len(screens))
	for i, l := range screens {
		work[i] = func() { l.get() }
	}
	parallel(work)
}

// compileSets compiles every RE2 set once, in parallel: every message
// runs all of them. Until then Eval screens the rules of the sets with
// regexp2 instead.
func (rs *Ruleset) compileSets() {
	rs.sets.once.Do(func() {
		defer rs.sets.ready.Store(true)
		type job struct {
			set  *lazySet
			size int
		}
		var jobs []job
		add := func(sets []*lazySet) {
			for _, s := range sets {
				n := 0
				for _, e := range s.exprs {
					n += len(e)
				}
				jobs = append(jobs, job{s, n})
			}
		}
		for _, g := range rs.scans {
			if g != nil {
				add(g.sets)
			}
		}
		for _, g := range rs.hdrGroups {
			add(g.sets)
		}
		// Biggest first, so that one large set does not finish last alone.
		sort.SliceStable(jobs, func(i, j int) bool { return jobs[i].size > jobs[j].size })
		work := make([]func(), len(jobs))
		for i, j := range jobs {
			work[i] = func() { j.set.get() }
		}
		parallel(work)
	})
}

// parallel runs work on GOMAXPROCS goroutines, in the order given.
func parallel(work []func()) {
	ch := make(chan func())
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(work)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range ch {
				f()
			}
		}()
	}
	for _, f := range work {
		ch <- f
	}
	close(ch)
	wg.Wait()
}

// probeURIs are ordinary URIs, for telling the literals that nearly every
// URI contains.
const probeURIs = "http://www.example.com/index.html https://example.org/a/b?q=1&r=2 mailto:user@example.net"

// commonLiteral reports a uri rule one of whose required literals (http,
// www, com, …) occurs in ordinary URIs: the literal prefilter would pass
// it on nearly every URI of a message, each a call into RE2, where an RE2
// set over all of them joined is one call. It joins the sets instead.
func (rs *Ruleset) commonLiteral(r *rule) bool {
	if r.kind != KindURI || r.setPat == "" {
		return false
	}
	for _, l := range r.lits {
		if perlre.ContainsFold(probeURIs, l) {
			return true
		}
	}
	return false
}

// anyTextLiteral reports whether one of the texts contains one of lits
// (lower case), ignoring ASCII case.
func anyTextLiteral(texts [][]byte, lits []string) bool {
	for _, t := range texts {
		if anyLiteral(string(t), lits) {
			return true
		}
	}
	return false
}

// precompileHits compiles, on every CPU, the RE2 programs that a first
// message is about to need in the group: those of the rules whose
// literals occur in texts, and of the rules that run alone. The matching
// that follows is one rule at a time; on a one-shot command these
// compilations are most of its time.
func (g *scanGroup) precompileHits(st *evalState, texts [][]byte) {
	seen := make([]bool, len(g.rules))
	var work []func()
	add := func(pos int32) {
		if r := g.rules[pos]; !seen[pos] && !r.re.compiled() && st.needed(r) {
			seen[pos] = true
			work = append(work, func() { r.re.get() })
		}
	}
	if g.ac != nil {
		for _, t := range texts {
			g.ac.Scan(t, func(li int32) {
				for _, pos := range g.litRule[li] {
					add(pos)
				}
			})
		}
	}
	for _, pos := range g.solo {
		add(pos)
	}
	if len(work) > 1 {
		st.uncharged(func() { parallel(work) })
	}
}
