#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The test suite: unit tests and the integration tests that run the
# committed guests (compared with qemu-x86_64 where it is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo test "$@"
