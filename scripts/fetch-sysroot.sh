#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds a sysroot of Debian's own dynamically linked programs for a guest
# architecture in target/sysroot/<arch>/ (never committed): libc6,
# coreutils and python3-minimal with the closure of their Depends and
# Pre-Depends, downloaded from the package registry and unpacked with
# dpkg -x. The tests run those programs under ht-user -L and qemu-user -L.
#   scripts/fetch-sysroot.sh aarch64|arm|x86_64|i386|mipsel|mips64el|ppc64le|s390x
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:?usage: fetch-sysroot.sh ARCH}
case "$arch" in
    x86_64) deb=amd64 ;;
    aarch64) deb=arm64 ;;
    arm) deb=armhf ;;
    i386) deb=i386 ;;
    mipsel) deb=mipsel ;;
    mips64el) deb=mips64el ;;
    ppc64le) deb=ppc64el ;;
    s390x) deb=s390x ;;
    *) echo "fetch-sysroot.sh: no Debian packages for $arch" >&2; exit 2 ;;
esac
dest=target/sysroot/$arch
# The last step writes the marker: a sysroot without it is not finished.
[ -e "$dest/.complete" ] && exit 0
roots=(libc6 coreutils python3-minimal)
sudo_cmd=()
apt_opts=()
if [ "$(id -u)" -eq 0 ]; then
    # Root downloads itself: apt's sandbox user cannot enter the build dir.
    apt_opts=(-o APT::Sandbox::User=root)
else
    sudo_cmd=(sudo)
fi
update() {
    # A mirror that misses one index (seen with a security suite) must not
    # stop the download from the main archive: the download decides.
    "${sudo_cmd[@]}" apt-get update -qq || echo "fetch-sysroot.sh: apt-get update reported errors" >&2
}
native=$(dpkg --print-architecture)
if [ "$deb" != "$native" ] && ! dpkg --print-foreign-architectures | grep -qx "$deb"; then
    "${sudo_cmd[@]}" dpkg --add-architecture "$deb"
    update
fi
# The dependency closure, restricted to packages of this architecture
# (apt names those of the host's own without a suffix; Multi-Arch: foreign
# and arch-all dependencies of a foreign one, such as tzdata, are not
# needed to run the programs).
if [ "$deb" = "$native" ]; then
    pattern='[a-z0-9.+-]*'
    libc=libc6
else
    pattern="[a-z0-9.+-]*:$deb"
    libc=libc6:$deb
fi
closure() {
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "${roots[@]/%/:$deb}" 2>/dev/null |
        grep -v '^ ' | grep -x "$pattern" | sort -u
}
packages=$(closure)
if ! grep -qx "$libc" <<<"$packages"; then
    update
    packages=$(closure)
fi
grep -qx "$libc" <<<"$packages" || {
    echo "fetch-sysroot.sh: no libc6:$deb in the package index" >&2
    exit 1
}
mkdir -p target/sysroot
work=$(mktemp -d target/sysroot/.build.XXXXXX)
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2086 # one word per package
(cd "$work" && apt-get download -qq "${apt_opts[@]}" $packages >/dev/null)
mkdir "$work/root"
for f in "$work"/*.deb; do
    dpkg -x "$f" "$work/root"
done
# Absolute symbolic links (lib64/ld.so.1 -> /lib/<triplet>/ld.so.1) name
# a file of the sysroot, not of the host: made relative, so that the host
# kernel resolves them inside the sysroot (for qemu-user and ht-user).
find "$work/root" -type l -lname '/*' -print0 |
    while IFS= read -r -d '' link; do
        target=$(readlink "$link")
        ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$work/root$target")" "$link"
    done
touch "$work/root/.complete"
# Install with a rename: concurrent tests see no sysroot or a whole one.
# A sysroot another run finished first wins; a leftover without the marker
# (from an interrupted copy by hand) is replaced.
if [ -e "$dest" ] && [ ! -e "$dest/.complete" ]; then
    rm -rf "$dest"
fi
if ! mv -T "$work/root" "$dest" 2>/dev/null; then
    [ -e "$dest/.complete" ] || { echo "fetch-sysroot.sh: cannot install $dest" >&2; exit 1; }
fi
echo "fetched $(wc -w <<<"$packages") packages for $deb into $dest" >&2
