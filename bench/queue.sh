#!/bin/bash
# bench/queue.sh -- outbound queue throughput: Letterbox's queue next to Postfix's,
# both relaying MSGS messages to the same local counting sink (bench/count-sink.c).
#
#   sudo bench/queue.sh                          # 5 runs x (LB, PF, PF8) x RCPTS "1 100"
#   sudo RUNS=1 MSGS=200 bench/queue.sh          # a quick try
#   sudo RCPTS=100 SERVERS="lb pf" bench/queue.sh
#   sudo LB_REV=HEAD bench/queue.sh              # the last commit, built apart (git archive)
#
# Per run: MSGS messages of SIZE bytes with R recipients each (R from RCPTS) are
# submitted over CONC connections kept open for all of them (bench/smtp-submit.c):
#   lb   Letterbox: submissions_listen (TLS from the first byte) + AUTH PLAIN with an
#        app password, as a mail client submits; MAIL FROM:<alice@example.test>,
#        RCPT TO:<rcpt@remote.test> (R = 1) or <r0..r{R-1}@remote.test>. Remote
#        recipients: into the outbound queue, delivered through
#        "smarthost 127.0.0.1:SINK_PORT", "smarthost_tls none", queue_concurrency
#        QCONC (8, the default).
#   pf   Postfix 3.7, defaults, plain SMTP from mynetworks (127.0.0.0/8, no TLS, no
#        AUTH), "relayhost = [127.0.0.1]:SINK_PORT": the default destination
#        concurrency limit is 20 (initial 5), 50 recipients per transaction.
#   pf8  the same with smtp_destination_concurrency_limit = QCONC (8), as Letterbox.
#   lb2  (not in the default) a second Letterbox, same config, other binaries:
#        LB2_PATCH=FILE builds lb's revision (LB_REV, else HEAD) with FILE applied
#        (patch -p1) into $LB_BENCH_STATE/src/<rev>-<hash>; or LB2_BINDIR=DIR. For
#        measuring a fix side by side: SERVERS="lb lb2 pf pf8".
# The sink acknowledges everything and counts, per message (X-Bench-Id), the
# recipients delivered; it notes when the last message became complete.
#
# Figures per run (CLOCK_MONOTONIC, the same clock in all three programs):
#   accept  first MAIL .. last 250 to end of data at the server (accept_rate = MSGS/accept_s)
#   e2e     first MAIL .. the sink's 250 that completed the last message
#   drain   last accept .. that last sink 250; drain_rate = MSGS / drain_s (the
#           issue's "queue throughput"); backlog = messages not yet complete at the
#           sink when the last one was accepted, backlog_rate = backlog / drain_s
#   lat     per message: server's 250 .. sink's 250 (p50, p99)
#   CPU     of the server's process tree (/proc: utime+stime+cutime+cstime), from
#           after the logins to the queue being empty and the tree still
# RUNS runs per server and R, interleaved (the order rotates every run), each after
# the machine is quiet (WAIT_LOAD: 1-min load average below it; QUIET_PCT: less than
# that % of all CPUs busy over 2 s). A warm-up run per server first (not counted).
#
# Environment (defaults): RUNS (5) MSGS (1000) RCPTS ("1 100") SIZE (4096) CONC (8)
# QCONC (8) SERVERS ("lb pf pf8") WAIT_LOAD (1.0) WAIT_LOAD_MAX (900 s per run)
# QUIET_PCT (20) WARMUP (1) LB_DKIM (0; 1: DKIM keys made, messages signed)
# SINK_PORT (2599) LBQ_SUBS_PORT (2765) LBQ_SMTP_PORT (2766) PFQ_PORT (2626)
# PFQ8_PORT (2627) LBQ2_SUBS_PORT (2767) LBQ2_SMTP_PORT (2768) LB2_PATCH LB2_BINDIR
# LB_REV / BUILD / LB_BINDIR (see lib.sh) OUT (report directory,
# default $LB_BENCH_STATE/results/queue-<UTC time>) KEEP (0; 1: keep the temp dir).
#
# Loopback only; no DNS (Letterbox: smarthost given as an IP literal, dns_resolver
# 127.0.0.1:9; Postfix: relayhost [127.0.0.1], smtp_dns_support_level = disabled; both
# run in a mount namespace whose /etc/resolv.conf names only 127.0.0.1). It stops
# only what it started, by PID (Letterbox) or by its own config dir (postfix -c).
set -euo pipefail
bench=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$bench/.." && pwd)
# shellcheck source=lib.sh
. "$bench/lib.sh"

