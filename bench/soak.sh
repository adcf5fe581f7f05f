#!/bin/bash
# bench/soak.sh -- the soak: DURATION seconds (30 minutes) of mixed SMTP + POP3 load on
# a private Letterbox, on loopback; memory, descriptors and tmp/ must stay flat, and
# nothing may be lost. The report goes to bench/results/soak-<UTC time>.md (+ .csv).
#
#   sudo bench/soak.sh                       # 30 minutes
#   sudo DURATION=120 bench/soak.sh          # a quick try
#
# Set-up: letterbox-smtpd and letterbox-pop3d (copied from bin/, built first with
# make -j2 unless BUILD=0) on one generated config in a fresh /var/tmp/letterbox-soak.*,
# a self-signed certificate, running as the PAM test account (scripts/test-account.sh,
# service letterbox-test, as tests/conftest.py's make_mailsys) with an app password
# too; 127.0.0.1 only, dns_resolver 127.0.0.1:9, in a mount namespace whose
# resolv.conf names 127.0.0.1 (bench/lib.sh); timeouts shortened to SERVER_TIMEOUT so
# that idle connections reach them. Outbound mail goes through the queue to
# "smarthost 127.0.0.1:SINK_PORT, smarthost_tls none": bench/soak-load.c's sink, which
# logs every message and makes the queue retry now and then (451, cut connections).
#
# Load (bench/soak-load.c, see its header): inbound MX at IN_RATE messages/s over
# IN_CONNS connections (1 KiB..MAX_SIZE, a quarter over STARTTLS), submission at
# SUB_RATE over SUB_CONNS implicit-TLS connections with AUTH (PAM and app password) to
# remote recipients (and a few to the owner), one POP3 client draining the maildrop
# (STLS/POP3S, RETR, DELE, QUIT), and ABUSE_PER_MIN abusive connections a minute
# (cut or stalled mid-DATA, idle until the timeouts, bad commands, wrong passwords,
# TLS cut short, SIZE too big).
#
# Every SAMPLE s, bench/soak-report.py samples RSS and descriptors of every daemon
# process, the tmp/, new/, cur/ and queue directories and the counters into a CSV. At
# the end: the load stops, the queue drains (DRAIN_MAX s at most), the Maildir is
# scanned, the daemons stop, and soak-report.py checks that nothing was lost and
# that the long-lived processes stayed flat after WARMUP s (RSS slope at most
# RSS_SLOPE_KB_H KiB/h, descriptors at most FD_SLOPE_H per hour). Exit status 0 if
# so, 1 if not, 2 on a set-up error.
#
# Environment (defaults): DURATION (1800) SAMPLE (10) WARMUP (min(300, DURATION/4))
# IN_RATE (30) IN_CONNS (4) SUB_RATE (10) SUB_CONNS (2) ABUSE_PER_MIN (60) MAX_SIZE
# (1048576) SERVER_TIMEOUT (15) SINK_DEFER (20 per mille) SINK_DROP (5 per mille)
# DRAIN_MAX (600) RSS_SLOPE_KB_H (1024) FD_SLOPE_H (2) SOAK_PORT_BASE (29100: MX,
# +1 submissions, +2 POP3, +3 POP3S, +4 sink) RESULTS (bench/results) BUILD (1)
# KEEP (0: the temp dir is removed if the soak passed; 1: always kept).
#
# Loopback only. It stops only what it started, by PID, on any exit.
set -euo pipefail
bench=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$bench/.." && pwd)
# shellcheck source=lib.sh
. "$bench/lib.sh"

DURATION=${DURATION:-1800}
SAMPLE=${SAMPLE:-10}
WARMUP=${WARMUP:-$(( DURATION / 4 < 300 ? DURATION / 4 : 300 ))}
IN_RATE=${IN_RATE:-30}
IN_CONNS=${IN_CONNS:-4}
SUB_RATE=${SUB_RATE:-10}
SUB_CONNS=${SUB_CONNS:-2}
ABUSE_PER_MIN=${ABUSE_PER_MIN:-60}
MAX_SIZE=${MAX_SIZE:-1048576}
SERVER_TIMEOUT=${SERVER_TIMEOUT:-15}
SINK_DEFER=${SINK_DEFER:-20}
SINK_DROP=${SINK_DROP:-5}
DRAIN_MAX=${DRAIN_MAX:-600}
RSS_SLOPE_KB_H=${RSS_SLOPE_KB_H:-1024}
FD_SLOPE_H=${FD_SLOPE_H:-2}
PORT_BASE=${SOAK_PORT_BASE:-29100}
RESULTS=${RESULTS:-$bench/results}
BUILD=${BUILD:-1}
KEEP=${KEEP:-0}
MX_PORT=$PORT_BASE
SUBS_PORT=$((PORT_BASE + 1))
POP3_PORT=$((PORT_BASE + 2))
POP3S_PORT=$((PORT_BASE + 3))
SINK_PORT=$((PORT_BASE + 4))
PY=/usr/bin/python3

