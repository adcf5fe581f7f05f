# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this
# Shared by bench/postfix.sh, run.sh, pop3.sh and queue.sh (sourced, not run). Needs
# $bench set to the directory of this file (and $top to the work tree, for
# letterbox_binaries).

STATE=${LB_BENCH_STATE:-/var/tmp/letterbox-bench-own}
BENCH_USER=${LB_BENCH_USER:-lbbench}
BENCH_GECOS="Letterbox bench (bench/postfix.sh)"
PF_PORT=${PF_PORT:-2625}
LB_PORT=${LB_PORT:-2725}
RCPT="$BENCH_USER@example.test"

PF_CONF=$STATE/postfix/etc          # config_directory (main.cf, master.cf)
PF_SPOOL=$STATE/postfix/spool       # queue_directory
PF_DATA=$STATE/postfix/data         # data_directory
PF_PIDFILE=$PF_SPOOL/pid/master.pid
PF_HOME=$STATE/home/$BENCH_USER     # the bench user's home: Postfix delivers to ~/Maildir
PF_MAILDIR=$PF_HOME/Maildir
LB_DIR=$STATE/letterbox
LB_MAILDIR=$LB_DIR/Maildir          # Letterbox's Maildir, also owned by the bench user
LOGDIR=$STATE/log
RESOLV=$STATE/resolv.conf
BINDIR=$STATE/bin
CC=${CC:-cc}                        # build_tools
CFLAGS=${CFLAGS:-"-O2 -g -std=gnu17 -Wall -Wextra"}
BUILD=${BUILD:-1}                   # letterbox_binaries: 0 = do not run make
TICK=$(getconf CLK_TCK)             # the unit of /proc/PID/stat's CPU times

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_from() { if [ -s "$1" ]; then tr -dc '0-9' <"$1"; fi; }
comm_of() { cat "/proc/$1/comm" 2>/dev/null || true; }
listening() { ss -Hltn "sport = :$1" | grep -q .; }
# ports_free HINT PORT... : die if something listens on one of them
ports_free() {
	local hint=$1 p
	shift
	for p in "$@"; do
		if listening "$p"; then die "port $p is in use ($hint)"; fi
	done
}
# no_sessions PORT : no established TCP connection to the local PORT
no_sessions() { [ "$(ss -Htn state established "( sport = :$1 )" | wc -l)" = 0 ]; }
# field LINE KEY : the value of KEY= in a "RESULT key=value ..." line
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# start_run: root, the state directory, and this run's results: $OUT (made), $RAW,
# $REPORT, $ERRLOG (emptied); $TRASH, where the files a run no longer needs go until
# it ends (trash_maildir, remove_trash)
start_run() {
	need_root
	check_state_dir
	install -d -m 755 "$STATE" "$BINDIR" "$LOGDIR" "$STATE/results"
	mkdir -p "$OUT"
	RAW=$OUT/raw.txt
	REPORT=$OUT/report.md
	ERRLOG=$OUT/errors.log
	: >"$RAW"
	: >"$ERRLOG"
	TRASH=$STATE/trash/$(basename "$OUT")
}

# The C clients named in "$@" (bench/<name>.c, which include bench/common.h) into
# $BINDIR, built afresh each run with $CC $CFLAGS. smtp-submit and soak-load (TLS)
# link OpenSSL.
build_tools() {
	local prog libs
	command -v "$CC" >/dev/null || die "no C compiler ($CC): apt-get install gcc libc6-dev"
	for prog in "$@"; do
		libs=""
		case $prog in smtp-submit | soak-load) libs="-lssl -lcrypto" ;; esac
		if [ -n "$libs" ] && [ ! -e /usr/include/openssl/ssl.h ]; then
			die "$prog needs OpenSSL's headers: apt-get install libssl-dev"
		fi
		# shellcheck disable=SC2086
		"$CC" $CFLAGS -pthread -o "$BINDIR/$prog.new" "$bench/$prog.c" $libs || die "cannot build $prog"
		mv -f "$BINDIR/$prog.new" "$BINDIR/$prog"
	done
}

