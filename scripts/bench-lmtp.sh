#!/bin/bash
# bench-lmtp: LMTP delivery throughput of sluice against Dovecot's LMTP, in
# one run on the same machine. Postfix's smtp-source -L drives each server at
# 2 and at 8 concurrent sessions with MESSAGES messages of about 5 KB; all
# write Maildir++ under a temp dir as uid 65534 with fsync on (Dovecot:
# mail_fsync = always). Three rows per session count:
#   delivery  sluice (rules and Sieve off)      vs Dovecot LMTP
#   sieve     sluice (built-in spam Sieve)      vs Dovecot LMTP + Pigeonhole (same script as sieve_before)
#   full      sluice (stock SpamAssassin rules + Sieve) vs Dovecot LMTP + Pigeonhole
# Needs root (Dovecot serves mail as uid 65534) and bin/sluice.
#
#   scripts/bench-lmtp.sh            # MESSAGES=2000 SESSIONS="2 8" ROWS="delivery sieve full"
set -eu
MESSAGES=${MESSAGES:-2000}
SESSIONS=${SESSIONS:-2 8}
ROWS=${ROWS:-delivery sieve full}
SIZE=${SIZE:-5000}
top=$(cd "$(dirname "$0")/.." && pwd)
sluice=${SLUICE:-$top/bin/sluice}  # SLUICE=/path/to/another/build to compare binaries
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
waitport() { for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# The Sieve script both sides run (sluice has it built in).
install -d -o 65534 -g 65534 "$dir/sieve"
cat > "$dir/sieve/spam.sieve" <<'EOF'
require ["fileinto", "mailbox"];
if header :is "X-Spam-Flag" "YES" {
	fileinto :create "Spam";
	stop;
}
EOF

# dovecot_start NAME SIEVE(yes|no): a private Dovecot LMTP; sets PORT.
# (Not run in $(...): a subshell would lose the pid list and run the trap.)
dovecot_start() {
	local name=$1 sieve=$2 port
	port=$(freeport)
	install -d -o 65534 -g 65534 "$dir/$name-mail"
	local plugins=""
	[ "$sieve" = yes ] && plugins="protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
plugin {
  sieve = file:$dir/$name-mail/%d/%n/sieve;active=$dir/$name-mail/%d/%n/.dovecot.sieve
  sieve_before = $dir/sieve/spam.sieve
}"
	cat > "$dir/$name.conf" <<EOF
base_dir = $dir/$name-run
state_dir = $dir/$name-state
log_path = $dir/$name.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
mail_location = maildir:~/Maildir
mail_fsync = always
postmaster_address = postmaster@example.test
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$dir/$name-mail/%d/%n
}
passdb {
  driver = static
  args = password=unused
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $port
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
$plugins
EOF
	dovecot -F -c "$dir/$name.conf" >/dev/null 2>&1 &
	pids+=($!)
	waitport "$port" || { cat "$dir/$name.log" >&2; exit 1; }
	PORT=$port
}

# sluice_start NAME RULES SIEVE: a sluice serve; sets PORT.
sluice_start() {
	local name=$1 rules=$2 sieve=$3 port
	port=$(freeport)
	cat > "$dir/$name.toml" <<EOF
[log]
level = "warn"
[lmtp]
listen = ["127.0.0.1:$port"]
[delivery]
mail_root = "$dir/$name-mail"
owner = "65534:65534"
[auth]
enabled = false        # Dovecot's LMTP checks nothing either; no DNS from benchmarks
[rules]
mode = "$rules"
[sieve]
enabled = $sieve
[metrics]
listen = ""
EOF
	"$sluice" serve -config "$dir/$name.toml" 2>> "$dir/$name.log" &
	pids+=($!)
	waitport "$port" || { cat "$dir/$name.log" >&2; exit 1; }
	PORT=$port
}

# run MAILROOT PORT SESSIONS USER -> messages per second
run() {
	local root=$1 port=$2 sessions=$3 user=$4 start end n
	start=$(date +%s.%N)
	"$smtp_source" -L -d -s "$sessions" -m "$MESSAGES" -l "$SIZE" \
		-f sender@client.test -t "$user@example.test" "127.0.0.1:$port"
	end=$(date +%s.%N)
	n=$(find "$root/example.test/$user/Maildir" -path '*/new/*' -o -path '*/cur/*' -type f | wc -l)
	if [ "$n" != "$MESSAGES" ]; then
		echo "bench-lmtp: $root delivered $n of $MESSAGES messages" >&2
		exit 1
	fi
	python3 -c "print(f'{$MESSAGES/($end-$start):.0f}')"
}

dovecot_start dovecot no
dport=$PORT
dovecot_start dovecot-sieve yes
dsport=$PORT
printf '%-10s %-9s %9s %12s %12s %8s\n' row sessions messages "sluice/s" "dovecot/s" ratio
for row in $ROWS; do
	case $row in
	delivery) sluice_start sl-$row off false; dp=$dport; droot=$dir/dovecot-mail ;;
	sieve) sluice_start sl-$row off true; dp=$dsport; droot=$dir/dovecot-sieve-mail ;;
	full) sluice_start sl-$row auto true; dp=$dsport; droot=$dir/dovecot-sieve-mail ;;
	esac
	sport=$PORT
	for s in $SESSIONS; do
		d=$(run "$droot" "$dp" "$s" "u$row$s")
		l=$(run "$dir/sl-$row-mail" "$sport" "$s" "u$row$s")
		ratio=$(python3 -c "print(f'{$l/$d:.2f}')")
		printf '%-10s %-9s %9s %12s %12s %8s\n' "$row" "$s" "$MESSAGES" "$l" "$d" "$ratio"
	done
done
