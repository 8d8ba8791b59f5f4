#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs the hypertrace quick guide on the committed x86_64 seed example: the
# guest emits two events around its computation and ht-user logs them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# cargo shows its progress on stderr: the first build compiles the engine
# (a few minutes).
echo "demo: building ht-user..." >&2
cargo build
base=$(mktemp -u /tmp/ht-demo.XXXXXX)
exec target/debug/ht-user -hypertrace "$base" -trace 'enable=guest*' -D /dev/stdout \
    testdata/x86_64/seed-example "$base"
