#!/bin/sh
# make check-arm64, after the cross build: every program and test binary of build/arm64
# must be an aarch64 ELF; then the unit tests, the fuzz corpus replay and the smoke test
# of letterbox-smtpd, all under qemu-user (called explicitly: binfmt_misc may not be
# registered in a container). Needs scripts/install-deps-arm64.sh.
#
# No -L: the arm64 libraries are Debian's multiarch packages (libc6:arm64), found at
# their usual paths. -L /usr/aarch64-linux-gnu would load the cross toolchain's ld.so
# (libc6-arm64-cross, an older build) with the multiarch libc.so.6, and every forked
# child then spins forever.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
b=${LB_ARM64_BUILD:-build/arm64}
qemu=${QEMU:-qemu-aarch64}
command -v "$qemu" >/dev/null || { echo "check-arm64: no $qemu (scripts/install-deps-arm64.sh)" >&2; exit 1; }

bins="$b/letterbox-smtpd $b/letterbox-pop3d $b/letterbox"
units=$(find "$b/tests" -maxdepth 1 -name 'test_*' ! -name '*.d' | sort)
fuzz=$(find "$b/fuzz-regress" -maxdepth 1 -name 'fuzz_*' ! -name '*.d' | sort)
echo "== aarch64 ELF?"
for f in $bins $units $fuzz; do
	file -b "$f" | grep -q 'ELF 64-bit LSB .*ARM aarch64' || { echo "not aarch64: $f: $(file -b "$f")" >&2; exit 1; }
done
# shellcheck disable=SC2086  # word splitting wanted
echo "ok: $(echo $bins $units $fuzz | wc -w) binaries"

echo "== unit tests under $qemu"
for t in $units; do "$qemu" "$t"; done
echo "== fuzz corpus replay under $qemu"
for f in $fuzz; do
	"$qemu" "$f" "tests/fuzz/corpus/$(basename "$f")"
done
echo "== letterbox-smtpd under $qemu"
LB_ARM64=1 LB_ARM64_BUILD=$b /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider tests/arm64
