#!/bin/sh
# Install every Debian 12 package that building, testing and benchmarking Letterbox
# needs. Idempotent; run as root (CI and `make deps` use it).
set -eu
pkgs="build-essential pkg-config libssl-dev libdb5.3-dev libsodium-dev libpam0g-dev
openssl clang libclang-rt-14-dev cppcheck valgrind python3 python3-pytest
swaks msmtp strace libio-socket-ssl-perl libnet-ssleay-perl libauthen-sasl-perl procps iproute2
util-linux passwd login fetchmail mpop dovecot-core dovecot-pop3d thunderbird
dnsmasq-base python3-aiosmtpd python3-dkim python3-nacl sslscan
mandoc fail2ban python3-seccomp systemd"
# tests/install: mandoc lints the man pages; fail2ban's fail2ban-regex and
# fail2ban-client check the filter and jail (never run as a service: stopped below);
# python3-seccomp applies the systemd units' seccomp restrictions where systemd is not
# PID 1; systemd's systemd-analyze verifies the units offline.
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && { echo "install-deps: all packages present"; exit 0; }
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing:$missing — run as root: sudo $0" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Dovecot is installed as a reference for the tests (same Maildir, its own POP3), never
# as a service: without this its package would start it on ports 110/143/993/995 of
# every interface. A policy-rc.d that refuses is put in place only if there is none.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	policy=/usr/sbin/policy-rc.d
fi
trap '[ -z "$policy" ] || rm -f "$policy"' EXIT
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
if [ -d /run/systemd/system ]; then
	systemctl disable --now dovecot.socket dovecot.service fail2ban.service \
	    >/dev/null 2>&1 || true
fi