RUNS=${RUNS:-5}
MSGS=${MSGS:-1000}
RCPTS=${RCPTS:-"1 100"}
SIZE=${SIZE:-4096}
CONC=${CONC:-8}
QCONC=${QCONC:-8}
SERVERS=${SERVERS:-"lb pf pf8"}
WAIT_LOAD=${WAIT_LOAD-1.0}
WAIT_LOAD_MAX=${WAIT_LOAD_MAX:-900}
QUIET_PCT=${QUIET_PCT:-20}
WARMUP=${WARMUP:-1}
LB_DKIM=${LB_DKIM:-0}
SINK_PORT=${SINK_PORT:-2599}
LBQ_SUBS_PORT=${LBQ_SUBS_PORT:-2765}
LBQ_SMTP_PORT=${LBQ_SMTP_PORT:-2766}
LBQ2_SUBS_PORT=${LBQ2_SUBS_PORT:-2767}
LBQ2_SMTP_PORT=${LBQ2_SMTP_PORT:-2768}
PFQ_PORT=${PFQ_PORT:-2626}
PFQ8_PORT=${PFQ8_PORT:-2627}
SINK_TIMEOUT=${SINK_TIMEOUT:-900}
KEEP=${KEEP:-0}
# CC CFLAGS BUILD: lib.sh
OUT=${OUT:-$STATE/results/queue-$(date -u +%Y%m%dT%H%M%SZ)}
NCPU=$(nproc)

start_run	# root, $OUT, $RAW, $REPORT, $ERRLOG (lib.sh)

for s in $SERVERS; do
	case $s in lb|lb2|pf|pf8) ;; *) die "SERVERS: lb, lb2, pf, pf8 only (not $s)" ;; esac
done
ports_free "see the *_PORT variables" "$SINK_PORT" "$LBQ_SUBS_PORT" "$LBQ_SMTP_PORT" \
    "$LBQ2_SUBS_PORT" "$LBQ2_SMTP_PORT" "$PFQ_PORT" "$PFQ8_PORT"
command -v postfix >/dev/null || die "no postfix: run bench/postfix.sh up once (it installs it), or apt-get install postfix"
command -v openssl >/dev/null || die "no openssl"

# ------------------------------------------------------------------ build
build_tools smtp-submit count-sink
letterbox_binaries queue.sh
ensure_user	# lbbench (lib.sh), the account Letterbox runs as

# The temp dir: configs, certificate, Letterbox's Maildir and state, the Postfix
# instances' config and queue directories. Binaries are copied in, so that a rebuild
# of bin/ by someone else during the run changes nothing.
TMPD=$(mktemp -d "$STATE/queue.XXXXXX")
chmod 755 "$TMPD"
install -d -m 755 "$TMPD/bin"
cp "$LB_BINDIR/letterbox-smtpd" "$LB_BINDIR/letterbox" "$TMPD/bin/"
if [[ " $SERVERS " == *" lb2 "* ]] && [ -n "${LB2_PATCH:-}" ]; then
	# lb2: the revision of lb (LB_REV, else HEAD) with LB2_PATCH applied, built apart
	[ -r "$LB2_PATCH" ] || die "LB2_PATCH=$LB2_PATCH: no such file"
	rev2=$(git -C "$top" rev-parse --verify "${LB_REV:-HEAD}^{commit}") || die "no such commit: ${LB_REV:-HEAD}"
	src2=$STATE/src/${rev2:0:12}-$(sha256sum <"$LB2_PATCH" | cut -c1-8)
	if [ ! -e "$src2/.built" ]; then
		log "building Letterbox ${rev2:0:12} + $(basename "$LB2_PATCH") in $src2"
		rm -rf "$src2"
		mkdir -p "$src2"
		git -C "$top" archive "$rev2" | tar -x -C "$src2"
		patch -d "$src2" -p1 <"$LB2_PATCH" >"$OUT/patch.log" 2>&1 || die "the patch does not apply, see $OUT/patch.log"
		make -s -C "$src2" >"$OUT/make-lb2.log" 2>&1 || die "make failed, see $OUT/make-lb2.log"
		touch "$src2/.built"
	fi
	LB2_BINDIR=$src2/bin
	LB2_DESC="commit ${rev2:0:12} + $(basename "$LB2_PATCH")"
