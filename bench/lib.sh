# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this
# Shared by bench/postfix.sh and bench/run.sh (sourced, not run). Needs $bench set to
# the directory of this file.

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

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_from() { if [ -s "$1" ]; then tr -dc '0-9' <"$1"; fi; }
comm_of() { cat "/proc/$1/comm" 2>/dev/null || true; }
listening() { ss -Hltn "sport = :$1" | grep -q .; }

# The C clients named in "$@" (bench/<name>.c, which include bench/common.h) into
# $BINDIR, built afresh each run with $CC $CFLAGS. smtp-submit (TLS) links OpenSSL.
build_tools() {
	local prog libs
	command -v "$CC" >/dev/null || die "no C compiler ($CC): apt-get install gcc libc6-dev"
	for prog in "$@"; do
		libs=""
		case $prog in smtp-submit) libs="-lssl -lcrypto" ;; esac
		if [ -n "$libs" ] && [ ! -e /usr/include/openssl/ssl.h ]; then
			die "$prog needs OpenSSL's headers: apt-get install libssl-dev"
		fi
		# shellcheck disable=SC2086
		"$CC" $CFLAGS -pthread -o "$BINDIR/$prog.new" "$bench/$prog.c" $libs || die "cannot build $prog"
		mv -f "$BINDIR/$prog.new" "$BINDIR/$prog"
	done
}

# Letterbox's binaries for this run; sets LB_BINDIR and LB_DESC. $1: the script, for
# messages. LB_REV: a committed revision, built from `git archive` outside the work
# tree into $STATE/src/<rev> (the numbers then belong to that commit, whatever else the
# work tree holds); else the work tree's bin/, made first unless BUILD=0; else the
# LB_BINDIR given.
letterbox_binaries() {
	local me=$1 rev src
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

# Postfix's own instance
pf() { postfix -c "$PF_CONF" "$@"; }
pf_pid() {
	local p
	p=$(pid_from "$PF_PIDFILE")
	if alive "$p" && [ "$(comm_of "$p")" = master ]; then echo "$p"; fi
}
# messages still in Postfix's queue
pf_queue_count() {
	find "$PF_SPOOL/maildrop" "$PF_SPOOL/incoming" "$PF_SPOOL/active" \
	    "$PF_SPOOL/deferred" "$PF_SPOOL/hold" -type f 2>/dev/null | wc -l
}

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
