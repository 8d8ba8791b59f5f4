#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs the Debian packages ht-user needs to build and test, if missing:
# cmake and libclang-dev build Unicorn; musl-tools and gcc build the test
# guests; qemu-user is the reference the tests compare against;
# gdb-multiarch debugs the guests in the -g tests; python3-venv makes the
# Python environment the Parquet tests read tables with (scripts/py-env.sh);
# fonts-dejavu-core is the font `ht-trace plot` draws PNG text in.
# `deps.sh tcg` also installs what the conformance suite needs
# (scripts/tcg-conformance.sh): the cross compilers of the eight other guest
# architectures, perl and xz.
set -euo pipefail
packages=(cmake libclang-dev clang make gcc patch musl-tools qemu-user python3 python3-venv
    gdb-multiarch fonts-dejavu-core)
if [ "${1:-}" = tcg ]; then
    packages+=(perl xz-utils curl gcc-i686-linux-gnu gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf
        gcc-riscv64-linux-gnu gcc-mipsel-linux-gnu gcc-mips64el-linux-gnuabi64
        gcc-powerpc64le-linux-gnu gcc-s390x-linux-gnu libc6-dev-i386-cross
        libc6-dev-arm64-cross libc6-dev-armhf-cross libc6-dev-riscv64-cross libc6-dev-mipsel-cross
        libc6-dev-mips64el-cross libc6-dev-ppc64el-cross libc6-dev-s390x-cross)
fi
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq || echo "deps.sh: apt-get update reported errors; installing anyway" >&2
    "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
