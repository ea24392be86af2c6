#!/bin/bash
# bench-rules: scoring throughput and CPU per message of sluice against
# SpamAssassin's spamd and rspamd on the same 1000 messages of the shared
# corpus (the first 500 ham and the first 500 spam by file name), in one
# run on the same machine. sluice and spamd use SpamAssassin's stock rules,
# local tests only, no Bayes; rspamd 3.4 (Debian's package, installed here
# when missing: a benchmark, not a test peer) its stock configuration with
# the network modules off and DNS answered NXDOMAIN by a loopback server.
# 2 workers each (spamd: 2 children, rspamd: 2 normal workers, 2 concurrent
# clients). Incoming X-Spam-* headers and the mbox From line are stripped
# first, for all. internal/cmd/benchrules drives all three and reads the
# servers' CPU time from /proc.
set -eu
SHARED=${SLUICE_SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
N=${N:-500}
RULES=${RULES:-/usr/share/spamassassin}
top=$(cd "$(dirname "$0")/.." && pwd)
corpus=$SHARED/corpus/spamassassin
[ -d "$corpus" ] || { echo "bench-rules: corpus missing at $corpus (set SLUICE_SHARED)" >&2; exit 1; }
command -v spamd >/dev/null || { echo "bench-rules: spamd missing (make peers)" >&2; exit 1; }
if [ "${RSPAMD:-yes}" = yes ] && ! command -v rspamd >/dev/null; then
	# If the install starts Debian's rspamd service, it is left alone: the
	# benchmark runs its own rspamd on other ports.
	DEBIAN_FRONTEND=noninteractive apt-get install -y rspamd >/dev/null ||
		{ echo "bench-rules: apt-get install rspamd failed (RSPAMD=no to skip)" >&2; exit 1; }
fi

dir=$(mktemp -d /tmp/slrules.XXXXXX)
chmod 0755 "$dir"
spamd_pid=""
cleanup() { [ -n "$spamd_pid" ] && kill "$spamd_pid" 2>/dev/null; sleep 0.5; rm -rf "$dir"; }
trap cleanup EXIT

mkdir -p "$dir/msgs"
for label in ham spam; do
	ls "$corpus/$label" | sort | head -n "$N" | while read -r f; do
		# Drop the mbox separator and any upstream X-Spam-* verdict (with
		# its continuation lines) from the header; convert to CRLF.
		awk 'NR==1 && /^From / {next}
		     inhdr && /^$/ {inhdr=0}
		     inhdr && /^X-Spam-/ {skip=1; next}
		     inhdr && skip && /^[ \t]/ {next}
		     {skip=0; print}' inhdr=1 "$corpus/$label/$f" > "$dir/msgs/$label-$f"
	done
done
count=$(ls "$dir/msgs" | wc -l)

# spamd: private site config so the machine's settings don't leak in.
mkdir -p "$dir/site"
cp /etc/spamassassin/*.pre "$dir/site/"
cat > "$dir/site/local.cf" <<EOC
use_bayes 0
bayes_auto_learn 0
skip_rbl_checks 1
dns_available no
use_razor2 0
use_pyzor 0
use_dcc 0
use_auto_whitelist 0
EOC
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
spamd -L --siteconfigpath "$dir/site" --nouser-config -i 127.0.0.1 -p "$port" \
	--max-children 2 --min-children 2 --min-spare 2 --max-spare 2 -u nobody -s stderr 2> "$dir/spamd.log" &
spamd_pid=$!
for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.2; done
rspamd=
[ "${RSPAMD:-yes}" = yes ] && rspamd=$(command -v rspamd)

cd "$top"
out=$(go run ./internal/cmd/benchrules -rules "$RULES" -workers 2 \
	-spamd "127.0.0.1:$port" -spamd-pid "$spamd_pid" -rspamd "$rspamd" "$dir"/msgs/*)
echo "$out"
sluice_rate=$(echo "$out" | sed -n 's/^sluice: .* \([0-9.]*\) msg\/s.*/\1/p')
spamd_rate=$(echo "$out" | sed -n 's/^spamd: .* \([0-9.]*\) msg\/s.*/\1/p')
python3 -c "print(f'ratio sluice/spamd: {$sluice_rate/$spamd_rate:.1f}x')"
