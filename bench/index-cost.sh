#!/bin/bash
# What the Berkeley DB index costs a delivery: the same Letterbox binary with
# "index yes" and "index no", alternating, in one run: N messages of SIZE bytes from
# C senders, one per connection, REPS times each; medians of acknowledged/s (every
# acknowledged message is already in new/) and of server CPU per message, and the
# ratio. Loopback only; stops only the daemons it started, by PID. Root not needed.
#   bench/index-cost.sh              # N=2000 SIZE=4096 C=8 REPS=3 SETTLE_S=0
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-2000} SIZE=${SIZE:-4096} C=${C:-8} REPS=${REPS:-3} PORT=${PORT:-2825}
BIN=${LB_BIN:-$top/bin/letterbox-smtpd}
state=$(mktemp -d /var/tmp/letterbox-index-cost.XXXXXX)
trap 'rm -rf "$state"' EXIT
gcc -O2 -pthread -o "$state/smtp-load" "$top/bench/smtp-load.c"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user nobody"

# CPU ticks of a process tree: utime+stime of every process, plus its reaped children.
tree_ticks() {
	local p=$1 t=0 c
	t=$(awk '{ sub(/.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat")
	for c in $(cat "/proc/$p/task/$p/children" 2>/dev/null); do
		t=$((t + $(tree_ticks "$c")))
	done
	echo "$t"
}

run_one() {	# index rep
	local idx=$1 rep=$2 dir="$state/$1-$2" pid line t0 t1 out rate
	mkdir -p "$dir"
	cat >"$dir/letterbox.conf" <<CONF
hostname bench.example.test
domains example.test
local_parts bench
maildir $dir/Maildir
$user_line
smtp_listen 127.0.0.1:$PORT
max_sessions 300
max_sessions_per_ip 300
index $idx
CONF
	mkfifo "$dir/ready"
	"$BIN" -d -f "$dir/letterbox.conf" -r 3 3>"$dir/ready" 2>"$dir/log" &
	pid=$!
	read -r -t 20 line <"$dir/ready"
	[ "$line" = ready ] || { echo "no ready line: $(cat "$dir/log")" >&2; exit 1; }
	sleep 1
	t0=$(tree_ticks "$pid")
	out=$("$state/smtp-load" -p "$PORT" -n "$N" -s "$SIZE" -c "$C" -t bench@example.test \
	    -w "$dir/Maildir")
	sleep 1.5	# let the indexer settle and write: its CPU belongs to this run
	t1=$(tree_ticks "$pid")
	kill "$pid"; wait "$pid" || true
	rate=$(grep -o 'ack_rate=[0-9.]*' <<<"$out" | cut -d= -f2)
	grep -q ' acked='"$N"' ' <<<"$out" || { echo "not all acknowledged: $out" >&2; exit 1; }
	if [ "$idx" = yes ]; then
		"$top/bin/letterbox" -f "$dir/letterbox.conf" index verify >/dev/null ||
		    { echo "index does not match the Maildir" >&2; exit 1; }
	fi
	echo "$idx $rate $(awk -v t=$((t1 - t0)) -v n="$N" -v hz="$(getconf CLK_TCK)" \
	    'BEGIN { printf "%.3f", t * 1000 / hz / n }')"
}

# ext4 without a journal walks past recently deleted inodes one by one when it makes
# a file (bench/README.md): after a big deletion, wait (SETTLE_S) before measuring.
sleep "${SETTLE_S:-0}"
run_one yes 0 >/dev/null	# warm-up, not counted
results=()
for rep in $(seq "$REPS"); do
	if [ $((rep % 2)) = 1 ]; then order="yes no"; else order="no yes"; fi
	for idx in $order; do results+=("$(run_one "$idx" "$rep")"); done
done
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for idx in yes no; do
	r=$(printf '%s\n' "${results[@]}" | awk -v i="$idx" '$1 == i { print $2 }' | median)
	c=$(printf '%s\n' "${results[@]}" | awk -v i="$idx" '$1 == i { print $3 }' | median)
	eval "rate_$idx=$r cpu_$idx=$c"
done
echo "| index | acknowledged (= in new/)/s | server CPU ms/msg |"
echo "|---|---|---|"
echo "| yes | $rate_yes | $cpu_yes |"
echo "| no  | $rate_no | $cpu_no |"
awk -v y="$rate_yes" -v n="$rate_no" 'BEGIN { printf "\nwith the index: %.1f %% of the throughput without it (%s runs of %s x %s B, %s senders; all runs: see above)\n", 100 * y / n, '"$REPS"', '"$N"', '"$SIZE"', '"$C"' }'
printf 'raw: %s\n' "${results[@]}"
