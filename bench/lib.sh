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