# Letterbox's binaries for this run; sets LB_BINDIR and LB_DESC. $1: the script, for
# messages. LB_BIN: that letterbox-smtpd, as it is (the others from its directory);
# else LB_REV: a committed revision, built from `git archive` outside the work tree
# into $STATE/src/<rev> (the numbers then belong to that commit, whatever else the
# work tree holds); else the work tree's bin/, made first unless BUILD=0; else the
# LB_BINDIR given.
letterbox_binaries() {
	local me=$1 rev src
	if [ -n "${LB_BIN:-}" ]; then
		LB_BINDIR=$(dirname "$LB_BIN")
		LB_DESC="binary $LB_BIN (not built by $me)"
		return 0
	fi
	LB_BINDIR=${LB_BINDIR:-$top/bin}
	if [ -n "${LB_REV:-}" ]; then
		rev=$(git -C "$top" rev-parse --verify "$LB_REV^{commit}") || die "LB_REV=$LB_REV: no such commit"
		src=$STATE/src/${rev:0:12}
		if [ ! -e "$src/.built" ]; then
			log "building Letterbox ${rev:0:12} in $src"
			rm -rf "$src"
			mkdir -p "$src"
			git -C "$top" archive "$rev" | tar -x -C "$src"
			make -s -C "$src" >"$OUT/make.log" 2>&1 || die "make failed, see $OUT/make.log"
			touch "$src/.built"
		fi
		LB_BINDIR=$src/bin
		LB_DESC="commit ${rev:0:12} (LB_REV=$LB_REV, built from git archive)"
	elif [ "$BUILD" = 1 ] && [ "$LB_BINDIR" = "$top/bin" ]; then
		log "building Letterbox (make -C $top)"
		make -s -C "$top" >"$OUT/make.log" 2>&1 || die "make failed, see $OUT/make.log (BUILD=0 uses the existing binaries)"
		LB_DESC="work tree $(git -C "$top" describe --always --dirty 2>/dev/null || echo '(no git)')"
	else
		LB_DESC="binaries in $LB_BINDIR (not built by $me)"
	fi
}

need_root() { [ "$(id -u)" = 0 ] || die "run as root (it starts servers, creates the bench user, reads /proc of other users)"; }

