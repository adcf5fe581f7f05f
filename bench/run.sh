#!/bin/bash
# bench/run.sh -- Letterbox side by side with Postfix, in one run, on this machine.
#
#   sudo bench/run.sh                      # everything, ~5 minutes
#   sudo N=200 REPS=1 bench/run.sh         # a quick try
#   sudo PHASES="smtp" CONCS=8 bench/run.sh
#
# Phases (PHASES, default "disk smtp mem"):
#   disk  the disk's ceiling: write+fsync+rename+fsync(dir) of 4 KiB files, 1 writer
#         and 8 processes (disk-ceiling.c), DISK_MODES="fsync fdatasync"
#   smtp  for each C in CONCS ("1 8 32") and each of REPS (3) repetitions: N (2000)
#         messages of SIZE (4096) bytes, one per connection, to Letterbox and to Postfix
#         in turn (the order alternates per repetition): acknowledged/s, end to end/s,
#         latency, server CPU per message, and a check that every acknowledged message
#         is in the Maildir exactly once
#   mem   PSS per idle connection: NCONN (100) connections that said EHLO, REPS times
#   pop3  (not in the default) bench/pop3.sh with the same Letterbox binaries: POP3
#         download and memory per session next to Dovecot; its report is appended.
#         PHASES=pop3 alone runs bench/pop3.sh only (no Postfix); its own phases:
#         POP3_PHASES (default "retr mem")
#
# Prints a Markdown report on stdout and keeps it, with every raw RESULT line, in
# $OUT (default $LB_BENCH_STATE/results/<UTC time>/). Loopback only; it stops only
# what it started (Letterbox by PID; Postfix through bench/postfix.sh down if it
# started it). See bench/README.md for the method.
set -euo pipefail
bench=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$bench/.." && pwd)
# shellcheck source=lib.sh
. "$bench/lib.sh"

N=${N:-2000}
SIZE=${SIZE:-4096}
CONCS=${CONCS:-"1 8 32"}
REPS=${REPS:-3}
NCONN=${NCONN:-100}
PHASES=${PHASES:-"disk smtp mem"}
# POP3 alone needs neither Postfix nor this script's Letterbox: bench/pop3.sh does it all
if [ "${PHASES// /}" = pop3 ]; then PHASES=${POP3_PHASES:-"retr mem"} exec "$bench/pop3.sh"; fi
DISK_MODES=${DISK_MODES:-"fsync fdatasync"}
DISK_PROCS=${DISK_PROCS:-"1 8"}
SETTLE=${SETTLE:-1}
MEM_SETTLE=${MEM_SETTLE:-2}
BUILD=${BUILD:-1}
CC=${CC:-cc}
CFLAGS=${CFLAGS:-"-O2 -g -std=gnu17 -Wall -Wextra"}
OUT=${OUT:-$STATE/results/$(date -u +%Y%m%dT%H%M%SZ)}
TICK=$(getconf CLK_TCK)

need_root
check_state_dir
install -d -m 755 "$STATE" "$BINDIR" "$LOGDIR"
mkdir -p "$OUT"
RAW=$OUT/raw.txt
REPORT=$OUT/report.md
ERRLOG=$OUT/errors.log
: >"$RAW"
: >"$ERRLOG"

# ------------------------------------------------------------------ build
build_tools smtp-load disk-ceiling
# LB_BIN set by hand names the binary to measure as it is (nothing is built).
if [ -n "${LB_BIN:-}" ]; then
	LB_BINDIR=$(dirname "$LB_BIN")
	LB_DESC="binary $LB_BIN (not built by run.sh)"
else
	letterbox_binaries run.sh
	LB_BIN=$LB_BINDIR/letterbox-smtpd
fi
[ -x "$LB_BIN" ] || die "no Letterbox binary at $LB_BIN"

# /proc helpers (tree_pids, cpu_ticks, pss, busy_ticks, nchildren): lib.sh