fi
if [[ " $SERVERS " == *" lb2 "* ]]; then
	[ -n "${LB2_BINDIR:-}" ] && [ -x "$LB2_BINDIR/letterbox-smtpd" ] ||
	    die "SERVERS has lb2: set LB2_PATCH (a patch to lb's revision) or LB2_BINDIR (a directory with letterbox-smtpd and letterbox)"
	install -d -m 755 "$TMPD/bin2"
	cp "$LB2_BINDIR/letterbox-smtpd" "$LB2_BINDIR/letterbox" "$TMPD/bin2/"
fi
# per Letterbox instance (lb, lb2): binaries, directory, ports, PID
declare -A LB_SMTPD=([lb]=$TMPD/bin/letterbox-smtpd [lb2]=$TMPD/bin2/letterbox-smtpd)
declare -A LB_CLI=([lb]=$TMPD/bin/letterbox [lb2]=$TMPD/bin2/letterbox)
declare -A LBD=([lb]=$TMPD/lb [lb2]=$TMPD/lb2)
declare -A LB_SUBS=([lb]=$LBQ_SUBS_PORT [lb2]=$LBQ2_SUBS_PORT)
declare -A LB_SMTP=([lb]=$LBQ_SMTP_PORT [lb2]=$LBQ2_SMTP_PORT)
declare -A LB_PID=([lb]="" [lb2]="")
PF_STARTED=""
SINK_PID=""
SUB_PID=""
SINK_FD=""
SUB_FD=""

