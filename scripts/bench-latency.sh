#!/bin/bash
# bench-latency: latency of sluice's full delivery pipeline and its resident
# memory over many deliveries. Starts bin/sluice serve with auth off (no
# DNS), SpamAssassin's stock rules (rules mode "auto"), scoring, the
# built-in spam Sieve script and Maildir delivery with fsync, as
# bench-lmtp's "full" row, and internal/cmd/benchlatency drives it over one
# kept-open LMTP connection: 20 warm-up messages, then the same 1000 corpus
# messages as bench-rules (the first 500 ham and 500 spam by file name),
# each once, timed from MAIL FROM to the reply after DATA (p50, p90, p99
# and how many ran out of the rule budget), then the corpus again until
# DELIVERIES (10000) in all, with the server's RSS after 1000, 5000 and
# 10000.
#
#   scripts/bench-latency.sh              # N=500 DELIVERIES=10000
#   SLOWEST=20 DELIVERIES=1020 scripts/bench-latency.sh   # the 20 slowest with their stage times
#   SLUICE=/tmp/sluice-old scripts/bench-latency.sh       # another binary
# The server's stderr (e.g. GODEBUG=gctrace=1) is kept in $LOG when set.
set -eu
N=${N:-500}
DELIVERIES=${DELIVERIES:-10000}
top=$(cd "$(dirname "$0")/.." && pwd)
shared=${SLUICE_SHARED:-$top/../shared}
corpus=$shared/corpus/spamassassin
sluice=${SLUICE:-$top/bin/sluice}
SLOWEST=${SLOWEST:-0}
[ -x "$sluice" ] || { echo "bench-latency: build first: make build" >&2; exit 1; }
[ -d "$corpus" ] || { echo "bench-latency: corpus missing at $corpus (set SLUICE_SHARED)" >&2; exit 1; }
dir=$(mktemp -d /tmp/sllat.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; [ -n "${LOG:-}" ] && cp "$dir/sluice.log" "$LOG"; rm -rf "$dir"; }
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
lport=$(freeport); mport=$(freeport)
cat > "$dir/sluice.toml" <<EOT
[log]
level = "warn"
[auth]
enabled = false
[rules]
mode = "auto"
[sieve]
enabled = true
[metrics]
listen = "127.0.0.1:$mport"
[lmtp]
listen = ["127.0.0.1:$lport"]
[delivery]
mail_root = "$dir/mail"
domains = ["example.test"]
EOT
"$sluice" serve -config "$dir/sluice.toml" 2>"$dir/sluice.log" &
pid=$!
for _ in $(seq 600); do
	curl -fs "http://127.0.0.1:$mport/readyz" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { echo "bench-latency: sluice exited" >&2; cat "$dir/sluice.log" >&2; exit 1; }
	sleep 0.1
done
files=$(for label in ham spam; do ls "$corpus/$label" | sort | head -n "$N" | sed "s|^|$corpus/$label/|"; done)
cd "$top"
${BENCHLATENCY:-go run ./internal/cmd/benchlatency} -lmtp "127.0.0.1:$lport" -metrics "127.0.0.1:$mport" -pid "$pid" \
	-deliveries "$DELIVERIES" -slowest "$SLOWEST" $files
echo "delivered: $(find "$dir/mail" -path '*/new/*' -type f | wc -l) files in the Maildir"