need_root
for v in DURATION SAMPLE WARMUP IN_RATE IN_CONNS SUB_RATE SUB_CONNS ABUSE_PER_MIN MAX_SIZE \
    SERVER_TIMEOUT SINK_DEFER SINK_DROP DRAIN_MAX PORT_BASE; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number: ${!v}"
done
[ "$WARMUP" -lt "$DURATION" ] || die "WARMUP ($WARMUP) must be less than DURATION ($DURATION)"
ports_free "see SOAK_PORT_BASE" "$MX_PORT" "$SUBS_PORT" "$POP3_PORT" "$POP3S_PORT" "$SINK_PORT"
command -v openssl >/dev/null || die "no openssl"
[ -x "$PY" ] || die "no $PY"

STAMP=$(date -u +%Y-%m-%dT%H%MZ)
mkdir -p "$RESULTS"
REPORT_OUT=$RESULTS/soak-$STAMP.md

# ------------------------------------------------------------------ build, temp dir
if [ "$BUILD" = 1 ]; then
	log "building Letterbox (make -j2 in $top)"
	make -s -j2 -C "$top" >/dev/null || die "make failed (BUILD=0 uses bin/ as it is)"
fi
for b in letterbox-smtpd letterbox-pop3d letterbox; do
	[ -x "$top/bin/$b" ] || die "no $top/bin/$b: run make"
done
TMPD=$(mktemp -d /var/tmp/letterbox-soak.XXXXXX)
chmod 755 "$TMPD"
# lib.sh's helpers (ns_exec, build_tools) work below $STATE
# shellcheck disable=SC2034
STATE=$TMPD
# shellcheck disable=SC2034
RESOLV=$TMPD/resolv.conf
BINDIR=$TMPD/bin
install -d -m 755 "$BINDIR" "$TMPD/tls" "$TMPD/load" "$TMPD/sink"
# copies: a rebuild of bin/ by someone else during the soak changes nothing here
cp "$top/bin/letterbox-smtpd" "$top/bin/letterbox-pop3d" "$top/bin/letterbox" "$BINDIR/"
build_tools soak-load
write_resolv