stop_letterbox() {	# lb|lb2
	local pid=${LB_PID[$1]}
	LB_PID[$1]=""
	stop_tree "$pid" letterbox-smtpd
}
pfq() { postfix -c "$TMPD/$1/etc" "${@:2}"; }
pfq_pid() { master_pid "$TMPD/$1/spool/pid/master.pid"; }
cleanup() {
	local rc=$? s
	if [ -n "$SUB_FD" ]; then eval "exec $SUB_FD>&-" || true; fi
	if [ -n "$SINK_FD" ]; then eval "exec $SINK_FD>&-" || true; fi
	if alive "$SUB_PID"; then kill "$SUB_PID" 2>/dev/null || true; fi
	if alive "$SINK_PID"; then kill "$SINK_PID" 2>/dev/null || true; fi
	stop_letterbox lb
	stop_letterbox lb2
	for s in $PF_STARTED; do
		pfq "$s" stop >>"$TMPD/$s/postfix.stderr" 2>&1 || true
	done
	if [ "$KEEP" != 1 ] && [ -n "${TMPD:-}" ] && [ -d "$TMPD" ]; then
		# the servers' logs (~80 MB for a whole run: a line per recipient), compressed
		for s in lb lb2; do gzip -c "${LBD[$s]}/letterbox.log" >"$OUT/letterbox-$s.log.gz" 2>/dev/null || rm -f "$OUT/letterbox-$s.log.gz"; done
		for s in pf pf8; do gzip -c "$TMPD/$s/log/postfix.log" >"$OUT/postfix-$s.log.gz" 2>/dev/null || rm -f "$OUT/postfix-$s.log.gz"; done
		# the queues created and removed files all along: run.sh waits DELETE_WAIT after this
		remove_trash "$TMPD"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ Letterbox
setup_letterbox() {	# lb|lb2
	local d=${LBD[$1]} pw
	install -d -m 755 "$d" "$d/tls"
	install -d -o "$BENCH_USER" -g "$BENCH_USER" -m 700 "$d/state" "$d/Maildir"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	    -keyout "$d/tls/key.pem" -out "$d/tls/cert.pem" 2>/dev/null || die "openssl req failed"
	chmod 600 "$d/tls/key.pem"
	cat >"$d/letterbox.conf" <<EOF
# Generated by bench/queue.sh -- Letterbox relaying to the benchmark's sink.
hostname $1.example.test
domains example.test
local_parts alice
maildir $d/Maildir
state_dir $d/state
user $BENCH_USER
smtp_listen 127.0.0.1:${LB_SMTP[$1]}
submissions_listen 127.0.0.1:${LB_SUBS[$1]}
tls_cert $d/tls/cert.pem
tls_key $d/tls/key.pem
smarthost 127.0.0.1:$SINK_PORT
smarthost_tls none
queue_concurrency $QCONC
dns_resolver 127.0.0.1:9
# the indexer's periodic resync (5 min by default) would land in some run
index_resync 1d
EOF
	"${LB_SMTPD[$1]}" -n -f "$d/letterbox.conf" >/dev/null || die "bad Letterbox config"
	pw=$("${LB_CLI[$1]}" -f "$d/letterbox.conf" passwd add bench | sed -n 's/^app password for bench: //p')
	[ -n "$pw" ] || die "letterbox passwd add printed no password"
	( umask 077; echo "alice@example.test $pw" >"$d/auth" )
	if [ "$LB_DKIM" = 1 ]; then
		"${LB_CLI[$1]}" -f "$d/letterbox.conf" dkim keygen >"$d/dkim.txt" || die "dkim keygen failed"
	fi
}

start_letterbox() {	# lb|lb2
	local d=${LBD[$1]}
	lb_start "LB_PID[$1]" "${LB_SMTPD[$1]}" "$d/letterbox.conf" "$d/letterbox.log" "Letterbox ($1)"
	log "letterbox-smtpd $1 running (pid ${LB_PID[$1]}, submissions 127.0.0.1:${LB_SUBS[$1]}, smarthost 127.0.0.1:$SINK_PORT)"
}

lb_queue_count() {	# lb|lb2
	find "${LBD[$1]}/state/queue/msg" "${LBD[$1]}/state/queue/state" -mindepth 1 -maxdepth 1 \
	    ! -name '.*' 2>/dev/null | wc -l
}

# ------------------------------------------------------------------ Postfix
# $1: pf (defaults) or pf8 (smtp_destination_concurrency_limit = QCONC); $2: port
setup_postfix() {
	local s=$1 port=$2 d=$TMPD/$1 extra=""
	install -d -m 755 "$d" "$d/etc" "$d/log"
	install -d -o root -g root -m 755 "$d/spool"
	install -d -o postfix -g postfix -m 700 "$d/data"
	if [ "$s" = pf8 ]; then
		extra="# as Letterbox's queue_concurrency (the default limit is 20)
smtp_destination_concurrency_limit = $QCONC"
	fi
	cat >"$d/etc/main.cf" <<EOF
# Generated by bench/queue.sh -- Postfix relaying to the benchmark's sink.
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
myhostname = $s.example.test
mydomain = example.test
myorigin = \$mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
# Clients on loopback may relay (the benchmark's submitter: plain SMTP, no AUTH).
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
# Everything goes to the sink.
relayhost = [127.0.0.1]:$SINK_PORT
smtp_tls_security_level = none
local_transport = error:no local delivery in this benchmark instance
alias_maps =
alias_database =
biff = no
# No DNS (the instance also runs in a mount namespace whose resolv.conf is 127.0.0.1).
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no
maillog_file = $d/log/postfix.log
maillog_file_prefixes = /var, $STATE
readme_directory = no
$extra
EOF
	# master.cf: lib.sh's services (as Debian's, without chroot), smtpd on 127.0.0.1:$port
	{ echo "# Generated by bench/queue.sh"; pf_master_cf "$port" -; } >"$d/etc/master.cf"
	pf_start "$d/etc" "$d/postfix.stderr" "postfix ($s)"
	PF_STARTED="$PF_STARTED $s"
	pf_wait "$d/spool/pid/master.pid" "$port" "postfix ($s)"
	log "postfix $s running (master pid $PF_MASTER, 127.0.0.1:$port, relayhost [127.0.0.1]:$SINK_PORT)"
}

# ------------------------------------------------------------------ runs
server_root() { case $1 in lb*) echo "${LB_PID[$1]}" ;; *) pfq_pid "$1" ;; esac; }
server_port() { case $1 in lb*) echo "${LB_SUBS[$1]}" ;; pf) echo "$PFQ_PORT" ;; pf8) echo "$PFQ8_PORT" ;; esac; }
queue_count() { case $1 in lb*) lb_queue_count "$1" ;; *) pf_queue_count "$TMPD/$1/spool" ;; esac; }

