package rules

import (
	"context"
	"sort"
)

// EvalFunc implements one eval: function. args are the call's arguments
// with quotes removed. It reports whether the rule fires.
type EvalFunc func(ec *EvalContext, args []string) (bool, error)

// EvalContext is what an eval function sees of one evaluation.
type EvalContext struct {
	Msg    Message
	Input  *Input
	Config *Config
	Rule   string // the rule being evaluated
	ctx    context.Context
	cache  map[string]any
}

// Context returns the evaluation's context.
func (ec *EvalContext) Context() context.Context { return ec.ctx }

// memo caches a per-message value shared by several eval functions.
func memo[T any](ec *EvalContext, key string, f func() T) T {
	if v, ok := ec.cache[key]; ok {
		return v.(T)
	}
	v := f()
	ec.cache[key] = v
	return v
}

// EvalRegistry maps eval: function names to their Go implementations.
type EvalRegistry struct {
	funcs map[string]EvalFunc
}

// NewEvalRegistry returns a registry holding sluice's built-in eval functions.
func NewEvalRegistry() *EvalRegistry {
	r := &EvalRegistry{funcs: map[string]EvalFunc{}}
	registerBuiltins(r)
	registerRelayEvals(r)
	// The SHORTCIRCUIT pseudo-rule never fires by itself (Plugin/Shortcircuit.pm).
	r.Register("check_shortcircuit", func(*EvalContext, []string) (bool, error) { return false, nil })
	registerDNSEvals(r)
	return r
}

// Register adds or replaces an eval function.
func (r *EvalRegistry) Register(name string, fn EvalFunc) { r.funcs[name] = fn }

// Lookup returns the function registered under name.
func (r *EvalRegistry) Lookup(name string) (EvalFunc, bool) {
	fn, ok := r.funcs[name]
	return fn, ok
}

// Names returns the registered function names, sorted.
func (r *EvalRegistry) Names() []string {
	ns := make([]string, 0, len(r.funcs))
	for n := range r.funcs {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}
