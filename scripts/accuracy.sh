#!/bin/bash
# accuracy: sluice and SpamAssassin 4.0 on the same chronological split of
# the shared corpus (spamassassin/ham and spam), each with and without
# Bayes, in one run; prints one table. Needs spamd, spamc, sa-learn
# (./scripts/install-peers.sh), go and python3. Takes 10-30 minutes.
#
#   scripts/accuracy.sh [-keep] [-fraction F]
#
# 1. `sluice masscheck` sorts each class by Date header, trains a fresh
#    in-memory Bayes on the oldest F (0.7) of each, scores the rest with
#    the stock rules (/usr/share/spamassassin) with and without Bayes, and
#    exports the split exactly as it scored it (mbox separator dropped,
#    X-Spam-* fields removed) with one file list per class and phase.
# 2. sa-learn learns the same training lists into a private bayes_path;
#    a private spamd -L scores the same test lists with use_bayes 1, and
#    again with use_bayes 0. Both filters run local tests only.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
SLUICE_SHARED=${SLUICE_SHARED:-$(cd "$top/.." && pwd)/shared}
corpus=$SLUICE_SHARED/corpus/spamassassin
rules=/usr/share/spamassassin
fraction=0.7
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	-keep) keep=1 ;;
	-fraction) fraction=$2; shift ;;
	*) echo "usage: $0 [-keep] [-fraction F]" >&2; exit 2 ;;
	esac
	shift
