#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The test suite: unit tests and the integration tests that run the
# committed guests, Debian's busybox and Debian's dynamically linked
# coreutils and python3 (compared with qemu-user), the Rust guest library's
# unit tests, then the guest-running
# suites again for every other guest architecture.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo test "$@"
# The Rust guest library's own tests (a fake channel from plain files).
(cd guest/rust && cargo test --locked --quiet)
for arch in i386 aarch64 arm riscv64 mipsel mips64el ppc64le s390x; do
    echo "== guests for $arch"
    # The dynamic suite covers every architecture but riscv64, where it skips.
    suites=(--test guests --test hypertrace --test strace --test threads --test region_tracing --test named_regions --test rust_guest --test m5ops --test profile --test several_files --test debug_log --test gdb --test insn_count --test monitor_run --test embedding --test dynamic --test processes --test sockets --test signals --test timers --test sysv_ipc --test hostile --test parallel --test pauth --test cpu_models --test cpu_features)
    # Debian 12 has no riscv64 busybox-static to compare with.
    [ "$arch" = riscv64 ] || suites+=(--test busybox)
    HT_ARCH=$arch cargo test "${suites[@]}" "$@"
done
