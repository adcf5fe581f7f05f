#!/bin/sh
# Everything `make test` and CI run, in order: unit tests, the fuzz corpus replayed
# through the same harnesses, then the protocol, client and anomaly suites against
# real daemons on 127.0.0.1. LB_BUILD picks the build tree (build/release, build/asan).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export LB_BUILD="${LB_BUILD:-build/release}"
make_args=""
[ "$LB_BUILD" = build/asan ] && make_args="SANITIZE=address,undefined"

echo "== unit tests ($LB_BUILD)"
# shellcheck disable=SC2086
make -s $make_args unit
echo "== fuzz corpus replay ($LB_BUILD)"
# shellcheck disable=SC2086
make -s $make_args fuzz-regress
echo "== protocol, client, anomaly, index, POP3, auth, outbound, robustness, reload, check and client set-up tests ($LB_BUILD)"
exec /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider tests/proto tests/clients tests/anomaly tests/index \
    tests/pop3 tests/auth tests/outbound tests/faults tests/tls tests/abuse tests/reload \
    tests/check tests/clientconfig tests/install "$@"