# the queue is empty, then the server's tree is still (lib.sh's wait_still)
wait_idle() {
	local s=$1 root=$2 i
	for i in $(seq 1200); do
		[ "$(queue_count "$s")" = 0 ] && break
		sleep 0.1
	done
	[ "$i" -lt 1200 ] || log "warning: $s still has queued mail after 120 s"
	wait_still "$root" "$s"
}

# the machine is quiet: load average (WAIT_LOAD, lib.sh) and < QUIET_PCT % busy over 2 s
wait_quiet() {
	local waited=0 b0 b1 pct
	WAIT_LOAD_MAX=$WAIT_LOAD_MAX wait_load
	while :; do
		b0=$(busy_ticks)
		sleep 2
		b1=$(busy_ticks)
		pct=$(( (b1 - b0) * 100 / (2 * TICK * NCPU) ))
		[ "$pct" -lt "$QUIET_PCT" ] && break
		waited=$((waited + 2))
		if [ "$waited" -ge "$WAIT_LOAD_MAX" ]; then
			log "machine still ${pct}% busy after ${waited} s: running anyway"
			break
		fi
		[ $((waited % 30)) = 0 ] && log "machine ${pct}% busy: waiting"
	done
	QUIET_LAST=$pct
}

# kv FILE PREFIX KEY: the value of KEY= on the (last) line of FILE starting with PREFIX
kv() { field "$(grep "^$2" "$1" 2>/dev/null | tail -1)" "$3"; }

# wait_line FILE PREFIX SECONDS PID: until FILE has a line starting with PREFIX
wait_line() {
	local i
	for i in $(seq $(($3 * 20))); do
		grep -q "^$2" "$1" 2>/dev/null && return 0
		if [ -n "${4:-}" ] && ! alive "$4"; then grep -q "^$2" "$1" 2>/dev/null && return 0; return 1; fi
		sleep 0.05
	done
	return 1
}

