#!/bin/bash
# soak: runs bin/sluice on its stock rules for DURATION (default 30m) under
# internal/cmd/soak at RATE messages/s (default 10): corpus messages,
# hostile messages (folded-header and header bombs, deep MIME, 1 MiB
# bodies), slow clients and clients that vanish mid-DATA. Fails if RSS,
# goroutines or fds end outside the band of the first minute.
#
#   scripts/soak.sh                  # DURATION=30m RATE=10 MESSAGES=500
#   BURST=4 scripts/soak.sh          # peak RSS for 4 concurrent 45 MiB messages
set -eu
DURATION=${DURATION:-30m}
RATE=${RATE:-10}
MESSAGES=${MESSAGES:-500}
top=$(cd "$(dirname "$0")/.." && pwd)
shared=${SLUICE_SHARED:-$top/../shared}
sluice=$top/bin/sluice
[ -x "$sluice" ] || { echo "soak: build first: make build" >&2; exit 1; }
dir=$(mktemp -d /tmp/slsoak.XXXXXX)
pid=
sweeper=
cleanup() { for p in $pid $sweeper; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
lport=$(freeport); mport=$(freeport)
cat > "$dir/sluice.toml" <<EOT
[auth]
enabled = false
[metrics]
listen = "127.0.0.1:$mport"
[lmtp]
listen = ["127.0.0.1:$lport"]
[delivery]
mail_root = "$dir/mail"
domains = ["example.test"]
EOT
"$sluice" serve -config "$dir/sluice.toml" >/dev/null 2>"$dir/sluice.log" &
pid=$!
waitport "$lport" || { echo "soak: sluice did not start" >&2; cat "$dir/sluice.log" >&2; exit 1; }
if [ -n "${BURST:-}" ]; then
	# BURST=4 scripts/soak.sh: peak RSS for 4 concurrent messages of
	# BURST_SIZE bytes (default 45 MiB) on a fresh server.
	go run "$top/internal/cmd/soak" -lmtp "127.0.0.1:$lport" -burst "$BURST" -burst-size "${BURST_SIZE:-47185920}" -pid "$pid"
	exit
fi
# A fixed mix: every k-th message of both classes.
files=$( (ls "$shared"/corpus/spamassassin/ham/* | awk 'NR%8==0'; ls "$shared"/corpus/spamassassin/spam/* | awk 'NR%4==0') | head -n "$MESSAGES")
# Sweep delivered mail now and then so the disk does not fill on long runs.
( while sleep 60; do find "$dir/mail" -path '*/new/*' -type f -mmin +1 -delete 2>/dev/null; done ) >/dev/null 2>&1 &
sweeper=$!
go run "$top/internal/cmd/soak" -lmtp "127.0.0.1:$lport" -metrics "127.0.0.1:$mport" -duration "$DURATION" -rate "$RATE" $files
