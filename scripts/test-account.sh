#!/bin/sh
# The PAM service and the system account the tests log in with (root only).
#   scripts/test-account.sh          create or refresh them; prints "user password"
# The account has no shell and no home; its password is fixed and no secret: the
# daemons under test listen on 127.0.0.1 only.
set -eu
user=${LB_TEST_USER:-lbtest}
pass=${LB_TEST_PASS:-Lb-test-pw-2026}
service=${LB_TEST_PAM_SERVICE:-letterbox-test}
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "test-account.sh: needs root" >&2; exit 1; }
if ! getent passwd "$user" >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
	    --comment "Letterbox test account" "$user"
fi
echo "$user:$pass" | chpasswd
install -m 0644 "$top/etc/pam.d/letterbox" "/etc/pam.d/$service"
echo "$user $pass"
