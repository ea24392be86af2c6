package sieve

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Sequence runs several scripts as Pigeonhole does with sieve_before,
// the user's script and sieve_after ("Executing Multiple Scripts
// Sequentially" in the Pigeonhole documentation):
//
//   - The scripts run in order; the next one runs only while the current one
//     ends in a keep, implicit or explicit. A script that cancels the
//     implicit keep (fileinto, discard, redirect, reject) ends the sequence.
//   - keep in a script that is followed by another only lets the sequence
//     continue; the store into INBOX happens only if the last script run keeps.
//   - Every other action accumulates across scripts; identical actions merge
//     and conflicting ones (reject after fileinto) are runtime errors.
//   - A runtime error stops the sequence: actions of earlier scripts stand,
//     the failing script's actions are dropped and an implicit keep is added.
//   - editheader changes made by one script are seen by the next.
type Sequence struct {
	// Before are the administrator's scripts run first (sieve_before).
	Before []*Script
	// User is the user's active script; Default runs when User is nil.
	User, Default *Script
	// After are the administrator's scripts run last (sieve_after).
	After []*Script
}

// Scripts lists the scripts the sequence runs, in order.
func (q *Sequence) Scripts() []*Script {
	var list []*Script
	list = append(list, q.Before...)
	switch {
	case q.User != nil:
		list = append(list, q.User)
	case q.Default != nil:
		list = append(list, q.Default)
	}
	return append(list, q.After...)
}

// Run executes the sequence. Like Script.Run, it returns the combined
// Result and, when a script failed, an error wrapping ErrRuntime while the
// Result still says what to do (the actions so far plus an implicit keep).
func (q *Sequence) Run(ctx context.Context, msg Message, env Env) (*Result, error) {
	scripts := q.Scripts()
	if len(scripts) == 0 {
		return &Result{ImplicitKeep: true}, nil
	}
	var (
		prior  []Action
		header []HeaderField
		edited bool
		marks  []dupMark
		flags  []string
	)
	for i, s := range scripts {
		res, err := s.runAfter(ctx, msg, env, seqState{prior: prior, executed: len(prior), header: header, edited: edited, flags: flags})
		if err != nil {
			out := &Result{Actions: prior, ImplicitKeep: true, Err: err, HeaderEdited: edited, EditedHeaders: header}
			return out, err
		}
		marks = append(marks, res.dupMarks...)
		if res.HeaderEdited {
			header, edited = res.EditedHeaders, true
		}
		last := i == len(scripts)-1 || !res.keepNext
		if last {
			res.dupMarks = marks
			return res, nil
		}
		// RFC 5232 flags set by one script stay on the message for the next.
		flags = res.ImplicitKeepFlags
		if flags == nil {
			flags = res.nextFlags
		}
		// keep only continues the sequence; it does not store yet.
		prior = prior[:0:0]
		for _, a := range res.Actions {
			if a.Kind != Keep {
				prior = append(prior, a)
			}
		}
	}
	panic("unreachable")
}

// Cache holds compiled scripts keyed by path and by the identity of the
// file read (device, inode, size, modification time), and of every file
// it includes, so an edited script is recompiled on its next use. Script
// files are read as Load and LoadUser describe, never more than
// Limits.MaxScriptSize bytes. It holds at most CacheEntries scripts,
// dropping the least recently used, so that a server with many users
// keeps its memory bounded. It is safe for concurrent use.
type Cache struct {
	opts    Options
	entries *lru.Cache[string, cacheEntry]
}

// CacheEntries bounds the scripts a Cache holds: past it the least
// recently used is compiled again on its next use.
const CacheEntries = 10000

type cacheEntry struct {
	id     fileID
	deps   []dep
	script *Script
	err    error
}

// dep is an include :personal or :global file a compiled script depends on.
type dep struct {
	root, path string
	owner      *FileOwner
	id         fileID
	found      bool
}

// NewCache returns a cache that compiles with opts. Unless opts.Loader is
// set, include finds :global scripts in opts.GlobalDir and, for scripts
// loaded with LoadUser, :personal scripts in UserFiles.Dir.
func NewCache(opts Options) *Cache {
	return newCache(opts, CacheEntries)
}

func newCache(opts Options, size int) *Cache {
	entries, err := lru.New[string, cacheEntry](size)
	if err != nil {
		panic(err) // only for a size under 1
	}
	return &Cache{opts: opts, entries: entries}
}

// ErrNoScript is returned by Cache.Load when the script file does not exist.
var ErrNoScript = errors.New("sieve: no such script")

