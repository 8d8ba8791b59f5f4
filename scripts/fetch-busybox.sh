#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fetches Debian's busybox-static for a guest architecture from the package
# registry into target/busybox/<arch>/busybox (never committed). The tests
# run its applets under ht-user and qemu-user and compare the results.
#   scripts/fetch-busybox.sh x86_64|aarch64|arm|i386|mipsel|mips64el|ppc64le|s390x
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:?usage: fetch-busybox.sh ARCH}
case "$arch" in
    x86_64) deb=amd64 ;;
    aarch64) deb=arm64 ;;
    arm) deb=armhf ;;
    i386) deb=i386 ;;
    mipsel) deb=mipsel ;;
    mips64el) deb=mips64el ;;
    ppc64le) deb=ppc64el ;;
    s390x) deb=s390x ;;
    *) echo "fetch-busybox.sh: no Debian busybox-static for $arch" >&2; exit 2 ;;
esac
dest=target/busybox/$arch
[ -x "$dest/busybox" ] && exit 0
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
native=$(dpkg --print-architecture)
if [ "$deb" != "$native" ] && ! dpkg --print-foreign-architectures | grep -qx "$deb"; then
    "${sudo_cmd[@]}" dpkg --add-architecture "$deb"
    # A mirror that misses one index (seen with a security suite) must not
    # stop the download from the main archive: the download below decides.
    "${sudo_cmd[@]}" apt-get update -qq || echo "fetch-busybox.sh: apt-get update reported errors" >&2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get download -qq "busybox-static:$deb" >/dev/null 2>&1); then
    "${sudo_cmd[@]}" apt-get update -qq || echo "fetch-busybox.sh: apt-get update reported errors" >&2
    (cd "$work" && apt-get download -qq "busybox-static:$deb")
fi
dpkg -x "$work"/busybox-static_*.deb "$work/root"
mkdir -p "$dest"
# Install with a rename: a program already running the old file keeps it.
cp "$work/root/bin/busybox" "$dest/.busybox.$$"
mv -f "$dest/.busybox.$$" "$dest/busybox"
echo "fetched busybox-static:$deb into $dest" >&2
