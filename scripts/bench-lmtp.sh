#!/bin/bash
# bench-lmtp: LMTP delivery throughput of sluice against Dovecot's LMTP, in
# one run on the same machine. Postfix's smtp-source -L drives both at 2 and
# at 8 concurrent sessions with MESSAGES messages of about 5 KB; both write
# Maildir++ under a temp dir as uid 65534 with fsync on (Dovecot:
# mail_fsync = always). Needs root (Dovecot drops to 65534) and bin/sluice.
#
#   scripts/bench-lmtp.sh            # MESSAGES=2000 SESSIONS="2 8"
set -euo pipefail
MESSAGES=${MESSAGES:-2000}
SESSIONS=${SESSIONS:-2 8}
SIZE=${SIZE:-5000}
top=$(cd "$(dirname "$0")/.." && pwd)
sluice=$top/bin/sluice
[ -x "$sluice" ] || { echo "bench-lmtp: build first: make build" >&2; exit 1; }
smtp_source=$(command -v smtp-source || echo /usr/sbin/smtp-source)
[ -x "$smtp_source" ] || { echo "bench-lmtp: smtp-source missing (Debian postfix)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench-lmtp: run as root (Dovecot serves mail as uid 65534)" >&2; exit 1; }

dir=$(mktemp -d /tmp/slbench.XXXXXX)
chmod 0755 "$dir"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 1
	rm -rf "$dir"
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# Dovecot LMTP, same layout, fsync always.
dport=$(freeport); iport=$(freeport)
mkdir -p "$dir/dovecot-mail" "$dir/sluice-mail"
chown 65534:65534 "$dir/dovecot-mail" "$dir/sluice-mail"
cat > "$dir/dovecot.conf" <<EOF
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
mail_location = maildir:~/Maildir
mail_fsync = always
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$dir/dovecot-mail/%d/%n
}
passdb {
  driver = static
  args = password=unused
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $dport
  }
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
dovecot -F -c "$dir/dovecot.conf" & pids+=($!)
waitport "$dport" || { cat "$dir/dovecot.log"; exit 1; }

sport=$(freeport)
cat > "$dir/sluice.toml" <<EOF
[log]
level = "warn"
[lmtp]
listen = ["127.0.0.1:$sport"]
[delivery]
mail_root = "$dir/sluice-mail"
owner = "65534:65534"
[auth]
enabled = false        # Dovecot's LMTP checks nothing either; no DNS from benchmarks
[metrics]
listen = ""
EOF
"$sluice" serve -config "$dir/sluice.toml" & pids+=($!)
waitport "$sport"

# run NAME PORT SESSIONS -> messages per second
run() {
	local port=$2 sessions=$3 user="u$1$3"
	local start end
	start=$(date +%s.%N)
	"$smtp_source" -L -d -s "$sessions" -m "$MESSAGES" -l "$SIZE" \
		-f sender@client.test -t "$user@example.test" "127.0.0.1:$port"
	end=$(date +%s.%N)
	local mdir
	if [ "$1" = dovecot ]; then mdir=$dir/dovecot-mail/example.test/$user/Maildir; else mdir=$dir/sluice-mail/example.test/$user/Maildir; fi
	local n
	n=$(find "$mdir/new" "$mdir/cur" -type f | wc -l)
	if [ "$n" != "$MESSAGES" ]; then
		echo "bench-lmtp: $1 delivered $n of $MESSAGES messages" >&2
		exit 1
	fi
	python3 -c "print(f'{$MESSAGES/($end-$start):.0f}')"
}

printf '%-10s %10s %12s %12s %8s\n' sessions messages "sluice/s" "dovecot/s" ratio
for s in $SESSIONS; do
	# Alternate the order so neither always runs on a warmer machine.
	d=$(run dovecot "$dport" "$s")
	l=$(run sluice "$sport" "$s")
	ratio=$(python3 -c "print(f'{$l/$d:.2f}')")
	printf '%-10s %10s %12s %12s %8s\n' "$s" "$MESSAGES" "$l" "$d" "$ratio"
done