check_state_dir() {
	case $STATE in
	/*) ;;
	*) die "LB_BENCH_STATE must be an absolute path: $STATE" ;;
	esac
	case $STATE in
	*[!A-Za-z0-9._/+-]*) die "LB_BENCH_STATE: letters, digits and . _ / + - only: $STATE" ;;
	esac
	[ ${#STATE} -le 60 ] || die "LB_BENCH_STATE longer than 60 characters (unix sockets live below it)"
}

# The DNS configuration every benchmarked server sees: loopback only.
write_resolv() {
	printf '%s\n' '# bench/: the benchmarked servers resolve nothing off loopback' \
	    'nameserver 127.0.0.1' 'options timeout:1 attempts:1' >"$RESOLV.tmp"
	chmod 644 "$RESOLV.tmp"
	mv -f "$RESOLV.tmp" "$RESOLV"
}

# ns_exec CMD... : exec CMD (same PID) in a private mount namespace whose
# /etc/resolv.conf is $RESOLV ("nameserver 127.0.0.1").
ns_exec() {
	# shellcheck disable=SC2016  # expanded by the inner sh
	exec unshare -m --propagation private sh -c '
		mount --bind "$1" /etc/resolv.conf || exit 1
		shift; exec "$@"' sh "$RESOLV" "$@"
}

# resolv_ok PID : the process sees no nameserver but 127.0.0.1
resolv_ok() {
	local f=/proc/$1/root/etc/resolv.conf
	[ -r "$f" ] || return 1
	awk '$1 == "nameserver" && $2 != "127.0.0.1" { bad = 1 } END { exit bad }' "$f"
}

# The bench user: no login, home under $STATE. Created by us (GECOS marks it) or
# taken over with LB_BENCH_ADOPT_USER=1.
ensure_user() {
	local pw home gecos
	if pw=$(getent passwd "$BENCH_USER"); then
		gecos=$(printf '%s' "$pw" | cut -d: -f5)
		home=$(printf '%s' "$pw" | cut -d: -f6)
		if [ "$gecos" != "$BENCH_GECOS" ] && [ "${LB_BENCH_ADOPT_USER:-0}" != 1 ]; then
			die "user $BENCH_USER exists and was not created by bench/ (set LB_BENCH_USER to another name, or LB_BENCH_ADOPT_USER=1)"
		fi
		if [ "$home" != "$PF_HOME" ]; then
			log "user $BENCH_USER: home $home -> $PF_HOME"
			usermod -d "$PF_HOME" "$BENCH_USER"
		fi
	else
		log "creating user $BENCH_USER (no login, home $PF_HOME)"
		useradd --system --no-create-home --home-dir "$PF_HOME" --shell /usr/sbin/nologin \
		    --comment "$BENCH_GECOS" --user-group "$BENCH_USER"
	fi
	install -d -m 755 "$STATE/home"
	install -d -o "$BENCH_USER" -g "$BENCH_USER" -m 700 "$PF_HOME"
	install -d -m 755 "$LB_DIR"
	local md d
	for md in "$PF_MAILDIR" "$LB_MAILDIR"; do
		for d in "$md" "$md/tmp" "$md/new" "$md/cur"; do
			install -d -o "$BENCH_USER" -g "$BENCH_USER" -m 700 "$d"
		done
	done
}

# lb_start VAR BIN CONF LOG WHAT : a Letterbox daemon (letterbox-smtpd, -pop3d), BIN -d
# -f CONF -r 3, in the loopback-DNS namespace, its output appended to LOG; its PID goes
# into the variable named VAR at once (for the caller's cleanup); then it must say
# "ready" within 20 s (fd 3, through a FIFO next to CONF) and be what we started
lb_start() {
	local var=$1 bin=$2 conf=$3 logf=$4 what=$5 fifo line="" pid name
	fifo=$(dirname "$conf")/ready.fifo
	name=$(basename "$bin")
	rm -f "$fifo"
	mkfifo -m 600 "$fifo"
	# same PID all along: subshell -> unshare -> sh -> the daemon (exec each time)
	( ns_exec "$bin" -d -f "$conf" -r 3 ) 3>"$fifo" </dev/null >>"$logf" 2>&1 &
	pid=$!
	printf -v "$var" %s "$pid"
	read -r -t 20 line <"$fifo" || true
	rm -f "$fifo"
	[ "$line" = ready ] || die "$what did not become ready; see $logf"
	[ "$(comm_of "$pid")" = "$name" ] || die "PID $pid is not $name"
	resolv_ok "$pid" || die "$what sees another resolver than 127.0.0.1"
}

# stop_tree PID NAME [NAME...] : SIGTERM to a server we started (if PID still is the
# first NAME); if it has not exited 10 s later, SIGKILL to the processes of its tree (as
# it was at SIGTERM) that are still alive and still carry one of the NAMEs
stop_tree() {
	local pid=$1 pids p i left=""
	shift
	alive "$pid" && [ "$(comm_of "$pid")" = "$1" ] || return 0
	pids=$(tree_pids "$pid")
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 100); do
		[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || echo X)" = Z ] && break
		alive "$pid" || break
		sleep 0.1
	done
	for p in $pids; do
		alive "$p" || continue
		[ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" != Z ] || continue
		case " $* " in *" $(comm_of "$p") "*) left="$left $p" ;; esac
	done
	if [ -n "$left" ]; then
		log "warning: $1 did not stop within 10 s of SIGTERM; SIGKILL to$left"
		# shellcheck disable=SC2086
		kill -KILL $left 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# Postfix instances. master_pid PIDFILE : the PID of the master that wrote PIDFILE, if
# it runs
master_pid() {
	local p
	p=$(pid_from "$1")
	if alive "$p" && [ "$(comm_of "$p")" = master ]; then echo "$p"; fi
}
# pf_queue_count SPOOL : messages still in the queue of an instance
pf_queue_count() {
	find "$1/maildrop" "$1/incoming" "$1/active" "$1/deferred" "$1/hold" -type f 2>/dev/null | wc -l
}
# pf_master_cf PORT SMTPD_MAXPROC : master.cf's services, as Debian's/upstream's but
# without chroot (a private queue is not a prepared chroot) and with the smtpd
# listener on PORT (of main.cf's inet_interfaces, 127.0.0.1)
pf_master_cf() {
	printf '%s\n' '# service type  private unpriv  chroot  wakeup  maxproc command + args'
	printf '%s      inet  n       -       n       -       %-8ssmtpd\n' "$1" "$2"
	cat <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}
# pf_start CONF_DIR ERRFILE WHAT [LOGFILE] : check and start the instance of CONF_DIR
# in the loopback-DNS namespace, postfix's output appended to ERRFILE
pf_start() {
	postfix -c "$1" check >>"$2" 2>&1 || log "$3: 'postfix check' reported problems (see $2)"
	( ns_exec postfix -c "$1" start ) </dev/null >>"$2" 2>&1 ||
	    die "$3 did not start; see $2${4:+ and $4}"
}
# pf_wait PIDFILE PORT WHAT : until its master runs and PORT listens (10 s at most);
# the master's PID in PF_MASTER
pf_wait() {
	local i
	for i in $(seq 100); do
		PF_MASTER=$(master_pid "$1")
		if [ -n "$PF_MASTER" ] && listening "$2"; then break; fi
		sleep 0.1
	done
	if [ -z "$PF_MASTER" ] || ! listening "$2"; then die "$3 is not listening on $2"; fi
	resolv_ok "$PF_MASTER" || die "$3 master $PF_MASTER sees another resolver than 127.0.0.1"
}
# postfix.sh's instance
pf() { postfix -c "$PF_CONF" "$@"; }
pf_pid() { master_pid "$PF_PIDFILE"; }

# /proc helpers, shared by run.sh and pop3.sh
# tree_pids ROOT: ROOT and all its descendants
tree_pids() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
	    { kids[$2] = kids[$2] " " $1 }
	    END { q[1] = root; n = 1; i = 1
		  while (i <= n) { p = q[i++]; print p; m = split(kids[p], a, " ")
				   for (j = 1; j <= m; j++) q[++n] = a[j] } }'
}
# cpu_ticks ROOT: utime+stime+cutime+cstime summed over the live tree. cutime/cstime
# hold every child that exited and was reaped (by master, by letterbox-smtpd).
cpu_ticks() {
	local p
	for p in $(tree_pids "$1"); do cat "/proc/$p/stat" 2>/dev/null || true; done |
	    awk '{ sub(/^.*\) /, ""); s += $12 + $13 + $14 + $15 } END { print s + 0 }'
}
# pss ROOT: "KiB processes" -- Pss from smaps_rollup summed over the tree
pss() {
	local p
	for p in $(tree_pids "$1"); do
		awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || true
	done | awk '{ s += $1; n++ } END { print s + 0, n + 0 }'
}
# busy_ticks: all CPU time used on the machine (user nice system irq softirq steal)
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# shellcheck disable=SC2086  # word splitting wanted
nchildren() { local c; c=$(cat "/proc/$1/task/$1/children" 2>/dev/null || true); set -- $c; echo $#; }

# wait_still ROOT WHAT : until ROOT's tree has used no CPU for 0.3 s (60 s at most), so
# that work a server does after the last reply (an indexer catching up, a queue
# manager) is counted in the run it belongs to
wait_still() {
	local i a b
	b=$(cpu_ticks "$1")
	for i in $(seq 200); do
		sleep 0.3
		a=$b
		b=$(cpu_ticks "$1")
		[ "$a" = "$b" ] && return 0
	done
	log "warning: $2 still busy after 60 s"
}

# cpu_fields C0 C1 B0 B1 CLIENT_S N : from a server tree's ticks (cpu_ticks) and the
# machine's (busy_ticks) before and after a run, the client's CPU seconds and the
# messages: "server_cpu_s=S other_cpu_s=O cpu_ms_per_msg=M" (O: the rest of the machine)
cpu_fields() {
	awk -v c0="$1" -v c1="$2" -v b0="$3" -v b1="$4" -v c="$5" -v n="$6" -v t="$TICK" 'BEGIN {
		s = sprintf("%.2f", (c1 - c0) / t); o = (b1 - b0) / t - s - c
		printf "server_cpu_s=%s other_cpu_s=%.2f cpu_ms_per_msg=%.3f\n", s, (o < 0) ? 0 : o,
		    (n > 0) ? s * 1000 / n : 0 }'
}

# idle_start CMD... : an idle-mode client (smtp-load -I, pop3-load -I) in the background
# (IDLE_PID), its stdin a FIFO this shell holds open (HOLD_FD), its stdout in
# $OUT/idle.out; waits (60 s at most) for its "ready ..." line, whose rest goes into
# IDLE_READY (empty if none came). idle_stop closes the FIFO: the client ends its
# sessions and exits.
idle_start() {
	local hold=$OUT/hold.fifo out=$OUT/idle.out i
	IDLE_READY=""
	rm -f "$hold" "$out"
	mkfifo -m 600 "$hold"
	"$@" <"$hold" >"$out" 2>>"$ERRLOG" &
	IDLE_PID=$!
	exec {HOLD_FD}>"$hold"
	for i in $(seq 600); do
		IDLE_READY=$(sed -n 's/^ready //p' "$out")
		[ -n "$IDLE_READY" ] && break
		alive "$IDLE_PID" || break
		sleep 0.1
	done
}
idle_stop() {
	exec {HOLD_FD}>&-
	HOLD_FD=""
	wait "$IDLE_PID" || log "warning: idle client reported errors (see $ERRLOG)"
	IDLE_PID=""
	rm -f "$OUT/hold.fifo"
}

# trash_maildir DIR : empty a Maildir by moving its files into $TRASH/<n> (n counts up;
# deleted when the run ends), not by deleting them: on an ext4 without a journal (as
# on the VM this was written on) the inode allocator skips inodes freed in the last
# 60-360 s one by one (recently_deleted()), so deleting 2000 files right before a run
# made every file created in that run cost a scan over them: 40 % of Letterbox's CPU
# in a profile, an artefact of the benchmark. TRASH_N is that <n>.
TRASH_N=0
trash_maildir() {
	TRASH_N=$((TRASH_N + 1))
	mkdir -p "$TRASH/$TRASH_N"
	find "$1/new" "$1/cur" "$1/tmp" -mindepth 1 -maxdepth 1 -type f -exec mv -t "$TRASH/$TRASH_N" {} +
}
# remove_trash DIR : delete DIR, and note when (run.sh waits DELETE_WAIT after that)
remove_trash() {
	rm -rf "$1"
	install -d -m 755 "$STATE/trash"
	sync
	date +%s >"$STATE/trash/.deleted-at"
}

# report_head TITLE WHERE [NOTE] : the report's first lines: title, date, the machine,
# and "WHERE on <the state directory's file system>NOTE"
report_head() {
	local cpu_model fs
	cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	fs=$(df -T "$STATE" | awk 'NR == 2 { print $2 " on " $1 }')
	echo "# $1"
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- machine: $(uname -sr), $(nproc) CPUs ($cpu_model), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM; $2 on $fs${3:-}"
}
# load_line start|end : the report's line with the load averages
load_line() { echo "- load average at $1: $(cut -d' ' -f1-3 /proc/loadavg)"; }

# WAIT_LOAD=0.5: wait (at most WAIT_LOAD_MAX s, polling every 30 s) until the 1-minute
# load average is below that, so that the run starts on a quiet machine
wait_load() {
	local waited=0
	[ -n "${WAIT_LOAD:-}" ] || return 0
	until awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v m="$WAIT_LOAD" 'BEGIN { exit !(l < m) }'; do
		if [ "$waited" -ge "${WAIT_LOAD_MAX:-2400}" ]; then
			log "load average still $(cut -d' ' -f1 /proc/loadavg) after ${waited} s: running anyway"
			break
		fi
		log "load average $(cut -d' ' -f1 /proc/loadavg) >= $WAIT_LOAD: waiting"
		sleep 30
		waited=$((waited + 30))
	done
}