SMTPD_PID=""
POP3D_PID=""
SINK_PID=""
LOAD_PID=""
SAMPLER_PID=""
PASSED=0
cleanup() {
	local rc=$?
	if alive "$LOAD_PID"; then kill -TERM "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; fi
	if alive "$SAMPLER_PID"; then kill -TERM "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; fi
	stop_tree "$SMTPD_PID" letterbox-smtpd
	stop_tree "$POP3D_PID" letterbox-pop3d
	if alive "$SINK_PID"; then kill -TERM "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; fi
	if [ -n "${TMPD:-}" ] && [ -d "$TMPD" ]; then
		if [ "$KEEP" = 1 ] || [ "$PASSED" != 1 ]; then
			log "kept $TMPD (logs, records, samples)"
		else
			rm -rf "$TMPD"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ Letterbox
read -r ACCOUNT PASSWORD < <("$top/scripts/test-account.sh") || die "scripts/test-account.sh failed"
[ -n "$PASSWORD" ] || die "scripts/test-account.sh printed no password"
install -d -o "$ACCOUNT" -m 700 "$TMPD/state"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$TMPD/tls/key.pem" -out "$TMPD/tls/cert.pem" 2>/dev/null || die "openssl req failed"
chmod 600 "$TMPD/tls/key.pem"
CONF=$TMPD/letterbox.conf
cat >"$CONF" <<EOF
# Generated by bench/soak.sh
hostname mx.example.test
domains example.test
local_parts alice postmaster
maildir $TMPD/Maildir
state_dir $TMPD/state
user $ACCOUNT
pam_service letterbox-test
smtp_listen 127.0.0.1:$MX_PORT
submissions_listen 127.0.0.1:$SUBS_PORT
pop3_listen 127.0.0.1:$POP3_PORT
pop3s_listen 127.0.0.1:$POP3S_PORT
tls_cert $TMPD/tls/cert.pem
tls_key $TMPD/tls/key.pem
# outbound: the soak's sink on loopback; never any DNS
smarthost 127.0.0.1:$SINK_PORT
smarthost_tls none
dns_resolver 127.0.0.1:9
retry_initial 5s
retry_max 30s
# short, so that the abusive idle connections reach them within the soak
idle_timeout ${SERVER_TIMEOUT}s
data_timeout ${SERVER_TIMEOUT}s
pop3_idle_timeout ${SERVER_TIMEOUT}s
max_message_size 2M
EOF
"$BINDIR/letterbox-smtpd" -n -f "$CONF" >/dev/null || die "bad config $CONF"
APP_PW=$("$BINDIR/letterbox" -f "$CONF" passwd add soak | sed -n 's/^app password for soak: //p')
[ -n "$APP_PW" ] || die "letterbox passwd add printed no password"
( umask 077; echo "$ACCOUNT $PASSWORD alice@example.test $APP_PW" >"$TMPD/load/creds" )

"$BINDIR/soak-load" sink -p "$SINK_PORT" -o "$TMPD/sink" -d "$SINK_DEFER" -x "$SINK_DROP" \
    </dev/null >"$TMPD/sink/out" 2>"$TMPD/sink/err" &
SINK_PID=$!
for _ in $(seq 100); do [ -s "$TMPD/sink/status" ] && break; sleep 0.1; done
[ -s "$TMPD/sink/status" ] || die "the sink did not start (see $TMPD/sink/err)"

cd "$TMPD"	# the daemons' working directory (their session processes inherit it)
lb_start SMTPD_PID "$BINDIR/letterbox-smtpd" "$CONF" "$TMPD/smtpd.log" letterbox-smtpd
lb_start POP3D_PID "$BINDIR/letterbox-pop3d" "$CONF" "$TMPD/pop3d.log" letterbox-pop3d
log "letterbox-smtpd $SMTPD_PID (MX $MX_PORT, submissions $SUBS_PORT), letterbox-pop3d $POP3D_PID (POP3 $POP3_PORT, POP3S $POP3S_PORT), sink $SINK_PID ($SINK_PORT), in $TMPD"
sleep 1	# the helpers start after "ready"

# ------------------------------------------------------------------ run
sha=""
for b in letterbox-smtpd letterbox-pop3d; do sha="$sha $b $(sha256sum "$BINDIR/$b" | cut -c1-12)"; done
desc="work tree at $(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null || echo '?')"
dirty=$(git -C "$top" status --porcelain --untracked-files=no 2>/dev/null | awk '{ print $2 }' | tr '\n' ' ')
[ -z "$dirty" ] || desc="$desc, with uncommitted changes to: $dirty"
T0=$(date +%s.%N)
cat >"$TMPD/meta.env" <<EOF
MAILDIR=$TMPD/Maildir
STATE_DIR=$TMPD/state
SMTPD_PID=$SMTPD_PID
POP3D_PID=$POP3D_PID
T0=$T0
SAMPLE=$SAMPLE
WARMUP=$WARMUP
DURATION=$DURATION
IN_RATE=$IN_RATE
IN_CONNS=$IN_CONNS
SUB_RATE=$SUB_RATE
SUB_CONNS=$SUB_CONNS
ABUSE_PER_MIN=$ABUSE_PER_MIN
MAX_SIZE=$MAX_SIZE
SINK_DEFER=$SINK_DEFER
SINK_DROP=$SINK_DROP
RSS_SLOPE_KB_H=$RSS_SLOPE_KB_H
FD_SLOPE_H=$FD_SLOPE_H
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
MACHINE=$(uname -sr), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM; $(df -T "$TMPD" | awk 'NR == 2 { print $2 " on " $1 }')
DESC=$desc
SHA=${sha# }
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
EOF
echo "phase=start" >"$TMPD/phase"
"$PY" "$bench/soak-report.py" sample "$TMPD" 2>"$TMPD/sampler.err" &
SAMPLER_PID=$!
sleep 1
echo "phase=load" >"$TMPD/phase"
RUNID="s$(date +%s | tail -c 7)"
log "load for $DURATION s (run id $RUNID): inbound $IN_RATE/s x $IN_CONNS, submission $SUB_RATE/s x $SUB_CONNS, abuse $ABUSE_PER_MIN/min"
"$BINDIR/soak-load" load -o "$TMPD/load" -t "$DURATION" -i "$RUNID" -A "$TMPD/load/creds" \
    -m "$MX_PORT" -u "$SUBS_PORT" -q "$POP3_PORT" -Q "$POP3S_PORT" -r "$IN_RATE" \
    -c "$IN_CONNS" -s "$SUB_RATE" -C "$SUB_CONNS" -a "$ABUSE_PER_MIN" -M "$MAX_SIZE" \
    -T "$SERVER_TIMEOUT" </dev/null >"$TMPD/load/out" 2>"$TMPD/load/err" &
LOAD_PID=$!
t_load=$(date +%s)
died=""
while alive "$LOAD_PID"; do
	sleep 5
	for p in "$SMTPD_PID:letterbox-smtpd" "$POP3D_PID:letterbox-pop3d" "$SINK_PID:soak-load" "$SAMPLER_PID:"; do
		alive "${p%%:*}" || died="$died ${p#*:}"
	done
	if [ -n "$died" ]; then
		log "ERROR: stopped running:$died; ending the load"
		kill -TERM "$LOAD_PID" 2>/dev/null || true
		break
	fi
	el=$(( $(date +%s) - t_load ))
	if [ $((el % 60)) -lt 5 ]; then
		log "$el s: $(tr '\n' ' ' <"$TMPD/load/status" 2>/dev/null | grep -oE '(in_acked|sub_acked|pop_deleted|ab_unexpected)=[0-9]+' | tr '\n' ' ')"
	fi
done
wait "$LOAD_PID" || log "warning: the load exited with status $?"
LOAD_PID=""
LOAD_S=$(( $(date +%s) - t_load ))

# ------------------------------------------------------------------ drain, scan, stop
echo "phase=drain" >"$TMPD/phase"
log "load stopped after $LOAD_S s; waiting for the queue to drain (at most $DRAIN_MAX s)"
t_drain=$(date +%s)
queued() { find "$TMPD/state/queue/msg" "$TMPD/state/queue/state" -mindepth 1 -maxdepth 1 ! -name '.*' 2>/dev/null | wc -l; }
while [ "$(queued)" != 0 ] && [ $(( $(date +%s) - t_drain )) -lt "$DRAIN_MAX" ]; do
	sleep 1
done
DRAIN_S=$(( $(date +%s) - t_drain ))
[ "$(queued)" = 0 ] || log "warning: $(queued) queue file(s) left after $DRAIN_MAX s"
sleep 2	# a last 250 from the sink, the indexer's half-second batch
echo "phase=end" >"$TMPD/phase"
kill -TERM "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" || true
SAMPLER_PID=""
"$BINDIR/soak-load" scan "$TMPD/Maildir" >"$TMPD/maildir.scan" || die "the Maildir scan failed"
{
	# CPU of each daemon's tree: the live processes and every child they reaped
	echo "SMTPD_CPU_S=$(awk -v t="$(cpu_ticks "$SMTPD_PID")" -v k="$TICK" 'BEGIN { printf "%.1f", t / k }')"
	echo "POP3D_CPU_S=$(awk -v t="$(cpu_ticks "$POP3D_PID")" -v k="$TICK" 'BEGIN { printf "%.1f", t / k }')"
	echo "LOAD_S=$LOAD_S"
	echo "DRAIN_S=$DRAIN_S"
	echo "LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$TMPD/meta.env"
stop_tree "$SMTPD_PID" letterbox-smtpd
stop_tree "$POP3D_PID" letterbox-pop3d
SMTPD_PID=""
POP3D_PID=""
kill -TERM "$SINK_PID" 2>/dev/null || true
wait "$SINK_PID" || true
SINK_PID=""
[ -z "$died" ] || echo "DIED=$died" >>"$TMPD/meta.env"

# ------------------------------------------------------------------ report
cp "$TMPD/samples.csv" "${REPORT_OUT%.md}.csv"
rc=0
"$PY" "$bench/soak-report.py" report "$TMPD" "$REPORT_OUT" >/dev/null || rc=$?
[ -z "$died" ] || { log "FAILED: stopped running during the load:$died"; rc=1; }
log "report: $REPORT_OUT (samples: ${REPORT_OUT%.md}.csv)"
if [ "$rc" = 0 ]; then
	PASSED=1
	log "soak passed"
else
	log "soak FAILED (status $rc); see the report and $TMPD"
fi
exit "$rc"