# ------------------------------------------------------------------ servers
LB_PID=""
PF_STARTED=0
IDLE_PID=""
HOLD_FD=""
# SIGTERM to the Letterbox we started; if it has not exited 10 s later, SIGKILL to its
# process tree as it was when we sent SIGTERM (PIDs whose name is still letterbox-smtpd)
stop_letterbox() {
	local pids p i left=""
	alive "$LB_PID" && [ "$(comm_of "$LB_PID")" = letterbox-smtpd ] || return 0
	pids=$(tree_pids "$LB_PID")
	kill -TERM "$LB_PID" 2>/dev/null || true
	for i in $(seq 100); do
		[ "$(awk '{ print $3 }' "/proc/$LB_PID/stat" 2>/dev/null || echo X)" = Z ] && break
		alive "$LB_PID" || break
		sleep 0.1
	done
	for p in $pids; do
		if alive "$p" && [ "$(comm_of "$p")" = letterbox-smtpd ] &&
		    [ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" != Z ]; then left="$left $p"; fi
	done
	if [ -n "$left" ]; then
		log "warning: letterbox-smtpd did not stop within 10 s of SIGTERM; SIGKILL to$left"
		# shellcheck disable=SC2086
		kill -KILL $left 2>/dev/null || true
	fi
	wait "$LB_PID" 2>/dev/null || true
	LB_PID=""
}
cleanup() {
	local rc=$?
	if [ -n "$HOLD_FD" ]; then eval "exec $HOLD_FD>&-" || true; fi
	if alive "$IDLE_PID"; then kill "$IDLE_PID" 2>/dev/null || true; fi
	stop_letterbox
	if [ "$PF_STARTED" = 1 ]; then "$bench/postfix.sh" down || true; fi
	if [ -n "${TRASH:-}" ] && [ -d "$TRASH" ]; then
		rm -rf "$TRASH"; sync; date +%s >"$STATE/trash/.deleted-at"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# On an ext4 without a journal, files deleted in the last 60 s -- 360 s while their
# inode table block is dirty, which new files in the same block keep it -- slow down
# every file created next to them (see empty_maildir). So leftovers of a killed run
# go now, and the run waits until DELETE_WAIT seconds after the last removal of
# benchmark files (run.sh removes them when it ends).
fs_dev=$(df --output=source "$STATE" | tail -1)
fs_type=$(df --output=fstype "$STATE" | tail -1)
NOJOURNAL=0
if [ "$fs_type" = ext4 ] && ! ls "/proc/fs/jbd2/$(basename "$fs_dev")-"* >/dev/null 2>&1; then NOJOURNAL=1; fi
DELETE_WAIT=${DELETE_WAIT:-$([ $NOJOURNAL = 1 ] && echo 370 || echo 0)}
if [ -d "$STATE/trash" ]; then
	for t in "$STATE"/trash/*; do
		if [ -d "$t" ]; then rm -rf "$t"; sync; date +%s >"$STATE/trash/.deleted-at"; fi
	done
	if [ -s "$STATE/trash/.deleted-at" ]; then
		wait_s=$(( $(cat "$STATE/trash/.deleted-at") + DELETE_WAIT - $(date +%s) ))
		if [ "$wait_s" -gt 0 ]; then
			log "ext4 without a journal: waiting ${wait_s} s after the last removal of benchmark files (DELETE_WAIT=$DELETE_WAIT)"
			sleep "$wait_s"
		fi
	fi
fi

wait_load	# WAIT_LOAD (lib.sh)

if [ -z "$(pf_pid)" ]; then PF_STARTED=1; fi
"$bench/postfix.sh" up
PF_ROOT=$(pf_pid)
[ -n "$PF_ROOT" ] || die "postfix is not running"

start_letterbox() {
	if listening "$LB_PORT"; then die "port $LB_PORT is in use (set LB_PORT)"; fi
	cat >"$LB_DIR/letterbox.conf" <<EOF
# Generated by bench/run.sh -- the benchmark's Letterbox instance.
hostname bench.example.test
domains example.test
local_parts $BENCH_USER postmaster
maildir $LB_MAILDIR
user $BENCH_USER
smtp_listen 127.0.0.1:$LB_PORT
# every benchmark client connects from 127.0.0.1, and the memory test holds $NCONN
# connections: the defaults (100 sessions, 10 per address) would refuse them
max_sessions 300
max_sessions_per_ip 300
EOF
	"$LB_BIN" -n -f "$LB_DIR/letterbox.conf" >/dev/null || die "bad Letterbox config"
	local fifo=$LB_DIR/ready.fifo line=""
	rm -f "$fifo"
	mkfifo -m 600 "$fifo"
	# same PID all along: subshell -> unshare -> sh -> letterbox-smtpd (exec each time)
	( ns_exec "$LB_BIN" -d -f "$LB_DIR/letterbox.conf" -r 3 ) 3>"$fifo" </dev/null \
	    >>"$LOGDIR/letterbox.log" 2>&1 &
	LB_PID=$!
	read -r -t 20 line <"$fifo" || true
	rm -f "$fifo"
	[ "$line" = ready ] || die "Letterbox did not become ready; see $LOGDIR/letterbox.log"
	[ "$(comm_of "$LB_PID")" = letterbox-smtpd ] || die "PID $LB_PID is not letterbox-smtpd"
	resolv_ok "$LB_PID" || die "Letterbox sees another resolver than 127.0.0.1"
	sleep 1
	LB_BASE_CHILDREN=$(nchildren "$LB_PID")
	log "letterbox-smtpd running (pid $LB_PID, 127.0.0.1:$LB_PORT, Maildir $LB_MAILDIR, $LB_BASE_CHILDREN helper process(es))"
}
start_letterbox

# ------------------------------------------------------------------ header
pf_version=$(postconf -c "$PF_CONF" -h mail_version 2>/dev/null || echo unknown)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
fs=$(df -T "$STATE" | awk 'NR == 2 { print $2 " on " $1 }')
{
	echo "# Letterbox vs Postfix -- bench/run.sh"
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- machine: $(uname -sr), $(nproc) CPUs ($cpu_model), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM; state dir $STATE on $fs$([ "$NOJOURNAL" = 1 ] && echo ' (no journal)')"
	echo "- Letterbox: $LB_DESC; 127.0.0.1:$LB_PORT, Maildir $LB_MAILDIR"
	echo "- Postfix $pf_version (-c $PF_CONF), 127.0.0.1:$PF_PORT, Maildir $PF_MAILDIR"
	echo "- settings: N=$N SIZE=$SIZE CONCS=\"$CONCS\" REPS=$REPS NCONN=$NCONN PHASES=\"$PHASES\""
	echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$REPORT"

# ------------------------------------------------------------------ disk
phase_disk() {
	local mode p rep line
	for mode in $DISK_MODES; do
		for p in $DISK_PROCS; do
			for rep in $(seq "$REPS"); do
				# a fresh directory each time, removed with the trash at the end (see empty_maildir)
				mkdir -p "$TRASH"
				line=$("$BINDIR/disk-ceiling" -k -d "$TRASH/disk-$mode-$p-$rep" -n "$N" -s "$SIZE" -p "$p" -m "$mode") ||
				    die "disk-ceiling failed"
				echo "$line kind=disk rep=$rep" >>"$RAW"
				log "disk $mode procs=$p rep=$rep: ${line#RESULT }"
			done
		done
	done
}

# ------------------------------------------------------------------ smtp
# Empty a Maildir by moving its files into $TRASH (deleted when the run ends), not by
# deleting them: on an ext4 without a journal (as on the VM this was written on) the
# inode allocator skips inodes freed in the last 60-360 s one by one (recently_deleted()),
# so deleting 2000 files right before a run made every file created in that run cost a
# scan over them: 40 % of Letterbox's CPU in a profile, an artefact of the benchmark.
TRASH=$STATE/trash/$(basename "$OUT")
ntrash=0
empty_maildir() {
	ntrash=$((ntrash + 1))
	mkdir -p "$TRASH/$ntrash"
	find "$1/new" "$1/cur" "$1/tmp" -mindepth 1 -maxdepth 1 -type f -exec mv -t "$TRASH/$ntrash" {} +
}

# wait_idle lb|pf ROOT : no client connection left (Letterbox keeps idle session
# processes for reuse, so it waits for the connections, not the processes) / empty
# queue (Postfix); then until the
# server's tree has used no CPU for 0.3 s, so that work it does after the last reply
# (an indexer catching up, Postfix's queue manager) is counted in the run it belongs to
wait_idle() {
	local i a b
	for i in $(seq 600); do
		if [ "$1" = lb ]; then
			[ "$(ss -Htn state established "( sport = :$LB_PORT )" | wc -l)" = 0 ] &&
			    break
		else
			[ "$(pf_queue_count)" = 0 ] && break
		fi
		sleep 0.1
	done
	[ "$i" -lt 600 ] || log "warning: $1 still has sessions or queued mail after 60 s"
	b=$(cpu_ticks "$2")
	for i in $(seq 200); do
		sleep 0.3
		a=$b
		b=$(cpu_ticks "$2")
		[ "$a" = "$b" ] && return 0
	done
	log "warning: $1 still busy after 60 s"
}

smtp_one() {	# server conc rep
	local s=$1 c=$2 rep=$3 port md root name line rc=0 c0 c1 b0 b1 acked cpu_s other
	if [ "$s" = lb ]; then port=$LB_PORT md=$LB_MAILDIR root=$LB_PID name=letterbox
	else port=$PF_PORT md=$PF_MAILDIR root=$PF_ROOT name=postfix; fi
	empty_maildir "$md"
	sleep "$SETTLE"
	wait_idle "$s" "$root"
	b0=$(busy_ticks)
	c0=$(cpu_ticks "$root")
	line=$("$BINDIR/smtp-load" -p "$port" -n "$N" -s "$SIZE" -c "$c" -t "$RCPT" -w "$md" -W 600 \
	    2>>"$ERRLOG") || rc=$?
	wait_idle "$s" "$root"
	c1=$(cpu_ticks "$root")
	b1=$(busy_ticks)
	[ -n "$line" ] || die "smtp-load printed nothing (see $ERRLOG)"
	acked=$(printf '%s\n' "$line" | tr ' ' '\n' | sed -n 's/^acked=//p')
	client=$(printf '%s\n' "$line" | tr ' ' '\n' | sed -n 's/^client_cpu_s=//p')
	cpu_s=$(awk -v a="$c0" -v b="$c1" -v t="$TICK" 'BEGIN { printf "%.2f", (b - a) / t }')
	other=$(awk -v a="$b0" -v b="$b1" -v t="$TICK" -v s="$cpu_s" -v c="$client" \
	    'BEGIN { o = (b - a) / t - s - c; printf "%.2f", (o < 0) ? 0 : o }')
	line="$line kind=smtp server=$s rep=$rep rc=$rc server_cpu_s=$cpu_s other_cpu_s=$other"
	line="$line cpu_ms_per_msg=$(awk -v c="$cpu_s" -v n="$acked" 'BEGIN { printf "%.3f", (n > 0) ? c * 1000 / n : 0 }')"
	echo "$line" >>"$RAW"
	printf '%s\n' "$line" | tr ' ' '\n' | awk -F= -v name="$name" -v c="$c" -v rep="$rep" '
	    { f[$1] = $2 }
	    END { printf "%s C=%s rep %s: acked %s/s, e2e %s/s, p50 %s ms, p99 %s ms, CPU %s ms/msg, errors %s, lost %s, dup %s, other CPU %s s\n",
		  name, c, rep, f["ack_rate"], f["e2e_rate"], f["lat_p50_ms"], f["lat_p99_ms"],
		  f["cpu_ms_per_msg"], f["errors"] + f["rejected"], f["lost"], f["dup"], f["other_cpu_s"] }' >&2
	empty_maildir "$md"
}

phase_smtp() {
	local c rep
	for c in $CONCS; do
		for rep in $(seq "$REPS"); do
			# alternate who goes first, so that neither always follows the other
			if [ $((rep % 2)) = 1 ]; then
				smtp_one lb "$c" "$rep"; smtp_one pf "$c" "$rep"
			else
				smtp_one pf "$c" "$rep"; smtp_one lb "$c" "$rep"
			fi
		done
	done
}

# ------------------------------------------------------------------ mem
pf_smtpd_count() {
	local p n=0
	for p in $(tree_pids "$PF_ROOT"); do [ "$(comm_of "$p")" = smtpd ] && n=$((n + 1)); done
	echo $n
}

mem_one() {	# server rep
	local s=$1 rep=$2 port root before after ready="" i hold out open
	if [ "$s" = lb ]; then port=$LB_PORT root=$LB_PID
	else port=$PF_PORT root=$PF_ROOT; fi
	if [ "$s" = lb ]; then
		# Letterbox keeps idle session processes for reuse too (pruned to 8 after a
		# minute): a restart starts it without any, so that "before" has none and
		# "after" counts one per connection
		stop_letterbox
		start_letterbox
		root=$LB_PID
	fi
	if [ "$s" = pf ]; then
		# Postfix keeps idle smtpd processes for reuse (max_idle 100 s): a reload makes
		# them exit, so that "before" has none and "after" counts all 100
		pf reload >/dev/null 2>&1 || true
		for i in $(seq 300); do [ "$(pf_smtpd_count)" = 0 ] && break; sleep 0.5; done
	fi
	wait_idle "$s" "$root"
	before=$(pss "$root")
	hold=$OUT/hold.fifo out=$OUT/idle.out
	rm -f "$hold"; mkfifo -m 600 "$hold"
	"$BINDIR/smtp-load" -p "$port" -I "$NCONN" -R 30 <"$hold" >"$out" 2>>"$ERRLOG" &
	IDLE_PID=$!
	exec {HOLD_FD}>"$hold"
	for i in $(seq 600); do
		ready=$(sed -n 's/^ready //p' "$out")
		[ -n "$ready" ] && break
		alive "$IDLE_PID" || break
		sleep 0.1
	done
	[ -n "$ready" ] || die "idle connections were not opened (see $ERRLOG)"
	sleep "$MEM_SETTLE"
	after=$(pss "$root")
	exec {HOLD_FD}>&-
	HOLD_FD=""
	wait "$IDLE_PID" || log "warning: idle client reported errors (see $ERRLOG)"
	IDLE_PID=""
	rm -f "$hold"
	open=$ready
	# shellcheck disable=SC2086  # "KiB procs" pairs
	set -- $before $after
	local line
	line="RESULT kind=mem server=$s rep=$rep nconn=$NCONN open=$open pss_before_kib=$1 procs_before=$2 pss_after_kib=$3 procs_after=$4"
	line="$line pss_kib_per_conn=$(awk -v a="$1" -v b="$3" -v n="$open" 'BEGIN { printf "%.1f", (n > 0) ? (b - a) / n : 0 }')"
	line="$line procs_per_conn=$(awk -v a="$2" -v b="$4" -v n="$open" 'BEGIN { printf "%.2f", (n > 0) ? (b - a) / n : 0 }')"
	echo "$line" >>"$RAW"
	log "mem $s rep=$rep: ${line#RESULT kind=mem }"
}

phase_mem() {
	local rep
	for rep in $(seq "$REPS"); do
		mem_one lb "$rep"
		mem_one pf "$rep"
	done
}

for ph in $PHASES; do
	case $ph in
	disk) log "phase disk: $DISK_MODES x procs $DISK_PROCS, $N x $SIZE B, $REPS reps"; phase_disk ;;
	smtp) log "phase smtp: C in $CONCS, $N x $SIZE B, $REPS reps"; phase_smtp ;;
	mem) log "phase mem: $NCONN idle connections, $REPS reps"; phase_mem ;;
	pop3)
		log "phase pop3: bench/pop3.sh (Letterbox POP3 vs Dovecot), results in $OUT/pop3"
		PHASES=${POP3_PHASES:-"retr mem"} OUT=$OUT/pop3 BUILD=0 LB_REV="" \
		    LB_BINDIR=$(dirname "$LB_BIN") WAIT_LOAD="" "$bench/pop3.sh" >/dev/null || POP3_RC=$?
		POP3_REPORT=$OUT/pop3/report.md ;;
	*) die "unknown phase $ph" ;;
	esac
done
echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$REPORT"

# ------------------------------------------------------------------ report
awk -v reps="$REPS" -v n="$N" -v size="$SIZE" -f "$bench/report.awk" "$RAW" >>"$REPORT"
if [ -n "${POP3_REPORT:-}" ] && [ -s "$POP3_REPORT" ]; then
	{ echo; sed 's/^#/##/' "$POP3_REPORT"; } >>"$REPORT"
fi
cat "$REPORT"
log "report: $REPORT (raw RESULT lines: $RAW)"
# exit status 1 if a message was not acknowledged, lost, duplicated or truncated
if [ "${POP3_RC:-0}" != 0 ]; then
	log "the pop3 phase failed (status $POP3_RC; see $OUT/pop3/errors.log)"
	exit 1
fi
if grep '^RESULT .*kind=smtp' "$RAW" | grep -qv ' rc=0 '; then
	log "some runs failed their checks (see the Checks lines and $ERRLOG)"
	exit 1
fi