done
[ -d "$corpus/ham" ] && [ -d "$corpus/spam" ] || { echo "accuracy: corpus missing at $corpus (set SLUICE_SHARED)" >&2; exit 1; }
export PATH=$PATH:/usr/sbin
for b in spamd spamc sa-learn python3 go; do
	command -v $b >/dev/null || { echo "accuracy: $b missing (./scripts/install-peers.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/sluice-accuracy.XXXXXX)
chmod 755 "$work" # spamd's children run as nobody
spamd_pid=
cleanup() {
	[ -n "$spamd_pid" ] && kill "$spamd_pid" 2>/dev/null && wait "$spamd_pid" 2>/dev/null
	if [ $keep = 0 ]; then rm -rf "$work"; else echo "accuracy: kept $work" >&2; fi
}
trap cleanup EXIT
start=$(date +%s)
say() { echo "accuracy: $(date +%T) $*" >&2; }

# --- sluice --------------------------------------------------------------
say "building sluice"
(cd "$top" && go build -o "$work/sluice" ./cmd/sluice)
say "sluice masscheck"
"$work/sluice" masscheck -spam "$corpus/spam" -ham "$corpus/ham" -rules "$rules" \
	-train-fraction "$fraction" -export "$work/split" -html "$work/report.html" -log "$work/sluice.log" >"$work/sluice.txt"
cat "$work/sluice.txt" >&2

# --- SpamAssassin --------------------------------------------------------
# site NAME USE_BAYES: a private site configuration, Debian's *.pre (the
# plugins) plus local tests only, no auto-learning, no expiry (sluice's
# database does not expire either), and one header with the verdict.
site() {
	local d=$work/$1
	mkdir -p "$d"
	cp /etc/spamassassin/*.pre "$d/"
	# The parity guard's site configuration, with Bayes as asked and
	# this run's database.
	{
		sed -e "s/^use_bayes 0\$/use_bayes $2/" -e 's/^add_header all Parity /add_header all Acc /' \
			"$top/internal/parity/local.cf"
		printf 'bayes_auto_expire 0\nbayes_path %s\n' "$work/bayes/bayes"
	} >"$d/local.cf"
	chmod -R a+rX "$d"
}
site sa-bayes 1
site sa-nobayes 0
mkdir -p "$work/bayes"
: >"$work/user_prefs"
learn() { # CLASS LIST
	sa-learn -L --configpath "$rules" --siteconfigpath "$work/sa-bayes" -p "$work/user_prefs" \
		--max-size 0 --no-sync "--$1" -f "$2" >&2
}
say "sa-learn: $(wc -l <"$work/split/train-spam.list") spam, $(wc -l <"$work/split/train-ham.list") ham"
learn spam "$work/split/train-spam.list"
learn ham "$work/split/train-ham.list"
sa-learn -L --configpath "$rules" --siteconfigpath "$work/sa-bayes" -p "$work/user_prefs" --sync >&2
sa-learn -L --configpath "$rules" --siteconfigpath "$work/sa-bayes" -p "$work/user_prefs" --dump magic >"$work/sa-magic.txt"
grep -E 'nspam|nham|ntokens' "$work/sa-magic.txt" >&2
chown -R nobody "$work/bayes" 2>/dev/null || chmod -R a+rwX "$work/bayes"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# scan NAME: score every test message with spamd using site NAME; writes
# NAME.tsv: class, file, verdict, score, tests.
scan() {
	local name=$1 user=()
	[ "$(id -u)" = 0 ] && user=(-u nobody)
	spamd -L --configpath "$rules" --siteconfigpath "$work/$name" --nouser-config \
		-i 127.0.0.1 -p "$port" --max-children 2 --min-children 2 --min-spare 1 --max-spare 2 \
		--max-conn-per-child=1 "${user[@]}" -s stderr 2>"$work/$name-spamd.log" &
	spamd_pid=$!
	for _ in $(seq 600); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		kill -0 "$spamd_pid" 2>/dev/null || { echo "accuracy: spamd died; see $work/$name-spamd.log" >&2; keep=1; exit 1; }
		sleep 0.5
	done
	say "spamd ($name) scoring $(cat "$work/split/test-spam.list" "$work/split/test-ham.list" | wc -l) messages"
	for class in spam ham; do
		SPAMC_PORT=$port CLASS=$class xargs -P 3 -n 20 bash -c '
			for f; do
				v=$(spamc -d 127.0.0.1 -p "$SPAMC_PORT" -s 50000000 -t 280 -x <"$f" |
					awk "/^\$/{exit} /^X-Spam-Acc:/{h=1; sub(/^X-Spam-Acc: */,\"\"); v=\$0; next} h&&/^[ \t]/{sub(/^[ \t]+/,\"\"); v=v \$0; next} {h=0} END{print v}")
				set -- $v
				[ $# -ge 2 ] || { echo "accuracy: no verdict for $f" >&2; continue; }
				printf "%s\t%s\t%s\t%s\t%s\n" "$CLASS" "$f" "$1" "$2" "${3:-}"
			done' _ <"$work/split/test-$class.list"
	done >"$work/$name.tsv"
	kill "$spamd_pid"
	wait "$spamd_pid" 2>/dev/null || true
	spamd_pid=
}
scan sa-bayes
scan sa-nobayes

# --- the table -----------------------------------------------------------
python3 - "$work" "$(( $(date +%s) - start ))" <<'EOF'
import math, sys
work, secs = sys.argv[1], int(sys.argv[2])

def recall_at_fp(spam, ham, max_fp=0.001):
    # As sluice masscheck: k = floor(max_fp * ham) false positives
    # allowed; spam counts when strictly above the (k+1)-th ham score.
    h = sorted(ham, reverse=True)
    k = math.floor(max_fp * len(h) + 1e-9)
    t = h[k] if k < len(h) else -math.inf
    return sum(x > t for x in spam) / len(spam), t

def auc(spam, ham):
    u = sum((x > y) + 0.5 * (x == y) for x in spam for y in ham)
    return u / (len(spam) * len(ham))

rows = []
for line in open(f"{work}/sluice.txt"):
    f = line.split()
    if f and f[0].startswith("set"):
        label = "sluice, no Bayes (" + f[0] + ")" if "bayes" not in f[0] else "sluice + Bayes (" + f[0].split("+")[0] + ")"
        rows.append((label, f[1], f[2], f[3], f[4], f[5]))
    elif f and f[0] == "tested:":
        tested = line.strip()
for name, label in (("sa-nobayes", "SpamAssassin, no Bayes (set0)"), ("sa-bayes", "SpamAssassin + Bayes (set2)")):
    spam, ham, caught, fps = [], [], 0, 0
    for line in open(f"{work}/{name}.tsv"):
        cls, _, verdict, score, tests = line.rstrip("\n").split("\t")
        # _SCORE_ has one decimal; the sum of the tests' scores is the
        # score SpamAssassin compared with required_score.
        s = sum(float(t.split("=")[1]) for t in tests.split(",") if "=" in t)
        yes = verdict == "Yes"
        if cls == "spam":
            spam.append(s); caught += yes
        else:
            ham.append(s); fps += yes
    r, t = recall_at_fp(spam, ham)
    rows.append((label, f"{100*caught/len(spam):.2f}%", f"{100*fps/len(ham):.2f}%", f"{100*r:.2f}%", f"{t:.3f}", f"{1-auc(spam, ham):.5f}"))
    if len(spam) + len(ham) == 0:
        sys.exit("accuracy: SpamAssassin scored nothing")
    tested_sa = f"SpamAssassin scored {len(spam)} spam, {len(ham)} ham"
print(tested, "|", tested_sa)
print(f"| {'filter':32} | spam recall | false positives | recall @0.1% FP | threshold | 1-AUC |")
print(f"|{'-'*34}|------------:|----------------:|----------------:|----------:|------:|")
for r in rows:
    print(f"| {r[0]:32} | {r[1]:>11} | {r[2]:>15} | {r[3]:>15} | {'> '+r[4]:>9} | {r[5]} |")
print(f"run time: {secs // 60} min {secs % 60} s")
EOF
