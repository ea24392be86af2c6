//go:build race

package rules

// raceEnabled reports a -race build, where go-re2's compiled WebAssembly
// runs an order of magnitude slower.
const raceEnabled = true
