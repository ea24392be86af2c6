package sieve

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"
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

// Cache holds compiled scripts keyed by path, modification time and size,
// so an edited script is recompiled on its next use. It is safe for
// concurrent use.
type Cache struct {
	opts    Options
	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	mtime  time.Time
	size   int64
	script *Script
	err    error
}

// NewCache returns a cache that compiles with opts.
func NewCache(opts Options) *Cache {
	return &Cache{opts: opts, entries: map[string]cacheEntry{}}
}

// ErrNoScript is returned by Cache.Load when the script file does not exist.
var ErrNoScript = errors.New("sieve: no such script")

// Load returns the compiled script at path, compiling it when it is new or
// changed. A compile error is cached too, until the file changes.
func (c *Cache) Load(ctx context.Context, path string) (*Script, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoScript
		}
		return nil, err
	}
	c.mu.Lock()
	e, ok := c.entries[path]
	c.mu.Unlock()
	if ok && e.mtime.Equal(fi.ModTime()) && e.size == fi.Size() {
		return e.script, e.err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := CompileContext(ctx, path, src, c.opts)
	c.mu.Lock()
	c.entries[path] = cacheEntry{mtime: fi.ModTime(), size: fi.Size(), script: s, err: err}
	c.mu.Unlock()
	return s, err
}
