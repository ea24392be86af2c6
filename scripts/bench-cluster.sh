#!/bin/bash
# bench-cluster: LMTP delivery throughput of one and of two sluice nodes
# sharing one redis-server (Bayes and the outbound state) and one mail root,
# on this machine. Postfix's smtp-source -L drives them: one source of
# SESSIONS sessions against one node, then two concurrent sources of
# SESSIONS/2 sessions each against two nodes, MESSAGES messages of about
# SIZE bytes in all. A one-node run without Redis (bbolt state) is the
# reference. The user's Sieve script keeps the message and runs the
# duplicate test, so every delivery reads and writes the shared state.
# Rules are the built-in set; Sieve on; Maildir with fsync.
#
#   scripts/bench-cluster.sh          # MESSAGES=2000 SESSIONS=8
set -eu
MESSAGES=${MESSAGES:-2000}
SESSIONS=${SESSIONS:-8}
SIZE=${SIZE:-5000}
top=$(cd "$(dirname "$0")/.." && pwd)
sluice=$top/bin/sluice
[ -x "$sluice" ] || { echo "bench-cluster: build first: make build" >&2; exit 1; }
smtp_source=$(command -v smtp-source || echo /usr/sbin/smtp-source)
[ -x "$smtp_source" ] || { echo "bench-cluster: smtp-source missing (Debian postfix)" >&2; exit 1; }
redis_server=$(command -v redis-server) || { echo "bench-cluster: redis-server missing" >&2; exit 1; }

dir=$(mktemp -d /tmp/slcluster.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 1
	rm -rf "$dir"
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

rport=$(freeport)
"$redis_server" --bind 127.0.0.1 --port "$rport" --save "" --appendonly no --dir "$dir" >/dev/null &
pids+=($!)
waitport "$rport"

# setup NAME REDIS(yes|no): a mail root with the user's script and a config.
setup() {
	local name=$1 redis=$2
	mkdir -p "$dir/$name-mail/example.test/user"
	cat > "$dir/$name-mail/example.test/user/.dovecot.sieve" <<'EOF'
require ["duplicate", "imap4flags"];
if duplicate { addflag "\\Seen"; }
keep;
EOF
	cat > "$dir/$name.toml" <<EOF
[log]
level = "warn"
[delivery]
mail_root = "$dir/$name-mail"
domains = ["example.test"]
[auth]
enabled = false
[rules]
mode = "builtin"
[metrics]
listen = ""
EOF
	[ "$redis" = yes ] && printf '[redis]\nurl = "redis://127.0.0.1:%s/0"\nkey_prefix = "%s:"\n' "$rport" "$name" >> "$dir/$name.toml"
	return 0
}

# node NAME: a sluice serve on the config NAME; sets PORT.
node() {
	local port
	port=$(freeport)
	"$sluice" serve -config "$dir/$1.toml" -lmtp "127.0.0.1:$port" 2>> "$dir/$1.log" &
	pids+=($!)
	waitport "$port" || { cat "$dir/$1.log" >&2; exit 1; }
	PORT=$port
}

# drive PORT SESSIONS COUNT: one smtp-source run.
drive() {
	"$smtp_source" -L -d -s "$2" -m "$3" -l "$SIZE" -f sender@client.test -t user@example.test "127.0.0.1:$1"
}

# check NAME: every message delivered.
check() {
	local n
	n=$(find "$dir/$1-mail/example.test/user/Maildir" -path '*/new/*' -type f -o -path '*/cur/*' -type f | wc -l)
	[ "$n" = "$MESSAGES" ] || { echo "bench-cluster: $1 delivered $n of $MESSAGES" >&2; cat "$dir/$1.log" >&2; exit 1; }
}

rate() { python3 -c "print(f'{$MESSAGES/($2-$1):.0f}')"; }

printf '%-28s %9s %9s %10s\n' setup sessions messages "msgs/s"
setup bbolt no
node bbolt
start=$(date +%s.%N); drive "$PORT" "$SESSIONS" "$MESSAGES"; end=$(date +%s.%N)
check bbolt
printf '%-28s %9s %9s %10s\n' "1 node, bbolt state" "$SESSIONS" "$MESSAGES" "$(rate "$start" "$end")"

setup one yes
node one
start=$(date +%s.%N); drive "$PORT" "$SESSIONS" "$MESSAGES"; end=$(date +%s.%N)
check one
printf '%-28s %9s %9s %10s\n' "1 node, Redis state" "$SESSIONS" "$MESSAGES" "$(rate "$start" "$end")"

setup two yes
node two; p1=$PORT
node two; p2=$PORT
half=$((MESSAGES / 2))
start=$(date +%s.%N)
drive "$p1" $((SESSIONS / 2)) "$half" &
s1=$!
drive "$p2" $((SESSIONS / 2)) $((MESSAGES - half)) &
s2=$!
wait "$s1" "$s2"
end=$(date +%s.%N)
check two
printf '%-28s %9s %9s %10s\n' "2 nodes, shared Redis" "$SESSIONS" "$MESSAGES" "$(rate "$start" "$end")"
if command -v redis-cli >/dev/null; then
	echo "keys in Redis: $(redis-cli -p "$rport" dbsize) (one:* and two:* prefixes)"
fi
