#!/bin/sh
# The packages `make check-arm64` needs (not run by install-deps.sh or by make: CI calls
# it explicitly): Debian's cross compiler for arm64 (Raspberry Pi 3/4/5 with a 64-bit
# OS), qemu-user to run what it builds, and the four libraries as arm64 multiarch
# packages (dpkg --add-architecture arm64). Idempotent; run as root.
set -eu
pkgs="gcc-aarch64-linux-gnu qemu-user file libc6-dev:arm64 libssl-dev:arm64
libdb5.3-dev:arm64 libsodium-dev:arm64 libpam0g-dev:arm64"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps-arm64: run as root: sudo $0" >&2
	exit 1
fi
dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && { echo "install-deps-arm64: all packages present"; exit 0; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