run_one() {	# server R rep (rep 0: warm-up, not recorded)
	local s=$1 r=$2 rep=$3 n=$MSGS port root dir runid line rc=0 c0 c1 b0 b1 la
	[ "$rep" = 0 ] && n=$(( MSGS / 10 > 50 ? MSGS / 10 : 50 ))
	port=$(server_port "$s")
	root=$(server_root "$s")
	[ -n "$root" ] || die "$s is not running"
	dir=$OUT/runs/r$r-$rep-$s
	mkdir -p "$dir"
	runid="q$(date +%s)r${r}x${rep}${s}"
	wait_quiet
	la=$(cut -d' ' -f1 /proc/loadavg)

	# the sink, held open by a FIFO until the run ends
	rm -f "$dir/sink.fifo" "$dir/submit.fifo"
	mkfifo -m 600 "$dir/sink.fifo" "$dir/submit.fifo"
	"$BINDIR/count-sink" -p "$SINK_PORT" -n "$n" -r "$r" -i "$runid" -T "$SINK_TIMEOUT" \
	    -o "$dir/sink-times" <"$dir/sink.fifo" >"$dir/sink.out" 2>>"$ERRLOG" &
	SINK_PID=$!
	exec {SINK_FD}>"$dir/sink.fifo"
	wait_line "$dir/sink.out" ready 10 "$SINK_PID" || die "count-sink did not start (see $ERRLOG)"

	# the submitter: logs in, says "ready", waits for the go
	local auth=()
	case $s in lb*) auth=(-T -A "${LBD[$s]}/auth") ;; esac
	"$BINDIR/smtp-submit" -p "$port" -n "$n" -r "$r" -s "$SIZE" -c "$CONC" -i "$runid" \
	    "${auth[@]}" -G -o "$dir/ack-times" <"$dir/submit.fifo" >"$dir/submit.out" 2>>"$ERRLOG" &
	SUB_PID=$!
	exec {SUB_FD}>"$dir/submit.fifo"
	wait_line "$dir/submit.out" ready 60 "$SUB_PID" || die "smtp-submit did not log in (see $ERRLOG)"
	wait_idle "$s" "$root"	# the logins' CPU (argon2id for Letterbox) is not counted
	b0=$(busy_ticks)
	c0=$(cpu_ticks "$root")
	echo go >&"$SUB_FD"
	wait "$SUB_PID" || rc=$?
	SUB_PID=""
	eval "exec $SUB_FD>&-"
	SUB_FD=""
	# every message acknowledged: the sink completes; if not, it never will
	if [ "$rc" = 0 ]; then
		wait_line "$dir/sink.out" RESULT "$SINK_TIMEOUT" "$SINK_PID" || log "warning: the sink never completed"
	else
		log "warning: smtp-submit failed (status $rc, see $ERRLOG)"
		wait_line "$dir/sink.out" RESULT 30 "$SINK_PID" || true
	fi
	wait_idle "$s" "$root"
	c1=$(cpu_ticks "$root")
	b1=$(busy_ticks)
	local t_last
	t_last=$(kv "$dir/submit.out" RESULT t_last_ack)
	echo "at ${t_last:-0}" >&"$SINK_FD"
	wait_line "$dir/sink.out" AT 10 "$SINK_PID" || true
	eval "exec $SINK_FD>&-"
	SINK_FD=""
	wait "$SINK_PID" || true
	SINK_PID=""
	rm -f "$dir/sink.fifo" "$dir/submit.fifo"

	# one RESULT line: the submitter's, the sink's, and what follows from them
	local sub sink fin at lat
	sub=$(grep '^RESULT' "$dir/submit.out" | sed 's/^RESULT kind=submit //')
	sink=$(grep '^RESULT' "$dir/sink.out" | sed 's/^RESULT kind=sink //; s/ n=[0-9]* r=[0-9]* / /')
	fin=$(grep '^FINAL' "$dir/sink.out" | tr ' ' '\n' | grep -E '^(dup_rcpts|foreign|truncated|cpu_s|transactions|conns)=' |
	    sed 's/^/final_/' | tr '\n' ' ')
	at=$(kv "$dir/sink.out" AT complete)
	lat=$(awk 'NR == FNR { a[$1] = $2; next } ($1 in a) { print ($2 - a[$1]) * 1000 }' \
	    "$dir/ack-times" "$dir/sink-times" 2>/dev/null | sort -n |
	    awk '{ v[NR] = $1 } END { if (NR == 0) { print "qlat_p50_ms=0 qlat_p99_ms=0 qlat_max_ms=0"; exit }
		i50 = int(NR * .50 + .999999); i99 = int(NR * .99 + .999999)
		printf "qlat_p50_ms=%.1f qlat_p99_ms=%.1f qlat_max_ms=%.1f", v[i50], v[i99], v[NR] }')
	line="RESULT kind=queue server=$s rcpts=$r rep=$rep msgs=$n rc=$rc $sub $sink $fin complete_at_last_accept=${at:-0} $lat"
	line=$(printf '%s\n' "$line" | awk -v c0="$c0" -v c1="$c1" -v b0="$b0" -v b1="$b1" -v t="$TICK" -v la="$la" -v q="$QUIET_LAST" '
	    { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
	    END {
		cpu = (c1 - c0) / t; busy = (b1 - b0) / t
		other = busy - cpu - f["client_cpu_s"] - f["final_cpu_s"]; if (other < 0) other = 0
		e2e = (f["complete"] == 1) ? f["t_done"] - f["t_first"] : 0
		drain = (f["complete"] == 1) ? f["t_done"] - f["t_last_ack"] : 0
		backlog = f["msgs"] - f["complete_at_last_accept"]
		printf "%s server_cpu_s=%.2f cpu_ms_per_msg=%.3f other_cpu_s=%.2f e2e_s=%.4f e2e_rate=%.1f drain_s=%.4f drain_rate=%.1f backlog=%d backlog_rate=%.1f load=%s quiet_pct=%s\n",
		    $0, cpu, cpu * 1000 / f["msgs"], other, e2e, (e2e > 0) ? f["msgs"] / e2e : 0,
		    drain, (drain > 0) ? f["msgs"] / drain : 0, backlog,
		    (drain > 0) ? backlog / drain : 0, la, q }')
	[ "$rep" = 0 ] || echo "$line" >>"$RAW"
	printf '%s\n' "$line" | tr ' ' '\n' | awk -F= -v s="$s" -v r="$r" -v rep="$rep" '
	    { f[$1] = $2 }
	    END { printf "%s R=%s %s: accept %s/s (%.3f s), e2e %s/s (%.3f s), drain %.3f s (backlog %s), qlat p50 %s ms, CPU %s s (%s ms/msg), errors %d, dup %d, other CPU %s s\n",
		  s, r, rep == 0 ? "warm-up" : "run " rep, f["accept_rate"], f["accept_s"], f["e2e_rate"], f["e2e_s"],
		  f["drain_s"], f["backlog"], f["qlat_p50_ms"], f["server_cpu_s"], f["cpu_ms_per_msg"],
		  f["errors"] + f["rejected"] + (1 - f["complete"]), f["final_dup_rcpts"], f["other_cpu_s"] }' >&2
}

# ------------------------------------------------------------------ main
for s in $SERVERS; do
	case $s in
	lb|lb2) setup_letterbox "$s"; start_letterbox "$s" ;;
	pf) setup_postfix pf "$PFQ_PORT" ;;
	pf8) setup_postfix pf8 "$PFQ8_PORT" ;;
	esac