// UserFiles locates one user's scripts for Cache.LoadUser.
type UserFiles struct {
	// Home is the directory the user controls (the home directory). A
	// path inside it is opened from Home one component at a time without
	// following symlinks: a symlinked directory is refused, and the last
	// component may be a single symlink to a file that is itself inside
	// Home (Dovecot's ~/.dovecot.sieve -> sieve/NAME.sieve). A path outside
	// Home gets the same treatment with its own directory in Home's place.
	Home string
	// Script is the path of the user's active script.
	Script string
	// Dir holds the scripts include :personal finds, as NAME.sieve
	// (Dovecot's ~/sieve); empty: none.
	Dir string
	// Owner, when set, is the user the files must be readable by (see FileOwner).
	Owner *FileOwner
}

// rootFor returns the directory no symlink in path may lead out of.
func (u *UserFiles) rootFor(path string) string {
	if u.Home != "" {
		if _, ok := within(u.Home, path); ok {
			return u.Home
		}
	}
	return filepath.Dir(path)
}

// Load returns the compiled administrator's script at path, compiling it
// when it is new or changed. The path is trusted (symlinks are followed),
// but the file must be a regular file, opened without blocking, no larger
// than Limits.MaxScriptSize. A compile error is cached too, until the
// file changes.
func (c *Cache) Load(ctx context.Context, path string) (*Script, error) {
	return c.load(ctx, "admin\x00"+path, "", path, nil, nil)
}

// LoadUser is Load for a user's active script u.Script, opened as
// UserFiles describes. Errors wrap ErrNoScript, ErrNotRegular,
// ErrScriptTooLarge, ErrUnsafePath or ErrCompile; none quotes the file.
func (c *Cache) LoadUser(ctx context.Context, u UserFiles) (*Script, error) {
	key := "user\x00" + u.Home + "\x00" + u.Dir + "\x00" + u.Script
	if u.Owner != nil {
		key += fmt.Sprintf("\x00%d:%d", u.Owner.UID, u.Owner.GID)
	}
	return c.load(ctx, key, u.rootFor(u.Script), u.Script, u.Owner, &u)
}

func (c *Cache) load(ctx context.Context, key, root, path string, owner *FileOwner, u *UserFiles) (*Script, error) {
	f, id, err := openScript(root, path, owner)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	e, ok := c.entries.Get(key)
	if ok && e.id.same(id) && depsCurrent(e.deps) {
		return e.script, e.err
	}
	opts := c.opts
	src, err := readOpen(f, id, path, opts.Limits.withDefaults().MaxScriptSize)
	if err != nil {
		return nil, err
	}
	var l *fileLoader
	if opts.Loader == nil {
		l = &fileLoader{user: u, global: opts.GlobalDir, max: opts.Limits.withDefaults().MaxScriptSize}
		opts.Loader = l
	}
	s, err := CompileContext(ctx, path, src, opts)
	e = cacheEntry{id: id, script: s, err: err}
	if l != nil {
		e.deps = l.deps
	}
	c.entries.Add(key, e)
	return s, err
}

// depsCurrent reports whether every included file is as it was compiled.
func depsCurrent(deps []dep) bool {
	for _, d := range deps {
		id, err := statScript(d.root, d.path, d.owner)
		if (err == nil) != d.found || (err == nil && !id.same(d.id)) {
			return false
		}
	}
	return true
}

// fileLoader is the ScriptLoader of a Cache: include :global reads
// GlobalDir/NAME.sieve as an administrator's file, :personal reads
// UserFiles.Dir/NAME.sieve as a user's file. It records what it read.
type fileLoader struct {
	user   *UserFiles
	global string
	max    int
	deps   []dep
}

func (l *fileLoader) Load(_ context.Context, scope IncludeScope, name string) ([]byte, string, error) {
	dir, root := l.global, ""
	var owner *FileOwner
	if scope == Personal {
		dir = ""
		if l.user != nil {
			dir = l.user.Dir
		}
	}
	if dir == "" {
		return nil, "", fmt.Errorf("%w: no directory for %s scripts", ErrNotFound, scopeName(scope))
	}
	// RFC 6609 §3.2 leaves names to the implementation; a name is one path
	// component, so that include cannot leave the directory.
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return nil, "", fmt.Errorf("%w: invalid script name %q", ErrUnsafePath, name)
	}
	path := filepath.Join(dir, name+".sieve")
	if scope == Personal {
		root, owner = l.user.rootFor(path), l.user.Owner
	}
	src, id, err := readScript(root, path, owner, l.max)
	l.deps = append(l.deps, dep{root: root, path: path, owner: owner, id: id, found: err == nil || errors.Is(err, ErrScriptTooLarge)})
	if errors.Is(err, ErrNoScript) {
		return nil, path, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	return src, path, err
}
