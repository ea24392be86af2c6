//go:build race

package parity

// raceEnabled reports a -race build: the race detector slows the rule
// engine about tenfold, so the sample comparison runs in make test's
// separate non-race step instead (see the Makefile).
const raceEnabled = true
