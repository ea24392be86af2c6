#!/bin/bash
# bench-check: one-shot start-up. Times `sluice check` with a warm
# compiled-rules cache and `spamassassin -L -t` on the same message, RUNS
# times each, interleaved so that machine load hits both alike, with
# SpamAssassin's stock rules for both. sluice runs with -dns off as
# SpamAssassin runs with -L (no network tests). One untimed run of each
# comes first: it fills sluice's cache and SpamAssassin's user_prefs.
# Prints the mean wall and CPU (user+sys) time of each and the ratios.
# Needs bin/sluice and spamassassin.
#
#   scripts/bench-check.sh [MESSAGE]   # RUNS=10; default message: the corpus' first spam
set -eu
RUNS=${RUNS:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
sluice=$top/bin/sluice
[ -x "$sluice" ] || { echo "bench-check: build first: make build" >&2; exit 1; }
command -v spamassassin >/dev/null || { echo "bench-check: spamassassin missing (Debian spamassassin)" >&2; exit 1; }
shared=${SLUICE_SHARED:-$top/../shared}
msg=${1:-$(ls "$shared"/corpus/spamassassin/spam/* 2>/dev/null | head -1)}
[ -f "$msg" ] || { echo "bench-check: no message (give one, or set SLUICE_SHARED)" >&2; exit 1; }
timer=/usr/bin/time
[ -x "$timer" ] || { echo "bench-check: /usr/bin/time missing (Debian time)" >&2; exit 1; }

dir=$(mktemp -d /tmp/slcheck.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/sluice.toml" <<EOT
[rules]
mode = "dirs"
dirs = ["/usr/share/spamassassin"]
cache_dir = "$dir/cache"
EOT
export HOME=$dir # SpamAssassin's user_prefs and no Bayes database for either
sl() { "$sluice" check -config "$dir/sluice.toml" -dns off "$msg" >/dev/null; }
sa() { spamassassin -L -t <"$msg" >/dev/null 2>&1; }
sl
sa
[ -n "$(ls "$dir/cache")" ] || { echo "bench-check: sluice wrote no cache" >&2; exit 1; }
for _ in $(seq "$RUNS"); do
	"$timer" -a -o "$dir/sluice.times" -f '%e %U %S' "$sluice" check -config "$dir/sluice.toml" -dns off "$msg" >/dev/null
	"$timer" -a -o "$dir/sa.times" -f '%e %U %S' sh -c 'spamassassin -L -t <"$1" >/dev/null 2>&1' sh "$msg"
done
mean() { awk '{w += $1; c += $2 + $3; n++} END {printf "%.3f %.3f\n", w / n, c / n}' "$1"; }
read -r slw slc < <(mean "$dir/sluice.times")
read -r saw sac < <(mean "$dir/sa.times")
echo "message: $msg ($(wc -c <"$msg") bytes), $RUNS runs each, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %8s %8s\n' "" "wall s" "CPU s"
printf '%-44s %8s %8s\n' "sluice check (warm cache, -dns off)" "$slw" "$slc"
printf '%-44s %8s %8s\n' "spamassassin -L -t" "$saw" "$sac"
awk -v a="$saw" -v b="$slw" -v c="$sac" -v d="$slc" 'BEGIN {printf "%-44s %7.1fx %7.1fx\n", "spamassassin / sluice", a / b, c / d}'
