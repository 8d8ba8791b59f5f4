#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The test suite: unit tests and the integration tests that run the
# committed guests (compared with qemu-user where it is installed), then
# the guest-running suites again for every other guest architecture.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo test "$@"
for arch in i386 aarch64 arm riscv64; do
    echo "== guests for $arch"
    HT_ARCH=$arch cargo test --test guests --test hypertrace --test strace "$@"
done
