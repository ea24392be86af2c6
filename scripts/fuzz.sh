#!/bin/sh
# Runs every Fuzz* target of the module for a while each:
#   scripts/fuzz.sh 30s [minimize-time]
# Minimisation of each new interesting input is capped (default 2s): with
# go test's default of 60s per input, a fuzzer that finds many inputs spends
# its whole -fuzztime minimising and hardly fuzzes at all.
set -eu
t=${1:-30s}
m=${2:-${FUZZMINIMIZETIME:-2s}}
for pkg in $(go list ./...); do
	for f in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "== $pkg $f ($t, minimize $m)"
		go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" -fuzzminimizetime "$m" "$pkg"
	done
done