done

pf_version=$(postconf -d -h mail_version 2>/dev/null || echo unknown)
{
	report_head "Outbound queue: Letterbox vs Postfix -- bench/queue.sh" "queues in $TMPD"
	echo "- Letterbox (lb): $LB_DESC$([[ " $SERVERS " == *" lb2 "* ]] && echo "; lb2: binaries from $LB2_BINDIR${LB2_DESC:+ ($LB2_DESC)}"); submissions 127.0.0.1:$LBQ_SUBS_PORT (lb2 $LBQ2_SUBS_PORT; implicit TLS + AUTH PLAIN), queue_concurrency $QCONC, smarthost 127.0.0.1:$SINK_PORT (no TLS), DKIM $([ "$LB_DKIM" = 1 ] && echo 'on (ed25519 + rsa)' || echo off)"
	echo "- Postfix $pf_version: pf = defaults (127.0.0.1:$PFQ_PORT), pf8 = smtp_destination_concurrency_limit $QCONC (127.0.0.1:$PFQ8_PORT); plain SMTP from mynetworks; relayhost [127.0.0.1]:$SINK_PORT"
	echo "- settings: RUNS=$RUNS MSGS=$MSGS RCPTS=\"$RCPTS\" SIZE=$SIZE CONC=$CONC SERVERS=\"$SERVERS\" WAIT_LOAD=$WAIT_LOAD QUIET_PCT=$QUIET_PCT"
	load_line start
} >"$REPORT"

# shellcheck disable=SC2086
set -- $SERVERS
nserv=$#
for r in $RCPTS; do
	if [ "$WARMUP" = 1 ]; then
		for s in $SERVERS; do run_one "$s" "$r" 0; done
	fi
	for rep in $(seq "$RUNS"); do
		# rotate the order: lb pf pf8, pf pf8 lb, pf8 lb pf, ...
		# shellcheck disable=SC2086
		set -- $SERVERS
		k=$(( (rep - 1) % nserv ))
		order=""
		for i in $(seq 0 $((nserv - 1))); do
			j=$(( (i + k) % nserv + 1 ))
			order="$order ${!j}"
		done
		for s in $order; do run_one "$s" "$r" "$rep"; done
	done
done
load_line end >>"$REPORT"
python3 "$bench/queue-report.py" "$RAW" >>"$REPORT"
cat "$REPORT"
log "report: $REPORT (raw RESULT lines: $RAW)"
if grep '^RESULT' "$RAW" | grep -qv ' rc=0 '; then
	log "some runs failed (not every message acknowledged; see $ERRLOG)"
	exit 1
fi
if grep '^RESULT' "$RAW" | grep -qE ' complete=0 | final_dup_rcpts=[1-9]| final_truncated=[1-9]| final_foreign=[1-9]'; then
	log "some runs failed their checks (incomplete, duplicated, truncated or foreign messages at the sink)"
	exit 1
fi
